"""Inputs of the ninth attack that ran without bound or ended in a traceback, each refused now
naming the file, the field and the value:

* a tokenizer regex the load-time timing did not probe on its slow input: a negated class in a
  repeat sampled with a character it excludes (``(?:b[^!b])+d``), Oniguruma's class intersection
  read by Python as literals (``[a-e&&[^ace]]+f``), the slow character cut from a list of 160
  probed ones, a pattern that gives up (Oniguruma's retry limit) on the probe and is cubic below
  it (``b+\\w*?d``): each hung ``generate`` and ``run`` past a minute. Behind the probes, a
  prompt's tokenization now has a deadline;
* a recipe's ``tokenizer.copy_from`` folder was copied and loaded unchecked (a growth bomb aborted
  ``train`` with 2 GB taken, leaving ``--out``);
* a Rust panic while a tokenizer loads (a BPE prefix of 20 characters) was a traceback;
* a YAML alias was refused in four lines, and a wrong ``tokenizer_class`` was blamed on a field
  of ``tokenizer.json``."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from suite.errors import SpecError
from suite.models import load_tokenizer
from tests.hostile import refused
from tests.test_hostile_round5_tokenizers import _argv
from tests.test_hostile_tokenizer_ids import LLAMA, _case

RECIPES = Path(__file__).parent.parent / "reference" / "recipes"


def _split(pattern: str):
    """An edit of the bundled tokenizer: one Split pre-tokenizer step on ``pattern``."""

    def change(data, config):
        split = {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated"}
        data["pre_tokenizer"] = {**split, "invert": False}

    return change


def _generate(tok: Path, prompt: str = "Janet sells eggs") -> list[str]:
    target, draft = str(LLAMA / "target"), str(LLAMA / "draft")
    return [
        "generate", prompt, "--target", target, "--draft", draft, "--tokenizer", str(tok),
        "--max-new-tokens", "2",
    ]  # fmt: skip


# --- the timing probes: what they sample, what they name, what they do with a failure ----------


def test_a_negated_class_in_a_repeat_is_sampled_with_a_character_it_admits():
    from suite.tokenizer_probes import _repeat_units, _sre_parse

    for body in ("b[^!b]", "[^!c]c", "b[^a-y]", r"b[^\W]", "b[^\x00-\U0001f600]"):
        units = _repeat_units(_sre_parse.parse(f"(?:{body})+d"))
        assert any(re.fullmatch(body, unit) for unit in units), (body, units)


@pytest.mark.parametrize("body", [r"\p{Greek}c", r"\P{L}c", r"b\p{Han}"])
def test_a_property_in_a_repeat_is_sampled_with_a_character_it_holds(body):
    """(Round 10.) ``(?:\\p{Greek}c)+d`` was probed on ``acac…``: the property read as ``a``."""
    import regex

    from suite.tokenizer_probes import pattern_chars

    units = [c for c in pattern_chars(f"(?:{body})+d") if len(c) > 1]
    assert any(regex.fullmatch(body, unit) for unit in units), (body, units)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[a-e&&[^ace]]+f", "class intersection"),
        ("[a[^b]]+f", "nested character class"),
    ],
)
def test_oniguruma_set_operations_are_refused(tmp_path, capsys, pattern, expected):
    profile, study = _case(tmp_path, _split(pattern))
    tok = str(tmp_path / "tok" / "tokenizer.json")
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, tok, "pre_tokenizer", expected)


def test_real_pretokenizer_patterns_pass_the_class_rule():
    """(POSIX brackets, which Python misreads, are refused since round 11.)"""
    from suite.tokenizer_regex import tokenizer_regex_problem

    gpt2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
    for pattern in (gpt2, "[]a]+", r"[\[a]", "a&&b", "[a-z:]+"):
        assert tokenizer_regex_problem(pattern) is None, pattern


def test_a_pattern_naming_more_characters_than_are_probed_is_refused(tmp_path, capsys):
    """``b+d`` is quadratic on runs of b; 200 more literals pushed b out of the 160 probed."""
    pattern = "b+d|" + "".join(chr(0x100 + i) for i in range(200))
    tok = tmp_path / "tok"
    _case(tmp_path, _split(pattern))
    refused(_generate(tok), tmp_path, capsys, str(tok / "tokenizer.json"), "more than its timing")


def test_a_probe_that_fails_refuses_the_step(tmp_path, capsys):
    """``b+\\w*?d`` hits Oniguruma's retry limit on 8,192 b's (a panic, which counted as 0 s) and
    took 34 s on 3,000."""
    tok = tmp_path / "tok"
    _case(tmp_path, _split(r"b+\w*?d"))
    err = refused(_generate(tok), tmp_path, capsys, str(tok / "tokenizer.json"), "pre_tokenizer")
    assert "fails on a run of 8,192 × 'b'" in err and "retry-limit" in err


def test_a_probe_is_waited_for_at_most_twenty_times_its_limit():
    from suite.tokenizer_timing import _timed

    start = time.monotonic()
    seconds, failure = _timed(lambda text: time.sleep(5), "x", 0.01)
    assert failure is None and seconds == pytest.approx(0.2) and seconds > 0.01
    assert time.monotonic() - start < 2


# --- behind the probes: a deadline on each prompt's tokenization ------------------------------


def test_a_prompt_the_probes_missed_is_refused_at_the_deadline(tmp_path, monkeypatch):
    """A quadratic pattern (1.4 s on 8,192 spaces) with the load-time timing switched off, as a
    pattern the probes miss would pass it: the prompt's tokenization stops at the deadline (the
    library's batch call releases the GIL, so the wait is real)."""
    from suite import prompts, tokenizer_files

    monkeypatch.setattr(tokenizer_files, "check_regex_time", lambda data, where: 0.0)
    monkeypatch.setattr(prompts, "ENCODE_SECONDS", 0.3)
    _case(tmp_path, _split("(?: |\t)+(?:x|y)"))
    tokenizer = load_tokenizer(tmp_path / "tok")
    assert prompts._encode(tokenizer, "a b", chars=100)  # the control: a short prompt passes
    start = time.monotonic()
    with pytest.raises(SpecError, match=r"took over 0\.3 s on a prompt of 12,001") as err:
        prompts._encode(tokenizer, " " * 12_000 + "z", chars=20_000)
    assert time.monotonic() - start < 2
    assert err.value.field == "tokenizer" and str(tmp_path / "tok") in str(err.value)


def test_training_texts_are_encoded_under_the_deadline(tmp_path, monkeypatch):
    """(Round 10.) A recipe's copied tokenizer encoded its training texts with no deadline."""
    from suite import prompts, tokenizer_files

    monkeypatch.setattr(tokenizer_files, "check_regex_time", lambda data, where: 0.0)
    monkeypatch.setattr(prompts, "ENCODE_SECONDS", 0.3)
    _case(tmp_path, _split("(?: |\t)+(?:x|y)"))
    tokenizer = load_tokenizer(tmp_path / "tok")
    assert prompts.encode_texts(tokenizer, ["a b", "c"]) == [
        prompts._encode(tokenizer, t, chars=9, special=False) for t in ("a b", "c")
    ]  # the control: the same ids one text at a time
    start = time.monotonic()
    with pytest.raises(SpecError, match=r"took over 0\.3 s on 2 training texts"):
        prompts.encode_texts(tokenizer, ["a", " " * 12_000 + "z"])
    assert time.monotonic() - start < 2


def test_a_tokenizer_slow_on_every_call_runs_out_of_time_in_all(monkeypatch):
    """Each call under its own deadline, but the calls together over the process's budget."""
    from suite import deadline

    monkeypatch.setattr(deadline, "TOTAL_SECONDS", 0.3)
    monkeypatch.setattr(deadline, "PER_TEXT_SECONDS", 0.01)
    for _ in range(10):  # the control: quick calls never run out
        assert deadline.tokenizer_call(lambda: 1, 5) == 1
    with pytest.raises(deadline.DeadlineExceeded) as err:
        for _ in range(20):
            deadline.tokenizer_call(lambda: time.sleep(0.1), 5)
    assert err.value.spent is not None and "in all in this process" in err.value.reason("x")


def test_the_deadline_passes_results_and_errors_through():
    from suite.deadline import DeadlineExceeded, call_with_deadline

    assert call_with_deadline(lambda: 7, 1)[0] == 7
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(lambda: 1 / 0, 1)
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(lambda: time.sleep(2), 0.05)


# --- recipes: a copied tokenizer meets the rules first -----------------------------------------


def _bomb(folder: Path) -> Path:
    """The bundled tokenizer with 22 ``e → ee`` steps: four million-fold growth."""
    shutil.copytree(LLAMA / "tokenizer", folder)
    data = json.loads((folder / "tokenizer.json").read_text())
    step = {"type": "Replace", "pattern": {"String": "e"}, "content": "ee"}
    data["normalizer"] = {"type": "Sequence", "normalizers": [step] * 22}
    (folder / "tokenizer.json").write_text(json.dumps(data))
    return folder


def test_a_recipe_copying_a_bad_tokenizer_is_refused_before_out_is_made(tmp_path, capsys):
    import yaml

    bomb = _bomb(tmp_path / "bomb")
    recipe = yaml.safe_load((RECIPES / "t5.yaml").read_text())
    recipe["tokenizer"]["copy_from"] = str(bomb)
    path = tmp_path / "t5.yaml"
    path.write_text(yaml.safe_dump(recipe))
    argv = ["train", "--recipe", str(path), "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, str(bomb / "tokenizer.json"), "normalizer", "256-fold")
    assert not (tmp_path / "out").exists()


# --- a Rust panic at load, messages ---------------------------------------------------------


def test_a_panic_while_the_tokenizer_loads_is_refused_naming_it(tmp_path):
    def prefix(data, config):
        data["model"]["continuing_subword_prefix"] = "#" * 20

    _case(tmp_path, prefix)
    with pytest.raises(SpecError, match="does not load: PanicException") as err:
        load_tokenizer(tmp_path / "tok")
    assert err.value.path == tmp_path / "tok" and err.value.field == "tokenizer"


def test_a_wrong_tokenizer_class_is_named_in_tokenizer_config(tmp_path):
    def bert(data, config):
        config["tokenizer_class"] = "BertTokenizer"

    _case(tmp_path, bert)
    with pytest.raises(SpecError, match="transformers builds a Bert") as err:
        load_tokenizer(tmp_path / "tok")
    assert err.value.path == tmp_path / "tok" / "tokenizer_config.json"
    assert err.value.field == "tokenizer_class" and err.value.value == "BertTokenizer"


def test_a_yaml_refusal_is_one_line():
    from suite.strict import parse_yaml

    for text, expected in [
        ("a: &x [1]\nb: *x\n", "aliases are refused (line 2, column 4)"),
        ("a: [1, 2\n", "(line 2, column 1)"),
    ]:
        with pytest.raises(SpecError, match=re.escape(expected)) as err:
            parse_yaml(text, Path("s.yaml"))
        assert "\n" not in str(err.value)
