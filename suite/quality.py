"""GSM8K quality through lm-eval: the target alone versus speculative decoding, at each τ_dec.

Speculative sampling is lossless, so quality must not move: at τ_dec = 0 the generations are
token-identical, and at τ_dec > 0 they are other samples from the same distribution, so accuracy
and chrF must agree within their intervals. A difference here would mean a broken decoder.
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import lm_eval
import numpy as np
import torch
import transformers
from lm_eval.tasks import TaskManager
from scipy import stats

from suite.acceptance import CONFIDENCE_LEVEL, ConfidenceInterval
from suite.bench import machine_info, write_json_atomic
from suite.data import extract_answer
from suite.decoding.plumbing import check_positive_int
from suite.decoding.sampling import check_temperature
from suite.lm_eval_model import MODEL_NAME, SpecDecLM
from suite.lm_eval_tasks import NUMERIC_TASKS, TASK_PREFIX, build_task
from suite.paths import bundle_dir
from suite.specs import load_task

BUNDLE = bundle_dir() / "llama"
METHODS = ("target", "speculative")
_BOOTSTRAP_STREAM = 0xC4F


@dataclass(frozen=True)
class PromptResult:
    doc_id: int
    id: str
    seed: int
    correct: bool
    extracted: str | None
    chrf: float | None
    tokens: tuple[int, ...]
    finish_reason: str
    text: str


@dataclass(frozen=True)
class ConditionResult:
    """One decoder at one τ_dec: lm-eval's aggregate and our intervals over prompts."""

    method: str
    temperature: float
    prompts: int
    accuracy: float
    accuracy_ci: ConfidenceInterval
    chrf: float | None
    chrf_ci: ConfidenceInterval | None
    lm_eval_metrics: dict
    acceptance_rate: float | None
    decoder: dict
    wall_seconds: float
    per_prompt: tuple[PromptResult, ...]


@dataclass(frozen=True)
class Comparison:
    """Target alone against speculative decoding at one τ_dec, paired by prompt."""

    temperature: float
    prompts: int
    identical_outputs: int
    lossless_check: str  # "passed" / "failed" at τ = 0; "n/a" when sampling
    accuracy_intervals_overlap: bool
    chrf_intervals_overlap: bool | None
    verdict: str  # "agree" when every interval pair overlaps, else "differ"
    mcnemar: dict
    wilcoxon: dict | None


def wilson_interval(successes: int, n: int, level: float = CONFIDENCE_LEVEL) -> ConfidenceInterval:
    """Wilson score interval: sensible at 0/n, where the normal interval collapses to a point."""
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return ConfidenceInterval(low, high)


def bootstrap_mean_interval(
    values, n_boot: int, seed: int, level: float = CONFIDENCE_LEVEL
) -> ConfidenceInterval:
    """Percentile bootstrap of the mean with prompts as the unit; seeded, so reruns agree."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(np.random.SeedSequence((seed, _BOOTSTRAP_STREAM)))
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return ConfidenceInterval(float(low), float(high))


def mcnemar_exact(a: list[bool], b: list[bool]) -> dict:
    """Exact McNemar test: a binomial test on the prompts where exactly one condition is right."""
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    n = only_a + only_b
    p = 1.0 if n == 0 else float(stats.binomtest(min(only_a, only_b), n, 0.5).pvalue)
    return {"only_target_correct": only_a, "only_speculative_correct": only_b, "p_value": p}


def wilcoxon_paired(a: list[float], b: list[float]) -> dict:
    """Wilcoxon signed-rank on per-prompt differences; identical pairs give p = 1 by definition."""
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    nonzero = int(np.count_nonzero(diff))
    if nonzero == 0:
        return {"nonzero_pairs": 0, "statistic": 0.0, "p_value": 1.0}
    result = stats.wilcoxon(diff[diff != 0])
    return {
        "nonzero_pairs": nonzero,
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "mean_difference": float(diff.mean()),
    }


def overlap(a: ConfidenceInterval, b: ConfidenceInterval) -> bool:
    return bool(a.low <= b.high and b.low <= a.high)


def evaluate_condition(method: str, temperature: float, args, workdir: Path) -> ConditionResult:
    """One lm-eval run of ``specdec``: a fresh model and a fresh task, so nothing carries over."""
    model_args = {
        "target": str(args.target),
        "tokenizer": str(args.tokenizer),
        "temperature": temperature,
        "num_draft_tokens": args.num_draft_tokens,
        "seed": args.seed,
    }
    if method == "speculative":
        model_args["draft"] = str(args.draft)
    lm = SpecDecLM.create_from_arg_obj(model_args)
    task = build_task(
        args.task,
        workdir / f"{method}-{temperature}",
        limit=args.limit,
        max_gen_toks=args.max_gen_toks,
    )
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model=lm,
        tasks=[task],
        task_manager=TaskManager(include_defaults=False),
        bootstrap_iters=0,
        log_samples=True,
    )
    wall = time.perf_counter() - start
    name = f"{TASK_PREFIX}{args.task}"
    metrics = {
        k.split(",")[0]: v
        for k, v in out["results"][name].items()
        if k.endswith(",none") and "_stderr" not in k
    }
    spec = load_task(args.task)
    records = {r.doc_id: r for r in lm.records}
    per_prompt = []
    for sample in sorted(out["samples"][name], key=lambda s: s["doc_id"]):
        record = records[sample["doc_id"]]
        text = sample["filtered_resps"][0]
        per_prompt.append(
            PromptResult(
                doc_id=sample["doc_id"],
                id=sample["doc"]["id"],
                seed=record.seed,
                correct=bool(sample["exact_match"]),
                extracted=extract_answer(spec, text),
                chrf=sample.get("chrf"),
                tokens=record.tokens,
                finish_reason=record.finish_reason,
                text=text,
            )
        )
    correct = sum(p.correct for p in per_prompt)
    chrfs = [p.chrf for p in per_prompt if p.chrf is not None]
    n = len(per_prompt)
    decoder = lm.totals.to_dict()
    return ConditionResult(
        method=method,
        temperature=temperature,
        prompts=n,
        accuracy=correct / n,
        accuracy_ci=wilson_interval(correct, n),
        chrf=float(np.mean(chrfs)) if chrfs else None,
        chrf_ci=bootstrap_mean_interval(chrfs, args.n_boot, args.seed) if chrfs else None,
        lm_eval_metrics=metrics,
        acceptance_rate=decoder["acceptance_rate"],
        decoder=decoder | {"model_info": lm.get_model_info()},
        wall_seconds=wall,
        per_prompt=tuple(per_prompt),
    )


def compare(alone: ConditionResult, spec: ConditionResult) -> Comparison:
    pairs = list(zip(alone.per_prompt, spec.per_prompt, strict=True))
    if any(a.doc_id != b.doc_id for a, b in pairs):
        raise RuntimeError("conditions saw different prompts; cannot pair them")
    identical = sum(a.tokens == b.tokens for a, b in pairs)
    lossless = "n/a"
    if alone.temperature == 0:
        lossless = "passed" if identical == len(pairs) else "failed"
    acc_overlap = overlap(alone.accuracy_ci, spec.accuracy_ci)
    chrf_overlap = None
    wilcoxon = None
    if alone.chrf_ci is not None and spec.chrf_ci is not None:
        chrf_overlap = overlap(alone.chrf_ci, spec.chrf_ci)
        wilcoxon = wilcoxon_paired([a.chrf for a, _ in pairs], [b.chrf for _, b in pairs])
    agree = acc_overlap and chrf_overlap is not False
    return Comparison(
        temperature=alone.temperature,
        prompts=len(pairs),
        identical_outputs=identical,
        lossless_check=lossless,
        accuracy_intervals_overlap=acc_overlap,
        chrf_intervals_overlap=chrf_overlap,
        verdict="agree" if agree else "differ",
        mcnemar=mcnemar_exact([a.correct for a, _ in pairs], [b.correct for _, b in pairs]),
        wilcoxon=wilcoxon,
    )


def _condition_json(c: ConditionResult) -> dict:
    out = asdict(c)
    out["per_prompt"] = [asdict(p) | {"tokens": len(p.tokens)} for p in c.per_prompt]
    return out


def format_table(result: dict) -> str:
    head = (
        f"{'τ':>4} {'method':<12} {'n':>4} {'accuracy [95% CI]':<22} {'chrF [95% CI]':<24} {'α':>6}"
    )
    lines = [head]
    for c in result["conditions"]:
        lo, hi = c["accuracy_ci"]
        acc = f"{c['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"
        chrf = "-"
        if c["chrf"] is not None:
            chrf = f"{c['chrf']:.2f} [{c['chrf_ci'][0]:.2f}, {c['chrf_ci'][1]:.2f}]"
        alpha = "-" if c["acceptance_rate"] is None else f"{c['acceptance_rate']:.3f}"
        lines.append(
            f"{c['temperature']:>4.1f} {c['method']:<12} {c['prompts']:>4} {acc:<22} {chrf:<24} "
            f"{alpha:>6}"
        )
    lines.append("")
    lines.append(
        f"{'τ':>4} {'verdict':<8} {'identical':>9} {'lossless':<8} {'McNemar p':>9} "
        f"{'Wilcoxon p':>10}"
    )
    for m in result["comparisons"]:
        wil = "-" if m["wilcoxon"] is None else f"{m['wilcoxon']['p_value']:.3f}"
        same = f"{m['identical_outputs']}/{m['prompts']}"
        lines.append(
            f"{m['temperature']:>4.1f} {m['verdict']:<8} {same:>9} {m['lossless_check']:<8} "
            f"{m['mcnemar']['p_value']:>9.3f} {wil:>10}"
        )
    lines.append(
        "accuracy: Wilson 95% interval; chrF: sentence chrF (0-100), percentile bootstrap over "
        "prompts; α = accepted/proposed; verdict 'agree' when the target-alone and speculative "
        "intervals overlap for every metric; identical = token-identical generations."
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("results/quality"), help="output folder")
    parser.add_argument("--limit", type=int, default=100, help="first N test prompts (default 100)")
    parser.add_argument(
        "--temperatures", type=float, nargs="+", default=[0.0, 0.7], help="τ_dec values"
    )
    parser.add_argument("--task", default="gsm8k", choices=NUMERIC_TASKS, help="default gsm8k")
    parser.add_argument("--num-draft-tokens", type=int, default=4, help="K (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-request samplers")
    parser.add_argument("--max-gen-toks", type=int, help="tokens per generation (default: spec's)")
    parser.add_argument("--n-boot", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--target", type=Path, default=BUNDLE / "target")
    parser.add_argument("--draft", type=Path, default=BUNDLE / "draft")
    parser.add_argument("--tokenizer", type=Path, default=BUNDLE / "tokenizer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 keeps torch's")


def _check_args(args) -> None:
    check_positive_int(args.limit, "--limit")
    check_positive_int(args.num_draft_tokens, "--num-draft-tokens")
    check_positive_int(args.seed, "--seed", minimum=0)
    check_positive_int(args.n_boot, "--n-boot")
    check_positive_int(args.threads, "--threads", minimum=0)
    if args.max_gen_toks is not None:
        check_positive_int(args.max_gen_toks, "--max-gen-toks")
    for tau in args.temperatures:
        check_temperature(tau, "--temperatures")


def run(args) -> dict:
    """Every (τ, method) condition through lm-eval, then the paired comparison per τ."""
    _check_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    started = datetime.now(UTC)
    conditions, comparisons = [], []
    with tempfile.TemporaryDirectory(prefix="suite-quality-") as tmp:
        for tau in dict.fromkeys(args.temperatures):
            pair = {}
            for method in METHODS:
                pair[method] = evaluate_condition(method, tau, args, Path(tmp))
                print(
                    f"τ_dec {tau}: {method} on {pair[method].prompts} prompts in "
                    f"{pair[method].wall_seconds:.1f} s",
                    flush=True,
                )
            conditions += [pair[m] for m in METHODS]
            comparisons.append(compare(pair["target"], pair["speculative"]))
    return {
        "started_utc": started.isoformat(),
        "machine": machine_info(),
        "lm_eval_version": lm_eval.__version__,
        "model": MODEL_NAME,
        "task": args.task,
        "split": "test",
        "limit": args.limit,
        "pair": {k: str(getattr(args, k)) for k in ("target", "draft", "tokenizer")},
        "num_draft_tokens": args.num_draft_tokens,
        "seed": args.seed,
        "n_boot": args.n_boot,
        "confidence_level": CONFIDENCE_LEVEL,
        "conditions": [_condition_json(c) for c in conditions],
        "comparisons": [asdict(c) for c in comparisons],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m suite quality", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    transformers.logging.disable_progress_bar()  # one loading bar per model and condition
    try:
        result = run(args)
    except ValueError as err:
        parser.error(str(err))
    path = args.out / "quality.json"
    write_json_atomic(path, result)
    print(format_table(result))
    print(f"wrote {path}")
    return 1 if any(c["lossless_check"] == "failed" for c in result["comparisons"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
