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
    assert loads_json("[1e308, 1e-400]") == [1e308, 0.0]  # finite, and underflow is zero


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
