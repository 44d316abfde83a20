"""GSM8K quality through lm-eval: the target alone versus speculative decoding, at each τ_dec.

Speculative sampling is lossless, so quality must not move: at τ_dec = 0 the generations are
token-identical, and at τ_dec > 0 they are other samples from the same distribution, so accuracy
and chrF must agree within their intervals. A difference here would mean a broken decoder.
"""

from __future__ import annotations

import argparse
import logging
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

from suite.bench import machine_info, write_json_atomic
from suite.data import extract_answer
from suite.decoding.plumbing import check_positive_int
from suite.decoding.sampling import check_temperature
from suite.errors import Parser, SpecError
from suite.io import check_out_folder, check_targets
from suite.lm_eval_model import MODEL_NAME, SpecDecLM
from suite.lm_eval_tasks import NUMERIC_TASKS, TASK_PREFIX, build_task
from suite.number_arguments import add_temperatures, ascii_integer
from suite.path_arguments import non_empty_folder
from suite.paths import bundle_dir
from suite.reader import MAX_N_BOOT, MAX_NEW_TOKENS, MAX_THREADS, SEED_CEILING
from suite.specs import MAX_DRAFT_TOKENS, load_task
from suite.stats import intervals
from suite.stats.intervals import CONFIDENCE, ConfidenceInterval, wilson_interval

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


def bootstrap_mean_interval(
    values, n_boot: int, seed: int, level: float = CONFIDENCE
) -> ConfidenceInterval:
    """Percentile bootstrap of the mean with prompts as the unit, on its own stream of ``seed``,
    so reruns agree (``suite.stats.intervals``, ``scipy.stats.bootstrap``)."""
    rng = np.random.default_rng(np.random.SeedSequence((seed, _BOOTSTRAP_STREAM)))
    return intervals.bootstrap_mean_interval(values, n_boot=n_boot, rng=rng, level=level)


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
    lm = SpecDecLM.create_from_arg_obj(_model_args(method, temperature, args))
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
    per_prompt = _per_prompt(out["samples"][name], lm.records, load_task(args.task))
    decoder = lm.totals.to_dict()
    return _condition(
        method,
        temperature,
        per_prompt,
        args,
        lm_eval_metrics=metrics,
        acceptance_rate=decoder["acceptance_rate"],
        decoder=decoder | {"model_info": lm.get_model_info()},
        wall_seconds=wall,
    )


def _model_args(method: str, temperature: float, args) -> dict:
    """``specdec``'s model arguments; the draft only for speculative decoding."""
    model_args = {
        "target": str(args.target),
        "tokenizer": str(args.tokenizer),
        "temperature": temperature,
        "num_draft_tokens": args.num_draft_tokens,
        "seed": args.seed,
    }
    if method == "speculative":
        model_args["draft"] = str(args.draft)
    return model_args


def _per_prompt(samples, records, spec) -> list[PromptResult]:
    """lm-eval's logged samples joined with the decoder's records, by document, in order."""
    by_doc = {r.doc_id: r for r in records}
    out = []
    for sample in sorted(samples, key=lambda s: s["doc_id"]):
        record = by_doc[sample["doc_id"]]
        text = sample["filtered_resps"][0]
        out.append(
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
    return out


def _condition(method, temperature, per_prompt, args, **run) -> ConditionResult:
    """Accuracy with its Wilson interval and mean chrF with its bootstrap interval over prompts."""
    correct = sum(p.correct for p in per_prompt)
    chrfs = [p.chrf for p in per_prompt if p.chrf is not None]
    n = len(per_prompt)
    return ConditionResult(
        method=method,
        temperature=temperature,
        prompts=n,
        accuracy=correct / n,
        accuracy_ci=wilson_interval(correct, n),
        chrf=float(np.mean(chrfs)) if chrfs else None,
        chrf_ci=bootstrap_mean_interval(chrfs, args.n_boot, args.seed) if chrfs else None,
        per_prompt=tuple(per_prompt),
        **run,
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
            f"{c['temperature']:>4g} {c['method']:<12} {c['prompts']:>4} {acc:<22} {chrf:<24} "
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
            f"{m['temperature']:>4g} {m['verdict']:<8} {same:>9} {m['lossless_check']:<8} "
            f"{m['mcnemar']['p_value']:>9.3f} {wil:>10}"
        )
    lines.append(
        "accuracy: Wilson 95% interval; chrF: sentence chrF (0-100), percentile bootstrap over "
        "prompts; α = accepted/proposed; verdict 'agree' when the target-alone and speculative "
        "intervals overlap for every metric; identical = token-identical generations."
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=non_empty_folder, default=Path("results/quality"), help="output folder"
    )
    parser.add_argument(
        "--limit", type=ascii_integer, default=100, help="first N test prompts (default 100)"
    )
    add_temperatures(parser, [0.0, 0.7])
    parser.add_argument("--task", default="gsm8k", choices=NUMERIC_TASKS, help="default gsm8k")
    parser.add_argument("--num-draft-tokens", type=ascii_integer, default=4, help="K (default 4)")
    parser.add_argument(
        "--seed", type=ascii_integer, default=0, help="seed of the per-request samplers"
    )
    parser.add_argument(
        "--max-gen-toks", type=ascii_integer, help="tokens per generation (default: spec's)"
    )
    parser.add_argument("--n-boot", type=ascii_integer, default=10_000, help="bootstrap resamples")
    parser.add_argument("--target", type=non_empty_folder, default=BUNDLE / "target")
    parser.add_argument("--draft", type=non_empty_folder, default=BUNDLE / "draft")
    parser.add_argument("--tokenizer", type=non_empty_folder, default=BUNDLE / "tokenizer")
    parser.add_argument(
        "--threads", type=ascii_integer, default=1, help="torch threads; 0 keeps torch's"
    )


def _check_args(args) -> None:
    check_positive_int(args.limit, "--limit")
    check_positive_int(args.num_draft_tokens, "--num-draft-tokens", maximum=MAX_DRAFT_TOKENS)
    check_positive_int(args.seed, "--seed", minimum=0, maximum=SEED_CEILING)
    check_positive_int(args.n_boot, "--n-boot", maximum=MAX_N_BOOT)
    check_positive_int(args.threads, "--threads", minimum=0, maximum=MAX_THREADS)
    if args.max_gen_toks is not None:
        check_positive_int(args.max_gen_toks, "--max-gen-toks", maximum=MAX_NEW_TOKENS)
    labels: dict[str, float] = {}
    for tau in args.temperatures:
        check_temperature(tau, "--temperatures")
        first = labels.setdefault(f"{tau + 0.0:g}", tau + 0.0)
        if first != tau + 0.0:  # 1 and 1.0000000001: two conditions the tables write alike
            message = f"--temperatures: {tau!r} is written {tau:g} as {first!r} is; give one"
            raise ValueError(message)
    check_out_folder(Path(args.out))  # before anything is measured, not when it is written
    check_targets([Path(args.out) / "quality.json"])
    _check_budget(args)


def _check_budget(args) -> None:
    """The tokens each answer may take (``--max-gen-toks``, else the task spec's
    ``generation.max_new_tokens``) leave room for a prompt in a local target's positions:
    refused now, naming the flag or the spec's field, not by lm-eval mid-run."""
    from suite.strict import read_config

    config = Path(args.target) / "config.json"
    positions = read_config(config).get("max_position_embeddings") if config.is_file() else None
    if not isinstance(positions, int) or isinstance(positions, bool) or positions <= 0:
        return
    message = f"leaves no room for a prompt in the target's {positions:,} positions ({config})"
    if args.max_gen_toks is not None:
        if args.max_gen_toks >= positions:
            raise SpecError(None, "--max-gen-toks", args.max_gen_toks, message)
        return
    spec = load_task(args.task)
    if spec.max_new_tokens >= positions:
        raise SpecError(spec.path, "generation.max_new_tokens", spec.max_new_tokens, message)


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
        "confidence_level": CONFIDENCE,
        "conditions": [_condition_json(c) for c in conditions],
        "comparisons": [asdict(c) for c in comparisons],
    }


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m suite quality", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    transformers.logging.disable_progress_bar()  # one loading bar per model and condition
    try:
        result = run(args)
    except SpecError:  # a file's error: the suite's one line naming it, not the usage
        raise
    except ValueError as err:
        parser.error(str(err))
    path = args.out / "quality.json"
    write_json_atomic(path, result)
    print(format_table(result))
    print(f"wrote {path}")
    return 1 if any(c["lossless_check"] == "failed" for c in result["comparisons"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
