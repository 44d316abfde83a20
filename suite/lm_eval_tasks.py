"""lm-eval tasks built from our task specs, offline: our prompts, stop strings and answer rules.

lm-eval's own GSM8K task uses its own prompt and answer regexes; ours must see exactly the text the
models were trained on and score with the spec's extraction, so each task is a ConfigurableTask
over a JSONL of our examples, written outside the repository.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

import datasets
import sacrebleu
from lm_eval.api.task import ConfigurableTask

from suite.data import Example, extract_answer, load_examples
from suite.decoding.plumbing import check_positive_int
from suite.specs import TaskSpec, load_task

NUMERIC_TASKS = ("gsm8k", "svamp", "asdiv")
TASK_PREFIX = "suite_"


def score(spec: TaskSpec, doc: dict, text: str) -> dict[str, float]:
    """exact_match of the spec's extracted answer; chrF against the reference where there is one.

    chrF is sentence-level (sacrebleu defaults, 0-100): a continuous measure that still moves when
    no answer is right, as with a small target on GSM8K.
    """
    predicted = extract_answer(spec, text)
    expected = doc.get("answer")
    metrics = {"exact_match": float(predicted is not None and predicted == expected)}
    if doc.get("reference"):
        metrics["chrf"] = sacrebleu.sentence_chrf(text, [doc["reference"]]).score
    return metrics


def process_results(spec: TaskSpec, doc: dict, results: Sequence[str]) -> dict[str, float]:
    """lm-eval's hook: ``results`` holds one generation per request of the doc (take_first)."""
    return score(spec, doc, results[0])


def write_docs(examples: Sequence[Example], path: Path) -> Path:
    """One JSON object per example; missing references become "" so the column stays text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            doc = {
                "id": ex.id,
                "prompt": ex.prompt,
                "reference": ex.reference or "",
                "answer": ex.answer,
            }
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return path


def build_task(
    name: str,
    workdir: str | Path,
    *,
    split: str = "test",
    limit: int | None = None,
    max_gen_toks: int | None = None,
    repeats: int = 1,
    examples: Sequence[Example] | None = None,
) -> ConfigurableTask:
    """A generate_until task over the first ``limit`` examples of ``name``'s ``split``.

    ``workdir`` receives the JSONL and the datasets cache; keep it outside the repository.
    ``examples`` replaces the spec's data (tests use it for hand-written prompts).
    """
    if max_gen_toks is not None:
        check_positive_int(max_gen_toks, "max_gen_toks")
    check_positive_int(repeats, "repeats")
    spec = load_task(name)
    if examples is None:
        examples = load_examples(spec, split, limit=limit)
    elif limit is not None:
        examples = list(examples)[:limit]
    if not examples:
        raise ValueError(f"task {name!r}: no examples to evaluate (limit={limit!r})")
    if spec.answer is None:
        raise ValueError(f"task {name!r} has no answer rules; only {NUMERIC_TASKS} are scored")
    workdir = Path(workdir)
    path = write_docs(examples, workdir / f"{name}-{split}.jsonl")
    metrics = ["exact_match"] + (["chrf"] if any(ex.reference for ex in examples) else [])
    config = {
        "task": f"{TASK_PREFIX}{name}",
        "dataset_path": "json",
        "dataset_kwargs": {
            "data_files": {split: str(path)},
            "cache_dir": str(workdir / "datasets-cache"),
        },
        "test_split": split,
        "doc_to_text": "prompt",
        "doc_to_target": "answer",
        "output_type": "generate_until",
        "generation_kwargs": {
            "until": list(spec.stop),
            "max_gen_toks": spec.max_new_tokens if max_gen_toks is None else max_gen_toks,
        },
        "process_results": functools.partial(process_results, spec),
        "metric_list": [
            {"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics
        ],
        "num_fewshot": 0,
        "repeats": repeats,
        "metadata": {"version": 1, "spec": str(spec.path), "split": split},
    }
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar per small local file buries the evaluation's output
    try:
        return ConfigurableTask(config=config)
    finally:
        if enabled:
            datasets.enable_progress_bars()
