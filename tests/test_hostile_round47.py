"""The forty-seventh attack round and the pickle sniffer's second reading: a file the opcode
reading calls text is read again by CPython's own unpickler, in a child process bounded in
memory and time, whose every import stops it before it happens."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from suite import pickle_sniff
from suite.pickle_sniff import _unpickler_imports, is_pickle
from tests.test_submissions import tiny  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]


class _Touch:
    """Unpickled by ``pickle.loads``, it would create the file it names."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- the unpickler's own reading -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"cos\nsystem\n(S'echo'\ntR.",
     b"cos\nsystem\n",  # no STOP: the import happens as the opcode is read
     b"I1\x00x\n0cos\nsystem\n.",  # an INT line read up to its NUL
     b"\x8c\x02os\x8c\x06system\x93.",  # STACK_GLOBAL with no PROTO header
     b"c__builtin__\neval\n.",  # a Python 2 name the unpickler maps
     b"N.cos\nsystem\n.",  # a constant pickle, then one that imports
     b"(lp0\nI1\na.",  # a data pickle: a list, memoized
     b"Pid\ncos\nsystem\n."],  # a persistent id first
    ids=["reduce", "no-stop", "int-nul", "stack-global", "python2-name", "second-pickle",
         "data", "persistent-id"],
)  # fmt: skip
def test_the_unpickler_names_what_a_pickle_imports(data, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    assert _unpickler_imports(path)


def test_a_module_shipped_beside_the_file_counts(tmp_path):
    (tmp_path / "helper_mod.py").write_text("x = 1\n")
    path = tmp_path / "notes.txt"
    path.write_bytes(b"chelper_mod\nx\n.")
    assert _unpickler_imports(path)
    (tmp_path / "helper_mod.py").unlink()  # the control: no such module, the import fails
    assert not _unpickler_imports(path)


@pytest.mark.parametrize(
    "text",
    [b"Kernel system variables configuration files\n\nFiles found under /etc/sysctl.d\n",
     b"Copyright (c) 1992-2013 The University of Tennessee and The University\n" + b" " * 40
     + b"of Tennessee Research Foundation.  All rights reserved.\n",
     b"Please cite us\n.\n", b"PNG\r\n", b"hello world\n", b"cnot_a_module_anywhere\nf\n.",
     b"Version 2\nVersion 3\n.", b"N.B. a note\n"],
    ids=["memo-index-from-text", "licence", "persistent-id-text", "persistent-id-png", "text",
         "no-such-module", "constants", "note"],
)  # fmt: skip
def test_text_the_unpickler_fails_on_is_not_a_pickle(text, tmp_path):
    """``Kernel ...`` reads as a LONG_BINPUT at memo index ``b"nel "``: the unpickler asks for
    gigabytes there, and stops at the child's memory bound, in well under its time bound."""
    path = tmp_path / "README"
    path.write_bytes(text)
    started = time.monotonic()
    assert not _unpickler_imports(path)
    assert not is_pickle(path)
    assert time.monotonic() - started < pickle_sniff.PROBE_SECONDS


def test_the_second_reading_catches_what_the_opcode_reading_misses(tmp_path, monkeypatch):
    """Were the opcode reading to call a pickle text (as each earlier round's bypass made it),
    the unpickler's own reading still names the import."""
    path = tmp_path / "notes.txt"
    path.write_bytes(pickle.dumps(_Touch(tmp_path / "ran"), protocol=0))
    monkeypatch.setattr(
        pickle_sniff, "_parses_as_pickle", lambda data, folder=None, deadline=None: False
    )
    assert is_pickle(path)
    path.write_bytes(b"hello world\n")  # the control
    assert not is_pickle(path)


@pytest.mark.parametrize("protocol", [0, 1])
def test_no_code_runs_while_a_pickle_is_read(protocol, tmp_path):
    ran = tmp_path / "ran"
    path = tmp_path / "notes.txt"
    path.write_bytes(pickle.dumps(_Touch(ran), protocol=protocol))
    assert _unpickler_imports(path)
    assert is_pickle(path)
    assert not ran.exists()
    pickle.loads(path.read_bytes()).close()  # the control: pickle.loads runs it
    assert ran.exists()


def test_many_pickles_in_a_row_count_as_one(tmp_path):
    """Constants only, but more than MAX_PROBE_LOADS pickles one after another: no text file
    reads so."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"N." * (pickle_sniff.MAX_PROBE_LOADS + 1))
    assert _unpickler_imports(path)
    path.write_bytes(b"N." * 2)  # the control
    assert not _unpickler_imports(path)


def test_the_pure_python_unpickler_reads_on_where_the_c_one_runs_out(tmp_path, monkeypatch):
    """A memo index of 2**31 asks the C unpickler for 32 GiB, past the child's bound; a machine
    with that memory, or joblib's pure-Python unpickler (a memo dict), reads on to the import."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"Nr\x00\x00\x00\x80cos\nsystem\n.")
    monkeypatch.setattr(
        pickle_sniff, "_parses_as_pickle", lambda data, folder=None, deadline=None: False
    )
    assert _unpickler_imports(path)
    assert is_pickle(path)


# --- lm-eval run: the suite's model only ------------------------------------------------------


def _parsed(*argv: str):
    from suite.lm_eval_cli import parse_run

    return parse_run(list(argv))[1]


@pytest.mark.parametrize(
    "model", ["hf", "dummy", "local-completions", "vllm", "specdec2", "hf-auto"]
)  # fmt: skip
def test_lm_eval_run_refuses_another_lm_eval_model(model, tmp_path, capsys):
    """``--model hf`` (with ``trust_remote_code=True`` it runs a folder's code), ``dummy`` (scored
    and saved, exit 0) and the API models (every prompt sent to a URL) were taken."""
    from tests.hostile import refused

    argv = ["lm-eval", "run", "--model", model, "--tasks", "x", "--output_path", str(tmp_path)]
    refused(argv, tmp_path, capsys, f"--model = {model!r}", "'specdec', only")


def test_lm_eval_run_refuses_another_model_in_its_config(tmp_path, capsys):
    from tests.hostile import refused

    config = tmp_path / "run.yaml"
    config.write_text("model: dummy\ntasks: x\n")
    argv = ["lm-eval", "run", "--config", str(config)]
    refused(argv, tmp_path, capsys, "run.yaml", "field 'model'", "'dummy'")
    config.write_text("model: specdec\ntasks: x\n")  # the control
    assert _parsed("--config", str(config)).config == str(config)


def test_lm_eval_run_defaults_to_specdec(tmp_path):
    """With no model named, lm-eval's default (``hf``) ended in a traceback."""
    assert _parsed("--tasks", "x").model == "specdec"
    config = tmp_path / "run.yaml"
    config.write_text("tasks: x\n")
    assert _parsed("--config", str(config)).model == "specdec"
    assert _parsed("--model", "specdec", "--tasks", "x").model == "specdec"


# --- chat templates: printf tests, named templates, transformers' own tags --------------------


@pytest.mark.parametrize(
    "where", ["chat_template.jinja", "additional_chat_templates/default.jinja"]
)  # fmt: skip
@pytest.mark.parametrize("test", ["odd", "even", "divisibleby 3"])
def test_a_submissions_chat_template_formatting_a_text_in_a_test_is_refused(
    where,
    test,
    tiny,  # noqa: F811
    tmp_path,
    capsys,
):
    """transformers computes ``odd``, ``even`` and ``divisibleby`` as ``value % n``: on the text
    ``"%01500000000d"`` it built 1.5 GB per render; the check passed it."""
    from tests.hostile import refused
    from tests.test_submissions import _copy, _profile

    folder = _copy(tiny, tmp_path)
    path = folder / "model" / where
    path.parent.mkdir(exist_ok=True)
    body = "{% for m in messages %}{{ m.content }}{% endfor %}"
    path.write_text('{{ "%01500000000d" is ' + test + " }}" + body)
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, f"the test '{test.split()[0]}'", "chat_template")


@pytest.mark.parametrize(
    "template",
    ['{% for m in messages %}{% if m.content is even %}{{ m.content }}{% endif %}{% endfor %}',
     '{% set x = "%099999999d" %}{% for m in messages %}{% if x is odd %}.{% endif %}{% endfor %}'],
    ids=["message-text", "named-text"],
)  # fmt: skip
def test_a_printf_test_on_a_text_is_refused_wherever_the_text_comes_from(template):
    from suite.sandbox import chat_template_refusal

    assert "printf" in chat_template_refusal(template)


@pytest.mark.parametrize(
    "template",
    ["{% for m in messages %}{% if loop.index0 is even %}{{ m.content }}{% endif %}{% endfor %}",
     "{% for m in messages %}{% if loop.index is divisibleby 1 %}{{ m.content }}{% endif %}"
     "{% endfor %}",
     "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}",
     "{% for m in messages %}{{ m.content }}{% if loop.index0 > 3 %}{% break %}{% endif %}"
     "{% endfor %}",
     "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}{{ m.content }}"
     "{% endfor %}"],
    ids=["loop-even", "loop-divisibleby", "generation", "break", "continue"],
)  # fmt: skip
def test_chat_templates_transformers_renders_are_taken(template, tiny, tmp_path):  # noqa: F811
    """``{% generation %}`` and ``{% break %}`` / ``{% continue %}`` (transformers compiles chat
    templates with them) were refused as bad Jinja2; a loop index's ``is even`` is the control
    of the printf rule. Each renders as a run renders a prompt."""
    from suite import prompts
    from suite.models import load_tokenizer
    from suite.sandbox import chat_template_refusal
    from tests.test_submissions import _copy

    assert chat_template_refusal(template) is None
    folder = _copy(tiny, tmp_path)
    (folder / "model" / "chat_template.jinja").write_text(template)
    assert prompts._chat_ids(load_tokenizer(folder / "model"), "What is 2+2?")


@pytest.mark.parametrize(
    "value",
    [[{"name": ["default"], "template": "hi"}],
     [{"name": {"a": 1}, "template": "hi"}, {"name": "default", "template": "x"}],
     [{"name": "default"}], ["{{ messages }}"], [{"name": 1, "template": "hi"}]],
    ids=["list-name", "mapping-name", "no-template", "bare-text", "number-name"],
)  # fmt: skip
def test_named_chat_templates_need_a_text_name_and_a_template(value, tiny, tmp_path, capsys):  # noqa: F811
    """A list or mapping as a template's name ended in ``TypeError: unhashable type``."""
    import json

    from tests.hostile import refused
    from tests.test_submissions import _copy, _profile

    folder = _copy(tiny, tmp_path)
    config = folder / "model" / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data["chat_template"] = value
    config.write_text(json.dumps(data))
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "tokenizer_config.json", "chat_template")
    data["chat_template"] = [{"name": "default", "template": "{{ messages }}"}]  # the control
    config.write_text(json.dumps(data))
    from suite.cli import main

    assert main(argv) == 0


# --- results folders, profiles, studies ------------------------------------------------------


def test_a_run_refuses_a_new_folder_holding_a_stray_submission_json(tmp_path, capsys):
    """``run`` and ``reproduce`` took a folder holding only a ``submission.json``, scored every
    cell, and then the report refused the folder for good (no record scores its draft)."""
    from tests.hostile import refused

    out = tmp_path / "out"
    out.mkdir()
    (out / "submission.json").write_text('{"name": "x", "draft": "sub-x"}')
    argv = ["run", "difficulty", "--profile", "smoke", "--out", str(out), "--quiet"]
    refused(argv, tmp_path, capsys, "'submission.json'", "not a results folder")


def test_a_profile_folder_the_system_cannot_read_is_named(tmp_path, capsys):
    """A 300-character ``bundle`` ended in a bare ``[Errno 36] File name too long`` naming
    neither the profile nor the field."""
    from tests.hostile import refused

    profile = tmp_path / "smoke.yaml"
    text = (ROOT / "tasks" / "profiles" / "smoke.yaml").read_text()
    assert "{bundle: reference/llama}" in text
    profile.write_text(text.replace("{bundle: reference/llama}", "{bundle: " + "x" * 300 + "}"))
    argv = ["run", "difficulty", "--profile", str(profile), "--out", str(tmp_path / "o")]
    refused(argv, tmp_path, capsys, "smoke.yaml", "models.llama.bundle", "File name too long")


@pytest.mark.parametrize(
    ("fact", "value"),
    [("method", "bogus"), ("method", "Base"), ("method", "base\n"), ("origin", "bundel")],
)
def test_a_study_selector_naming_no_possible_draft_is_refused(fact, value, tmp_path, capsys):
    """A misspelt ``method`` selected nothing, silently dropping that arm of a study under
    ``missing_drafts: skip``."""
    import yaml

    from tests.hostile import refused

    study = yaml.safe_load((ROOT / "tasks" / "studies" / "difficulty.yaml").read_text())
    study["grid"]["drafts"] = [{"method": "base"}, {fact: value}]
    path = tmp_path / "studies" / "difficulty.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(study))
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "o")]
    refused(
        argv, tmp_path, capsys, "difficulty.yaml", f"grid.drafts[1].{fact}", f"a draft's {fact}"
    )
    study["grid"]["drafts"] = [
        {"method": "base"},
        {fact: "online" if fact == "method" else "bundle"},
    ]
    path.write_text(yaml.safe_dump(study))  # the control
    from suite.studies import load_study

    assert load_study(path).name == "difficulty"


def test_a_config_stating_two_rope_settings_is_refused(tiny, tmp_path, capsys):  # noqa: F811
    """``rope_parameters`` said default and ``rope_scaling`` linear by 1000: transformers built
    the model from ``rope_scaling``, and the check passed it."""
    import json

    from suite.cli import main
    from tests.hostile import refused
    from tests.test_submissions import _copy, _profile

    folder = _copy(tiny, tmp_path)
    config = folder / "model" / "config.json"
    data = json.loads(config.read_text())
    assert data["rope_parameters"]["rope_type"] == "default"
    data["rope_scaling"] = {"rope_type": "linear", "factor": 1000.0}
    config.write_text(json.dumps(data))
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "config.json", "rope_scaling", "other than rope_parameters")
    data["rope_scaling"] = {"type": "default"}  # the control: the same setting, stated twice
    config.write_text(json.dumps(data))
    assert main(argv) == 0


# --- the sniffer: pickles after a constant one, time and decompression bombs, calls ----------


def _legacy_with_memo_bomb(marker: Path) -> bytes:
    """torch's legacy stream (magic number, protocol, system info, then the object), the object
    one putting at memo index 150,000,000 (a 2.4 GB memo to the C unpickler) before it runs."""
    return (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=0)
        + pickle.dumps(1001, protocol=0)
        + b"N."
        + b"Np150000000\n0cos\nsystem\n(S'touch "
        + str(marker).encode()
        + b"'\ntR."
    )


def test_a_pickle_after_constant_ones_is_sniffed(tmp_path):
    """The opcode reading stopped at the first STOP (constants: text), and the unpickler's
    reading ran out of memory at the memo index: the file passed, where torch.load (weights_only
    False) ran its command."""
    path = tmp_path / "extra_state.dat"
    path.write_bytes(_legacy_with_memo_bomb(tmp_path / "ran"))
    assert pickle_sniff._parses_as_pickle(path.read_bytes(), tmp_path)
    assert _unpickler_imports(path)
    assert is_pickle(path)
    assert not (tmp_path / "ran").exists()
    path.write_bytes(b"N.N.")  # the control: two constant pickles, then the end
    assert not is_pickle(path)


def test_a_submission_holding_a_pickle_after_constant_ones_is_refused(tiny, tmp_path, capsys):  # noqa: F811
    from tests.hostile import refused
    from tests.test_submissions import _copy, _profile

    folder = _copy(tiny, tmp_path)
    (folder / "model" / "extra_state.dat").write_bytes(_legacy_with_memo_bomb(tmp_path / "ran"))
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "extra_state.dat", "pickle")
    assert not (tmp_path / "ran").exists()


def _in_a_subprocess(code: str, seconds: int) -> str:
    """Run ``code`` (which prints its answer) in a fresh Python of 4 GB, within ``seconds``."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", f"import resource; resource.setrlimit(resource.RLIMIT_AS, "
         f"(4 << 30, 4 << 30))\n{code}"],
        capture_output=True, text=True, timeout=seconds, cwd=ROOT, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_marks_are_simulated_in_constant_time(tmp_path):
    """100,000 objects then 100,000 MARK-LIST pairs (300 kB): each mark scanned and copied the
    whole simulated stack, about 160 s; the sniff is now linear in the file."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"N" * 100_000 + b"(l" * 100_000)
    code = (
        "from pathlib import Path; from suite.pickle_sniff import is_pickle; "
        f"print(is_pickle(Path({str(path)!r})))"
    )
    assert _in_a_subprocess(code, 60) == "False"


def test_a_compressed_tar_is_never_opened(tmp_path):
    """A bz2 tar of one member of 4 GiB of zeros (a few kB): listing it decompressed all of it.
    torch reads uncompressed tars only."""
    import bz2
    import tarfile

    member = tarfile.TarInfo("pickle")
    member.size = 4 << 30
    chunk = bz2.compress(b"\0" * (16 << 20), 9)
    data = bz2.compress(member.tobuf(format=tarfile.GNU_FORMAT), 9) + chunk * 256
    path = tmp_path / "samples.dat"
    path.write_bytes(data)
    code = (
        "from pathlib import Path; from suite.pickle_sniff import is_pickle; "
        f"print(is_pickle(Path({str(path)!r})))"
    )
    assert _in_a_subprocess(code, 60) == "False"
    with tarfile.open(tmp_path / "legacy.tar", "w:") as tar:  # the control: torch's kind
        tar.addfile(tarfile.TarInfo("pickle"))
    assert is_pickle(tmp_path / "legacy.tar")


@pytest.mark.parametrize(
    "text",
    [b"(Note: this card describes the draft model.)\n", b"(NNR.", b"(Nb."],
    ids=["note", "call-none", "build-none"],
)  # fmt: skip
def test_a_call_with_nothing_imported_is_not_a_pickle(text, tmp_path):
    """``(Note ...`` reads as MARK, NONE, OBJ: a call, flagged though nothing was imported; the
    unpickler only calls ``None()`` and fails."""
    path = tmp_path / "README.md"
    path.write_bytes(text)
    assert not is_pickle(path)
    path.write_bytes(b"(cos\nsystem\no.")  # the control: the call's object was imported
    assert is_pickle(path)


# --- round 48 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["run", "degradation", "--profile", "smoke", "--engine", "analytic", "--out", "OUT"],
     ["report", "OUT"], ["report", "DIR", "--out", "OUT"]],
    ids=["run-out", "report-dir", "report-out"],
)  # fmt: skip
@pytest.mark.parametrize("character", ["\x1b[31m", "\n", "\u202e", "\r"])
def test_a_path_option_holding_a_control_character_is_refused(argv, character, tmp_path, capsys):
    """``--out $'...\\x1b[31mRED'`` ran, and its summary line printed the escape raw (a newline
    split it, forging a line)."""
    from suite.cli import main
    from suite.errors import control_character
    from tests.hostile import snapshot

    out = str(tmp_path / f"esc{character}RED")
    given = [out if a == "OUT" else str(tmp_path) if a == "DIR" else a for a in argv]
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as done:  # argparse's refusal: usage, then the error
        main(given)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "a path holds no control or invisible character" in err, err
    assert character.encode("unicode_escape").decode() in err, err
    assert "Traceback" not in err and control_character(err, allowed="\n") is None, err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "line",
    ['use_cache: ""', "use_cache: false", "use_cache: null", "cache_requests: false",
     "cache_requests: null", 'cache_requests: ""', "trust_remote_code: true"],
)  # fmt: skip
def test_lm_eval_run_refuses_a_cache_or_remote_code_in_its_config(line, tmp_path, capsys):
    """``use_cache: ""`` turned lm-eval's response cache on (``_rank0.db``, read back with
    pickle.loads: a poisoned one ran its code); ``false`` and ``null`` ended in tracebacks;
    ``trust_remote_code: true`` was refused only after the tasks loaded, as a model arg."""
    from tests.hostile import refused

    config = tmp_path / "run.yaml"
    config.write_text(f"tasks: x\n{line}\n")
    argv = ["lm-eval", "run", "--config", str(config)]
    refused(argv, tmp_path, capsys, "run.yaml", line.split(":")[0], "not taken here")
    config.write_text("tasks: x\napply_chat_template: false\n")  # the control: lm-eval's default
    assert _parsed("--config", str(config)).config == str(config)


@pytest.mark.parametrize(
    ("given", "shown"),
    [(["--use_cache", ""], "--use_cache ''"), (["--trust_remote_code"], "--trust_remote_code"),
     (["--seed", "1,2"], "1, 3 or 4 seeds"), (["--seed", "1,2,3,4,5"], "not 5"),
     (["--metadata", "a=1_0.5"], "decimal digits"), (["--metadata", "a=1e5_0"], "decimal digits"),
     (["--gen_kwargs", "temperature=١.٥"], "ASCII digits"),
     (["--limit"], "expected one argument"), (["--no_such_option"], "unrecognized arguments")],
    ids=["use-cache-empty", "trust-remote-code", "two-seeds", "five-seeds", "float-separator",
         "exponent-separator", "arabic-float", "no-value", "unknown-option"],
)  # fmt: skip
def test_lm_eval_run_refuses_in_one_line(given, shown, tmp_path, capsys):
    """Each was run, read as another number, or refused by lm-eval's parser with its usage
    block and a ``functools.partial`` repr with a memory address."""
    from tests.hostile import refused

    err = refused(["lm-eval", "run", "--tasks", "x", *given], tmp_path, capsys, shown)
    assert "usage:" not in err and "0x7" not in err


def test_lm_eval_run_takes_three_or_four_seeds_and_plain_floats():
    assert _parsed("--tasks", "x", "--seed", "1,2,3").seed
    assert _parsed("--tasks", "x", "--seed", "0,None,8,52").seed
    assert _parsed("--tasks", "x", "--metadata", "a=10.5,b=1e5").metadata == {"a": 10.5, "b": 1e5}


def test_a_tar_whose_first_member_name_is_a_pickle_is_sniffed(tmp_path):
    """A tar is also read by its bytes: a first member named as a whole protocol-0 pickle runs
    under pickle.load and joblib; the tar check read only the member names."""
    import tarfile

    path = tmp_path / "samples.dat"
    with tarfile.open(path, "w:") as tar:
        tar.addfile(tarfile.TarInfo("cos\nsystem\n(S'echo x'\ntR."))
    assert is_pickle(path)
    with tarfile.open(path, "w:") as tar:  # the control: a tar of data
        tar.addfile(tarfile.TarInfo("data/notes.txt"))
    assert not is_pickle(path)


def test_text_with_ustar_where_a_tar_says_it_is_not_a_pickle(tmp_path):
    """``mustard`` at byte 257 of a model card sent it to the tar check, which could not list
    it and called it a pickle."""
    path = tmp_path / "README.md"
    path.write_bytes(b"A draft model card. " * 12 + b"x" * 16 + b"mustard and more text\n")
    assert path.read_bytes()[257:262] == b"ustar"
    assert not is_pickle(path)


def test_many_small_memo_bombs_are_read_in_one_child_within_its_memory(tmp_path):
    """600 files of ``I1\\np30000000\\nZ`` (a 480 MB memo each to the C unpickler): a child
    each, zeroing its memo, took over 2 minutes; one child within 256 MiB refuses the memo at
    once."""
    paths = []
    for i in range(600):
        paths.append(tmp_path / f"m{i}.txt")
        paths[-1].write_bytes(b"I1\np30000000\nZ")
    code = (
        "from pathlib import Path; from suite.pickle_sniff import pickles; "
        f"print(len(pickles(sorted(Path({str(tmp_path)!r}).glob('m*.txt')))))"
    )
    assert _in_a_subprocess(code, 60) == "0"


def test_the_unpicklers_reading_past_its_budget_is_refused_naming_the_file(
    tiny,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
):
    from tests.hostile import refused
    from tests.test_submissions import _copy, _profile

    folder = _copy(tiny, tmp_path)
    (folder / "model" / "notes.txt").write_bytes(b"Kernel system variables\n")
    monkeypatch.setattr(pickle_sniff, "MAX_PROBE_TOTAL_SECONDS", 0)
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "notes.txt", "took over 0 s")


# --- round 49 -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["version", "spec", "split"])
def test_lm_eval_run_refuses_metadata_restating_the_task(key, tmp_path, capsys):
    """``--metadata version=7 split=train spec=svamp.yaml`` ran GSM8K's test split and stated
    SVAMP's train split, version 7, in its results."""
    from tests.hostile import refused

    argv = ["lm-eval", "run", "--tasks", "x", "--metadata", f"{key}=7"]
    refused(argv, tmp_path, capsys, f"--metadata: the key '{key}'", "another task")
    assert _parsed("--tasks", "x", "--metadata", "note=7").metadata == {"note": 7}  # the control


def test_a_negative_zero_temperature_is_zero():
    """``temperature=-0.0`` decoded greedily and was recorded as ``-0.0``."""
    import math

    from suite.decoding.sampling import check_temperature

    for given in (-0.0, "-0.0", "-0"):
        value = check_temperature(given)
        assert value == 0 and math.copysign(1, value) == 1, given
    with pytest.raises(ValueError, match=">= 0"):  # the control
        check_temperature(-0.5)


@pytest.mark.parametrize("name", ["archive/data.PKL", "archive/Data.Pkl"])
def test_a_torch_zip_with_its_pickle_named_in_another_case_is_sniffed(name, tmp_path):
    """torch finds ``data.pkl`` in any case; the sniffer matched ``.pkl`` only."""
    import zipfile

    path = tmp_path / "state.dat"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, pickle.dumps(1))
    assert is_pickle(path)
    with zipfile.ZipFile(path, "w") as z:  # the control: a zip of text
        z.writestr("notes/readme.txt", "hi")
    assert not is_pickle(path)


def test_a_zip_too_large_to_list_is_not_listed(tmp_path):
    """A zip of a million entries was listed in the suite's own process (380 MB, 6.7 s)."""
    import zipfile

    path = tmp_path / "samples.dat"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(pickle_sniff.MAX_ARCHIVE_MEMBERS + 1):
            z.writestr(str(i), b"")
    code = (
        "import torch; from pathlib import Path; from suite.pickle_sniff import is_pickle\n"
        "peak = lambda: int(Path('/proc/self/status').read_text().split('VmHWM:')[1].split()[0])\n"
        f"before = peak(); print(is_pickle(Path({str(path)!r})), peak() - before < 50_000)"
    )
    assert _in_a_subprocess(code, 60) == "True True"


def test_a_persistent_id_with_a_backslash_is_read_as_the_c_unpickler_reads_it(tmp_path):
    """pickletools decodes a PERSID line's escapes (``\\x`` stopped the opcode reading), the C
    unpickler takes it as ASCII; the unpicklers' reading then ran out at a memo index."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"P\\x\nNp100000000\n0cos\nsystem\n.")
    assert pickle_sniff._parses_as_pickle(path.read_bytes(), tmp_path)
    assert is_pickle(path)


@pytest.mark.parametrize(
    ("url", "shown"),
    [("https://user:pw@127.0.0.1/x", "credentials"), ("https://u@127.0.0.1/x", "credentials"),
     ("https://127.0.0.1:99999/x", "out of range"), ("https:///x", "no host")],
    ids=["user-password", "user", "port", "no-host"],
)  # fmt: skip
def test_fetch_sources_refuse_a_url_no_download_should_take(url, shown, tmp_path, capsys):
    """A URL with credentials passed and failed at download, blaming DNS."""
    from tests.hostile import refused

    sources = tmp_path / "s.yaml"
    sources.write_text(f"files:\n  - path: a/b.json\n    url: {url}\n    sha256: {'0' * 64}\n")
    (tmp_path / "dest").mkdir()
    argv = ["fetch", str(tmp_path / "dest"), "--sources", str(sources)]
    refused(argv, tmp_path, capsys, "s.yaml", "url", shown)


# --- round 50 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"), [("seconds", 1e308), ("seconds", 2e9)], ids=["1e308", "63-years"]
)  # fmt: skip
def test_a_checkpoints_time_so_far_is_bounded(field, value, tmp_path):
    """A checkpoint's ``seconds`` of 1e308 was resumed and carried into its training.json."""
    import json

    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable

    resume, ckpt = _resumable(tmp_path)
    state = json.loads((ckpt / "state.json").read_text())
    state[field] = value
    (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert err.value.field == field, str(err.value)


def test_a_float16_runs_loss_scale_is_a_float32():
    """A scale of 1e308 passed: the scaler keeps it as a float32 tensor, where it is inf."""
    import torch

    from suite.distill.loop import _check_scaler
    from suite.errors import SpecError

    scaler = torch.amp.GradScaler("cpu")
    saved = scaler.state_dict()
    path = Path("state.json")
    _check_scaler(path, saved, scaler)  # the control
    with pytest.raises(SpecError, match="range") as err:
        _check_scaler(path, saved | {"scale": 1e308}, scaler)
    assert err.value.field == "scaler.scale"


def _torch_zip(tmp_path: Path, ran: Path) -> bytes:
    """A torch.save zip whose pickle would create ``ran``."""
    import torch

    path = tmp_path / "saved.pt"
    torch.save(_Touch(ran), path)
    data = path.read_bytes()
    path.unlink()
    return data


def test_a_damaged_torch_zip_is_a_pickle(tmp_path):
    """A stray end record after a torch.save zip: zipfile could not list it (text, then), torch's
    own reader took it and ran its pickle."""
    path = tmp_path / "NOTES"
    path.write_bytes(_torch_zip(tmp_path, tmp_path / "ran") + b"PK\x05\x06\0\0\0\0")
    assert is_pickle(path)
    assert not (tmp_path / "ran").exists()


def test_a_zip_whose_first_entry_is_a_pickle_is_one(tmp_path):
    """torch.save writes ``archive/data.pkl`` first: read from the first local header, whatever
    the directory says."""
    import zipfile

    path = tmp_path / "state.dat"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(1))
    data = bytearray(path.read_bytes())
    start = data.rindex(b"PK\x01\x02")  # the directory's entry: its name made another
    data[start + 46 : start + 46 + len("archive/data.pkl")] = b"archive/data.txt"
    path.write_bytes(bytes(data))
    assert is_pickle(path)


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_numpy_files_of_objects_are_pickles(kind, tmp_path):
    """numpy.load(allow_pickle=True) unpickles an object array's data, which starts after the
    .npy header; the sniffer read only a file's first bytes."""
    import numpy as np

    path = tmp_path / f"a.{kind}"
    objects = np.array([1, "a", None], dtype=object)
    save = np.save if kind == "npy" else np.savez
    save(path, objects) if kind == "npy" else save(path, a=objects)
    assert is_pickle(path)
    save(path, np.arange(3.0)) if kind == "npy" else save(path, a=np.arange(3.0))  # the control
    assert not is_pickle(path)


def test_the_opcode_reading_looks_each_module_up_once(tmp_path):
    """5 MB of ``cq\\nz\\n`` (a million imports of a module that does not exist) took over a
    minute: each looked the module up again."""
    path = tmp_path / "words.txt"
    path.write_bytes(b"cq\nz\n" * 1_000_000)
    code = (
        "from pathlib import Path; from suite.pickle_sniff import is_pickle; "
        f"print(is_pickle(Path({str(path)!r})))"
    )
    assert _in_a_subprocess(code, 60) == "True"  # a million valid opcodes: a pickle


def test_the_opcode_reading_shares_the_folders_deadline(tmp_path, monkeypatch):
    path = tmp_path / "words.txt"
    path.write_bytes(b"N" * 200_000)
    monkeypatch.setattr(pickle_sniff, "MAX_PROBE_TOTAL_SECONDS", -1)
    with pytest.raises(pickle_sniff.SniffTooSlow, match=r"words\.txt"):
        pickle_sniff.pickles([path])


# --- round 51 -------------------------------------------------------------------------------


def test_a_pickle_importing_from_a_loaded_module_without_a_spec_is_sniffed(tmp_path, monkeypatch):
    """Under the ``suite`` console script ``__main__`` has no spec: find_spec raised, the module
    counted as absent, and a file taking ``eval`` from ``__main__.__builtins__`` was text."""
    import sys
    import types

    loaded = types.ModuleType("loaded_without_spec")
    loaded.__spec__ = None
    monkeypatch.setitem(sys.modules, "loaded_without_spec", loaded)
    path = tmp_path / "notes.txt"
    path.write_bytes(b"cloaded_without_spec\n__builtins__\n.")
    assert is_pickle(path)
    path.write_bytes(b"cnot_loaded_anywhere_at_all\n__builtins__\n.")  # the control
    assert not is_pickle(path)


@pytest.mark.parametrize(
    "text",
    [b"C" + b"o" + b"x" * 111 + b").", b"U\x03abc).", b"(t.", b"]."],
    ids=["licence-tuple", "short-string-tuple", "mark-tuple", "empty-list"],
)  # fmt: skip
def test_an_empty_container_alone_is_not_a_data_pickle(text, tmp_path):
    """``Copyright ...`` with ``).`` at bytes 113 and 114 read as bytes, an empty tuple, STOP:
    refused as a data pickle, though loading it gives ``()`` and runs nothing."""
    path = tmp_path / "LICENSE"
    path.write_bytes(text)
    assert not is_pickle(path)
    path.write_bytes(b"(I1\ntp0\n.")  # the control: a tuple as pickle.dumps writes it
    assert is_pickle(path)


@pytest.mark.parametrize("descr", ['"|O"', "'object'", "'\\x4f'", "[('a', '<f8'), ('b', '|O')]"])
@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_an_object_dtype_written_any_way_numpy_reads_is_a_pickle(descr, kind, tmp_path):
    """Only ``'|O'`` in single quotes was matched; numpy reads ``"|O"``, ``'object'`` and
    ``'\\x4f'`` too, and unpickles the data."""
    import io
    import zipfile

    import numpy as np

    header = "{'descr': " + descr + ", 'fortran_order': False, 'shape': (1,), }"
    header = header.ljust(118) + "\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin-1")
    npy += pickle.dumps(np.array([None], dtype=object), protocol=2)
    assert np.lib.format.read_array_header_1_0(io.BytesIO(npy[8:]))[2].hasobject  # as objects
    path = tmp_path / f"extra.{kind}"
    if kind == "npy":
        path.write_bytes(npy)
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("a.npy", npy)
    assert is_pickle(path)


@pytest.mark.parametrize("seed", [10**22, -1, 2**32])
def test_a_study_selector_seed_no_draft_can_have_is_refused(seed, tmp_path, capsys):
    """``{seed: 10000000000000000000000}`` selected nothing, dropping cells under
    ``missing_drafts: skip``."""
    import yaml

    from tests.hostile import refused

    study = yaml.safe_load((ROOT / "tasks" / "studies" / "difficulty.yaml").read_text())
    study["grid"]["drafts"] = [{"method": "base"}, {"method": "offline", "seed": seed}]
    path = tmp_path / "studies" / "difficulty.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(study))
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "o")]
    refused(argv, tmp_path, capsys, "difficulty.yaml", "grid.drafts[1].seed", "a draft's seed")


# --- round 52 -------------------------------------------------------------------------------


def _two_directory_zip(payload: bytes, stated: bytes, read: bytes) -> bytes:
    """A zip of two central directories of one size: the end record states the offset of the
    first (naming ``stated``, where torch's reader looks), zipfile reads the one just before
    the end record (naming ``read``)."""
    import struct
    import zlib

    files = [(read, stated, payload), (b"archive/version", b"archive/version", b"3\n")]
    body, offsets = b"", []
    for local, _, data in files:
        offsets.append(len(body))
        crc = zlib.crc32(data)
        header = (b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(local), 0)
        body += struct.pack("<4s5H3L2H", *header) + local + data

    def directory(torch_reads: bool) -> bytes:
        out = b""
        for (local, torch_name, data), offset in zip(files, offsets, strict=True):
            name = torch_name if torch_reads else local
            entry = (b"PK\x01\x02", 20, 20, 0, 0, 0, 0, zlib.crc32(data), len(data), len(data),
                     len(name), 0, 0, 0, 0, 0, offset)  # fmt: skip
            out += struct.pack("<4s6H3L5H2L", *entry) + name
        return out

    first, second = directory(True), directory(False)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, len(second), len(body), 0)
    return body + first + second + end


def test_a_zip_whose_directory_is_not_where_its_end_record_says_is_a_pickle(tmp_path):
    """zipfile read the directory before the end record (``archive/data.aaa``), torch the one
    the end record states (``archive/data.pkl``) and ran it; the file passed the check."""
    import zipfile

    payload = b"cos\nsystem\n(S'echo x'\ntR."
    path = tmp_path / "notes.txt"
    path.write_bytes(_two_directory_zip(payload, b"archive/data.pkl", b"archive/data.aaa"))
    assert zipfile.ZipFile(path).namelist() == ["archive/data.aaa", "archive/version"]
    assert is_pickle(path)
    with zipfile.ZipFile(path, "w") as z:  # the control: a zip as zipfile writes one
        z.writestr("archive/data.aaa", b"hello")
    assert not is_pickle(path)


# --- round 53 -------------------------------------------------------------------------------


def _zip64_hidden(payload: bytes) -> bytes:
    """A zip whose last directory entry's comment holds a zip64 locator: zipfile lists a text
    file, torch's reader follows the locator to another directory naming ``archive/data.pkl``."""
    import struct
    import zlib

    def local(name: bytes, data: bytes) -> bytes:
        fields = (b"PK\x03\x04", 20, 0, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data),
                  len(name), 0)  # fmt: skip
        return struct.pack("<4s2B4HL2L2H", *fields) + name + data

    def central(name: bytes, data: bytes, offset: int, comment: bytes = b"") -> bytes:
        fields = (b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0x21, zlib.crc32(data), len(data),
                  len(data), len(name), 0, len(comment), 0, 0, 0, offset)  # fmt: skip
        return struct.pack("<4s4B4HL2L5H2L", *fields) + name + comment

    text = (b"a.txt", b"hello\n")
    hidden = [(b"archive/data.pkl", payload), (b"archive/version", b"3\n")]
    data, offsets = b"", {}
    for name, body in [text, *hidden]:
        offsets[name] = len(data)
        data += local(name, body)
    hidden_at = len(data)
    hidden_directory = b"".join(central(n, b, offsets[n]) for n, b in hidden)
    data += hidden_directory
    record_at = len(data)
    data += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 2, 2,
                        len(hidden_directory), hidden_at)  # fmt: skip
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
    directory_at = len(data)
    directory = central(*text, offsets[text[0]], comment=locator)
    data += directory
    return data + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory),
                              directory_at, 0)  # fmt: skip


def test_a_zip_with_a_hidden_zip64_locator_is_a_pickle(tmp_path):
    """zipfile listed ``a.txt``; torch followed the zip64 locator in an entry's comment to a
    directory naming ``archive/data.pkl`` and ran it."""
    import zipfile

    path = tmp_path / "notes.zip"
    path.write_bytes(_zip64_hidden(b"cos\nsystem\n(S'echo x'\ntR."))
    assert zipfile.ZipFile(path).namelist() == ["a.txt"]
    assert is_pickle(path)
    with zipfile.ZipFile(path, "w") as z:  # the control: no zip64 record
        z.writestr("a.txt", "hello\n")
    assert not is_pickle(path)


@pytest.mark.parametrize("kind", ["two-directories", "hidden-zip64"])
def test_torch_s_own_zip_reader_names_the_pickle_zipfile_misses(kind, tmp_path):
    """The zip check asks torch's reader (miniz, as torch.load opens an archive) what it would
    unpickle, besides its rules on how zipfile and miniz differ."""
    import zipfile

    payload = b"cos\nsystem\n(S'echo x'\ntR."
    data = (
        _two_directory_zip(payload, b"archive/data.pkl", b"archive/data.aaa")
        if kind == "two-directories"
        else _zip64_hidden(payload)
    )
    path = tmp_path / "notes.zip"
    path.write_bytes(data)
    assert not any(n.endswith(".pkl") for n in zipfile.ZipFile(path).namelist())
    assert pickle_sniff._torch_reads_a_pickle(path)
    with zipfile.ZipFile(path, "w") as z:  # the control: a zip of text in a folder
        z.writestr("notes/a.txt", "hello\n")
    assert not pickle_sniff._torch_reads_a_pickle(path)


# --- round 54 -------------------------------------------------------------------------------


def _object_npy() -> bytes:
    import io

    import numpy as np

    out = io.BytesIO()
    np.save(out, np.array([1, None], dtype=object), allow_pickle=True)
    return out.getvalue()


def test_an_npz_member_of_objects_under_any_name_is_a_pickle(tmp_path):
    """numpy reads any member that starts as an .npy as one; only ``*.npy`` names were read."""
    import zipfile

    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("weights.dat", _object_npy())
    assert is_pickle(path)
    with zipfile.ZipFile(path, "w") as z:  # the control: a member of text
        z.writestr("weights.dat", b"hello")
    assert not is_pickle(path)


def test_a_zip_behind_an_empty_end_record_is_read_as_numpy_reads_it(tmp_path):
    """numpy opens a file starting ``PK\\x05\\x06`` as an .npz; the sniffer read it as opcodes."""
    import io
    import zipfile

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("arr.npy", _object_npy())
    path = tmp_path / "extra.dat"
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18 + inner.getvalue())
    assert is_pickle(path)


def test_a_compressed_optimizer_checkpoint_is_refused_before_torch_reads_it(tmp_path):
    """torch allocates a deflated record's stated size before inflating it: a 2.2 MB
    ``optimizer.pt`` took the resume to 2.5 GB before it was refused."""
    import io
    import zipfile

    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable

    resume, ckpt = _resumable(tmp_path)
    saved = (ckpt / "optimizer.pt").read_bytes()
    with zipfile.ZipFile(io.BytesIO(saved)) as original:
        records = [(i.filename, original.read(i.filename)) for i in original.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in records:
            z.writestr(name, data + (bytes(64 << 20) if name.endswith("/data/1") else b""))
    (ckpt / "optimizer.pt").write_bytes(out.getvalue())
    with pytest.raises(SpecError, match=r"is compressed \(torch\.save stores\)") as err:
        resume()
    assert err.value.value == "optimizer.pt"
    (ckpt / "optimizer.pt").write_bytes(saved)  # the control: as torch.save wrote it
    resume()


# --- round 55 -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gnu-long-name", "pax"])
def test_a_tar_header_claiming_a_terabyte_is_read_within_the_file(kind, tmp_path):
    """A 2 KB tar whose long-name (or pax) header claims 2**40 bytes: tarfile allocated them,
    and the sniff ended in MemoryError ("out of memory" naming no file)."""
    import tarfile

    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME if kind == "gnu-long-name" else tarfile.XHDTYPE
    header.size = 2**40
    form = tarfile.GNU_FORMAT if kind == "gnu-long-name" else tarfile.PAX_FORMAT
    path = tmp_path / "notes.txt"
    path.write_bytes(header.tobuf(format=form)[:512] + b"x" * 1536)
    code = (
        "from pathlib import Path; from suite.pickle_sniff import is_pickle; "
        f"print(is_pickle(Path({str(path)!r})))"
    )
    assert _in_a_subprocess(code, 60) == "False"  # torch's tarfile fails there too: no pickle


def test_a_refusal_of_a_newline_does_not_say_newlines_are_taken():
    """A record's provenance text holding a newline was refused with "(tab and newline
    aside)": the field takes neither."""
    from suite.errors import control_message

    assert "aside" not in control_message("\n", allowed="")
    assert "(tab and newline aside)" in control_message("\x1b")  # the default check's
    assert "(tab aside)" in control_message("\x1b", allowed="\t")


# --- round 56 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["gsm8k/train.jsonl ", "gsm8k/train.jsonl.", " gsm8k/train.jsonl", "gsm8k /train.jsonl"],
    ids=["trailing-space", "trailing-dot", "leading-space", "space-before-slash"],
)  # fmt: skip
def test_fetch_sources_refuse_a_path_windows_would_read_as_another(path, tmp_path, capsys):
    """``gsm8k/train.jsonl `` was taken beside ``gsm8k/train.jsonl``: one file on Windows."""
    from tests.hostile import refused

    sources = tmp_path / "s.yaml"
    url = "https://127.0.0.1:9/x"
    sources.write_text(f"files:\n  - path: '{path}'\n    url: {url}\n    sha256: {'0' * 64}\n")
    (tmp_path / "dest").mkdir()
    argv = ["fetch", str(tmp_path / "dest"), "--sources", str(sources)]
    refused(argv, tmp_path, capsys, "s.yaml", "path", "starts or ends with a space")


@pytest.mark.parametrize("compression", ["bzip2", "lzma"])
def test_a_zip_of_bzip2_or_lzma_members_is_not_inflated(compression, tmp_path):
    """Reading six bytes of a bzip2 member inflated all 4,096 compressed bytes read (1.3
    million to one): a 2.3 KB .npz took 22.5 s and 1.2 GB."""
    import zipfile

    kind = zipfile.ZIP_BZIP2 if compression == "bzip2" else zipfile.ZIP_LZMA
    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w", compression=kind) as z:
        z.writestr("a.npy", b"\x93NUMPY" + bytes(128 << 20))  # a few hundred bytes packed
    code = (
        "import torch; from pathlib import Path; from suite.pickle_sniff import is_pickle\n"
        "peak = lambda: int(Path('/proc/self/status').read_text().split('VmHWM:')[1].split()[0])\n"
        f"before = peak(); print(is_pickle(Path({str(path)!r})), peak() - before < 50_000)"
    )
    assert _in_a_subprocess(code, 60) == "True True"  # numpy would read it: refused unread
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:  # the control
        z.writestr("a.txt", b"hello")
    assert not is_pickle(path)
