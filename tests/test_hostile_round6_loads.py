"""Inputs that reached a traceback where the run refuses cleanly, each refused now naming the
file, the field and the value, before anything is written:

* ``lm-eval run`` tokenized its prompts raw: a tokenizer giving an id past the target's logits
  was an IndexError inside the decoder;
* a profile asking for ``device: cuda`` on a machine without CUDA was torch's AssertionError;
* a model folder whose config.json gives a parameter another shape than its weights (``run``,
  ``generate --draft``, ``quality --draft``) was transformers' RuntimeError."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from suite.cli import main
from suite.lm_eval_tasks import export_tasks
from suite.models import load_model
from tests.hostile import refused, snapshot
from tests.test_hostile_round5_tokenizers import _argv
from tests.test_hostile_tokenizer_ids import LLAMA, _case
from tests.test_submissions import _copy, _profile, tiny  # noqa: F401 (a fixture)


def _hashes_past_the_logits(folder):
    """The bundled tokenizer with ``###`` (every prompt's first token) given id 9,000: the target
    has 4,096 logits, and the tokenizer still counts 4,096 tokens."""
    shutil.copytree(LLAMA / "tokenizer", folder)
    data = json.loads((folder / "tokenizer.json").read_text())
    data["model"]["vocab"]["###"] = 9000
    (folder / "tokenizer.json").write_text(json.dumps(data))
    return folder


def _lm_eval(tmp_path, tokenizer=LLAMA / "tokenizer"):
    """``lm-eval run`` of one GSM8K prompt over the bundle."""
    tasks = tmp_path / "tasks"
    if not tasks.exists():
        export_tasks(tasks, ["gsm8k"], limit=1)
    model_args = (
        f"target={LLAMA / 'target'},draft={LLAMA / 'draft'},tokenizer={tokenizer},max_new_tokens=4"
    )
    return ["lm-eval", "run", "--model", "specdec", "--model_args", model_args,
            "--include_path", str(tasks), "--tasks", "suite_gsm8k", "--limit", "1"]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_stale_log_handlers():
    """lm-eval adds a handler on the stream pytest captures for one test; removed after it, so
    the next test's run does not log to a closed stream ("--- Logging error ---")."""
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    before = {id(log): list(log.handlers) for log in loggers}
    yield
    for log in [
        logging.getLogger(),
        *map(logging.getLogger, list(logging.root.manager.loggerDict)),
    ]:
        for handler in [h for h in log.handlers if h not in before.get(id(log), [])]:
            log.removeHandler(handler)


def _refused_after_logs(argv, folder, capsys, start: str, *expected: str) -> None:
    """As :func:`tests.hostile.refused`, but the error line comes last, after lm-eval's logs."""
    before = snapshot(folder)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: {start}"), err
    assert all(text in last for text in expected), (expected, last)
    assert snapshot(folder) == before


def test_lm_eval_refuses_a_prompt_id_past_the_targets_logits(tmp_path, capsys):
    tok = _hashes_past_the_logits(tmp_path / "tok")
    expected = "gives id 9,000, outside the model's 4,096 logits"
    argv = _lm_eval(tmp_path, tok)
    _refused_after_logs(argv, tmp_path, capsys, f"{tok}: field 'tokenizer' = ", expected)
    assert main(_lm_eval(tmp_path)) == 0  # control: the bundled tokenizer


def _with_device(profile, device: str):
    lines = profile.read_text().splitlines(keepends=True)
    lines = [f"device: {device}\n" if line.startswith("device:") else line for line in lines]
    profile.write_text("".join(lines))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_cuda_profile_without_cuda_is_refused_before_the_run(tmp_path, capsys):
    profile, study = _case(tmp_path)
    _with_device(profile, "cuda")
    argv = _argv(tmp_path, study, profile)
    refused(argv, tmp_path, capsys, "p.yaml", "field 'device' = 'cuda'", "no CUDA device")
    assert not (tmp_path / "o").exists()
    _with_device(profile, "auto")  # control: auto falls back to the CPU
    assert main(_argv(tmp_path, study, profile)) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_submit_with_a_cuda_profile_without_cuda_writes_nothing(tiny, tmp_path, capsys):  # noqa: F811
    profile = tmp_path / "smoke.yaml"
    profile.write_text(Path(_profile(tiny)).read_text() + "device: cuda\n")
    argv = ["submit", str(_copy(tiny, tmp_path)), "--profile", str(profile)]
    argv += ["--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "smoke.yaml", "field 'device' = 'cuda'", "no CUDA device")
    assert not (tmp_path / "out").exists()


def _draft_edited(folder, **config):
    """A copy of the bundled draft whose config.json says ``config``, its weights unchanged."""
    shutil.copytree(LLAMA / "draft", folder)
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | config))
    return folder


def _wider(folder):
    config = json.loads((LLAMA / "draft" / "config.json").read_text())
    return _draft_edited(folder, intermediate_size=config["intermediate_size"] + 8)


SHAPES = "weights and config disagree on shapes"


def test_a_profile_draft_whose_config_disagrees_with_its_weights_is_refused(tmp_path, capsys):
    profile, study = _case(tmp_path)
    draft = _wider(tmp_path / "wide")
    profile.write_text(profile.read_text().replace(str(LLAMA / "draft"), str(draft)))
    argv = _argv(tmp_path, study, profile)
    err = refused(argv, tmp_path, capsys, str(draft / "config.json"), "mlp", SHAPES)
    assert "[96, 256] in the weights, [96, 264] by the config" in err
    assert not (tmp_path / "o").exists()


def test_generate_refuses_a_draft_whose_vocab_size_disagrees_with_its_weights(tmp_path, capsys):
    draft = _draft_edited(tmp_path / "small", vocab_size=4000)
    argv = ["generate", "hi", "--target", str(LLAMA / "target"), "--draft", str(draft)]
    argv += ["--max-new-tokens", "2"]
    refused(argv, tmp_path, capsys, "embed_tokens", "[4096, 96] in the weights", SHAPES)


def test_quality_refuses_a_draft_whose_config_disagrees_with_its_weights(tmp_path, capsys):
    draft = _wider(tmp_path / "wide")
    argv = ["quality", "--limit", "1", "--temperatures", "0", "--max-gen-toks", "2"]
    argv += ["--draft", str(draft), "--out", str(tmp_path / "q")]
    _refused_after_logs(argv, tmp_path, capsys, str(draft / "config.json"), SHAPES)


def test_controls_the_bundled_draft_loads_its_weights_unchanged():
    model = load_model(LLAMA / "draft")
    weights = load_file(LLAMA / "draft" / "model.safetensors")
    state = model.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in weights.items())


def test_lm_eval_refuses_an_unknown_model_args_key(tmp_path, capsys):
    """lm-eval passes --model_args as keywords: an unknown one was a TypeError traceback."""
    argv = _lm_eval(tmp_path)
    index = argv.index("--model_args") + 1
    argv[index] += ",trust_remote_code=True"
    expected = ("unknown model_args key 'trust_remote_code'", "known: target")
    _refused_after_logs(argv, tmp_path, capsys, "specdec: ", *expected)


def test_lm_eval_takes_a_device_in_model_args(tmp_path, capsys):
    """lm-eval also passes its own device (cuda:0 unless told): both reached the model as one
    keyword twice, a TypeError traceback; --model_args' wins."""
    argv = _lm_eval(tmp_path)
    argv[argv.index("--model_args") + 1] += ",device=cpu"
    assert main(argv) == 0  # before: exit 1, "got multiple values for keyword argument 'device'"
    assert "multiple values" not in capsys.readouterr().err
