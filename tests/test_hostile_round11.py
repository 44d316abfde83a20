"""Inputs of the eleventh attack that ran without bound, aborted, or were misread, each refused
or bounded now:

* the load-time timing check had no time in all: eight steps each just under their limit on
  hundreds of probes took about 190 s;
* training texts went to the tokenizer in one batch under a deadline that grew with their
  number (about 380 s for GSM8K), with no cap on a text's growth (a 32-fold normalizer aborted
  ``train`` on memory);
* each tokenizer had its own 60 s budget, so a run over three families had three;
* a lookahead inside a repeat (``(?:(?!a)[a-z]0)+d``) was sampled with a unit the repeat does not
  match, so its quadratic runs were never probed;
* a POSIX bracket (``[[:alpha:]]``) was read by Python as another class and probed with the
  wrong characters;
* a run refused at a tokenizer's load left its header and lock in an existing ``--out``, and a
  ``train`` whose copied tokenizer was refused while encoding left it in ``--out``."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from suite import deadline, prompts, tokenizer_timing
from suite.errors import SpecError
from suite.models import load_tokenizer
from suite.tokenizer_regex import tokenizer_regex_problem
from tests.hostile import refused
from tests.test_hostile_round5_tokenizers import _argv
from tests.test_hostile_round9 import _generate, _split
from tests.test_hostile_tokenizer_ids import _case

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


# --- the regex rules and the probes ---------------------------------------------------------


def test_a_posix_bracket_is_refused_naming_the_pattern(tmp_path, capsys):
    problem = tokenizer_regex_problem("[[:alpha:]]+")
    assert problem and "POSIX bracket" in problem
    assert tokenizer_regex_problem("[a-z:]+") is None  # the control: ':' as a member passes
    _case(tmp_path, _split("[[:alpha:]]+"))
    refused(_generate(tmp_path / "tok"), tmp_path, capsys, "POSIX bracket", "[[:alpha:]]+")


def test_a_repeat_is_probed_with_a_unit_it_matches():
    from suite.tokenizer_probes import _repeat_units, _sre_parse

    for body in ("(?!a)[a-z]0", "[a-z](?<!a)0", "(?!b)[a-c]"):
        units = _repeat_units(_sre_parse.parse(f"(?:{body})+d"))
        assert units, body
        for unit in units:
            assert re.fullmatch(f"(?:{body})+", unit * 3), (body, unit)
    assert list(_repeat_units(_sre_parse.parse("(?:bc)+d"))) == ["bc"]  # the control


SLOW_RUN = 4 * tokenizer_timing.RUN  # quadratic runs 16 times slower, linear ones 4: a margin


def test_a_lookahead_in_a_repeat_is_timed_on_its_slow_run(tmp_path, monkeypatch):
    """``(?:(?!a)[a-z]0)+d`` is quadratic over ``b0b0…``; its unit was sampled ``a0``."""
    monkeypatch.setattr(tokenizer_timing, "RUN", SLOW_RUN)
    _case(tmp_path, _split("(?:(?!a)[a-z]0)+d"))
    with pytest.raises(SpecError, match=r"on a run of 16,384 × '[b-z]0'"):
        load_tokenizer(tmp_path / "tok")


def test_a_repeat_no_text_matches_is_refused(tmp_path):
    _case(tmp_path, _split("(?:a(?=b))+c"))
    with pytest.raises(SpecError, match="no text was found that a repeat matches") as err:
        load_tokenizer(tmp_path / "tok")
    assert err.value.value == "(?:a(?=b))+c" and "tok" in str(err.value.path)


def test_the_timing_check_has_a_time_in_all(tmp_path, monkeypatch):
    _case(tmp_path, _split(GPT2))
    assert load_tokenizer(tmp_path / "tok") is not None  # the control: GPT-2's pattern loads
    monkeypatch.setattr(tokenizer_timing, "CHECK_SECONDS", 0.05)
    start = time.monotonic()
    with pytest.raises(SpecError, match=r"takes over 0\.05 s in all, or over what is left"):
        load_tokenizer(tmp_path / "tok")
    assert time.monotonic() - start < 5


def test_the_timing_checks_of_a_process_have_a_time_in_all(tmp_path, monkeypatch):
    """(Round 12.) Each tokenizer had its own 15 s check: a profile of many families, each with
    a slow tokenizer, multiplied it."""
    _case(tmp_path, _split(GPT2))
    shutil.copytree(tmp_path / "tok", tmp_path / "other")
    load_tokenizer(tmp_path / "tok")  # warm
    deadline.reset_budget()
    load_tokenizer(tmp_path / "tok")
    one = deadline._CHECKS.spent
    assert one > 0
    monkeypatch.setattr(deadline, "CHECKS_SECONDS", one * 1.2)
    with pytest.raises(SpecError, match="over what is left of") as err:
        load_tokenizer(tmp_path / "other")
    assert "other" in str(err.value.path)


# --- the tokenizer time of a process and the training texts ------------------------------------


class _Stand:
    """A tokenizer stand-in: ``ids`` ids for each text after ``sleep`` seconds a call."""

    def __init__(self, name: str, sleep: float = 0.0, ids: int = 1) -> None:
        self.name_or_path, self.sleep, self.ids, self.batches = name, sleep, ids, []

    def __call__(self, texts, add_special_tokens=False):
        self.batches.append(len(texts) if isinstance(texts, list) else 1)
        time.sleep(self.sleep)
        rows = [[7] * self.ids for _ in (texts if isinstance(texts, list) else [texts])]
        return {"input_ids": rows if isinstance(texts, list) else rows[0]}


def test_tokenizers_share_the_process_budget(monkeypatch):
    """Two tokenizers each under a per-tokenizer budget together ran past it."""
    monkeypatch.setattr(deadline, "TOTAL_SECONDS", 0.4)
    monkeypatch.setattr(deadline, "PER_TEXT_SECONDS", 0.0)
    one, two = _Stand("one", 0.15), _Stand("two", 0.15)
    with pytest.raises(SpecError, match="in all in this process") as err:
        for tokenizer in (one, two, one, two):
            prompts.encode_texts(tokenizer, ["a"])
    assert err.value.path == "one" and len(one.batches) == 2 and len(two.batches) == 1


def test_training_texts_go_in_bounded_chunks(monkeypatch):
    monkeypatch.setattr(prompts, "CHUNK_TEXTS", 2)
    stand = _Stand("chunks", ids=2)
    texts = ["ab", "cd", "ef", "gh", "ij"]
    assert prompts.encode_texts(stand, texts) == [[7, 7]] * 5
    assert stand.batches == [2, 2, 1]
    monkeypatch.setattr(prompts, "CHUNK_TEXTS", 256)
    monkeypatch.setattr(prompts, "CHUNK_CHARS", 3 * 256)  # a stand-in grows 256-fold
    stand = _Stand("chars", ids=1)
    assert len(prompts.encode_texts(stand, ["a", "b", "c", "d", "efg"])) == 5
    assert stand.batches == [3, 1, 1]


def test_a_training_text_past_the_growth_cap_is_refused():
    stand = _Stand("growth")
    most = prompts.MAX_NORMALIZED_CHARS // 256  # a stand-in grows 256-fold
    assert prompts.encode_texts(stand, ["a" * most]) == [[7]]  # the control: at the cap
    with pytest.raises(SpecError, match=r"a training text of 1,025 characters") as err:
        prompts.encode_texts(stand, ["a", "a" * (most + 1)])
    assert err.value.path == "growth" and stand.batches == [1]


def test_a_tokenizer_making_ids_of_nothing_is_refused():
    assert prompts.encode_texts(_Stand("four", ids=4 + 16), ["a"]) == [[7] * 20]  # the control
    with pytest.raises(SpecError, match=r"gives 21 ids for a 1-character training text"):
        prompts.encode_texts(_Stand("many", ids=21), ["a"])


def test_the_bundled_tokenizer_encodes_training_texts_as_one_at_a_time(monkeypatch):
    from tests.test_hostile_tokenizer_ids import LLAMA

    monkeypatch.setattr(prompts, "CHUNK_TEXTS", 3)
    tokenizer = load_tokenizer(LLAMA / "tokenizer")
    texts = ["Janet sells eggs.", "", "a" * 500, "日本語 ✓ 😀", "x y", "\n\n"]
    expected = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert prompts.encode_texts(tokenizer, texts) == expected


# --- the chat template render and a class's own decode -----------------------------------------


def test_a_chat_template_render_has_a_deadline(monkeypatch):
    class Chat:
        name_or_path = "chat"
        chat_template = "{{ messages[0]['content'] }}"

        def apply_chat_template(self, messages, **kwargs):
            time.sleep(1.5)
            return "never"

    monkeypatch.setattr(prompts, "RENDER_SECONDS", 0.2)
    start = time.monotonic()
    with pytest.raises(SpecError, match=r"takes over 0\.2 s to render a prompt of 2 char"):
        prompts._render(Chat(), [{"role": "user", "content": "hi"}])
    assert time.monotonic() - start < 1.0


def test_a_class_with_its_own_decode_is_decoded_under_the_deadline(monkeypatch):
    """``CodeGenTokenizer`` and others override ``decode``: the library's decode, which such a
    class calls, runs first under the deadline."""
    from suite import tokenizer_decode
    from tests.test_hostile_tokenizer_ids import LLAMA

    tokenizer = load_tokenizer(LLAMA / "tokenizer")
    ids = tokenizer("Janet sells eggs", add_special_tokens=False)["input_ids"]

    class Own(type(tokenizer)):
        def decode(self, token_ids, **kwargs):
            return "own:" + super().decode(token_ids, **kwargs)

    own = Own.from_pretrained(str(LLAMA / "tokenizer"))
    assert tokenizer_decode.decode_text(own, ids) == "own:Janet sells eggs"  # the control
    calls = []

    def slow(call, seconds, texts=1):
        calls.append(seconds)
        raise deadline.DeadlineExceeded(seconds)

    monkeypatch.setattr(tokenizer_decode, "tokenizer_call", slow)
    with pytest.raises(SpecError, match=rf"took over 10 s on decoding {len(ids)} tokens"):
        tokenizer_decode.decode_text(own, ids)
    assert calls == [tokenizer_decode.DECODE_SECONDS]


# --- nothing half-written -------------------------------------------------------------------


def test_a_run_refused_at_a_tokenizer_load_leaves_an_existing_out_as_it_was(tmp_path, capsys):
    flood = "[" + "".join(chr(0x4E00 + i) for i in range(200)) + "]+"
    profile, study = _case(tmp_path, _split(flood))
    (tmp_path / "o").mkdir()
    argv = _argv(tmp_path, study, profile)
    refused(argv, tmp_path, capsys, "name over", "tok")
    assert list((tmp_path / "o").iterdir()) == []


def test_a_run_into_an_existing_out_that_fails_keeps_what_was_there(tmp_path, capsys):
    """The control: a folder that was there stays; only the run's own files go. (A folder of
    other files is not written into at all: ``test_hostile_round14_results.py``.)"""
    flood = "[" + "".join(chr(0x4E00 + i) for i in range(200)) + "]+"
    profile, study = _case(tmp_path, _split(flood))
    (tmp_path / "o").mkdir()
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "name over")
    assert (tmp_path / "o").is_dir() and not list((tmp_path / "o").iterdir())


def test_train_removes_a_copied_tokenizer_it_then_refuses(tmp_path):
    from suite.cli.commands import _discard_refused_tokenizer

    out = tmp_path / "a" / "out"
    (out / "tokenizer").mkdir(parents=True)
    (out / "tokenizer" / "tokenizer.json").write_text("{}")
    other = SpecError(tmp_path / "recipe.yaml", "models.target.steps", 0, "bad")
    _discard_refused_tokenizer(other, out, tmp_path / "a")  # the control: another input refused
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    err = SpecError(str(out / "tokenizer"), "tokenizer", "x", "refused")
    _discard_refused_tokenizer(err, out, tmp_path / "a")
    assert not (tmp_path / "a").exists() and tmp_path.is_dir()


def test_train_refusing_a_copied_tokenizer_while_encoding_leaves_no_out(
    tmp_path, monkeypatch, capsys
):
    """The command end to end: the copied tokenizer is refused at its first training texts."""
    from suite.cli import main
    from tests.test_hostile_round9 import RECIPES

    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.parent.mkdir()
    source = (RECIPES.parent / "llama" / "tokenizer").resolve()
    text = (RECIPES / "t5.yaml").read_text()
    assert "copy_from: ../llama/tokenizer" in text
    recipe.write_text(text.replace("copy_from: ../llama/tokenizer", f"copy_from: {source}"))
    monkeypatch.setattr(prompts, "MAX_IDS_PER_CHAR", 0)  # every text now gives too many ids
    monkeypatch.setattr(prompts, "MAX_IDS_EXTRA", 0)
    out = tmp_path / "made" / "out"
    argv = ["train", "--recipe", str(recipe), "--out", str(out), "--only", "tokenizer", "draft"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    # refused with the recipe since round 18 (the copy's source, before --out is made)
    assert "tokenizer: field 'tokenizer'" in err and "training text, over 0 a char" in err
    assert not (tmp_path / "made").exists()
    assert Path(source / "tokenizer.json").is_file()  # the source is never touched


def test_every_repeat_is_sampled_however_many_come_first():
    """Units were collected until 32: a slow repeat after 32 others was never probed."""
    from suite.tokenizer_probes import _repeat_units, _sre_parse

    others = "".join(f"{chr(0x4E00 + i)}+" for i in range(40))
    units = _repeat_units(_sre_parse.parse(f"(?:(?!a)[a-z]0)+d|{others}"))
    assert any(re.fullmatch("(?:(?!a)[a-z]0)+", unit * 3) for unit in units)
    assert set(others[::2]) <= set(units)


def test_other_members_of_a_class_are_probed_in_runs(tmp_path, monkeypatch):
    """(Round 12.) Only a class's first member and a range's ends and middle were probed: the
    run of ``e`` in ``[^cdf][c-f]+z``, and of ``bc`` in ``[^xc]c(?:[xb]c)+d``, never was."""
    from suite.tokenizer_probes import pattern_chars

    assert "e" in pattern_chars("[^cdf][c-f]+z")
    assert {"xc", "bc"} <= set(pattern_chars("[^xc]c(?:[xb]c)+d"))
    # a character both classes hold, however many points of the range the prefix excludes
    assert "d" in pattern_chars("[^abcmxyz][a-z]+7")
    assert "ac" in pattern_chars("[^bx]c(?:[a-z]c)+d")
    monkeypatch.setattr(tokenizer_timing, "RUN", SLOW_RUN)
    _case(tmp_path, _split("[^cdf][c-f]+z"))
    with pytest.raises(SpecError, match=r"on a run of 32,768 × 'e'"):
        load_tokenizer(tmp_path / "tok")


def test_a_prompt_past_what_the_measured_time_allows_is_refused_at_once(monkeypatch):
    """The text cap extrapolates the probes to half the prompt deadline: a prompt it admits ends
    within the deadline, and a longer one is refused before the tokenizer runs."""
    from suite.tokenizer_timing import PROMPT_SECONDS, RUN, regex_text_limit

    assert PROMPT_SECONDS <= prompts.ENCODE_SECONDS / 2
    assert regex_text_limit(0.28) == int(RUN * (PROMPT_SECONDS / 0.28) ** 0.5) < 60_000


def test_a_tokenizer_that_erases_the_training_text_is_refused():
    """(Round 12.) A normalizer replacing every character with nothing: a draft was trained on
    no tokens and recorded a held-out loss of 0."""
    texts = ["Janet sells eggs at the market."] * 200
    assert len(prompts.encode_texts(_Stand("some", ids=1), texts)) == 200  # the control
    with pytest.raises(SpecError, match=r"gives 0 ids for 6,200 characters of training text"):
        prompts.encode_texts(_Stand("none", ids=0), texts)
    assert prompts.encode_texts(_Stand("short", ids=0), ["  "]) == [[]]  # short: may give none


def test_a_case_folded_character_is_probed(tmp_path):
    """(Round 12.) Under ``(?i)`` Oniguruma matches ``ß`` with ``ss``: a run of ``s`` was never
    probed (only one-character case swaps were)."""
    from suite.tokenizer_probes import pattern_chars

    assert {"ss", "s", "SS"} <= set(pattern_chars("(?i)[^ß]ß+z"))
    _case(tmp_path, _split("(?i)[^ß]ß+z"))
    with pytest.raises(SpecError, match=r"on a run of [\d,]+ × '(s|ss|S|SS)'"):
        load_tokenizer(tmp_path / "tok")


def test_a_long_literal_repeat_is_sampled_whole(tmp_path):
    """(Round 12.) Samples were cut at 64 characters, so a repeat of a 70-character literal was
    refused as if it held a lookaround: good input refused."""
    from suite.tokenizer_probes import _repeat_units, _sre_parse

    literal = "abcdefghij" * 7
    assert list(_repeat_units(_sre_parse.parse(f"(?:{literal})+x"))) == [literal]
    _case(tmp_path, _split(f"(?:{literal})+x"))
    assert load_tokenizer(tmp_path / "tok") is not None
