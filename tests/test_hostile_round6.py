"""Inputs of the sixth attack that reached a traceback, an abort or a wrong acceptance, each
refused now naming the file, the field and the value:

* ``generate`` and ``bench`` tokenized prompts without the run's caps: a tokenizer named beside a
  model gave an id past its logits (an IndexError), a 117,000-character prompt ran for minutes;
* a submitted config whose key-value heads do not divide its attention heads passed ``check``
  and failed inside ``submit``;
* a BPE model naming an unknown token it lacks, BPE dropout (tokenization at random) and added
  tokens sharing ids passed the profile check;
* a case-insensitive regex (``(?i)ffi`` matches the one-character ligature) was bounded by
  Python's reading of its width."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from suite.cli import main
from suite.errors import SpecError
from suite.models import load_model, load_tokenizer
from suite.prompts import _encode
from tests.hostile import refused
from tests.test_hostile_round5_tokenizers import _argv
from tests.test_hostile_tokenizer_ids import LLAMA, _case
from tests.test_submissions import _copy, _json_edit, _profile, tiny  # noqa: F401 (a fixture)


def _janet_past_the_logits(folder):
    """The bundled tokenizer with ``Janet`` an added token of id 9,000 (the target has 4,096)."""
    shutil.copytree(LLAMA / "tokenizer", folder)
    data = json.loads((folder / "tokenizer.json").read_text())
    data["added_tokens"].append({
        "id": 9000, "content": "Janet", "single_word": False, "lstrip": False, "rstrip": False,
        "normalized": False, "special": False,
    })  # fmt: skip
    (folder / "tokenizer.json").write_text(json.dumps(data))
    return folder


def _generate(*args):
    target, draft = str(LLAMA / "target"), str(LLAMA / "draft")
    return ["generate", *args, "--target", target, "--draft", draft, "--max-new-tokens", "2"]


def test_generate_refuses_a_tokenizer_id_past_the_targets_logits(tmp_path, capsys):
    tok = _janet_past_the_logits(tmp_path / "tok")
    argv = _generate("Janet sells eggs", "--tokenizer", str(tok))
    refused(argv, tmp_path, capsys, str(tok), "tokenizer", "outside the model's 4,096 logits")


def test_generate_caps_the_prompt_as_a_run_does(tmp_path, capsys):
    refused(_generate("Janet sells eggs. " * 6500), tmp_path, capsys, "over 65,582")
    refused(_generate("Janet sells eggs. " * 300), tmp_path, capsys, "over 1,024")


def test_bench_prompts_are_checked_against_the_target(tmp_path):
    from suite import bench

    tokenizer = load_tokenizer(_janet_past_the_logits(tmp_path / "tok"))
    target = load_model(LLAMA / "target")
    with pytest.raises(SpecError, match="outside the model's 4,096 logits"):
        bench.task_prompts(tokenizer, 1, ("gsm8k",), target)  # "Janet's ducks lay 16 eggs"
    control = bench.task_prompts(load_tokenizer(LLAMA / "tokenizer"), 2, ("gsm8k",), target)
    assert len(control) == 2 and all(0 < len(ids) < 1024 for ids in control)


def test_controls_generate_runs_with_the_bundled_pair(capsys):
    assert main(_generate("What is 2+2?")) == 0
    assert '"tokens_emitted": 2' in capsys.readouterr().err


def _kv_heads(folder):
    """Three key-value heads for two attention heads, the k and v weights cut to match."""
    model = folder / "model"
    _json_edit(model / "config.json", lambda c: c.update(num_key_value_heads=3))
    path = next(model.glob("*.safetensors"))
    tensors = load_file(path)
    for name, tensor in list(tensors.items()):
        if name.endswith(("k_proj.weight", "v_proj.weight")):
            tensors[name] = tensor.new_zeros((48, tensor.shape[1]))
    save_file(tensors, path, metadata={"format": "pt"})


def test_kv_heads_that_do_not_divide_the_heads_are_refused_by_check(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _kv_heads(folder)
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "config.json", "forward pass", "RuntimeError")
    control = _copy(tiny, tmp_path / "control")
    assert main(["submissions", "check", str(control), "--profile", _profile(tiny)]) == 0


def _bpe_unk(data, config):
    data["model"]["unk_token"] = "<nope>"


def _dropout(data, config):
    data["model"]["dropout"] = 0.5


def _shared_id(data, config):
    data["added_tokens"].append({**data["added_tokens"][0], "content": "<|other|>"})


def _case_folded(data, config):
    data["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"String": "e"}, "content": "\ufb03"},
        *[{"type": "Replace", "pattern": {"Regex": "(?i)ffi"}, "content": "\ufb03" * 3}] * 4,
    ]}  # fmt: skip


CASES = [
    ("bpe-unknown-token-missing", _bpe_unk, "model.unk_token", "<nope>"),
    ("bpe-dropout", _dropout, "model.dropout", "0.5", "at random"),
    ("added-tokens-sharing-an-id", _shared_id, "added_tokens[2].id", "added_tokens[0]"),
    ("case-folded-regex", _case_folded, "normalizer.normalizers[4].content", "405-fold"),
]


@pytest.mark.parametrize("case", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_tokenizer_the_sixth_attack_passed_is_refused_at_profile_read(tmp_path, capsys, case):
    change, *expected = case
    profile, study = _case(tmp_path, change)
    refused(
        _argv(tmp_path, study, profile), tmp_path, capsys, "p.yaml", "tokenizer.json", *expected
    )


def _split(pattern):
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}


def _quadratic(data, config):
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        _split("(?: |\t)+(?:x|y)"), data["pre_tokenizer"]]}  # fmt: skip


def _linear(data, config):
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        _split(r"'s|'t| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"),
        data["pre_tokenizer"]]}  # fmt: skip


def test_a_regex_quadratic_on_long_runs_is_refused_when_the_tokenizer_loads(tmp_path, capsys):
    """0.45 s on 8,192 spaces for the quadratic pattern (a 60,000-space chat prompt ran past
    a minute); GPT-2's pattern, linear, loads and encodes as before."""
    profile, study = _case(tmp_path, _quadratic)
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "tokenizer.json",
            "pre_tokenizer.pretokenizers[0]", "quadratic", "8,192 × ' '")  # fmt: skip
    _case(tmp_path / "ok", _linear)
    tokenizer = load_tokenizer(tmp_path / "ok" / "tok")
    assert tokenizer("Janet sells 16 eggs.")["input_ids"]


def _many_regexes(data, config):
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        *[_split(f"x{i}") for i in range(9)], data["pre_tokenizer"]]}  # fmt: skip


def _many_steps(data, config):
    keep = {"type": "Replace", "pattern": {"String": "q"}, "content": "q"}
    data["decoder"] = {"type": "Sequence", "decoders": [data["decoder"], *[keep] * 64]}


@pytest.mark.parametrize(
    "change, expected",
    [(_many_regexes, "at most 8 regexes"), (_many_steps, "at most 64 steps")],
    ids=["nine-regexes", "sixty-five-decoder-steps"],
)
def test_a_tokenizer_of_too_many_regexes_or_steps_is_refused(tmp_path, capsys, change, expected):
    profile, study = _case(tmp_path, change)
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "p.yaml", "tokenizer.json", expected)


def test_an_additional_special_token_outside_the_vocabulary_is_refused(tmp_path, capsys):
    """transformers would give ``<zz>`` a new id past the target's logits; the run refused later
    naming no file."""

    def change(data, config):
        config["additional_special_tokens"] = ["<|endoftext|>", "<zz>"]

    profile, study = _case(tmp_path, change)
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "tokenizer_config.json",
            "additional_special_tokens[1]", "<zz>", "not a token")  # fmt: skip


def test_a_spec_of_too_many_answer_patterns_is_refused(tmp_path, capsys, monkeypatch):
    import yaml

    from suite.specs import MAX_ANSWER_PATTERNS
    from tests.test_hostile_round5_data import _spec

    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "data"))
    folder = _spec(tmp_path, {"test": {"files": ["toy/t0.jsonl"]}})
    spec = yaml.safe_load((folder / "toy.yaml").read_text())
    pattern = spec["answer"]["patterns"][0]
    spec["answer"]["patterns"] = [dict(pattern) for _ in range(MAX_ANSWER_PATTERNS + 1)]
    (folder / "toy.yaml").write_text(yaml.safe_dump(spec))
    argv = ["tasks", "toy", "--show", "0", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "toy.yaml", "answer.patterns", "33 patterns", "at most 32")
    spec["answer"]["patterns"] = [dict(pattern) for _ in range(MAX_ANSWER_PATTERNS)]
    (folder / "toy.yaml").write_text(yaml.safe_dump(spec))
    assert main(argv) == 0


def _normalizer_tail(data, config):
    data["normalizer"] = {"type": "Replace", "pattern": {"Regex": " +$"}, "content": " "}


def _decoder_tail(data, config):
    replace = {"type": "Replace", "pattern": {"Regex": "(?: |\t)+(?:x|y)"}, "content": ""}
    data["decoder"] = {"type": "Sequence", "decoders": [replace, data["decoder"]]}


@pytest.mark.parametrize(
    "change, chain",
    [(_normalizer_tail, "normalizer"), (_decoder_tail, "decoder")],
    ids=["normalizer-run-then-letter", "decoder-run"],
)
def test_a_quadratic_normalizer_or_decoder_regex_is_refused_at_load(tmp_path, change, chain):
    _case(tmp_path, change)
    with pytest.raises(SpecError, match=r"this step takes .* quadratic") as err:
        load_tokenizer(tmp_path / "tok")
    assert err.value.field.startswith(chain), err.value.field


def test_the_timing_probes_read_escapes_ranges_properties_and_case():
    from suite.tokenizer_probes import pattern_chars

    assert {"q", "r"} <= set(pattern_chars(r"\x71+\x72"))
    assert {"\u0400", "\u04ff"} <= set(pattern_chars(r"[\u0400-\u04ff]+x"))
    assert "\u13a0" in pattern_chars(r"\p{Cherokee}+x")  # the first Cherokee letter
    assert "Q" in pattern_chars(r"(?i)q+r")


def _escaped(data, config):
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        _split(r"\x71+\x72"), data["pre_tokenizer"]]}  # fmt: skip


def test_a_quadratic_regex_spelled_with_escapes_is_refused_at_load(tmp_path):
    _case(tmp_path, _escaped)
    with pytest.raises(SpecError, match=r"8,192 × 'q'.* quadratic"):
        load_tokenizer(tmp_path / "tok")


def test_a_posix_bracket_prints_no_python_warning(recwarn):
    from suite.tokenizer_files import tokenizer_regex_problem
    from suite.tokenizer_probes import pattern_chars

    tokenizer_regex_problem("[[:alpha:]]+")
    pattern_chars("[[:alpha:]]+x")
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def _pairs(data, config):
    """Each Q becomes 8 characters of ``bcbc…``, scanned by 8 steps quadratic on such runs that
    stay under the probe's limit (27 ms on 8,192 characters each)."""
    data["normalizer"] = {"type": "Replace", "pattern": {"String": "Q"}, "content": "bc" * 4}
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        *[_split("(?:bc)+d")] * 8, data["pre_tokenizer"]]}  # fmt: skip


def test_a_prompt_that_mildly_quadratic_steps_would_scan_for_minutes_is_refused(
    tmp_path, monkeypatch
):
    """A 32,000-character prompt made 256,000 characters of ``bcbc…``: under the 256 Ki cap, it
    ran past a minute; the steps' measured time, extrapolated as quadratic, refuses it. (The
    probe limit is raised here, so that a loaded machine cannot refuse the steps at load.)"""
    from suite import tokenizer_timing
    from suite.tokenizer_files import tokenizer_regex_seconds
    from suite.tokenizer_probes import pattern_chars
    from suite.tokenizer_timing import regex_text_limit

    monkeypatch.setattr(tokenizer_timing, "MAX_SECONDS", 1.0)

    assert "bc" in pattern_chars("(?:bc)+d")  # a repeat's unit is probed as a run
    _case(tmp_path, _pairs)
    tokenizer = load_tokenizer(tmp_path / "tok")
    seconds = tokenizer_regex_seconds(tokenizer)
    assert regex_text_limit(seconds) < 256_000, seconds
    with pytest.raises(SpecError, match="characters; refused"):
        _encode(tokenizer, "Q" * 32_000, chars=10**6)
    assert _encode(tokenizer, "Q" * 100, chars=10**6)  # a short prompt passes


def test_the_regex_text_limit_extrapolates_quadratically():
    from suite.tokenizer_timing import PROMPT_SECONDS, RUN, regex_text_limit

    assert regex_text_limit(0.0) > 10**12
    assert regex_text_limit(PROMPT_SECONDS) == RUN
    assert regex_text_limit(PROMPT_SECONDS / 4) == 2 * RUN
