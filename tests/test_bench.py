"""The benchmark on tiny models: its JSON's structure, counts and ratios of the stored times, the
best KD draft chosen from training facts, and the best K of the sweep."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics

import pytest
import torch
from transformers import LlamaForCausalLM

from suite import bench, bench_drafts, bench_pairs, bench_summary
from suite.bench_pairs import Pair
from tests.models import REPO, perturbed, tiny_llama

KS, N = [2, 3], 6
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
FAST = [
    "--prompts",
    "1",
    "--max-new-tokens",
    str(N),
    "--cost-rounds",
    "3",
    "--cost-run-time",
    "0.005",
]


def _args(out, *argv, **overrides):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    argv = argv or ("--num-draft-tokens", *map(str, KS))
    args = parser.parse_args(["--out", str(out), *FAST, *argv])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def _rows(result, draft=None, tau=None):
    return [
        r
        for r in result["rows"]
        if (draft is None or r["draft"] == draft) and (tau is None or r["temperature"] == tau)
    ]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    target, draft = bench_pairs.random_pair(
        vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=0
    )
    pair = Pair(target, {"tiny-draft": draft}, {"kind": "tiny"}, None)
    assert bench.run(_args(out), pair=pair) == 0
    latest = json.loads((out / "latest.json").read_text())
    stamped = [p for p in out.iterdir() if p.name.startswith("bench-")]
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text()) == latest
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    return latest


def test_json_records_setup_machine_and_pair(result):
    assert result["num_draft_tokens"] == KS and result["max_new_tokens"] == N
    assert result["prompts"] == 1 and len(result["prompt_seeds"]) == 1
    assert 16 <= result["prompt_lengths"][0] <= 32
    assert {"platform", "cpu_count", "torch", "transformers", "torch_threads"} <= set(
        result["machine"]
    )
    pair = result["pair"]
    assert pair["kind"] == "tiny"
    draft = pair["drafts"]["tiny-draft"]["model"]
    assert pair["target"]["parameters"] > draft["parameters"] > 0
    assert pair["target"]["config"]["hidden_size"] == 32
    for k in KS:
        assert result["assisted_generation"]["draft_generation_config"][str(k)] == {
            "num_assistant_tokens": k,
            "num_assistant_tokens_schedule": "constant",
            "assistant_confidence_threshold": 0.0,
        }
    assert result["temperatures"] == [0.0, 1.0]
    assert [(r["temperature"], r["num_draft_tokens"]) for r in result["rows"]] == [
        (tau, k) for tau in (0.0, 1.0) for k in KS
    ]


def test_cost_ratio_is_the_median_of_paired_blocked_rounds(result):
    for row in result["rows"]:
        cost = result["cost_ratios"][row["draft"]][str(row["temperature"])]
        assert row["cost_ratio"] == {k: v for k, v in cost.items() if k != "timer"}
        timer = cost["timer"]
        assert timer["name"] == "torch.utils.benchmark.Timer.blocked_autorange"
        assert timer["min_run_time"] == 0.005 and timer["rounds"] == 3
        assert len(timer["round_ratios"]) == 3
        assert cost["cost_ratio"] == statistics.median(timer["round_ratios"]) > 0
        for model in ("target", "draft"):
            assert timer[model]["blocks"] >= timer["rounds"]
            assert timer[model]["iqr_seconds"] >= 0
        assert timer["target"]["median_seconds"] == cost["target_seconds"] > 0
        assert timer["draft"]["median_seconds"] == cost["draft_seconds"] > 0
    assert result["cost_timer"]["name"] == "torch.utils.benchmark.Timer.blocked_autorange"


def _all_runs(result, row):
    return result["target_runs"][str(row["temperature"])] + row["runs"]


def test_every_method_emits_max_new_tokens_and_counts_its_forwards(result):
    for row in result["rows"]:
        runs = {r["method"]: r for r in _all_runs(result, row)}
        assert set(runs) == set(bench.METHODS)
        for run in runs.values():
            assert run["tokens"] == N
        assert runs["target"]["target_forwards"] == N
        assert runs["target"]["draft_forwards"] == 0
        k = row["num_draft_tokens"]
        for name in ("speculative", "assisted"):
            run = runs[name]
            assert run["num_draft_tokens"] == k and run["draft"] == "tiny-draft"
            # One target forward per step, one draft forward per drafted token, for both.
            assert run["target_forwards"] == run["steps"]
            assert run["draft_forwards"] == run["proposed"] <= k * run["steps"]
            assert run["tokens"] == run["steps"] + run["accepted"]
            assert 0 <= run["accepted"] <= run["proposed"]


def test_rows_store_their_draft_runs_and_the_target_runs_once_per_temperature(result):
    assert list(result["target_runs"]) == ["0.0", "1.0"]
    for row in result["rows"]:
        assert {r["method"] for r in row["runs"]} == {"speculative", "assisted"}
        assert {(r["draft"], r["num_draft_tokens"]) for r in row["runs"]} == {
            (row["draft"], row["num_draft_tokens"])
        }
    for runs in result["target_runs"].values():
        assert [r["method"] for r in runs] == ["target"] * result["prompts"]


def test_ratios_are_quotients_of_the_stored_times(result):
    for row in result["rows"]:
        methods, k = row["methods"], row["num_draft_tokens"]
        for name, entry in methods.items():
            runs = [r for r in _all_runs(result, row) if r["method"] == name]
            assert entry["total_seconds"] == pytest.approx(sum(r["seconds"] for r in runs))
            assert entry["tokens"] == sum(r["tokens"] for r in runs)
            assert entry["ms_per_token"] == pytest.approx(
                1000 * entry["total_seconds"] / entry["tokens"]
            )
        a, b, c = (methods[m]["ms_per_token"] for m in bench.METHODS)
        assert row["speedup_measured"] == pytest.approx(a / b)
        assert row["speedup_assisted"] == pytest.approx(a / c)
        assert row["assisted_over_ours"] == pytest.approx(c / b)
        ours = methods["speculative"]
        assert ours["acceptance_rate"] == pytest.approx(ours["accepted"] / ours["proposed"])
        assert ours["mean_accepted_length"] == pytest.approx(1 + ours["accepted"] / ours["steps"])
        assert ours["accepted"] <= ours["judged"] <= ours["proposed"]
        assert ours["judged_acceptance_rate"] == pytest.approx(ours["accepted"] / ours["judged"])
        alpha, c_ratio = ours["judged_acceptance_rate"], row["cost_ratio"]["cost_ratio"]
        mal = sum(alpha**i for i in range(k + 1))
        assert row["speedup_predicted"] == pytest.approx(mal / (k * c_ratio + 1))
        assert row["measured_over_predicted"] == pytest.approx(
            row["speedup_measured"] / row["speedup_predicted"]
        )
        assert ours["other_seconds"] == pytest.approx(
            ours["total_seconds"] - ours["target_seconds"] - ours["draft_seconds"]
        )
        assert all(math.isfinite(v) for v in (a, b, c, row["speedup_predicted"]))


def test_greedy_outputs_of_all_methods_match_the_target(result):
    for row in _rows(result, tau=0.0):
        for entry in row["methods"].values():
            assert entry["tokens_match_target"] == 1


def test_sweep_names_the_k_of_the_highest_measured_speedup(result):
    for tau in result["temperatures"]:
        rows = _rows(result, "tiny-draft", tau)
        top = max(r["speedup_measured"] for r in rows)
        best = result["best_num_draft_tokens"]["tiny-draft"][str(tau)]
        winner = next(r for r in rows if r["speedup_measured"] == top)
        assert best["num_draft_tokens"] == winner["num_draft_tokens"]
        assert best["speedup_measured"] == top
        assert best["speedup_by_k"] == {
            str(r["num_draft_tokens"]): r["speedup_measured"] for r in rows
        }
        assert [r["best_k"] for r in rows] == [r is winner for r in rows]
        assert best["at_edge_of_sweep"] is True  # two K values: both are edges
        head = result["headline"]["tiny-draft"][str(tau)]
        assert head == {"num_draft_tokens": best["num_draft_tokens"], "speedup": top}


def _row(k, speedup, assisted=1.0, draft="d", tau=0.0):
    methods = {"speculative": {"judged_acceptance_rate": 0.5}}
    return {
        "draft": draft,
        "temperature": tau,
        "num_draft_tokens": k,
        "speedup_measured": speedup,
        "speedup_assisted": assisted,
        "speedup_predicted": 1.0,
        "methods": methods,
    }


def test_best_k_is_the_argmax_of_measured_speedup_and_ties_go_to_the_smaller_k():
    ks = [1, 2, 4, 8]
    rows = [_row(1, 1.1), _row(2, 1.3, 0.9), _row(4, 1.3, 1.2), _row(8, 0.8)]
    rows += [_row(k, 2.0 - k / 10, draft="e", tau=1.0) for k in ks]
    best = bench_summary.best_k(rows, ks)
    assert best["d"]["0.0"]["num_draft_tokens"] == 2
    assert best["d"]["0.0"]["at_edge_of_sweep"] is False
    assert best["d"]["0.0"]["assisted_num_draft_tokens"] == 4
    assert best["e"]["1.0"]["num_draft_tokens"] == 1 and best["e"]["1.0"]["at_edge_of_sweep"]
    head = bench_summary.headline(best)
    assert head["d"] == {"0.0": {"num_draft_tokens": 2, "speedup": 1.3}, "1.0": None}
    assert head["e"]["1.0"] == {"num_draft_tokens": 1, "speedup": 1.9}


def _draft_folder(family, name, facts, model):
    model.save_pretrained(family / name)
    (family / name / "training.json").write_text(json.dumps(facts))


def _acceptance(**alphas):
    """A manifest acceptance entry: dataset -> alpha at τ_dec 0 (and a higher one at 1.0)."""
    return {ds: {"0.0": {"alpha": a}, "1.0": {"alpha": 0.99}} for ds, a in alphas.items()}


@pytest.fixture
def bundle(tmp_path):
    """A bundle family whose folder names lie: the facts say which drafts are τ_kd = 0."""
    family = tmp_path / "reference" / "llama"
    shutil.copytree(REPO / "reference" / "llama" / "tokenizer", family / "tokenizer")
    target = tiny_llama(vocab=4096, hidden=32, layers=2, seed=0, sharpness=8.0)
    target.save_pretrained(family / "target")
    small = tiny_llama(vocab=4096, hidden=16, layers=1, seed=3)
    _draft_folder(family, "draft", {"artifact": "draft"}, small)
    kd = {"base_draft": "draft", "kd_temperature": 0.0, "seed": 0}
    drafts = {  # name: (facts, α per dataset at τ_dec 0)
        "kd-offline-gsm8k-t0.0-s0": (
            kd | {"method": "offline", "dataset": "gsm8k"},
            {"gsm8k": 0.7},
        ),
        "kd-online-mix-s1": (kd | {"method": "online", "seed": 1}, {"gsm8k": 0.9, "alpaca": 0.6}),
        "kd-online-alpaca-t0.0-s2": (
            kd | {"method": "online", "seed": 2, "dataset": "alpaca"},
            {"alpaca": 0.76},
        ),
        "kd-offline-gsm8k-t0.0": (kd | {"kd_temperature": 1.0}, {"gsm8k": 0.95}),
        "kd-offline-recipe": (kd | {"kd_temperature": None}, {"gsm8k": 0.97}),
    }
    artifacts = {"llama/draft": {"kind": "draft", "path": "llama/draft", "files": {}}}
    for i, (name, (facts, alphas)) in enumerate(drafts.items()):
        _draft_folder(family, name, facts, perturbed(small, 0.1, seed=10 + i))
        artifacts[f"llama/{name}"] = {  # the manifest's shape: bench reads it as verify does
            "kind": "draft",
            "path": f"llama/{name}",
            "files": {},
            "acceptance": _acceptance(**alphas),
        }
    manifest = family.parent / "MANIFEST.json"
    manifest.write_text(json.dumps({"artifacts": artifacts}))
    return family


def test_best_kd_draft_is_chosen_from_training_facts_and_manifest_alpha(bundle):
    assert set(bench_drafts.kd_drafts(bundle)) == {
        "kd-offline-gsm8k-t0.0-s0",
        "kd-online-mix-s1",
        "kd-online-alpaca-t0.0-s2",
    }
    choice = bench_drafts.choose_drafts(bundle)
    # 0.76 beats the mean of 0.9 and 0.6 over the datasets present, and 0.7; the folders named
    # t0.0 but distilled at 1.0, and the recipe, are not candidates whatever their α.
    assert choice.best_kd == bundle / "kd-online-alpaca-t0.0-s2"
    assert choice.base == bundle / "draft"
    record = choice.record()
    assert record["candidates"]["kd-online-mix-s1"]["alpha_tau_dec_0"] == pytest.approx(0.75)
    assert record["candidates"]["kd-online-alpaca-t0.0-s2"]["seed"] == 2


def test_a_kd_draft_missing_from_the_manifest_is_passed_over_and_named(bundle):
    manifest = bundle.parent / "MANIFEST.json"
    data = json.loads(manifest.read_text())
    del data["artifacts"]["llama/kd-online-alpaca-t0.0-s2"]
    manifest.write_text(json.dumps(data))
    choice = bench_drafts.choose_drafts(bundle)
    assert choice.best_kd.name == "kd-online-mix-s1"
    assert choice.lacking == ["kd-online-alpaca-t0.0-s2"]


def test_bundle_times_base_and_best_kd_side_by_side(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_pairs, "REFERENCE_FAMILY", bundle)
    asked = []

    def task_prompts(tok, count, tasks, target):
        asked.append(tasks)
        return [[5, 6, 7, 8]] * count

    monkeypatch.setattr(bench, "task_prompts", task_prompts)
    out = tmp_path / "out"
    argv = ["--out", str(out), *FAST, "--temperatures", "0", "--num-draft-tokens", "1", "2"]
    assert bench.main(argv) == 0
    result = json.loads((out / "latest.json").read_text())
    # Timed in the best KD draft's own domain (its training facts' dataset); --tasks overrides.
    assert asked == [("alpaca",)] and "alpaca" in result["pair"]["prompts"]
    drafts = result["pair"]["drafts"]
    assert list(drafts) == ["draft", "kd-online-alpaca-t0.0-s2"]
    assert [d["role"] for d in drafts.values()] == ["base", "best KD"]
    assert result["pair"]["selection"]["best_kd"] == "kd-online-alpaca-t0.0-s2"
    assert [(r["draft"], r["num_draft_tokens"]) for r in result["rows"]] == [
        (d, k) for d in drafts for k in (1, 2)
    ]
    assert set(result["best_num_draft_tokens"]) == set(result["headline"]) == set(drafts)
    assert all(entry["tokens_match_target"] == 1 for entry in result["rows"][0]["methods"].values())


def test_without_manifest_alpha_nothing_is_measured_and_it_says_why(
    bundle, tmp_path, monkeypatch, capsys
):
    (bundle.parent / "MANIFEST.json").write_text(json.dumps({"artifacts": {}}))
    monkeypatch.setattr(bench_pairs, "REFERENCE_FAMILY", bundle)
    out = tmp_path / "out"
    assert bench.main(["--out", str(out), *FAST]) == 1
    err = capsys.readouterr().err
    assert "measuring nothing" in err and "MANIFEST.json" in err and "'0.0'" in err
    assert not out.exists()


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
    _, other = bench_pairs.random_pair(
        vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=2
    )
    target.save_pretrained(tmp_path / "target")
    draft.save_pretrained(tmp_path / "a" / "draft")
    other.save_pretrained(tmp_path / "b" / "draft")
    out = tmp_path / "out"
    argv = ["--out", str(out), *FAST, "--temperatures", "1", "--num-draft-tokens", "2"]
    argv += ["--target", str(tmp_path / "target"), "--draft", str(tmp_path / "a" / "draft")]
    argv += ["--drafts", str(tmp_path / "b" / "draft")]
    assert bench.main(argv) == 0
    pair = json.loads((out / "latest.json").read_text())["pair"]
    assert pair["kind"] == "given"
    assert pair["target_path"] == str(tmp_path / "target")
    assert pair["target"]["parameters"] == sum(p.numel() for p in target.parameters())
    # Two folders share a name: the second is labelled by its path.
    assert list(pair["drafts"]) == ["draft", str(tmp_path / "b" / "draft")]


def test_every_method_stops_at_the_pairs_eos():
    """With a tokenizer's EOS, ours, the target alone and assisted generation all end at it (as a
    served answer does), and greedy outputs stay equal; without one, the length is fixed."""
    from types import SimpleNamespace

    from suite.bench_runs import Job, _generate, assisted_kwargs

    target, draft = bench_pairs.random_pair(
        vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=0
    )
    prompt = list(range(3, 20))
    free = Pair(target, {"d": draft}, {"kind": "tiny"}, None)
    jobs = [Job("target"), Job("speculative", "d", 2), Job("assisted", "d", 2)]
    common = {"seed": 0, "temperature": 0.0, "max_new_tokens": 24}
    long = [_generate(job, free, prompt, **common)[0] for job in jobs]
    assert all(len(tokens) == 24 for tokens in long) and long[0] == long[1] == long[2]
    eos = long[0][5]  # a token the greedy answer emits at position 5 (maybe earlier too)
    stop = long[0].index(eos) + 1
    served = Pair(target, {"d": draft}, {"kind": "tiny"}, SimpleNamespace(eos_token_id=eos))
    short = [_generate(job, served, prompt, **common)[0] for job in jobs]
    assert all(tokens == long[0][:stop] for tokens in short)
    assert "min_new_tokens" not in assisted_kwargs(0.0, 24, 2, eos)
    assert assisted_kwargs(0.0, 24, 2, None)["min_new_tokens"] == 24
