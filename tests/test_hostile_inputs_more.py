"""More hostile inputs: template filters whose argument is an exponent, lone surrogates, YAML
values that cannot be constructed, unbounded command-line numbers, results files that are huge or
contradict themselves, meaningless training values and a download that never ends. Each is refused
with exit status 2 naming the file (or option), the field and the value, with no traceback and
nothing written; bombs run in a subprocess under a 3 GiB address-space cap and a timeout."""

from __future__ import annotations

import http.server
import json
import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from suite.cli import main
from suite.errors import Parser, SpecError
from tests.hostile import refused, snapshot
from tests.test_hostile_results import LINE, _folder, _sub
from tests.test_hostile_specs import TEXT, _with
from tests.test_hostile_specs import _folder as _spec_folder
from tests.test_submissions import _copy, _profile, tiny  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]
TARGET, DRAFT = REPO / "reference" / "llama" / "target", REPO / "reference" / "llama" / "draft"


def _limit():
    cap = 3 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _cli(argv: list[str], folder: Path, *named: str, timeout: float = 60, env=None) -> str:
    """``python -m suite ARGV`` in a subprocess: exit 2 within ``timeout`` naming every text,
    no traceback, ``folder`` unchanged."""
    before = snapshot(folder)
    proc = subprocess.run(
        [sys.executable, "-m", "suite", *argv], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, preexec_fn=_limit, env=None if env is None else os.environ | env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for text in named:
        assert text in proc.stderr, (text, proc.stderr[-2000:])
    assert snapshot(folder) == before
    return proc.stderr


def _parser_refused(argv: list[str], capsys, *named: str, parser=None) -> str:
    """The command's parser refuses (only parsed: a command that were accepted would run): exit
    2, the option and the value named, no traceback."""
    from suite.cli import build_parser

    with pytest.raises(SystemExit) as exit_:
        (parser or build_parser()).parse_args(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err, err
    for text in named:
        assert text in err, (text, err)
    return err


# --- Jinja: round's precision is an exponent, folded while compiling --------------------------

ROUND_BOMBS = [
    ("round-negative", "{{ 5|round(-999999999999) }}"),
    ("round-floor", '{{ 5|round(99999999999, "floor") }}'),
    ("round-field", "{{ question|length|round(-99999999999) }}"),
    ("round-keyword", "{{ 5|round(precision=-99999999999) }}"),
    ("round-computed", "{{ 5|round(question|length) }}"),
]


@pytest.mark.parametrize("template", [c[1] for c in ROUND_BOMBS], ids=[c[0] for c in ROUND_BOMBS])
def test_a_round_with_a_huge_or_computed_precision_is_refused_when_read(tmp_path, template):
    """Folded while the spec is read (a constant) or run on every record (a field's length)."""
    folder = _spec_folder(tmp_path, _with("instruction", template))
    (tmp_path / "data" / "toy").mkdir(parents=True)
    (tmp_path / "data" / "toy" / "test.jsonl").write_text('{"question": "2?", "solution": "4"}\n')
    argv = ["tasks", "toy", "--tasks-dir", str(folder), "--show", "1"]
    _cli(argv, tmp_path, "toy.yaml", "'instruction'", "round", "precision", timeout=30,
         env={"SUITE_DATA_DIR": str(tmp_path / "data")})  # fmt: skip


def test_the_task_environment_rounds_with_a_bounded_precision(tmp_path):
    """Even a template that skipped the check cannot compute 10**10**12 while compiling."""
    code = (
        "from suite.sandbox import JINJA\n"
        "try:\n"
        "    JINJA.from_string('{{ 5|round(-999999999999) }}').render()\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30,
        preexec_fn=_limit,
    )  # fmt: skip
    assert proc.returncode == 0 and "FilterArgumentError" in proc.stdout, proc.stderr[-2000:]


def test_a_small_constant_round_passes_and_renders(tmp_path, capsys):
    from suite.sandbox import JINJA, template_problem

    for template in ("{{ 5.55|round(1) }}", "{{ 42.55|round(1, 'floor') }}", "{{ 5|round }}",
                     "{{ 1234|round(-2, method='ceil') }}", "{{ 2.5|round(+20) }}"):  # fmt: skip
        assert template_problem(template) is None, template
    assert JINJA.from_string("{{ 42.55|round(1, 'floor') }} {{ 1250|round(-2) }}").render() == (
        "42.5 1200"
    )
    folder = _spec_folder(tmp_path, _with("instruction", "{{ question }} {{ 3.14159|round(2) }}"))
    assert main(["tasks", "--tasks-dir", str(folder)]) == 0


CHAT_ARGUMENT_BOMBS = [
    ("round", "{% for m in messages %}{{ m['content'] }}{% endfor %}{{ 5|round(-99999999999) }}",
     "round"),
    ("tojson-indent", "{{ messages|tojson(indent=1000000000) }}", "tojson"),
    ("tojson-positional", "{{ messages|tojson(1000000000) }}", "tojson"),
    ("tojson-separators", "{{ messages|tojson(separators=(',' ~ messages[0]['content'], ':')) }}",
     "tojson"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "why"), [c[1:] for c in CHAT_ARGUMENT_BOMBS],
                         ids=[c[0] for c in CHAT_ARGUMENT_BOMBS])  # fmt: skip
def test_a_chat_template_filter_argument_bomb_is_refused(template, why):
    """transformers renders chat templates in its own sandbox, with jinja's round and a tojson
    that passes indent to json.dumps: the syntax tree check is what refuses them."""
    from suite.sandbox import chat_template_problem, chat_template_refusal

    assert why in (chat_template_problem(template) or "")
    assert chat_template_refusal(template).startswith("chat_template: filter")


def test_common_tojson_and_round_uses_pass_the_chat_check():
    from suite.sandbox import chat_template_problem

    for template in (
        "{{ messages|tojson }}",
        "{{ messages|tojson(indent=4) }}",
        "{{ messages[0]|tojson(indent='  ', sort_keys=true, ensure_ascii=false) }}",
        "{{ messages|tojson(separators=(',', ': ')) }}",
        "{% for m in messages %}{{ loop.index0|round(0, 'floor') }}{% endfor %}",
        "{{ messages|tojson(indent=4) }}{{ 2.5|round(1) }}",
    ):
        assert chat_template_problem(template) is None, template


def test_a_profile_tokenizer_with_a_round_bomb_is_refused_before_any_render(tmp_path):
    from tests.test_hostile_studies import _model_profile

    tok = tmp_path / "tok"
    tok.mkdir()
    bomb = "{% for m in messages %}{{ m['content'] }}{% endfor %}{{ 5|round(-99999999999) }}"
    (tok / "tokenizer_config.json").write_text(json.dumps({"chat_template": bomb}))
    path = _model_profile(tmp_path, "{}")
    spec = yaml.safe_load(path.read_text())
    spec["models"]["llama"]["tokenizer"] = {"path": str(tok)}
    path.write_text(yaml.safe_dump(spec))
    argv = ["run", "difficulty", "--profile", str(path), "--out", str(tmp_path / "out")]
    _cli(argv, tmp_path, "smoke.yaml", "models.llama.tokenizer.path", "tokenizer_config.json",
         "chat_template", "round", timeout=60)  # fmt: skip


# --- lone surrogates: not characters, and not writable as UTF-8 --------------------------------

SURROGATE_SPECS = [
    ("description", TEXT.replace("description: A toy task.", 'description: "A toy\\ud800 task."'),
     "'description'", "\\ud800"),
    ("stop", TEXT.replace("  stop:\n", '  stop:\n  - "\\udc80"\n', 1), "generation.stop[0]",
     "\\udc80"),
    ("key", TEXT + '"x\\udfff": 1\n', "x\\udfff", "surrogate"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "field", "value"), [c[1:] for c in SURROGATE_SPECS],
                         ids=[c[0] for c in SURROGATE_SPECS])  # fmt: skip
def test_a_lone_surrogate_in_a_task_spec_is_refused(tmp_path, capsys, text, field, value):
    folder = _spec_folder(tmp_path, text)
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", field, value,
            "surrogate")  # fmt: skip


def test_a_surrogate_pair_and_other_scripts_are_read(tmp_path):
    from suite.errors import control_character
    from suite.specs import load_spec

    text = TEXT.replace("description: A toy task.", 'description: "A toy \\ud83d\\ude00 task."')
    spec = load_spec(_spec_folder(tmp_path, text) / "toy.yaml")
    assert spec.description == "A toy \U0001f600 task."
    assert control_character("private \ue000 and ☃ and \U0001f600") is None
    assert control_character("lone \udc80") == "\udc80"


def test_a_lone_surrogate_in_a_submission_is_refused_by_check_and_submit(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    path = folder / "submission.yaml"
    path.write_text(path.read_text().replace("- A. Researcher", '- "A. \\udc80Tester"'))
    assert "udc80" in path.read_text()
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "submission.yaml", "authors[0]", "\\udc80", "surrogate")
    argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "submission.yaml", "authors[0]", "\\udc80", "surrogate")
    assert not (tmp_path / "out").exists()


SURROGATE_RECORDS = [
    ("cpu", _sub('"cpu": "cpu"', '"cpu": "cpu\\udc80"'), "provenance.hardware.cpu"),
    ("prompt-id", _sub('"test/1"', '"test/\\ud8000"'), "prompt_ids[1]"),
    (
        "key-name",
        _sub('"packages": {', '"packages": {"x\\ud800": "1", '),
        "provenance.packages.x\\ud800",
    ),
]


@pytest.mark.parametrize(("cells", "field"), [c[1:] for c in SURROGATE_RECORDS],
                         ids=[c[0] for c in SURROGATE_RECORDS])  # fmt: skip
def test_a_lone_surrogate_in_a_results_record_is_refused(tmp_path, capsys, cells, field):
    folder = _folder(tmp_path, cells, None)
    argv = ["report", str(folder), "--out", str(tmp_path / "rep")]
    refused(argv, tmp_path, capsys, "cells.jsonl", f"line 1: {field}", "surrogate")


def test_a_lone_surrogate_in_run_json_is_refused_and_a_pair_is_read(tmp_path, capsys):
    from suite.strict import loads_json

    run = '{"studies": ["a"], "profile": "x", "study_titles": {"a": "T\\udc80"}}'
    folder = _folder(tmp_path, LINE + "\n", run)
    refused(["report", str(folder)], tmp_path, capsys, "run.json", "study_titles.a", "\\udc80")
    assert loads_json('{"a": "\\ud83d\\ude00", "b": "\\\\ud800"}') == {
        "a": "\U0001f600",
        "b": "\\ud800",
    }


# --- YAML values that cannot be constructed: the field and the line ---------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "value"),
    [
        ("max_new_tokens: 32", "max_new_tokens: !!float abc", "generation.max_new_tokens", "abc"),
        (
            "max_new_tokens: 32",
            "max_new_tokens: !!bool maybe",
            "generation.max_new_tokens",
            "maybe",
        ),
        ("format: jsonl", "format: !!map [1]", "source.format", "TypeError"),
    ],
)
def test_a_yaml_value_that_cannot_be_built_names_its_field_and_line(
    tmp_path, capsys, old, new, field, value
):
    folder = _spec_folder(tmp_path, TEXT.replace(old, new))
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", f"'{field}'",
            value, "line ")  # fmt: skip


def test_a_yaml_date_stays_text(tmp_path, capsys):
    """``2001-02-30`` raised while a date was built, naming no field; a date is text now."""
    from suite.specs import load_spec

    for day in ("2001-02-30", "2001-02-28"):
        folder = tmp_path / day
        folder.mkdir()
        spec = load_spec(_spec_folder(folder, TEXT.replace("license: MIT", f"license: {day}"))
                         / "toy.yaml")  # fmt: skip
        assert spec.license == day


# --- command-line numbers and paths -------------------------------------------------------------


def test_a_huge_draft_length_is_refused_before_any_model_loads(tmp_path):
    argv = ["generate", "--target", str(TARGET), "--draft", str(DRAFT),
            "--num-draft-tokens", "100000000", "--max-new-tokens", "4", "hi"]  # fmt: skip
    _cli(argv, tmp_path, "--num-draft-tokens", "100000000", "1 to 128", timeout=60)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["run", "leaderboard", "--profile", "smoke", "--threads", "-5"], "--threads"),
        (["run", "leaderboard", "--threads", "100000000"], "--threads"),
        (["distill", "--list", "--threads", "-1"], "--threads"),
        (["train", "--threads", "-2"], "--threads"),
        (["tasks", "gsm8k", "--show", "-3"], "--show"),
        (["generate", "--target", "t", "--num-draft-tokens", "0", "hi"], "--num-draft-tokens"),
        (["generate", "--target", "t", "--num-draft-tokens", "129", "hi"], "--num-draft-tokens"),
        (["report", ""], "DIR"),
        (["report", "results/x", "--out", ""], "--out"),
        (["run", "leaderboard", "--out", ""], "--out"),
    ],
)
def test_a_bad_number_or_empty_path_is_refused_by_the_parser(capsys, argv, named):
    value = argv[argv.index(named) + 1] if named in argv else argv[-1]
    _parser_refused(argv, capsys, f"argument {named}: ", value or "''")


def test_an_empty_export_folder_is_refused_by_the_parser(capsys):
    from suite.lm_eval_cli import build_parser

    _parser_refused(["export", "--out", ""], capsys, "argument --out", parser=build_parser())


def test_good_numbers_parse(capsys):
    from suite.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "leaderboard", "--threads", "0"])
    assert args.threads == 0
    assert parser.parse_args(["tasks", "gsm8k", "--show", "0"]).show == 0
    args = parser.parse_args(["generate", "--target", "t", "--num-draft-tokens", "128", "hi"])
    assert args.num_draft_tokens == 128
    assert parser.parse_args(["distill", "--threads", "1024"]).threads == 1024


def test_every_other_entry_point_bounds_the_draft_length():
    from types import SimpleNamespace

    import torch

    from suite import bench, quality
    from suite.decoding import generate
    from suite.lm_eval_model import SpecDecLM
    from tests.models import tiny_llama

    with pytest.raises(ValueError, match=r"num_draft_tokens.*1 to 128"):
        SpecDecLM(num_draft_tokens=100_000_000)
    args = SimpleNamespace(limit=1, num_draft_tokens=129, seed=0, n_boot=1, threads=0,
                           max_gen_toks=None, temperatures=[0.0])  # fmt: skip
    with pytest.raises(ValueError, match="--num-draft-tokens"):
        quality._check_args(args)
    parser = Parser()
    bench.add_arguments(parser)
    with pytest.raises(ValueError, match="--num-draft-tokens"):
        bench._check_args(parser.parse_args(["--num-draft-tokens", "4", "129"]))
    model = tiny_llama(vocab=16, hidden=16, layers=1)
    ids = torch.tensor([[1, 2, 3]])
    settings = dict(temperature=0.0, max_new_tokens=2, seed=0)
    with pytest.raises(ValueError, match="num_draft_tokens"):
        generate(model, model, ids, num_draft_tokens=129, **settings)
    assert len(generate(model, model, ids, num_draft_tokens=128, **settings).tokens) == 2


@pytest.mark.usefixtures("hand_made_plan")  # a folder built by hand
def test_an_out_that_is_a_file_names_the_option(tmp_path, capsys):
    from suite.lm_eval_cli import main as lm_eval_main

    afile = tmp_path / "afile.txt"
    afile.write_text("mine\n")
    folder = _folder(tmp_path, LINE + "\n", None)
    refused(["report", str(folder), "--out", str(afile)], tmp_path, capsys, "--out", "afile.txt",
            "not a folder")  # fmt: skip
    refused(["report", str(folder), "--out", str(afile / "sub")], tmp_path, capsys, "--out",
            "afile.txt", "not a folder")  # fmt: skip
    before = snapshot(tmp_path)
    assert lm_eval_main(["export", "--out", str(afile), "--tasks", "gsm8k", "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "afile.txt" in err and "not a folder" in err, err
    assert snapshot(tmp_path) == before


@pytest.mark.usefixtures("hand_made_plan")  # a folder built by hand
@pytest.mark.parametrize("step", ["render", "write"])
def test_a_report_that_fails_leaves_no_new_folder(tmp_path, monkeypatch, capsys, step):
    """--out is made only when the files are written, and removed again if writing fails."""
    from suite.report import output

    folder = _folder(tmp_path, LINE + "\n", None)

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output, "safe_csv" if step == "render" else "_write_renamed", fail)
    out = tmp_path / "new" / "rep"
    refused(["report", str(folder), "--out", str(out)], tmp_path, capsys, "No space left")
    assert not (tmp_path / "new").exists()


# --- results files: a huge line, and a key on two lines with different records ----------------


def test_a_huge_results_line_is_refused_reading_at_most_one_line_cap(tmp_path):
    from suite.store import MAX_LINE_BYTES, ResultsStore

    folder = _folder(tmp_path, LINE + "\n", None)
    with (folder / "cells.jsonl").open("ab") as fh:
        fh.write(b'{"a": "' + b"x" * (4 * MAX_LINE_BYTES) + b'"}\n')  # 64 MiB
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as err:
            ResultsStore(folder).load()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.field == "line 2" and "16,777,216 bytes" in str(err.value)
    assert peak < 3 * MAX_LINE_BYTES, peak  # the whole file and copies of it: 4 times that


def test_a_torn_last_line_is_still_skipped_and_cut_only_on_repair(tmp_path):
    from suite.store import ResultsStore

    folder = _folder(tmp_path, LINE + "\n" + LINE[:50], None)
    cells = folder / "cells.jsonl"
    before = cells.read_bytes()
    assert list(ResultsStore(folder).load()) == [json.loads(LINE)["key"]]
    assert cells.read_bytes() == before
    ResultsStore(folder).load(repair=True)
    assert cells.read_bytes() == (LINE + "\n").encode()


@pytest.mark.usefixtures("hand_made_plan")  # a folder built by hand
def test_a_key_on_two_lines_with_different_records_is_refused(tmp_path, capsys):
    conflict = _sub('"sample_seconds": 0.4', '"sample_seconds": 0.5')  # another run's clock
    folder = _folder(tmp_path, LINE + "\n" + "\n" + conflict, None)
    key = json.loads(LINE)["key"]
    refused(["report", str(folder)], tmp_path, capsys, "cells.jsonl", "line 3: key", key,
            "line 1")  # fmt: skip


def test_an_exact_duplicate_record_is_read_once(tmp_path):
    from suite.store import ResultsStore

    reordered = json.dumps(json.loads(LINE), sort_keys=True, indent=None, separators=(",", ":"))
    folder = _folder(tmp_path, LINE + "\n" + LINE + "\n" + reordered + "\n", None)
    assert len(ResultsStore(folder).load()) == 1


# --- training values that make no run ---------------------------------------------------------


def _recipe(tmp_path: Path, **train) -> list[str]:
    from tests.test_hostile_recipes import GOOD

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(GOOD | {"train": GOOD["train"] | train}, sort_keys=False))
    return ["distill", "--recipe", str(path), "--out", str(tmp_path / "out"), "--list"]


@pytest.mark.parametrize(
    ("train", "field", "value"),
    [
        ({"lr": 1.0e308}, "train.lr", "1e+308"),
        ({"lr": 1.5}, "train.lr", "1.5"),
        ({"lr": 0.0, "min_lr": 0.0}, "train.lr", "0.0"),
        ({"min_lr": 1.0e-2}, "train.min_lr", "0.01"),
        ({"warmup_steps": 100_000}, "train.warmup_steps", "100000"),
        ({"batch_size": 10_000_000}, "train.batch_size", "10000000"),
        ({"batch_size": 4_097}, "train.batch_size", "4097"),
    ],
)
def test_a_meaningless_training_value_is_refused(tmp_path, capsys, train, field, value):
    refused(_recipe(tmp_path, **train), tmp_path, capsys, "recipe.yaml", f"'{field}'", value)


def test_the_bundled_recipes_training_values_pass(tmp_path, capsys):
    from suite.distill.loop import train_config

    recipes = REPO / "reference" / "recipes"
    for name in ("llama.yaml", "t5.yaml"):
        raw = yaml.safe_load((recipes / name).read_text())
        for role, spec in raw["models"].items():
            train_config(spec["train"], f"{name}: {role}")
            if "align" in spec:
                train_config(spec["align"]["train"], f"{name}: {role} align")
    for name in ("kd-llama.yaml", "kd-t5.yaml"):
        assert main(["distill", "--recipe", str(recipes / name), "--list"]) == 0
    assert main(_recipe(tmp_path, lr=1.0, warmup_steps=300, batch_size=4096)) == 0


# --- a download that trickles -----------------------------------------------------------------


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Sends a 1,000-byte body one byte every 20 ms (the whole body: 20 s); ``/fast`` at once."""

    def do_GET(self):
        body = b"x" * 1000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if self.path == "/fast":
                self.wfile.write(body)
                return
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(0.02)
        except OSError:
            pass  # the client gave up

    def log_message(self, *args):
        pass


@pytest.fixture
def trickle_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_download_that_trickles_is_cut_off_at_the_deadline(tmp_path, capsys, monkeypatch,
                                                             trickle_server):  # fmt: skip
    import hashlib
    import urllib.request

    import suite.fetch as fetch

    real = urllib.request.urlopen
    monkeypatch.setattr(
        fetch, "_open_https",
        lambda url, timeout: real(url.replace("https://example.org", trickle_server),
                                  timeout=timeout),
    )  # fmt: skip
    monkeypatch.setattr(fetch, "DOWNLOAD_SECONDS", 0.5)
    digest = hashlib.sha256(b"x" * 1000).hexdigest()
    sources = tmp_path / "sources.yaml"
    entry = {"path": "toy/a.json", "url": "https://example.org/slow", "sha256": digest}
    sources.write_text(yaml.safe_dump({"files": [entry]}))
    dest = tmp_path / "dest"
    started = time.monotonic()
    refused(["fetch", str(dest), "--sources", str(sources)], tmp_path, capsys, "sources.yaml",
            "files[0].url", "https://example.org/slow", "0.5 s")  # fmt: skip
    assert time.monotonic() - started < 5
    sources.write_text(yaml.safe_dump({"files": [entry | {"url": "https://example.org/fast"}]}))
    assert main(["fetch", str(dest), "--sources", str(sources)]) == 0
    assert (dest / "toy" / "a.json").read_bytes() == b"x" * 1000
