"""Inputs the fortieth attack found accepted or refused wrongly: a tokenizer regex whose leading
``(?x)`` was not read in its later alternatives, POSIX brackets in answer regexes, ``--bundle``
beside a short ``--reference``, lm-eval ``run`` options and keys given twice, lm-eval output
names and saves, and the nox sessions' ``--out``. Each case failed on the commit before its
fix, but the controls."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from suite.errors import SpecError
from suite.sandbox import regex_problem
from suite.tokenizer_regex import tokenizer_regex_problem
from tests.hostile import refused
from tests.test_hostile_round9 import _generate, _split
from tests.test_hostile_round30 import difficulty, forged_report_refused  # noqa: F401 (fixture)
from tests.test_hostile_round37 import _spec_folder, _tracker
from tests.test_hostile_tokenizer_ids import _case
from tests.test_submissions import tiny  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# --- a tokenizer regex's leading flags, read in every alternative ------------------------------


@pytest.mark.parametrize(
    ("pattern", "shown"),
    [("(?x)z|xa{1,2} +c", "Oniguruma applies it"),
     ("(?x)b|( a + ) +c", "nested quantifier"),
     ("(?x)z|( a | ab | b ) * \\d", "alternation inside a repeat"),
     ("(?x)a{2} ?|b", "Oniguruma applies it"),
     ("xa{1,2}(?#c)+c", "Oniguruma applies it"),
     ("a|(?x)b +c", "global flags not at the start")],
    ids=["verbose-count-plus", "verbose-nested", "verbose-alternation", "verbose-count-lazy",
         "comment-count-plus", "flags-mid-pattern"],
)  # fmt: skip
def test_a_tokenizer_regexs_leading_flags_hold_in_every_alternative(pattern, shown):
    """``(?x)z|xa{1,2} +c`` passed every load check (Python read ``xa{1,2} +c`` without the
    verbose flag) and panicked Oniguruma on 'x' and 32 'a's."""
    assert shown in (tokenizer_regex_problem(pattern) or ""), pattern


@pytest.mark.parametrize(
    "pattern",
    ["(?x) a | b  # {x}\n", "(?x) a | b  # (\n", "(?x) a+ # [[:alpha:]] words\n", "(?i)a|b",
     "(?x) \\p{L}+ | \\p{N}{1,3} | \\s+", GPT2],
)  # fmt: skip
def test_verbose_tokenizer_regexes_with_comments_are_read(pattern):
    """A comment in a later alternative was read as pattern text and refused."""
    assert tokenizer_regex_problem(pattern) is None, pattern


def test_a_tokenizer_hiding_a_repeat_behind_verbose_space_is_refused(tmp_path, capsys):
    _case(tmp_path, _split("(?x)z|xa{1,2} +c"))
    refused(_generate(tmp_path / "tok"), tmp_path, capsys, "tokenizer.json",
            "pattern.Regex", "Oniguruma applies it")  # fmt: skip


# --- POSIX brackets in answer regexes -----------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", ["####\\s*([[:digit:]]+)", "([[:^alpha:]])", "[a[:digit:]]", "[[=a=]]", "[[.a.]]"]
)
def test_a_posix_bracket_in_an_answer_regex_is_refused(pattern):
    """``re`` (whose parse the checks read) saw the set ``[:digt`` and a ``]``, the ``regex``
    module that extracts answers a class of digits: answers came from an unchecked pattern."""
    assert "POSIX bracket" in (regex_problem(pattern) or ""), pattern


@pytest.mark.parametrize(
    "pattern", ["[\\[:a]", "[]:]", "[a-z:]+", "(?x) a # [[:digit:]]\n", "(?#[[:digit:]])a"]
)
def test_brackets_and_colons_both_engines_read_alike_are_read(pattern):
    assert regex_problem(pattern) is None, pattern


def test_a_task_spec_with_a_posix_bracket_is_refused(tmp_path, capsys):
    folder = _spec_folder(tmp_path, "px", "'####\\s*([[:digit:]]+)'")
    argv = ["tasks", "px", "--show", "1", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "px.yaml", "answer.patterns[0].regex", "POSIX bracket")


# --- --bundle beside a short --reference ---------------------------------------------------------


@pytest.mark.parametrize("short", ["--r", "--re", "--ref=reference"])
def test_bundle_beside_a_short_reference_is_refused(short, tmp_path, capsys):
    """``verify --bundle EMPTY --re reference`` verified reference/ and dropped --bundle."""
    from suite.cli import main

    (tmp_path / "empty").mkdir()
    value = [] if "=" in short else ["reference"]
    argv = ["verify", "--bundle", str(tmp_path / "empty"), short, *value, "--hashes-only"]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "both name the bundle folder" in err and short.split("=")[0] in err, err


# --- lm-eval run: an option, and a key, given once ---------------------------------------------


def _parsed(*argv: str):
    """``suite lm-eval run``'s parse of ``argv`` (lm-eval's parser, the suite's checks)."""
    from suite.lm_eval_cli import parse_run

    return parse_run(list(argv))[1]


@pytest.mark.parametrize(
    ("given", "shown"),
    [(["--limit", "1", "--limit", "200"], "--limit given twice"),
     (["-L", "1", "--limit", "2"], "--limit given twice"),
     (["--seed", "1", "--seed", "2"], "--seed given twice"),
     (["--tasks", "x", "--tasks", "y"], "--tasks given twice"),
     (["--output_path", "A", "--output_path", "B"], "--output_path given twice"),
     (["--model_args", "temperature=0.7", "-a", "temperature=0"], "--model_args given twice"),
     (["--model_args", "temperature=0.7,temperature=0"], "'temperature' is given twice"),
     (["--model_args", "temperature=0.7", " temperature=0"], "'temperature' is given twice"),
     (["--model_args", '{"temperature": 0.7, "temperature": 0}'], "'temperature' is given twice"),
     (["--model_args", '{"temperature": 0.7}', "seed=1"], "JSON is the option's only value"),
     (["--gen_kwargs", "max_gen_toks=5,max_gen_toks=50"], "'max_gen_toks' is given twice")],
    ids=["limit", "short-limit", "seed", "tasks", "output-path", "model-args", "key-twice",
         "key-twice-spaced", "json-key-twice", "json-and-more", "gen-kwargs-key-twice"],
)  # fmt: skip
def test_an_lm_eval_option_or_key_given_twice_is_refused(given, shown, tmp_path, capsys,
                                                         monkeypatch):  # fmt: skip
    """``--limit 1 --limit 200`` ran 200 examples; ``temperature=0.7,temperature=0`` decoded
    greedily."""
    monkeypatch.chdir(tmp_path)
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "suite_none", *given]
    if given[0] == "--tasks":
        argv = ["lm-eval", "run", "--model", "specdec", *given]
    refused(argv, tmp_path, capsys, shown)


def test_lm_eval_options_given_once_are_parsed():
    args = _parsed("--model", "specdec", "--tasks", "a", "b,c", "--limit", "2",
                   "--model_args", "target=t,draft=d", "temperature=0.7",
                   "--gen_kwargs", "max_gen_toks=5", "--seed", "1")  # fmt: skip
    assert args.limit == 2 and args.tasks == ["a", "b", "c"]
    assert args.model_args == {"target": "t", "draft": "d", "temperature": 0.7}
    assert args.gen_kwargs == {"max_gen_toks": 5}


def test_an_lm_eval_config_giving_a_key_twice_is_refused(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("limit: 1\ngen_kwargs: {max_gen_toks: 5}\nlimit: 200\n")
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x"]
    refused(argv, tmp_path, capsys, "c.yaml", "'limit' is given twice")
    config.write_text("gen_kwargs: {temperature: 0.5, temperature: 0}\n")
    refused(argv, tmp_path, capsys, "c.yaml", "'temperature' is given twice")


# --- lm-eval output names and saves -------------------------------------------------------------


@pytest.mark.parametrize("number", ["12", "1.5", "-3"])
def test_an_lm_eval_config_output_path_written_as_a_number_is_refused(number, tmp_path, capsys,
                                                                      monkeypatch):  # fmt: skip
    """``output_path: 12`` passed the early check as the folder "12"; lm-eval got the int 12 and
    failed to save after the whole evaluation."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(f"output_path: {number}\n")
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x"]
    refused(argv, tmp_path, capsys, "c.yaml", "output_path", "expected a path")


def test_an_lm_eval_config_output_path_quoted_is_read(tmp_path):
    from suite.lm_eval_args import read_config

    config = tmp_path / "c.yaml"
    config.write_text("output_path: '12'\n")
    assert read_config(str(config))["output_path"] == "12"


def test_an_lm_eval_json_output_name_too_long_to_save_is_refused_early(tmp_path, capsys):
    """The name lm-eval saves (the stem, '_', its date, '.json') was too long for the file
    system: the run evaluated everything, then ended on a bare OSError line."""
    output = tmp_path / ("r" * 235 + ".json")
    argv = ["lm-eval", "run", "--model", "specdec", "--model_args", "target=t", "--tasks", "x",
            "--output_path", str(output)]  # fmt: skip
    refused(argv, tmp_path, capsys, "--output_path", "longer than this file system allows")


def test_an_lm_eval_json_output_name_that_fits_is_taken(tmp_path):
    args = _parsed("--model", "specdec", "--tasks", "x",
                   "--output_path", str(tmp_path / ("r" * 200 + ".json")))  # fmt: skip
    assert args.output_path.endswith(".json")


def test_a_failed_samples_save_ends_the_run_with_an_error(tmp_path):
    """lm-eval logged 'Could not save sample results' (a task name too long for a file name)
    and the run ended 0 with no samples."""
    from suite.lm_eval_args import Refused
    from suite.lm_eval_cli import results_kept

    tracker = _tracker(tmp_path / "out")
    tracker.date_id = "2026-12-06T16-20-36.123456"  # set by the aggregated save, which comes first
    with results_kept(), pytest.raises(Refused, match="could not save its samples"):
        tracker.save_results_samples("t" * 260, [])
    with results_kept():  # the control: a task name that fits
        tracker.save_results_samples("t", [])
    assert len(list((tmp_path / "out" / "m").glob("samples_t_*.jsonl"))) == 1


def test_a_results_name_too_long_is_named_by_its_option(tmp_path):
    """The late check itself raised OSError ('File name too long'), a line naming no option."""
    from suite.lm_eval_args import Refused
    from suite.lm_eval_cli import results_kept

    output = tmp_path / ("r" * 250 + ".json")
    with results_kept(), pytest.raises(Refused, match=r"--output_path .*could not save"):
        _tracker(output).save_results_aggregated(results={"results": {}}, samples=None)


# --- the nox sessions take the user's --out -------------------------------------------------------


class _Session:
    def __init__(self, posargs):
        self.posargs, self.runs = posargs, []

    def install(self, *args):
        pass

    def run(self, *args):
        self.runs.append(list(args))


def _noxfile():
    """noxfile.py, read with a stand-in ``nox`` (its sessions are plain functions)."""
    fake = types.ModuleType("nox")
    fake.options = types.SimpleNamespace()
    fake.session = lambda func: func
    fake.Session = _Session
    saved = sys.modules.get("nox")
    sys.modules["nox"] = fake
    try:
        spec = importlib.util.spec_from_file_location("suite_noxfile", ROOT / "noxfile.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["nox"]
        else:
            sys.modules["nox"] = saved
    return module


class _Parsed(BaseException):
    """The arguments a command's parser read, raised before the command runs."""


@pytest.mark.parametrize(
    ("session", "posargs", "out"),
    [("bench", ["--out", "D"], "D"), ("bench", ["--out=D", "--prompts", "1"], "D"),
     ("bench", ["--prompts", "1"], "results/bench"), ("quality", ["--out", "Q"], "Q"),
     ("quality", [], "results/quality"), ("calibrate", ["--out", "C", "--n-sim", "10"], "C"),
     ("calibrate", [], "results/calibration"), ("bench", ["--ou", "D"], "D"),
     ("quality", ["--ou=Q"], "Q")],
)  # fmt: skip
def test_a_nox_sessions_out_is_the_users_when_given(session, posargs, out, monkeypatch):
    """``nox -s bench -- --out DIR`` passed --out twice and was refused."""
    from suite.cli import main
    from suite.errors import Parser

    original = Parser.parse_args

    def parsed(self, *args, **kwargs):
        raise _Parsed(original(self, *args, **kwargs))

    monkeypatch.setattr(Parser, "parse_args", parsed)
    fake = _Session(posargs)
    getattr(_noxfile(), session)(fake)
    assert fake.runs
    for run in fake.runs:
        assert run[:3] == ["python", "-m", "suite"]
        with pytest.raises(_Parsed) as done:  # the suite's own parser, given-once rule and all
            main(run[3:])
        assert str(done.value.args[0].out) == out, run


def test_lm_evals_log_moves_off_a_closed_stream():
    """A caller in the same process (a notebook, a test) whose first run's stderr was closed:
    moving lm-eval's handler flushed the closed stream, and every later run ended on
    'I/O operation on closed file'."""
    import io
    import logging

    from suite.lm_eval_cli import _log_to_stderr

    closed = io.StringIO()
    handler = logging.StreamHandler(closed)
    closed.close()
    logger = logging.getLogger("lm_eval")
    logger.addHandler(handler)
    try:
        _log_to_stderr()
        assert handler.stream is sys.stderr
    finally:
        logger.removeHandler(handler)


# --- round 41: flags after a comment, a Rust panic's report, tagged floats in other digits ---


@pytest.mark.parametrize("pattern", ["(?#c)(?x)x|(a+) +$", "(?i)(?#c)(?x)x|(a+) +$"])
def test_a_tokenizer_regexs_flags_after_a_comment_hold_in_every_alternative(pattern):
    """Python and Oniguruma take ``(?#c)(?x)`` as the pattern's flags; the check took only a
    ``(?x)`` at index 0 and read ``(a+) +$`` as a space repeated, not ``(a+)+$``."""
    assert "nested quantifier" in (tokenizer_regex_problem(pattern) or ""), pattern
    assert tokenizer_regex_problem("(?x)(?#c)a|b c") is None  # the control


PANIC = """
import functools, os
from suite.tokenizer_timing import _alone, _encode, _timed
from suite.panic_text import panic_text_held
step = {"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": False}
print(_timed(functools.partial(_encode, _alone("pre_tokenizer", step)), "a" * 40 + "b", 0.05)[1])
with panic_text_held():
    os.write(2, b"other text\\n")
"""


def test_a_rust_panics_report_stays_off_the_terminal():
    """A probe that pushed Oniguruma past its retry limit printed Rust's 'thread panicked at'
    report (a 40-frame stack trace with RUST_BACKTRACE=1) before the suite's one-line error."""
    import os
    import subprocess

    env = {**os.environ, "RUST_BACKTRACE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PANIC], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "retry-limit-in-match" in done.stdout  # the failure, named by the caller
    assert "panicked" not in done.stderr and "backtrace" not in done.stderr, done.stderr
    assert done.stderr == "other text\n"  # the control: another writer's text is kept


@pytest.mark.parametrize("text", ['"١"', '"٠.٥"', '"१.०"', '" 0.5 "', '"١٢.٥"'])
def test_a_tagged_float_in_other_digits_is_refused(text, tmp_path):
    """``!!float "٠.٥"`` went to Python's float() and ran as τ_dec 0.5."""
    from suite.strict import parse_yaml

    with pytest.raises(SpecError, match="not a float written in ASCII decimal digits") as err:
        parse_yaml(f"a: !!float {text}", tmp_path / "x.yaml")
    assert err.value.field == "a", err.value.field
    assert parse_yaml("a: !!float 0.5", tmp_path / "x.yaml")["a"] == 0.5  # the control


def test_a_study_with_a_tagged_float_in_other_digits_is_refused(tmp_path, capsys):
    study = tmp_path / "arabic.yaml"
    study.write_text(
        "name: arabic\ntitle: t\nclaims: [1]\ndescription: d\nfamily: llama\n"
        "engines: [analytic]\nmissing_drafts: skip\ngrid:\n  datasets: [gsm8k]\n"
        '  drafts:\n    - {method: base}\n  decode_temperatures: [!!float "٠.٥"]\n'
        "  num_draft_tokens: 4\n"
    )
    argv = ["run", str(study), "--profile", "smoke", "--out", str(tmp_path / "run"), "--quiet"]
    refused(argv, tmp_path, capsys, "arabic.yaml", "grid.decode_temperatures[0]", "٠.٥",
            "ASCII decimal digits")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shown"),
    [("model_args:\n  target: t\n  <<: {temperature: 0.7, temperature: 0}\n", "merge key"),
     ("<<: {limit: 1, limit: 2}\n", "merge key"),
     ("limit: 1\n<<: {limit: 2}\n", "merge key"),
     ('model_args: "target=t,temperature=0.7,temperature=0"\n', "'temperature' is given twice"),
     ('gen_kwargs: "max_gen_toks=4,max_gen_toks=6"\n', "'max_gen_toks' is given twice"),
     ('gen_kwargs: "max_gen_toks=٤"\n', "ASCII digits"),
     ('metadata: "y=1e-400"\n', "a number a float holds"),
     ('gen_kwargs: "max_gen_toks=4,foo=1e400"\n', "a number a float holds"),
     ("gen_kwargs: 5\n", "expected key=value text or a mapping")],
    ids=["merged-twice", "top-merged-twice", "merged-over", "text-key-twice",
         "text-gen-kwargs-twice", "text-other-digits", "text-underflow", "text-overflow",
         "number"],
)  # fmt: skip
def test_an_lm_eval_configs_settings_are_read_as_written(text, shown, tmp_path, capsys):
    """A merge key's mapping and a setting written as text were never checked: ``<<:
    {temperature: 0.7, temperature: 0}`` and ``"temperature=0.7,temperature=0"`` decoded
    greedily, and ``max_gen_toks=٤`` ran 4 tokens."""
    config = tmp_path / "c.yaml"
    config.write_text(text)
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x"]
    refused(argv, tmp_path, capsys, "c.yaml", shown)


def test_an_lm_eval_configs_text_settings_are_read(tmp_path):
    from suite.lm_eval_args import read_config

    config = tmp_path / "c.yaml"
    config.write_text('model_args: "target=t,temperature=0.7"\ngen_kwargs: "max_gen_toks=4"\n')
    assert read_config(str(config))["gen_kwargs"] == "max_gen_toks=4"


@pytest.mark.parametrize("config", [False, True])
def test_lm_eval_metadata_does_not_restate_a_model_arg(config, tmp_path, capsys):
    """``--metadata temperature=0`` beside ``--model_args temperature=0.7``: the model ran at
    0.7 and the results' task metadata stated 0."""
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "x",
            "--model_args", "target=t,temperature=0.7"]  # fmt: skip
    if config:
        (tmp_path / "c.yaml").write_text("metadata: {temperature: 0}\n")
        argv += ["--config", str(tmp_path / "c.yaml")]
    else:
        argv += ["--metadata", "temperature=0"]
    refused(argv, tmp_path, capsys, "--metadata", "'temperature'", "a model_args key")
    args = _parsed("--model", "specdec", "--tasks", "x", "--model_args", "target=t",
                   "--metadata", "note=a")  # fmt: skip
    assert args.metadata == {"note": "a"}  # the control: a key of its own


@pytest.mark.parametrize(
    ("given", "shown"),
    [(["--gen_kwargs", "max_gen_toks=abc"], "whole number from 1 to 8,192"),
     (["--gen_kwargs", "max_gen_toks=0"], "whole number from 1 to 8,192"),
     (["--gen_kwargs", "max_gen_toks=99999"], "whole number from 1 to 8,192"),
     (["--gen_kwargs", "until=" + str(["s"] * 17)], "17 stop strings"),
     (["--gen_kwargs", "until=" + str(["x" * 300])], "at most 256 characters")],
    ids=["text-budget", "zero-budget", "huge-budget", "many-stops", "long-stop"],
)  # fmt: skip
def test_lm_eval_gen_kwargs_are_checked_before_the_models_load(given, shown, tmp_path, capsys):
    """A budget or stop strings specdec refuses were refused at the first request, after the
    models had loaded."""
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "suite_none",
            "--model_args", "target=t", *given]  # fmt: skip
    refused(argv, tmp_path, capsys, "--gen_kwargs", shown)


def test_an_lm_eval_configs_budget_is_checked_before_the_models_load(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("gen_kwargs: {max_gen_toks: 4.5}\n")
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x"]
    refused(argv, tmp_path, capsys, "--gen_kwargs", "max_gen_toks", "'4.5'")
    config.write_text("gen_kwargs: {max_gen_toks: 4, until: [a, b]}\n")  # the control
    args = _parsed("--model", "specdec", "--tasks", "x", "--config", str(config))
    assert args.config == str(config)


# --- round 42: lm-eval model args, network loggers and literal values; pickles; numbers ---


@pytest.mark.parametrize("value", [["x"], {"a": 1}, 1])
def test_a_specdec_folder_or_dtype_arg_is_text(value):
    """JSON --model_args and a --config mapping gave a list: a TypeError traceback."""
    import torch

    from suite.lm_eval_model import _folder_arg, pick_dtype

    with pytest.raises(ValueError, match="expected text"):
        _folder_arg(value, "target")
    with pytest.raises(ValueError, match="expected text"):
        pick_dtype(value, torch.device("cpu"))


@pytest.mark.parametrize("option", ["--wandb_args", "--wandb_config_args", "--trackio_args",
                                    "--hf_hub_log_args"])  # fmt: skip
def test_lm_evals_network_loggers_are_not_taken(option, tmp_path, capsys):
    """wandb and trackio ended in tracebacks; hf_hub_log_args would push the results to a
    repository the command line names, with the user's token."""
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "x", "--model_args", "target=t",
            option, "project=x"]  # fmt: skip
    refused(argv, tmp_path, capsys, option, "not taken", "remote service")
    config = tmp_path / "c.yaml"
    config.write_text(f"{option[2:]}: {{push_results_to_hub: true}}\n")
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x"]
    refused(argv, tmp_path, capsys, "c.yaml", option[2:], "not taken")


@pytest.mark.parametrize(
    ("given", "shown"),
    [(["--metadata", "note=[1e400]"], "a number a float holds"),
     (["--metadata", "note=(1e-400,)"], "a number a float holds"),
     (["--gen_kwargs", "x={'a': -1e400}"], "a number a float holds"),
     (["--gen_kwargs", "max_gen_toks=0x4"], "decimal digits"),
     (["--gen_kwargs", "max_gen_toks=0o4"], "decimal digits"),
     (["--metadata", "x=[0b100]"], "decimal digits"),
     (["--metadata", "x=1j"], "a complex number")],
    ids=["list-overflow", "tuple-underflow", "dict-overflow", "hex", "octal", "binary", "complex"],
)  # fmt: skip
def test_an_lm_eval_literal_value_holds_numbers_as_written(given, shown, tmp_path, capsys):
    """lm-eval reads a value it cannot take as a number as a Python literal: [1e400] wrote
    Infinity into the results, and max_gen_toks=0x4 ran 4 tokens."""
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "x", "--model_args", "target=t",
            *given]  # fmt: skip
    refused(argv, tmp_path, capsys, given[0], shown)


def test_an_lm_eval_literal_value_as_written_is_read():
    args = _parsed("--model", "specdec", "--tasks", "x", "--model_args", "target=t",
                   "--gen_kwargs", "until=['Question:', 'A 1.5'],max_gen_toks=4",
                   "--metadata", "n=[1, 2.5]")  # fmt: skip
    assert args.gen_kwargs == {"until": ["Question:", "A 1.5"], "max_gen_toks": 4}
    assert args.metadata == {"n": [1, 2.5]}


@pytest.mark.parametrize(
    ("text", "shown"),
    [("verbosity: LOUD\n", "verbosity"), ("verbosity: info\n", "in capitals"),
     ('gen_kwargs: "max_gen_toks=100000"\n', "from 1 to 8,192")],
    ids=["unknown-level", "lower-case-level", "text-budget"],
)  # fmt: skip
def test_an_lm_eval_configs_settings_are_checked_before_the_models_load(text, shown, tmp_path,
                                                                        capsys):  # fmt: skip
    """A config's verbosity and text-form budget failed after the whole evaluation (or at its
    first request), nothing saved."""
    config = tmp_path / "c.yaml"
    config.write_text(text)
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x"]
    refused(argv, tmp_path, capsys, shown)
    config.write_text('verbosity: INFO\ngen_kwargs: "max_gen_toks=4"\n')  # the control
    assert _parsed("--config", str(config), "--tasks", "x").config == str(config)


class _Runs:
    def __reduce__(self):
        return (print, ("ran",))


@pytest.mark.parametrize(
    "data",
    [b"N" + __import__("pickle").dumps(_Runs(), protocol=5),
     b"N" + __import__("pickle").dumps(_Runs(), protocol=0),
     b"(0" + __import__("pickle").dumps(_Runs(), protocol=0),
     b"I0x1\n0" + __import__("pickle").dumps(_Runs(), protocol=0),
     b"Ncbuiltins\nprint\n(S'x'\ntR.",
     __import__("pickle").dumps(_Runs(), protocol=0)[:-1],
     __import__("pickle").dumps(_Runs(), protocol=1)[:-1],
     b"cos\nsystem\n(S'echo'\ntR\xff"],
    ids=["object-below-5", "object-below-0", "pop-mark", "hex-int", "text-pickle",
         "no-stop-0", "no-stop-1", "call-then-junk"],
)  # fmt: skip
def test_a_pickle_the_unpickler_runs_is_sniffed_as_one(data, tmp_path):
    """Each ran code under pickle.loads and was sniffed as text: the sniffer required an empty
    stack at STOP, took POP on a mark as an underflow, read an INT only in base 10, and (round
    43) waited for a STOP the unpickler does not need to run a call."""
    import pickle

    from suite.pickle_sniff import is_pickle

    path = tmp_path / "notes.dat"
    path.write_bytes(data)
    assert is_pickle(path)
    with pytest.raises(pickle.UnpicklingError):  # what it is: a pickle that imports
        _no_import(data)


def _no_import(data):
    """Load ``data`` with an unpickler that refuses every import (raising UnpicklingError)."""
    import io
    import pickle

    class Refusing(pickle.Unpickler):
        def find_class(self, module, name):
            raise pickle.UnpicklingError(f"{module}.{name}")

    return Refusing(io.BytesIO(data)).load()


@pytest.mark.parametrize(
    "text",
    [b"N.B. a note\n", b"0.41\n", b"# Card\nA draft.\n", b'{"a": 1}\n', b"cool\nmodel\n",
     b"Fine-tuned from llama\nLearning rate: 1e-4\n0.41 acceptance at tau=1\n",
     b"Please cite us\n.\n", b"Version 2\nVersion 3\n...\n", b"c\nd\n.\n", b"(N.B. ...)",
     b"cat\ndog\nbird\n"],
)  # fmt: skip
def test_text_files_are_not_sniffed_as_pickles(text, tmp_path):
    """Round 43: text whose lines read as constants (``F``, ``V``, ``I`` lines then ``.``) or
    as a persistent id (``P``) was refused as a data pickle."""
    from suite.pickle_sniff import is_pickle

    path = tmp_path / "README.md"
    path.write_bytes(text)
    assert not is_pickle(path)


@pytest.mark.parametrize("name", ["training_args.BIN", "weights.dat"])
def test_a_model_folder_holding_a_pickle_is_refused(name, tmp_path):
    """A profile's or generate's model folder was checked by lower-case suffix only."""
    import pickle

    from tests.test_hostile_round37 import _short_pair

    target, _ = _short_pair(tmp_path / "pair")
    (target / name).write_bytes(pickle.dumps(_Runs(), protocol=4))
    from suite.models import check_weights_folder

    with pytest.raises(SpecError, match="pickle checkpoints are refused") as err:
        check_weights_folder(target)
    assert err.value.value == name
    (target / name).unlink()
    assert check_weights_folder(target) == target  # the control


def test_a_submissions_chat_template_is_checked(tiny, tmp_path, capsys):  # noqa: F811
    """A submission's chat_template.jinja looped 10^8 times; the check passed it, where a
    profile naming the folder refuses it."""
    from tests.test_submissions import _copy, _profile

    folder = _copy(tiny, tmp_path)
    loop = "{% for i in range(100000000) %}{{ messages }}{% endfor %}"
    (folder / "model" / "chat_template.jinja").write_text(loop)
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "chat_template.jinja", "chat_template")


def test_fetch_sources_refuse_an_unknown_top_level_key(tmp_path, capsys):
    """Keys beside ``files:`` were ignored and the download attempted."""
    sources = tmp_path / "s.yaml"
    sources.write_text(
        "files:\n  - path: a/b.json\n    url: https://127.0.0.1:9/x\n"
        f"    sha256: {'0' * 64}\nextra_top: {{path: /etc/passwd}}\n"
    )
    (tmp_path / "dest").mkdir()
    argv = ["fetch", str(tmp_path / "dest"), "--sources", str(sources)]
    refused(argv, tmp_path, capsys, "s.yaml", "extra_top", "unknown key")


@pytest.mark.parametrize(
    ("line", "field"),
    [("max_new_tokens: 256.00000000000001", "generation.max_new_tokens"),
     ("hash_range: [0.5, 1.00000000000000000001]", "splits.test.hash_range[1]"),
     ("hash_range: [0.5, 0.99999999999999999999]", "splits.test.hash_range[1]")],
    ids=["count", "above-bound", "below-bound"],
)  # fmt: skip
def test_a_task_specs_numbers_are_the_floats_written(line, field, tmp_path, capsys):
    """256.00000000000001 was the count 256; a bound written above 1 was read as 1.0."""
    spec = (ROOT / "tasks" / "gsm8k.yaml").read_text()
    if line.startswith("max_new_tokens"):
        assert "max_new_tokens: 256" in spec
        spec = spec.replace("max_new_tokens: 256", line)
    else:
        spec = spec.replace("    files: [gsm8k/test.jsonl]\n",
                            f"    files: [gsm8k/test.jsonl]\n    {line}\n", 1)  # fmt: skip
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "gsm8k.yaml").write_text(spec)
    argv = ["tasks", "gsm8k", "--show", "0", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "gsm8k.yaml", field, "more digits than a float holds")


def _hardware(key, value):
    def edit(records, header):
        records[0]["provenance"]["hardware"][key] = value

    return edit


@pytest.mark.parametrize(
    ("key", "value"),
    [("torch_threads", 10**99), ("cpu_count", -2), ("cpu_count", True), ("cpu_count", 2.0),
     ("torch_threads", 0)],
)  # fmt: skip
def test_a_records_hardware_counts_are_ones_a_run_writes(difficulty, key, value, tmp_path,  # noqa: F811
                                                         capsys):  # fmt: skip
    """A record stating 10^99 torch threads, or -2 CPUs, was reported."""
    forged_report_refused(difficulty, tmp_path, capsys, _hardware(key, value), "cells.jsonl",
                          f"provenance.hardware.{key}", "whole number from 1")  # fmt: skip


def test_a_manifests_parameters_are_bounded(tmp_path, capsys, monkeypatch):
    """A 100-digit parameter count was printed in full by bundle-tables."""
    import json

    # --bundle sets $SUITE_BUNDLE for the process: set here, so that it is undone after
    monkeypatch.setenv("SUITE_BUNDLE", str(ROOT / "reference"))
    manifest = json.loads((ROOT / "reference" / "MANIFEST.json").read_text())
    name = next(n for n, a in manifest["artifacts"].items() if a.get("parameters"))
    manifest["artifacts"][name]["parameters"] = 10**99
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "MANIFEST.json").write_text(json.dumps(manifest))
    refused(["bundle-tables", "--bundle", str(tmp_path / "b")], tmp_path, capsys,
            "MANIFEST.json", "parameters")  # fmt: skip


def test_a_peft_adapter_config_is_refused_in_a_model_folder(tiny, tmp_path, capsys):  # noqa: F811
    """Where peft is installed, transformers loads the base model an adapter_config.json names
    (any folder or Hub id), not the weights checked."""
    from suite.models import check_weights_folder
    from tests.test_hostile_round37 import _short_pair
    from tests.test_submissions import _copy, _profile

    adapter = '{"base_model_name_or_path": "/elsewhere", "peft_type": "LORA"}'
    folder = _copy(tiny, tmp_path)
    (folder / "model" / "adapter_config.json").write_text(adapter)
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "adapter_config.json", "PEFT adapter")
    target, _ = _short_pair(tmp_path / "pair")
    (target / "adapter_config.json").write_text(adapter)
    with pytest.raises(SpecError, match="PEFT adapter"):
        check_weights_folder(target)


def test_a_records_json_numbers_are_the_floats_written(difficulty, tmp_path, capsys):  # noqa: F811
    """Round 43: a record's 1.00000000000000000001 was read as 1.0 within a bound of 1, and a
    resume rewrote it rounded."""
    import shutil

    from suite.strict import loads_json

    with pytest.raises(ValueError, match="more digits than a float holds"):
        loads_json('{"a": 256.00000000000001}')
    assert loads_json('{"a": 0.1, "b": 1e-05, "c": 5e-324}') == {"a": 0.1, "b": 1e-05, "c": 5e-324}
    folder = tmp_path / "forged"
    shutil.copytree(difficulty, folder)
    path = folder / "cells.jsonl"
    text = path.read_text()
    assert '"decode_temperature": 1.0' in text
    path.write_text(text.replace('"decode_temperature": 1.0',
                                 '"decode_temperature": 1.00000000000000000001', 1))  # fmt: skip
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "cells.jsonl", "more digits than a float holds")  # fmt: skip


# --- round 43: lm-eval's limit, model arg keys, metadata, free text ---------------------------


def test_an_lm_eval_limit_that_reads_as_one_is_refused(tmp_path, capsys):
    """``--limit 0.99999999999999999`` passed as a fraction; lm-eval read 1.0, one example."""
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "x", "--model_args", "target=t",
            "--limit", "0.99999999999999999"]  # fmt: skip
    refused(argv, tmp_path, capsys, "--limit", "0.99999999999999999")
    assert _parsed("--model", "specdec", "--tasks", "x", "--limit", "0.5").limit == 0.5


@pytest.mark.parametrize("key", ["self", "__class__", "Temperature"])
def test_a_specdec_model_arg_key_is_one_it_takes(key):
    """``self=1`` was a TypeError traceback (multiple values for argument 'self')."""
    from lm_eval.api.registry import get_model

    import suite.lm_eval_model  # noqa: F401  (registers specdec)

    with pytest.raises(ValueError, match=f"unknown model_args key '{key}'"):
        get_model("specdec").create_from_arg_obj({"target": "t", key: 1})


def test_lm_eval_metadata_does_not_state_a_specdec_setting(tmp_path, capsys):
    """``--metadata temperature=0.7`` wrote 0.7 into the results; specdec ran greedy (its
    default), since model_args did not give it."""
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "x", "--model_args", "target=t",
            "--metadata", "num_draft_tokens=9"]  # fmt: skip
    refused(argv, tmp_path, capsys, "--metadata", "'num_draft_tokens'", "a model_args key")


def test_lm_eval_free_text_is_taken_as_written(tmp_path):
    """``--system_instruction "Answer, ٣"`` was refused as a number in other digits."""
    args = _parsed("--model", "specdec", "--tasks", "x", "--model_args", "target=t",
                   "--system_instruction", "Answer, ٣ or ½", "--seed", "none")  # fmt: skip
    assert args.system_instruction == "Answer, ٣ or ½"
    config = tmp_path / "c.yaml"
    config.write_text('system_instruction: "٣"\n')
    assert _parsed("--config", str(config), "--tasks", "x").config == str(config)


# --- round 44: Python 2 names, shipped modules, legacy torch tars; lm-eval config readings ---


def _legacy_tar(path):
    """torch's pre-1.6 checkpoint: a tar of ``storages``, ``tensors`` and ``pickle``."""
    import io
    import pickle
    import tarfile

    payload = pickle.dumps(_Runs(), protocol=2)
    with tarfile.open(path, "w:", format=tarfile.PAX_FORMAT) as tar:
        for name in ("storages", "tensors", "pickle"):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


@pytest.mark.parametrize(
    ("name", "data"),
    [("p2.txt", b"(S'import os'\ni__builtin__\nexec\n."),
     ("p1.txt", b"c__builtin__\n__dict__\nS'ascii'\nccommands\ngetoutput\ns"),
     ("extra.dat", b"cshipped_helper\nx\n."),
     ("optimizer.dat", None)],
    ids=["python2-builtin-inst", "python2-store", "shipped-module", "legacy-torch-tar"],
)  # fmt: skip
def test_a_pickle_naming_a_module_the_unpickler_finds_is_sniffed(name, data, tmp_path):
    """Round 44: Python 2 names (the unpickler maps __builtin__ to builtins), a module shipped
    beside the file, and torch's legacy tar were each called text."""
    from suite.pickle_sniff import is_pickle

    (tmp_path / "shipped_helper.py").write_text("x = 1\n")
    path = tmp_path / name
    if data is None:
        _legacy_tar(path)
    else:
        path.write_bytes(data)
    assert is_pickle(path)
    (tmp_path / "words.txt").write_bytes(b"cat\ndog\nbird\n")  # the control: no module "at"
    assert not is_pickle(tmp_path / "words.txt")


@pytest.mark.parametrize(
    ("text", "shown"),
    [("model_args: {target: t, num_draft_tokens: 010}\n", "YAML 1.1 reads it as 8"),
     ("gen_kwargs: {max_gen_toks: 010}\n", "YAML 1.1 reads it as 8"),
     ("tasks: 1\n", "expected text or a list of texts"),
     ("include_path: 5\n", "expected text or a list of texts"),
     ("system_instruction: true\n", "expected text"),
     ("limit: [1]\n", "expected one number"),
     ("num_fewshot: [0]\n", "expected one number"),
     ("seed: [1, 2]\n", "1, 3 or 4 seeds"),
     ('limit: "1"\n', "unquoted")],
    ids=["octal-model-arg", "octal-budget", "number-tasks", "number-include", "bool-text",
         "list-limit", "list-fewshot", "two-seeds", "quoted-limit"],
)  # fmt: skip
def test_an_lm_eval_configs_values_are_read_as_lm_eval_reads_them(text, shown, tmp_path, capsys):
    """Round 44: 010 ran as 8 (YAML 1.1 octal); a number where text goes was a traceback;
    limit: [1] was joined into 1 and failed after the models loaded."""
    config = tmp_path / "c.yaml"
    config.write_text(text)
    argv = ["lm-eval", "run", "--model", "specdec", "--config", str(config), "--tasks", "x"]
    if text.startswith("tasks"):
        argv = argv[:-2]
    refused(argv, tmp_path, capsys, "c.yaml", shown)
    for seeds in ("[1, 2, 3, 4]", "[1, 2, 3]", "[7]"):  # lm-eval takes 1, 3 or 4 (round 46)
        config.write_text(f"limit: 0.5\nseed: {seeds}\ntasks: [a, b]\nsystem_instruction: A\n")
        assert _parsed("--config", str(config), "--tasks", "x").config == str(config)


def test_a_quoted_stop_string_inside_a_list_is_text():
    """Round 44: a quoted "nan" in the middle of until=[...] was read as a number."""
    args = _parsed("--model", "specdec", "--tasks", "x", "--model_args", "target=t",
                   "--gen_kwargs", "until=['a', \"nan\", 'b'],max_gen_toks=4")  # fmt: skip
    assert args.gen_kwargs["until"] == ["a", "nan", "b"]


# --- round 45: a NUL in a number line, an import by an odd name, lm-eval config booleans -------


@pytest.mark.parametrize(
    "data",
    [b"I1\x00x\n0cbuiltins\nprint\n(S'x'\ntR.", b"F1.5\x00x\n0cbuiltins\nprint\n(S'x'\ntR.",
     b"L1\x00x\n0cbuiltins\nprint\n(S'x'\ntR.", b"cthis\n-\n."],
    ids=["nul-int", "nul-float", "nul-long", "import-by-odd-attribute"],
)  # fmt: skip
def test_a_pickle_the_c_unpickler_reads_as_c_strings_is_sniffed(data, tmp_path):
    """The C unpickler reads a number line up to its first NUL, and imports a module before it
    reads the attribute: each was called text, and pickle.load ran it."""
    from suite.pickle_sniff import is_pickle

    path = tmp_path / "NOTES.txt"
    path.write_bytes(data)
    assert is_pickle(path)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("log_samples: 'no'\n", "expected true or false"),
     ("predict_only: 'false'\n", "expected true or false"),
     ("write_out: 'off'\n", "expected true or false"),
     ("log_samples: 0\n", "expected true or false"),
     ("confirm_run_unsafe_code: 'no'\n", "expected true or false"),
     ("gen_kwargs: {max_gen_toks: 4, temperature: yes}\n", "expected a number"),
     ("batch_size: yes\n", "expected a number or auto")],
    ids=["text-no", "text-false", "text-off", "zero", "unsafe-code-no", "bool-temperature",
         "bool-batch"],
)  # fmt: skip
def test_an_lm_eval_configs_booleans_are_booleans(text, shown, tmp_path, capsys):
    """lm-eval takes any non-empty text as true: log_samples: 'no' wrote samples; YAML's yes
    for a temperature was recorded as True."""
    config = tmp_path / "c.yaml"
    config.write_text(text)
    argv = ["lm-eval", "run", "--model", "specdec", "--model_args", "target=t",
            "--config", str(config), "--tasks", "x"]  # fmt: skip
    refused(argv, tmp_path, capsys, shown)
    config.write_text("log_samples: false\nwrite_out: no\ngen_kwargs: {do_sample: false}\n")
    assert _parsed("--config", str(config), "--tasks", "x").config == str(config)


def _cell_twice(records, header):
    cells = header["study_cells"]["difficulty"]
    cells.append(cells[0])


def test_a_header_lists_each_cell_once(difficulty, tmp_path, capsys):  # noqa: F811
    """Round 45: run.json's study_cells took 320,000 copies of one key (6 s, 555 MB)."""
    forged_report_refused(difficulty, tmp_path, capsys, _cell_twice, "run.json",
                          "study_cells.difficulty", "each once")  # fmt: skip


def test_a_fetched_file_is_readable_as_the_umask_allows(tmp_path):
    """Round 45: fetch wrote every data file 0600 (mkstemp's), whatever the umask."""
    import os
    import stat

    from suite.fetch import _write_new

    mask = os.umask(0o022)
    try:
        _write_new(tmp_path / "data.json", b"{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "data.json").stat().st_mode) == 0o644


def test_fetch_names_a_url_that_is_not_ascii(tmp_path, capsys):
    """Round 45: urllib's 'ascii' codec error named no field."""
    sources = tmp_path / "s.yaml"
    sources.write_text(f"files:\n  - path: a/b.json\n    url: https://127.0.0.1:9/gööd\n"
                       f"    sha256: {'0' * 64}\n")  # fmt: skip
    (tmp_path / "dest").mkdir()
    argv = ["fetch", str(tmp_path / "dest"), "--sources", str(sources)]
    refused(argv, tmp_path, capsys, "s.yaml", "files[0].url", "percent-encode")


# --- round 46: the C unpickler's name and string lines, protocol switches, v7 tars; lm-eval ---


@pytest.mark.parametrize(
    ("name", "data"),
    [("antigravity.txt", "cantigravity\né\n.".encode()),
     ("backslash.txt", b"cshipped_helper\nx\\\n."),
     ("hyphen.txt", b"cmy-mod\nx\n."),
     ("latin.txt", b"S'\xe9'\np0\n0cos\nsystem\n(S'echo'\ntR."),
     ("protocol-switch.txt", b"N0\x80\x03c_winreg\nx\n."),
     ("v7.dat", None)],
    ids=["non-ascii-attribute", "trailing-backslash", "hyphen-module", "latin-1-string",
         "protocol-3-mid-stream", "v7-tar"],
)  # fmt: skip
def test_a_pickle_read_as_the_c_unpickler_reads_it_is_sniffed(name, data, tmp_path):
    """Round 46: pickletools reads GLOBAL's lines as ASCII with escapes and STRING's bytes as
    ASCII; the C unpickler takes UTF-8 names, any quoted bytes (under encoding='latin1'), maps
    Python 2 names only below protocol 3; tarfile reads a v7 tar without 'ustar'."""
    import tarfile

    from suite.pickle_sniff import is_pickle

    for module in ("shipped_helper.py", "my-mod.py", "_winreg.py"):
        (tmp_path / module).write_text("x = 1\n")
    path = tmp_path / name
    if data is None:
        _legacy_tar(path)
        raw = bytearray(path.read_bytes())  # the header without ustar: a v7 tar
        raw[257:265] = bytes(8)
        raw[148:156] = b" " * 8
        raw[148:156] = b"%06o\0 " % sum(raw[:512])
        path.write_bytes(bytes(raw[:512]) + bytes(raw[512:]))
        assert tarfile.is_tarfile(path) and raw[257:262] != b"ustar"
    else:
        path.write_bytes(data)
    assert is_pickle(path)
    (tmp_path / "cf.txt").write_bytes(b"c.f. the paper\nfoo\n")  # the control: a relative name
    assert not is_pickle(tmp_path / "cf.txt")


@pytest.mark.parametrize(
    ("given", "shown"),
    [(["--metadata", "x=" + "-" * 3000 + "1"], "nested too deep"),
     (["--gen_kwargs", "x=" + "-" * 100_000 + "1"], "nested too deep"),
     (["--metadata", "[" * 50_000 + "]" * 50_000], "nested too deep"),
     (["--metadata", '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"], "nested too deep"),
     (["--verbosity", " info"], "expected one of"),
     (["--system_instruction", "x" * 20_000], "at most 16,384")],
    ids=["minus-chain", "long-minus-chain", "deep-list", "deep-json", "spaced-verbosity",
         "long-instruction"],
)  # fmt: skip
def test_lm_eval_values_lm_eval_cannot_read_are_refused(given, shown, tmp_path, capsys):
    """Round 46: a 3,000-sign chain or 50,000-deep JSON was a RecursionError traceback;
    ' info' ran the evaluation and failed at its end; a 900 KB instruction was refused after
    the models loaded, naming the tokenizer."""
    argv = ["lm-eval", "run", "--model", "specdec", "--tasks", "x", "--model_args", "target=t",
            *given]  # fmt: skip
    refused(argv, tmp_path, capsys, given[0], shown)


def test_specdec_names_every_gen_kwarg_it_ignores(caplog):
    """Round 46: max_new_tokens=100000 in --gen_kwargs was ignored without a word."""
    import logging

    from suite.lm_eval_model import USED_GEN_KWARGS

    assert {"until", "max_gen_toks"} == USED_GEN_KWARGS
    from suite import lm_eval_model

    fake = types.SimpleNamespace(_ignored_noted=set(), temperature=0.0)
    with caplog.at_level(logging.WARNING):
        lm_eval_model.SpecDecLM._note_ignored(fake, {"max_new_tokens": 100000, "until": ["x"]})
    assert "max_new_tokens=100000; ignored" in caplog.text and "until" not in caplog.text
