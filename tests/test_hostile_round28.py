"""Inputs of the twenty-eighth attack: KD responses no sampling makes, checkpoint losses no
training makes, a loss scaler in a float32 checkpoint, lm-eval model_args in JSON or in a
--config file lm-eval reads otherwise than the check did, a manifest interval that does not
hold its α̂, and (a good input) an upper-case https scheme. Each case failed on the commit
before its fix; the controls, and guards of forms refused already (a tag, a hex seed, 40
digits), passed there."""

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


# lm-eval model_args in its JSON form, and --config files read as lm-eval reads them.


@pytest.mark.parametrize(
    "given",
    ['{"target": "t", "temperature": 1e-400}', '{"num_draft_tokens": "٤"}', '{"seed": "²"}',
     '{"temperature": 0.5, "temperature": 1e-400}', '{"temperature": NaN}',
     '{"temperature": "1e-400"}', '  {"seed": 1_0}', '{"temperature":'],
    ids=["underflow", "arabic-digit", "superscript", "repeated-key", "nan", "as-text",
         "leading-space", "not-json"],
)  # fmt: skip
def test_lm_eval_json_model_args_are_read_as_written(given, tmp_path, capsys):
    from tests.hostile import refused

    argv = ["lm-eval", "run", "--model", "specdec", "--model_args", given,
            "--tasks", "x", "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "model_args")


_CONFIGS = {
    "repeated-key": "model: specdec\nmodel_args: {target: t}\n"
    "model_args: {target: t, temperature: 1e-400}\n",
    "merge-key": "model: specdec\nmodel_args:\n  <<: {temperature: 1e-400}\n  target: t\n",
    "tagged": "model: specdec\nmodel_args: {target: t, temperature: !!float 1e-400}\n",
    "hex-seed": "model: specdec\nmodel_args: {target: t, seed: 0x10}\n",
    "too-large": "model: specdec\n#" + "x" * (1 << 20) + "\nmodel_args: {temperature: 0.5}\n",
}


@pytest.mark.parametrize("name", list(_CONFIGS))
def test_an_lm_eval_config_is_read_as_lm_eval_reads_it(name, tmp_path, capsys):
    from tests.hostile import refused

    config = tmp_path / "c.yaml"
    config.write_text(_CONFIGS[name], encoding="utf-8")
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x",
            "--output_path", str(tmp_path / "o")]  # fmt: skip
    # a merge key is refused whole since round 41 (PyYAML copied its keys in unchecked)
    shown = {"too-large": "c.yaml", "merge-key": "merge key (<<)"}.get(name, "model_args")
    refused(argv, tmp_path, capsys, shown)


def test_good_model_args_in_each_form_pass_the_check(tmp_path):
    from suite.lm_eval_args import check_numbers_as_written, read_config

    config = tmp_path / "c.yaml"
    config.write_text("model_args: {temperature: 0.5, seed: 3, target: t}\n")
    read = read_config(str(config))["model_args"]
    assert read == {"temperature": "0.5", "seed": "3", "target": "t"}  # numbers as written
    for args in (read, '{"temperature": 0.5, "seed": 3, "num_draft_tokens": "4"}',
                 "temperature=0.5,seed=3"):  # fmt: skip
        check_numbers_as_written(args)


@pytest.mark.parametrize("text", ["٤", "²", "1" * 40, " 4\n"])
def test_a_model_arg_integer_text_is_ascii_digits(text):
    from suite.lm_eval_model import _int_arg

    if text == " 4\n":
        assert _int_arg(text, "num_draft_tokens", 1, 16) == 4  # the control
        return
    with pytest.raises(ValueError, match="specdec: num_draft_tokens must be an integer"):
        _int_arg(text, "num_draft_tokens", 1, 16)


# A manifest's interval, and a fetch URL's scheme.


@pytest.mark.parametrize(
    "ci95", [[0.9, 0.1], [0.0, 0.01], [0.99, 1.0], [0.1, 1.5], [0.1], "x", [None, 0.5]],
    ids=["inverted", "below-alpha", "above-alpha", "above-one", "one-bound", "text", "null"],
)  # fmt: skip
def test_bundle_tables_refuses_an_interval_that_does_not_hold_its_alpha(ci95, tmp_path, capsys):
    from tests.hostile import refused
    from tests.test_hostile_round21 import _bundle

    def edit(artifacts, copy):
        cell = artifacts["llama/draft"]["acceptance"]["alpaca"]["0.0"]
        assert cell["ci95"][0] <= cell["alpha"] <= cell["ci95"][1]  # as measured
        cell["ci95"] = ci95

    refused(_bundle(tmp_path, edit), tmp_path, capsys, "MANIFEST.json", "llama/draft.acceptance")


def test_bundle_tables_reads_the_manifests_own_intervals(tmp_path, capsys):
    from suite.cli import main
    from tests.test_hostile_round21 import _bundle

    assert main(_bundle(tmp_path, lambda artifacts, copy: None)) == 0


def test_fetch_takes_an_upper_case_https_scheme(tmp_path):
    import hashlib
    import io

    import yaml

    from suite.fetch import fetch

    body = b'{"a": 1}'
    entry = {"path": "toy/a.json", "url": "HTTPS://example.org/a.json",
             "sha256": hashlib.sha256(body).hexdigest()}  # fmt: skip
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"files": [entry]}))
    seen = []
    opener = lambda url, timeout: seen.append(url) or io.BytesIO(body)  # noqa: E731
    fetch(tmp_path / "dest", sources, opener=opener)
    assert seen == [entry["url"]] and (tmp_path / "dest" / "toy" / "a.json").read_bytes() == body
