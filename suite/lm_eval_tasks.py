"""lm-eval tasks built from our task specs, offline: our prompts, stop strings and answer rules.

lm-eval's own GSM8K task uses its own prompt and answer regexes; ours must see exactly the text the
models were trained on and score with the spec's extraction, so each task is a generate_until task
over a JSONL of our examples, written outside the repository. :func:`build_task` makes one in
Python; :func:`export_tasks` writes the same tasks as YAML files that lm-eval's own command line
loads (``python -m suite lm-eval export --out DIR``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import datasets
import yaml
from lm_eval.api.task import ConfigurableTask

from suite import lm_eval_hooks as hooks
from suite.data import Example, load_examples
from suite.decoding.plumbing import check_positive_int
from suite.io import check_out_folder, check_targets, write_text_atomic
from suite.lm_eval_args import TASK_METADATA
from suite.lm_eval_hooks import score
from suite.paths import resolve
from suite.specs import MAX_NEW_TOKENS, TaskSpec, load_task

NUMERIC_TASKS = ("gsm8k", "svamp", "asdiv")
TASK_PREFIX = "suite_"
DECODER_METRICS = ("acceptance_rate", "mean_accepted_length")
__all__ = ["NUMERIC_TASKS", "TASK_PREFIX", "build_task", "export_tasks", "score", "write_docs"]


def write_docs(examples: Sequence[Example], path: Path) -> Path:
    """One JSON object per example; missing references become "" so the column stays text.
    Written atomically (a temporary name, then a rename: never through a planted link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "id": ex.id,
                "prompt": ex.prompt,
                "reference": ex.reference or "",
                "answer": ex.answer,
            },
            ensure_ascii=False,
        )
        + "\n"
        for ex in examples
    ]
    write_text_atomic(path, "".join(lines))
    return path


def _examples(name, split, limit, examples) -> tuple[TaskSpec, list[Example]]:
    spec = load_task(name)
    if spec.answer is None or name not in NUMERIC_TASKS:
        raise ValueError(f"task {name!r} has no answer rules; only {NUMERIC_TASKS} are scored")
    if examples is None:
        examples = load_examples(spec, split, limit=limit)
    elif limit is not None:
        examples = list(examples)[:limit]
    if not examples:
        raise ValueError(f"task {name!r}: no examples to evaluate (limit={limit!r})")
    return spec, list(examples)


def task_config(spec, split, path, examples, *, max_gen_toks=None, repeats=1) -> dict:
    """The task as lm-eval's config mapping; the hooks are this module's functions."""
    if max_gen_toks is not None:
        check_positive_int(max_gen_toks, "max_gen_toks", maximum=MAX_NEW_TOKENS)
    check_positive_int(repeats, "repeats")
    metrics = ["exact_match"] + (["chrf"] if any(ex.reference for ex in examples) else [])
    metric_list = [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics]
    metric_list += [
        {"metric": m, "aggregation": hooks.pooled_ratio, "higher_is_better": True}
        for m in DECODER_METRICS
    ]
    return {
        "task": f"{TASK_PREFIX}{spec.name}",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {split: str(resolve(path))}},
        "test_split": split,
        "doc_to_text": "prompt",
        "doc_to_target": "answer",
        "output_type": "generate_until",
        "generation_kwargs": {
            "until": list(spec.stop),
            "max_gen_toks": spec.max_new_tokens if max_gen_toks is None else max_gen_toks,
        },
        "process_results": getattr(hooks, f"process_{spec.name}"),
        "metric_list": metric_list,
        "num_fewshot": 0,
        "repeats": repeats,
        "metadata": dict(zip(TASK_METADATA, (1, spec.path.name, split), strict=True)),
    }


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
    spec, examples = _examples(name, split, limit, examples)
    workdir = Path(workdir)
    path = write_docs(examples, workdir / f"{name}-{split}.jsonl")
    config = task_config(spec, split, path, examples, max_gen_toks=max_gen_toks, repeats=repeats)
    config["dataset_kwargs"]["cache_dir"] = str(workdir / "datasets-cache")
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar per small local file buries the evaluation's output
    try:
        return ConfigurableTask(config=config)
    finally:
        if enabled:
            datasets.enable_progress_bars()


class _TaskDumper(yaml.SafeDumper):
    """Functions become lm-eval's ``!function module.name`` tags; no anchors or aliases."""

    def ignore_aliases(self, data) -> bool:
        return True


_TaskDumper.add_representer(
    type(hooks.pooled_ratio),
    lambda dumper, fn: dumper.represent_scalar("!function", f"{fn.__module__}.{fn.__name__}"),
)


def export_tasks(
    out: str | Path,
    names: Sequence[str] = NUMERIC_TASKS,
    *,
    split: str = "test",
    limit: int | None = None,
    max_gen_toks: int | None = None,
) -> list[Path]:
    """``suite_<name>.yaml`` and its ``<name>-<split>.jsonl`` in ``out``, for every task named.

    The YAML names its JSONL by absolute path, so ``lm_eval --tasks OUT/suite_gsm8k.yaml`` runs
    from any folder; move the folder and export again.
    """
    out = Path(out)
    check_out_folder(out)
    planned = []  # every task is read and checked before anything is written
    for name in names:
        spec, examples = _examples(name, split, limit, None)
        docs = out / f"{name}-{split}.jsonl"
        config = task_config(spec, split, docs, examples, max_gen_toks=max_gen_toks)
        text = yaml.dump(config, Dumper=_TaskDumper, sort_keys=False, allow_unicode=True)
        planned.append(
            (
                docs,
                examples,
                out / f"{TASK_PREFIX}{name}.yaml",
                _HEADER.format(name=name, n=len(examples)) + text,
            )
        )
    check_targets([p for docs, _, target, _ in planned for p in (docs, target)])
    for docs, examples, target, text in planned:
        write_docs(examples, docs)
        write_text_atomic(target, text)
    return [target for _, _, target, _ in planned]


_HEADER = """\
# lm-eval task: the suite's {name} spec, {n} examples, our prompts and answer rules.
# Written by `python -m suite lm-eval export`; the !function hooks import suite, which registers
# the `specdec` model. Run: lm_eval --model specdec --model_args target=...,draft=... \\
#   --tasks THIS_FILE (see docs/lm-eval.md)
"""
