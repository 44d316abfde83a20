"""Model cards: a README.md in every bundled model folder, written from its manifest entry."""

from __future__ import annotations

import math
from typing import Any

MAX_CARD_TEXT = 4096  # a text field a card prints (the longest bundled command is < 300)
_TEXTS = ("method", "dataset", "divergence", "recipe", "aligned_from", "command", "base_draft")

DATA_LICENCES = {
    "alpaca": "Stanford Alpaca (CC BY-NC 4.0: research use, no commercial use)",
    "gsm8k": "GSM8K (MIT)",
}
ROLES = {
    "target": "the target model (speculative decoding keeps its distribution)",
    "draft": "a draft model (it proposes tokens the target verifies)",
}


def model_card(name: str, entry: dict) -> str:
    """Markdown: what the model is, how it was made, its figures and its data's licence."""
    lines = [
        f"# {name}",
        "",
        f"Part of the bundle of the specdec-temperature-suite: {_role(entry)}.",
    ]
    lines += ["", "## What it is", "", f"- Parameters: {entry.get('parameters', 0):,}"]
    facts = {
        k: entry[k] for k in ("method", "dataset", "kd_temperature", "divergence") if k in entry
    }
    for key, value in facts.items():
        lines.append(f"- {key}: {value}")
    if "seed" in entry:
        lines.append(f"- training seed: {entry['seed']}")
    lines += ["", "## How it was made", "", f"`{entry.get('command', '')}`"]
    if entry.get("recipe"):
        lines += ["", f"Recipe: `{entry['recipe']}` (in the suite's repository)."]
    if entry.get("aligned_from"):
        lines += [
            "",
            "Pretrained from scratch, then aligned by best-of-n fine-tuning on its own responses "
            "(`suite/distill/align.py`); the pretrained stage is not bundled, its facts are under "
            "`pretrained` in `training.json`.",
        ]
    lines += ["", "## Figures", "", *_figures(entry)]
    datasets = [entry["dataset"]] if entry.get("dataset") else ["alpaca", "gsm8k"]
    lines += ["", "## Data and licence", ""]
    lines += [f"- Trained on {DATA_LICENCES.get(d, d)}" for d in datasets]
    lines += [
        "- Weights: safetensors, float16 on disk, computed in float32 (config `dtype`).",
        "- Load with `transformers` (`AutoModelForCausalLM` or `AutoModelForSeq2SeqLM`); the "
        "family's tokenizer is the sibling folder `../tokenizer`.",
        "",
    ]
    return "\n".join(lines)


def _role(entry: dict) -> str:
    return ROLES.get(entry.get("kind", ""), entry.get("kind", "an artifact"))


def _figures(entry: dict) -> list[str]:
    out = []
    before = (entry.get("pretrained") or {}).get("heldout_loss") or {}
    for dataset, loss in sorted(before.items()):
        out.append(f"- Held-out loss on {dataset} before alignment: {loss:.3f} nats per token")
    for dataset, loss in sorted((entry.get("heldout_loss") or {}).items()):
        out.append(f"- Held-out loss on {dataset} test references: {loss:.3f} nats per token")
    for dataset, values in sorted((entry.get("entropy_at_tau_1") or {}).items()):
        shown = ", ".join(f"{who} {h:.2f}" for who, h in sorted(values.items()))
        out.append(f"- Next-token entropy at τ 1 on its own {dataset} samples (nats): {shown}")
    quality = (entry.get("evaluation") or {}).get("greedy_quality") or {}
    for who in ("target", "base_draft"):
        for dataset, q in sorted((quality.get(who) or {}).items()):
            out.append(
                f"- Greedy answers on {q['prompts']} {dataset} test prompts ({who}): token F1 "
                f"{q['f1']:.3f}, accuracy {q['accuracy']:.3f}"
            )
    for dataset, by_tau in sorted((entry.get("acceptance") or {}).items()):
        shown = ", ".join(f"τ {tau}: {v['alpha']:.3f}" for tau, v in sorted(by_tau.items()))
        out.append(f"- α̂ against the target on {dataset} (analytic engine): {shown}")
    if entry.get("cost_ratio") is not None:
        out.append(
            f"- Cost ratio c against the target on the building machine: {entry['cost_ratio']:.2f}"
        )
    return out or ["- (none recorded)"]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _losses(value: Any, depth: int = 1) -> bool:
    """A mapping of names to finite numbers (``depth`` levels of names)."""
    if depth == 0:
        return _number(value)
    return isinstance(value, dict) and all(
        isinstance(k, str) and len(k) <= 64 and _losses(v, depth - 1) for k, v in value.items()
    )


def _text(value: Any) -> bool:
    """One line of printable text of at most MAX_CARD_TEXT characters."""
    return isinstance(value, str) and len(value) <= MAX_CARD_TEXT and value.isprintable()


_SHAPES = {
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32,
             "expected an integer in [0, 2**32)"),
    "heldout_loss": (_losses, "expected dataset names mapped to finite numbers"),
    "pretrained": (lambda v: isinstance(v, dict) and _losses(v.get("heldout_loss", {})),
                   "expected an object whose heldout_loss maps dataset names to finite numbers"),
    "entropy_at_tau_1": (lambda v: _losses(v, 2), "expected dataset → model → finite number"),
    **{key: (_text, f"expected one line of printable text of at most {MAX_CARD_TEXT:,} characters")
       for key in _TEXTS},
}  # fmt: skip


def card_field_problem(info: dict) -> tuple[str, Any, str] | None:
    """(field, value, reason) for the first field of a ``training.json`` that a model card
    prints and that is not of its shape (null counts as absent), or None."""
    for key, (ok, message) in _SHAPES.items():
        if info.get(key) is not None and not ok(info[key]):
            return key, info[key], message
    return None
