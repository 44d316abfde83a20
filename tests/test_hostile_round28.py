"""Inputs of the twenty-eighth attack: KD responses no sampling makes, checkpoint losses no
training makes, and a loss scaler in a float32 checkpoint. Each case failed on the commit
before its fix."""

from __future__ import annotations

import json

import pytest

from suite.errors import SpecError


def _kd_cache_with_eos(tmp_path):
    import torch

    from suite.distill.offline import KDRequest, generate_kd_data
    from tests.models import tiny_llama

    target = tiny_llama(vocab=8)
    request = KDRequest("a" * 64, "gsm8k", 0.5, 1, 4, 0, 7, chunk_size=2)  # EOS is id 7
    prompts = [[1, 2], [3, 4], [5, 6]]
    torch.manual_seed(0)
    generate_kd_data(target, prompts, request, cache_root=tmp_path / "kd")
    (final,) = (tmp_path / "kd").glob("*/data.json")
    return final, lambda: generate_kd_data(target, prompts, request, cache_root=tmp_path / "kd")


@pytest.mark.parametrize(
    "response", [[5], [7, 5, 5], [5, 7, 5, 5]], ids=["short-without-eos", "after-eos", "mid-eos"]
)
def test_a_kd_response_no_sampling_makes_is_refused(response, tmp_path):
    final, again = _kd_cache_with_eos(tmp_path)
    again()  # the control: the cache as sampled is read
    data = json.loads(final.read_text())
    data["responses"][0] = response
    final.write_text(json.dumps(data))
    with pytest.raises(SpecError, match="not a sampled response"):
        again()


@pytest.mark.parametrize(
    ("losses", "scaler"),
    [([1.7e308], None), ([-5.0], None), (None, {})],
    ids=["huge-loss", "negative-loss", "empty-scaler-in-float32"],
)
def test_a_checkpoint_state_no_training_makes_is_refused(losses, scaler, tmp_path):
    from tests.test_hostile_round24 import _resumable

    resume, ckpt = _resumable(tmp_path)
    state = json.loads((ckpt / "state.json").read_text())
    if losses is not None:
        state["losses"] = losses
    if scaler is not None:
        state["scaler"] = scaler
    (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert err.value.field in ("losses", "scaler"), str(err.value)
