"""Inputs of the thirty-first attack, against the thirtieth round's fixes: optimizer states
whose settings or moments cost unbounded time or memory before they are refused, or that hold
state for no parameter; a config whose buffers grow with the square of its positions; a KD data
folder that is a file; and lm-eval's own number options. Each case failed on the commit before
its fix."""

from __future__ import annotations

import json

import pytest

from tests.hostile import refused
from tests.test_hostile_round30 import _forged, difficulty, forged_report_refused  # noqa: F401


def _resume_forged(tmp_path, edit: str) -> str:
    """A resume from an optimizer state ``edit`` forges, in a subprocess with 3 GB of address
    space and a timeout: the defects were a hang and a memory bomb."""
    from tests.hostile import refused_in_a_subprocess

    setup = f"""
from pathlib import Path
import torch
from tests.test_hostile_round24 import _trained
tmp = Path({str(tmp_path)!r})
resume = _trained(tmp)
path = tmp / "ck" / "optimizer.pt"
state = torch.load(path, weights_only=True)
{edit}
torch.save(state, path)
"""
    return refused_in_a_subprocess(setup, "resume()")[1]


def test_a_group_setting_that_shares_its_parts_is_refused_at_once(tmp_path):
    edit = """
value = [0.9, 0.9]
for _ in range(40):
    value = [value, value]
state["param_groups"][0]["betas"] = value
"""
    out = _resume_forged(tmp_path, edit)
    assert "betas" in out and "delete the checkpoint folder" in out, out


def test_an_expanded_moment_of_another_dtype_is_refused_before_it_is_cast(tmp_path):
    edit = """
for held in state["state"].values():
    held["exp_avg"] = torch.zeros(1, dtype=torch.float64).expand(20000, 20000)
"""
    out = _resume_forged(tmp_path, edit)
    assert "its own values" in out, out


def test_an_optimizer_state_for_no_parameter_is_refused(tmp_path):
    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable
    from tests.test_hostile_round25 import _forge_optimizer

    def edit(state):
        first = next(iter(state["state"].values()))
        state["state"][999] = {k: v.clone() for k, v in first.items()}

    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, edit)
    with pytest.raises(SpecError, match="a parameter the model does not have") as err:
        resume()
    assert err.value.path == ckpt / "optimizer.pt", str(err.value)


def test_a_config_whose_buffers_grow_past_its_weights_is_refused_before_it_is_built(tmp_path):
    """In a subprocess with 3 GB of address space: the mask alone would take 1.6 GB here, and
    10 GB at 100,000 positions, from weights of about a megabyte."""
    from tests.hostile import refused_in_a_subprocess

    setup = f"""
from pathlib import Path
import torch
from safetensors.torch import save_file
from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM
from suite.models import load_causal_lm
config = GPTBigCodeConfig(vocab_size=16, n_positions=40000, n_embd=4, n_layer=1, n_head=1,
                          n_inner=8, bos_token_id=0, eos_token_id=1)
with torch.device("meta"):
    model = GPTBigCodeForCausalLM(config)
folder = Path({str(tmp_path / "m")!r})
folder.mkdir()
weights = {{k: torch.zeros(p.shape) for k, p in model.named_parameters()}}
save_file(weights, str(folder / "model.safetensors"), metadata={{"format": "pt"}})
config.save_pretrained(folder)
"""
    _, text = refused_in_a_subprocess(setup, "load_causal_lm(folder)")
    assert "buffers" in text, text


@pytest.mark.parametrize("which", ["root", "folder"])
def test_a_kd_data_folder_that_is_a_file_is_refused(which, tmp_path):
    import shutil

    from suite.errors import SpecError
    from tests.test_hostile_round29 import _kd_cache_at

    final, again = _kd_cache_at(tmp_path, 1.0)
    folder = final.parent
    target = folder.parent if which == "root" else folder
    shutil.rmtree(target)
    target.write_text("not a folder\n")
    with pytest.raises(SpecError, match="not a folder") as err:
        again()
    assert err.value.path == target, str(err.value)


# lm-eval's number options, read as written.


@pytest.mark.parametrize(
    ("args", "shown"),
    [(["--limit", "inf"], "--limit"), (["--limit", "nan"], "--limit"),
     (["--limit", "1e-400"], "--limit"), (["--limit", "1_0"], "--limit"),
     (["--limit", "-1"], "--limit"), (["--num_fewshot", "-1"], "--num_fewshot"),
     (["--num_fewshot", "1_0"], "--num_fewshot"), (["--seed", "1_0"], "--seed"),
     (["--max_batch_size", "0"], "--max_batch_size"),
     (["--samples", '{"suite_gsm8k": [1e-400]}'], "--samples")],
    ids=["limit-inf", "limit-nan", "limit-underflow", "limit-underscore", "limit-negative",
         "fewshot-negative", "fewshot-underscore", "seed-underscore", "max-batch-zero",
         "samples"],
)  # fmt: skip
def test_lm_eval_number_options_are_read_as_written(args, shown, tmp_path, capsys):
    argv = ["lm-eval", "run", "--model", "specdec", "--model_args", "target=t", "--tasks", "x",
            "--output_path", str(tmp_path / "o"), *args]  # fmt: skip
    refused(argv, tmp_path, capsys, shown, repr(args[1]))


@pytest.mark.parametrize(
    ("text", "key"), [("limit: 1_0\n", "limit"), ("seed: [1_0, 2]\n", "seed"),
                      ("samples: {suite_gsm8k: [0]}\n", "samples")],
)  # fmt: skip
def test_lm_eval_config_numbers_are_read_as_written(text, key, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(text + "model_args: {target: t}\n")
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x",
            "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "c.yaml", key)


@pytest.mark.parametrize("text", ["2", "0.5", "1e-3", "10.0", "1000000000"])
def test_a_good_limit_passes(text):
    from suite.lm_eval_args import _limit

    assert _limit(text) is None


# Results folders: a submit folder is one `submit` writes; a speedup states what it is made of.


def _submitted_draft(records, header):
    import copy

    other = copy.deepcopy(next(r for r in records if r["cell"]["draft"] == "base"))
    other["cell"]["draft"] = "sub-x"
    other["cell"]["draft_facts"] = {"method": "other", "origin": "submission",
                                    "source": "submission.yaml"}  # fmt: skip
    other["key"] = other["key"].replace("/base/", "/sub-x/")
    records.append(other)
    header["study_cells"]["difficulty"].append(other["key"])


def test_a_plain_runs_folder_with_a_forged_submission_is_refused(difficulty, tmp_path, capsys):  # noqa: F811
    folder = _forged(difficulty, tmp_path, _submitted_draft)
    submission = {"name": "x", "draft": "sub-x", "model": "model", "sha256": "c" * 64,
                  "training": {"method": "other"}}  # fmt: skip
    (folder / "submission.json").write_text(json.dumps(submission))
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "run.json", "sub-x")  # fmt: skip


def _no_speculative_seconds(records, header):
    empirical = next(r for r in records if r["cell"]["engine"] == "empirical")
    timing = empirical["timing"]
    timing.pop("speculative_seconds")
    timing["speedup"] = 999.0
    for prompt in timing["per_prompt"]:
        for key in ("speculative_seconds", "draft_seconds", "target_seconds"):
            prompt.pop(key, None)
        prompt["speedup"] = 999.0


def _zero_seconds(records, header):
    empirical = next(r for r in records if r["cell"]["engine"] == "empirical")
    timing = empirical["timing"]
    timing.update(speculative_seconds=0.0, speedup=999.0)
    for prompt in timing["per_prompt"]:
        prompt.update(speculative_seconds=0.0, draft_seconds=0.0, target_seconds=0.0,
                      speedup=999.0)  # fmt: skip


def _no_cost_ratio(records, header):
    analytic = next(r for r in records if r["cell"]["engine"] == "analytic")
    analytic["timing"].pop("cost_ratio")
    analytic["timing"]["projected_speedup"] = analytic["cell"]["num_draft_tokens"] + 1.0


@pytest.mark.parametrize(
    ("edit", "field"),
    [(_no_speculative_seconds, "speculative_seconds"), (_zero_seconds, "speculative_seconds"),
     (_no_cost_ratio, "cost_ratio")],
    ids=["no-speculative-seconds", "zero-seconds", "no-cost-ratio"],
)  # fmt: skip
def test_a_speedup_states_its_clock_readings(edit, field, difficulty, tmp_path, capsys):  # noqa: F811
    forged_report_refused(difficulty, tmp_path, capsys, edit, "cells.jsonl", field)


# Draft facts that contradict each other.


@pytest.mark.parametrize(
    ("facts", "ok"),
    [({"method": "online", "kd_temperature": 1.0, "kd_temperatures": [50.0, 99.0],
       "recipe": True}, False),
     ({"method": "online", "kd_temperature": 1.0, "kd_temperatures": [50.0, 99.0]}, False),
     ({"method": "online", "kd_temperature": None, "recipe": True}, False),
     ({"method": "online", "kd_temperature": 0.6, "kd_temperatures": [0.6]}, True),
     ({"method": "online", "kd_temperature": 0.6}, True),
     ({"method": "online", "kd_temperature": None, "kd_temperatures": [0.5, 1.0],
       "recipe": True}, True)],
    ids=["recipe-and-one", "one-and-others", "recipe-of-none", "one", "one-alone", "recipe"],
)  # fmt: skip
def test_draft_facts_agree_with_each_other(facts, ok):
    from suite.drafts import facts_from_mapping
    from suite.errors import SpecError

    def fail(field, value, message):
        return SpecError("submission.yaml", field, value, message)

    if ok:
        assert facts_from_mapping(facts, fail, "training.").method == "online"
    else:
        with pytest.raises(SpecError, match="kd_temperatures"):
            facts_from_mapping(facts, fail, "training.")
