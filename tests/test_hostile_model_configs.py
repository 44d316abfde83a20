"""A model folder's config cannot choose code: the kernel and quantizer keys are refused wherever a
model is loaded (a profile's folders too), every model loads with the built-in attention, the
scan for such keys is linear in the JSON's size, and an overflowing number is not infinity."""

from __future__ import annotations

import json
import time

import pytest

from suite.cli import main
from suite.errors import SpecError
from suite.models import ATTENTION, load_model, remote_code_field
from suite.strict import loads_json
from tests.hostile import refused
from tests.models import tiny_llama
from tests.test_submissions import _copy, _profile, tiny  # noqa: F401 (a fixture)


def _saved(tmp_path, **config):
    folder = tmp_path / "draft"
    tiny_llama(vocab=64, hidden=16, layers=1, seed=0).save_pretrained(folder)
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | config))
    return folder


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("attn_implementation", "evil-org/evil-kernel"),
        ("_attn_implementation", "kernels-community/flash-attn3"),
        ("experts_implementation", "evil-org/moe"),
        ("quantization_config", {"quant_method": "bitnet"}),
    ],
)
def test_a_profile_model_naming_code_is_refused_before_transformers(tmp_path, key, value):
    folder = _saved(tmp_path, **{key: value})
    with pytest.raises(SpecError) as err:
        load_model(folder)
    assert "config.json" in str(err.value) and key in str(err.value)


@pytest.mark.parametrize("chosen", ["eager", "sdpa", None])
def test_every_model_loads_with_the_built_in_attention(tmp_path, chosen):
    model = load_model(_saved(tmp_path, attn_implementation=chosen))
    assert model.config._attn_implementation == ATTENTION


def test_the_scan_is_linear_in_the_size_of_the_json():
    big = {"a": [0] * 2_000_000 + [[{"b": {"auto_map": "m.M"}}]]}
    start = time.perf_counter()
    assert remote_code_field(big) == ("a[2000000][0].b.auto_map", "m.M")
    assert time.perf_counter() - start < 5.0  # a quadratic walk takes hours here
    assert remote_code_field({"attn_implementation": "sdpa", "c": [{"d": "eager"}]}) is None


@pytest.mark.parametrize("text", ["1e999", "-1e999", "[1.0e400]", '{"eps": 1E+309}'])
def test_strict_json_refuses_numbers_that_overflow_to_infinity(text):
    with pytest.raises(ValueError, match="must be finite"):
        loads_json(text)
    assert loads_json("[1e308, 5e-324]") == [1e308, 5e-324]  # the largest and the smallest


def test_a_long_json_in_the_model_folder_does_not_stall_the_check(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    (folder / "model" / "notes.json").write_text(json.dumps({"a": [0] * 1_000_000}))
    start = time.perf_counter()
    assert main(["submissions", "check", str(folder), "--profile", _profile(tiny)]) == 0
    assert time.perf_counter() - start < 60.0  # minutes when the scan was quadratic


def test_submit_writes_nothing_when_the_draft_does_not_load(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811
    import suite.models

    def fails(*args, **kwargs):
        raise ImportError("Loading this model requires accelerate")

    folder = _copy(tiny, tmp_path)
    monkeypatch.setattr(suite.models, "load_model", fails)
    out = tmp_path / "out"
    argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out)]
    refused(argv, tmp_path, capsys, "submission.yaml", "model.path", "does not load")
    assert not out.exists()


def _run_argv(root, tmp_path, draft: dict, out, tokenizer=None) -> list[str]:
    """``python -m suite run`` of a one-cell study over the tiny bundle, with ``draft`` as base
    (and ``tokenizer``, a folder, instead of the bundle's)."""
    import yaml

    bundle = root / "bundle"
    profile = yaml.safe_load((root / "profiles" / "smoke.yaml").read_text())
    profile["models"] = {
        "llama": {
            "target": {"path": str(bundle / "target")},
            "tokenizer": {"path": str(tokenizer or bundle / "tokenizer")},
            "drafts": {"base": draft},
        }
    }
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump(profile))
    study = {
        "name": "mini", "title": "Mini", "description": "One cell.", "claims": [1],
        "family": "llama", "engines": ["analytic"],
        "grid": {"datasets": ["gsm8k"], "drafts": ["base"], "decode_temperatures": [1.0],
                 "num_draft_tokens": 2},
    }  # fmt: skip
    (tmp_path / "mini.yaml").write_text(yaml.safe_dump(study))
    return ["run", str(tmp_path / "mini.yaml"), "--profile", str(tmp_path / "smoke.yaml"),
            "--out", str(out), "--quiet"]  # fmt: skip


def _tiny_draft(root, tmp_path, **config):
    import shutil

    folder = tmp_path / "draft"
    shutil.copytree(root / "bundle" / "draft", folder)
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | config))
    return folder


def test_a_run_whose_draft_names_a_kernel_writes_nothing(tiny, tmp_path, capsys):  # noqa: F811
    """The models are checked before the results folder is made (a run.json was left behind)."""
    draft = _tiny_draft(tiny, tmp_path, attn_implementation="evil-org/evil-kernel")
    out = tmp_path / "results" / "out"
    argv = _run_argv(tiny, tmp_path, {"path": str(draft)}, out)
    refused(argv, tmp_path, capsys, "config.json", "attn_implementation", "evil-org/evil-kernel")
    assert not (tmp_path / "results").exists()


def test_a_run_whose_draft_fails_to_load_removes_the_folder_it_made(tiny, tmp_path, capsys):  # noqa: F811
    """A draft that passes the file checks but does not load (a layer its weights lack) fails
    after the results folder was made: the folder, empty of records, is removed."""
    draft = _tiny_draft(tiny, tmp_path, num_hidden_layers=3)
    out = tmp_path / "results" / "out"
    argv = _run_argv(tiny, tmp_path, {"path": str(draft)}, out)
    refused(argv, tmp_path, capsys, "missing keys", "model.layers.2")
    assert not (tmp_path / "results").exists()


def test_a_failed_resume_keeps_the_folder_it_found(tiny, tmp_path, capsys):  # noqa: F811
    """Good-input control for the clean-up: a folder that was there before is left as it was."""
    draft = _tiny_draft(tiny, tmp_path, num_hidden_layers=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = _run_argv(tiny, tmp_path, {"path": str(draft)}, out)
    assert main(argv) == 2
    assert (out / "notes.txt").read_text() == "mine"


def _hub_cache(tmp_path, monkeypatch, config: dict) -> str:
    """A Hub cache holding one model's config.json, offline: as a download would leave it."""
    import huggingface_hub.constants

    commit = "0" * 40
    repo = tmp_path / "hub" / "models--evil-org--model"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return commit


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("quantization_config", {"quant_method": "bitnet"}),
        ("attn_implementation", "evil-org/evil-kernel"),
        ("auto_map", {"AutoModelForCausalLM": "m.M"}),
        ("rms_norm_eps", -1.0),
        ("transformers_weights", "other.safetensors"),
    ],
)
def test_a_hub_model_config_is_scanned_like_a_folders(tmp_path, monkeypatch, key, value):
    commit = _hub_cache(tmp_path, monkeypatch, {"model_type": "llama", key: value})
    for revision in (None, commit):
        with pytest.raises(SpecError) as err:
            load_model("evil-org/model", revision=revision)
        assert err.value.field == key and "models--evil-org--model" in str(err.value)


def test_a_run_whose_hub_draft_names_a_quantizer_writes_nothing(
    tiny,  # noqa: F811
    tmp_path,
    monkeypatch,
    capsys,
):
    _hub_cache(tmp_path, monkeypatch, {"model_type": "llama", "quantization_config": {}})
    out = tmp_path / "results" / "out"
    argv = _run_argv(tiny, tmp_path, {"hub": "evil-org/model"}, out)
    refused(argv, tmp_path, capsys, "models--evil-org--model", "quantization_config", "quantized")
    assert not (tmp_path / "results").exists()


OUTPUT_KEYS = {
    "return_dict": False,
    "output_attentions": True,
    "output_hidden_states": True,
    "use_cache": False,
    "torchscript": True,
}


@pytest.mark.parametrize(("key", "value"), OUTPUT_KEYS.items())
def test_every_model_is_built_with_the_forward_outputs_forced(tmp_path, key, value):
    """Keys that change what forward returns (tuples for "return_dict": false, which the engines
    could not read) are forced to FORWARD_OUTPUTS by the one loader, whatever the config says."""
    import torch

    model = load_model(_saved(tmp_path, **{key: value}))
    out = model(input_ids=torch.tensor([[1, 2, 3]]))
    assert out.logits.shape == (1, 3, 64)
    assert out.attentions is None and out.hidden_states is None
    config = model.config
    assert config.return_dict and config.use_cache and not config.output_hidden_states
    assert not config.output_attentions and not getattr(config, "torchscript", False)


def test_a_run_whose_draft_config_shapes_the_outputs_runs(tiny, tmp_path, capsys):  # noqa: F811
    """Good input: a draft whose config asks for tuples and attentions runs like any other
    (it made the run fail with an AttributeError traceback)."""
    draft = _tiny_draft(tiny, tmp_path, **OUTPUT_KEYS)
    out = tmp_path / "out"
    assert main(_run_argv(tiny, tmp_path, {"path": str(draft)}, out)) == 0, capsys.readouterr()
    assert (out / "cells.jsonl").read_text().count("\n") == 1


YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "original_max_position_embeddings": 256}


@pytest.mark.parametrize(
    ("config", "field", "value"),
    [
        ({"rms_norm_eps": -1.0}, "rms_norm_eps", "-1.0"),
        ({"rope_parameters": {"rope_type": "default", "rope_theta": 0.0}},
         "rope_parameters.rope_theta", "0.0"),
        ({"rope_parameters": YARN | {"factor": 1e308}}, "rope_parameters.factor", "1e+308"),
        # transformers only warns that this is invalid, then builds the model anyway
        ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                              "low_freq_factor": 1.0, "high_freq_factor": 1.0,
                              "original_max_position_embeddings": 8}},
         "rope_parameters", "high_freq_factor field must be greater"),
    ],
)  # fmt: skip
def test_a_run_whose_draft_config_is_out_of_range_writes_nothing(
    tiny,  # noqa: F811
    tmp_path,
    capsys,
    config,
    field,
    value,
):
    """A number out of its range is refused naming config.json before the folder is made: a
    negative epsilon or a zero RoPE base gives NaN logits (the run failed on its first record:
    'alpha must be a number in [0, 1], got nan'); a RoPE factor of 1e308 ran, on no model's
    scale."""
    draft = _tiny_draft(tiny, tmp_path, **config)
    out = tmp_path / "results" / "out"
    argv = _run_argv(tiny, tmp_path, {"path": str(draft)}, out)
    refused(argv, tmp_path, capsys, str(draft / "config.json"), field, value)
    assert not (tmp_path / "results").exists()


def _overflowing(root, tmp_path):
    """The tiny draft with finite weights whose forward overflows: NaN logits on any input."""
    from safetensors.torch import load_file, save_file

    draft = _tiny_draft(root, tmp_path)
    tensors = load_file(draft / "model.safetensors")
    tensors["model.norm.weight"] = tensors["model.norm.weight"].clone().fill_(3e38)
    save_file(tensors, draft / "model.safetensors", metadata={"format": "pt"})
    return draft


def test_a_run_whose_draft_gives_nan_logits_names_it(tiny, tmp_path, capsys):  # noqa: F811
    draft = _overflowing(tiny, tmp_path)
    out = tmp_path / "results" / "out"
    argv = _run_argv(tiny, tmp_path, {"path": str(draft)}, out)
    refused(argv, tmp_path, capsys, str(draft), "field 'model'", "NaN logits")
    assert not (tmp_path / "results").exists()


def test_a_nan_acceptance_rate_names_the_draft(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811
    """NaN logits the short probe does not meet (here: the probe switched off) fail the cell
    naming the draft's folder (where a cell reads them), not with the record check's bare 'alpha
    must be a number', nor as an α of 0 (an argmax of NaN picks a token)."""
    import suite.cells.context

    no_probe = lambda *a, **k: None  # noqa: E731
    monkeypatch.setattr(suite.cells.context, "check_finite_logits", no_probe, raising=False)
    draft = _overflowing(tiny, tmp_path)
    out = tmp_path / "results" / "out"
    argv = _run_argv(tiny, tmp_path, {"path": str(draft)}, out)
    refused(argv, tmp_path, capsys, str(draft), "field 'draft' = 'base'", "NaN or infinite logits")
    assert not (tmp_path / "results").exists()


REDOS = "([a-z ]|[a-z ])*[A-Z]{3}"


def _tokenizer_with(root, tmp_path, pattern: str):
    import shutil

    folder = tmp_path / "tok"
    shutil.copytree(root / "bundle" / "tokenizer", folder)
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text())
    data["normalizer"] = {"type": "Replace", "pattern": {"Regex": pattern}, "content": "x"}
    path.write_text(json.dumps(data))
    return folder


def test_a_profile_tokenizer_regex_is_refused_when_the_profile_is_read(tiny, tmp_path, capsys):  # noqa: F811
    """A regex in tokenizer.json that backtracks without bound made the Rust tokenizer panic
    (pyo3_runtime.PanicException, a BaseException: a traceback) on the first prompt."""
    tok = _tokenizer_with(tiny, tmp_path, REDOS)
    out = tmp_path / "results" / "out"
    argv = _run_argv(tiny, tmp_path, {"path": str(tiny / "bundle" / "draft")}, out, tok)
    expected = ("smoke.yaml", "models.llama.tokenizer.path", str(tok / "tokenizer.json"))
    refused(argv, tmp_path, capsys, *expected, "normalizer.pattern.Regex", REDOS)
    assert not (tmp_path / "results").exists()


def test_a_tokenizer_panic_names_the_tokenizer(tiny, tmp_path):  # noqa: F811
    """A panic inside the Rust tokenizer (here from a tokenizer loaded around the checks) is a
    SpecError naming the tokenizer's folder, not a BaseException that escapes every handler."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from suite.prompts import prompt_ids

    tok = _tokenizer_with(tiny, tmp_path, REDOS)
    tokenizer = AutoTokenizer.from_pretrained(str(tok))
    example = SimpleNamespace(prompt="abc " * 30 + "AB", instruction="abc")  # backtracks
    with pytest.raises(SpecError) as err:
        prompt_ids(tokenizer, example)
    assert str(tok) in str(err.value) and "the tokenizer failed" in str(err.value)


GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def test_real_tokenizer_regexes_pass_and_backtracking_ones_do_not():
    """Good input: the split patterns of GPT-2 and Llama 3 and T5's space normalizer pass (their
    \\p{..} classes and top-level alternatives read as the module says); catastrophic ones and
    syntax the check cannot read are refused."""
    from suite.tokenizer_files import tokenizer_regex_problem

    for good in (GPT2, LLAMA3, " {2,}", r"\p{L}+", ""):
        assert tokenizer_regex_problem(good) is None, good
    for bad in (REDOS, "(a+)+$", r"(\p{L}|\p{N})*!", r"(a)\1", "x" * 300, r"\h+", 7):
        assert tokenizer_regex_problem(bad), bad


def test_the_bundled_and_real_configs_pass_the_value_checks():
    """Good input for the range checks: every bundled config, and Llama 3's RoPE scaling."""
    from suite.config_values import config_value_field
    from tests.models import REPO

    for path in sorted((REPO / "reference").glob("*/*/config.json")):
        assert config_value_field(json.loads(path.read_text())) is None, path
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}  # fmt: skip
    config = {"rope_theta": 500000.0, "rms_norm_eps": 1e-5, "rope_scaling": llama3}
    assert config_value_field(config) is None
