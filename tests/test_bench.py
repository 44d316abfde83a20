"""The benchmark's JSON on tiny models: its structure, counts, and ratios of the stored times."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch
from transformers import LlamaForCausalLM

from suite import bench, bench_pairs

K, N = 3, 6
TINY_TARGET = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
TINY_DRAFT = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
}


def _args(out, **overrides):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    argv = [
        "--out",
        str(out),
        "--prompts",
        "1",
        "--max-new-tokens",
        str(N),
        "--num-draft-tokens",
        str(K),
    ]
    args = parser.parse_args(argv)
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    target, draft = bench_pairs.random_pair(
        vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=0
    )
    assert bench.run(_args(out), pair=(target, draft, {"kind": "tiny"}, None)) == 0
    latest = json.loads((out / "latest.json").read_text())
    stamped = [p for p in out.iterdir() if p.name.startswith("bench-")]
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text()) == latest
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    return latest


def test_json_records_setup_machine_and_pair(result):
    assert result["num_draft_tokens"] == K and result["max_new_tokens"] == N
    assert result["prompts"] == 1 and len(result["prompt_seeds"]) == 1
    assert 16 <= result["prompt_lengths"][0] <= 32
    assert {"platform", "cpu_count", "torch", "transformers", "torch_threads"} <= set(
        result["machine"]
    )
    pair = result["pair"]
    assert pair["kind"] == "tiny"
    assert pair["target"]["parameters"] > pair["draft"]["parameters"] > 0
    assert pair["target"]["config"]["hidden_size"] == 32
    assert result["assisted_generation"]["draft_generation_config"] == {
        "num_assistant_tokens": K,
        "num_assistant_tokens_schedule": "constant",
        "assistant_confidence_threshold": 0.0,
    }
    assert [row["temperature"] for row in result["temperatures"]] == [0.0, 1.0]


def test_every_method_emits_max_new_tokens_and_counts_its_forwards(result):
    for row in result["temperatures"]:
        runs = {r["method"]: r for r in row["runs"]}
        assert set(runs) == set(bench.METHODS)
        for run in runs.values():
            assert run["tokens"] == N
        assert runs["target"]["target_forwards"] == N
        assert runs["target"]["draft_forwards"] == 0
        for name in ("speculative", "assisted"):
            run = runs[name]
            # One target forward per step, one draft forward per drafted token, for both.
            assert run["target_forwards"] == run["steps"]
            assert run["draft_forwards"] == run["proposed"] <= K * run["steps"]
            assert run["tokens"] == run["steps"] + run["accepted"]
            assert 0 <= run["accepted"] <= run["proposed"]


def test_ratios_are_quotients_of_the_stored_times(result):
    for row in result["temperatures"]:
        methods = row["methods"]
        for name, entry in methods.items():
            runs = [r for r in row["runs"] if r["method"] == name]
            assert entry["total_seconds"] == pytest.approx(sum(r["seconds"] for r in runs))
            assert entry["tokens"] == sum(r["tokens"] for r in runs)
            assert entry["ms_per_token"] == pytest.approx(
                1000 * entry["total_seconds"] / entry["tokens"]
            )
        a, b, c = (methods[m]["ms_per_token"] for m in bench.METHODS)
        assert row["speedup_measured"] == pytest.approx(a / b)
        assert row["assisted_over_ours"] == pytest.approx(c / b)
        ours = methods["speculative"]
        assert ours["acceptance_rate"] == pytest.approx(ours["accepted"] / ours["proposed"])
        assert ours["mean_accepted_length"] == pytest.approx(1 + ours["accepted"] / ours["steps"])
        cost = row["cost_ratio"]
        assert cost["cost_ratio"] == pytest.approx(cost["draft_seconds"] / cost["target_seconds"])
        assert ours["accepted"] <= ours["judged"] <= ours["proposed"]
        assert ours["judged_acceptance_rate"] == pytest.approx(ours["accepted"] / ours["judged"])
        alpha, c_ratio = ours["judged_acceptance_rate"], cost["cost_ratio"]
        mal = sum(alpha**i for i in range(K + 1))
        assert row["speedup_predicted"] == pytest.approx(mal / (K * c_ratio + 1))
        assert row["measured_over_predicted"] == pytest.approx(
            row["speedup_measured"] / row["speedup_predicted"]
        )
        assert ours["other_seconds"] == pytest.approx(
            ours["total_seconds"] - ours["target_seconds"] - ours["draft_seconds"]
        )
        assert all(math.isfinite(v) for v in (a, b, c, row["speedup_predicted"]))


def test_greedy_outputs_of_all_methods_match_the_target(result):
    greedy = result["temperatures"][0]
    assert greedy["temperature"] == 0.0
    for entry in greedy["methods"].values():
        assert entry["tokens_match_target"] == 1


def test_random_pair_has_one_vocabulary_and_a_tenfold_parameter_ratio():
    def params(shape):
        with torch.device("meta"):
            model = LlamaForCausalLM(bench_pairs._config(shape, bench_pairs.VOCAB_SIZE))
        return sum(p.numel() for p in model.parameters())

    assert params(bench_pairs.TARGET_SHAPE) >= 10 * params(bench_pairs.DRAFT_SHAPE)


def test_target_without_draft_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--target and --draft"):
        bench.run(_args(tmp_path, target=tmp_path))
    assert not list(tmp_path.iterdir())


def test_given_folders_are_loaded_and_named_in_the_json(tmp_path):
    target, draft = bench_pairs.random_pair(
        vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=1
    )
    target.save_pretrained(tmp_path / "target")
    draft.save_pretrained(tmp_path / "draft")
    out = tmp_path / "out"
    argv = ["--out", str(out), "--prompts", "1", "--max-new-tokens", "3", "--temperatures", "1"]
    argv += ["--target", str(tmp_path / "target"), "--draft", str(tmp_path / "draft")]
    assert bench.main(argv) == 0
    pair = json.loads((out / "latest.json").read_text())["pair"]
    assert pair["kind"] == "given"
    assert pair["target_path"] == str(tmp_path / "target")
    assert pair["target"]["parameters"] == sum(p.numel() for p in target.parameters())
