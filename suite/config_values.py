"""The numbers of a model's ``config.json`` that its forward pass computes with, each in a range
where the logits stay finite; and the keys that would make transformers load other weights.

Strict JSON already refuses NaN and infinity; a finite number can still give NaN: a negative or
zero norm epsilon (a square root of a negative number, a division by zero), a RoPE factor of
1e308, a soft-cap of zero. :func:`config_value_field` finds the first such number anywhere in the
config (nested sub-configs and RoPE mappings too), so a model that would score NaN is refused
naming ``config.json``, the field and the value before it is built. The rules are by key name,
whatever the architecture; a number no rule names must still be at most :data:`MAX_FLOAT` in
size when it is written as a float.
"""

from __future__ import annotations

import math
from typing import Any

MAX_FLOAT = 1e12  # any float in a config: real ones are at most a RoPE base of 1e8 or so
MAX_ROPE_THETA = 1e12
MAX_ROPE_FACTOR = 1024.0  # real context extensions are 4 to 64
ROPE_MAPPINGS = ("rope_parameters", "rope_scaling")
ROPE_FACTORS = (
    "attention_factor", "mscale", "mscale_all_dim", "beta_fast", "beta_slow",
    "low_freq_factor", "high_freq_factor",
)  # fmt: skip
# transformers reads these weights files instead of model.safetensors (or its index)
WEIGHTS_KEYS = ("transformers_weights",)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _within(value: Any, low: float, high: float, *, open_low: bool = False) -> bool:
    if not _number(value):
        return False
    return (low < value if open_low else low <= value) and value <= high


MIN_EPSILON = 1e-30  # float32 keeps it (its smallest normal is 1.2e-38); real ones are 1e-12+


def _epsilon(value: Any) -> str | None:
    if _within(value, MIN_EPSILON, 1.0):
        return None
    return (
        f"a norm's epsilon must be a number in [{MIN_EPSILON:g}, 1] (a negative one gives NaN, "
        "one that a float32 rounds to 0 divides by zero)"
    )


def _probability(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or _within(value, 0.0, 1.0):
        return None  # a flag (use_dropout) is not a rate
    return "a dropout rate must be a number in [0, 1] or null"


def _rope_theta(value: Any) -> str | None:
    if _within(value, 1.0, MAX_ROPE_THETA):
        return None
    return f"the RoPE base must be a number in [1, {MAX_ROPE_THETA:g}]"


def _initializer(value: Any) -> str | None:
    if value is None or _within(value, 0.0, 100.0):
        return None
    return "an initializer scale must be a number in [0, 100]"


def _softcap(value: Any) -> str | None:
    if value is None or _within(value, 0.0, MAX_FLOAT, open_low=True):
        return None
    return f"a soft-cap must be null or a number > 0 and at most {MAX_FLOAT:g} (0 gives NaN)"


def _partial_rotary(value: Any) -> str | None:
    if _within(value, 0.0, 1.0, open_low=True):
        return None
    return "partial_rotary_factor must be a number > 0 and at most 1"


MAX_POSITIONS = 1 << 20  # a model's positions: real long-context models state up to about a million


def _positions(value: Any) -> str | None:
    if _integer(value) and 1 <= value <= MAX_POSITIONS:
        return None
    return f"a model's positions must be an integer in [1, {MAX_POSITIONS:,}]"


MAX_LAYERS = 1_024  # a model's layers: real ones have at most a few hundred


def _layers(value: Any) -> str | None:
    if _integer(value) and 0 <= value <= MAX_LAYERS:
        return None
    return f"a model's layers must be an integer in [0, {MAX_LAYERS:,}]"


MAX_LABELS = 1_024  # a classifier's labels: transformers builds a table of them (a causal LM has 2)


def _labels(value: Any) -> str | None:
    if _integer(value) and 0 <= value <= MAX_LABELS:
        return None
    return f"a model's labels must be an integer in [0, {MAX_LABELS:,}]"


def _key_rule(key: str):
    """The check for a number under ``key``, wherever it is in the config, or None."""
    if key == "max_position_embeddings":
        return _positions
    if key == "num_labels":
        return _labels
    if key.startswith("num_") and key.endswith("layers"):
        return _layers
    if key == "eps" or key.endswith("_eps") or "epsilon" in key:
        return _epsilon
    if "dropout" in key:
        return _probability
    if key == "rope_theta":
        return _rope_theta
    if key in ("initializer_range", "initializer_factor", "init_std"):
        return _initializer
    if "softcap" in key:
        return _softcap
    if key == "partial_rotary_factor":
        return _partial_rotary
    return None


def _rope_field(key: str, value: Any) -> str | None:
    """Why a value of a RoPE mapping (``rope_parameters``, ``rope_scaling``) is refused."""
    if key == "factor" and value is not None and not _within(value, 1.0, MAX_ROPE_FACTOR):
        return f"a RoPE scaling factor must be a number in [1, {MAX_ROPE_FACTOR:g}]"
    if (
        key in ("low_freq_factor", "high_freq_factor")
        and value is not None
        and not _within(value, 0.0, MAX_ROPE_FACTOR, open_low=True)
    ):  # Llama 3's frequency bands divide by them
        return f"must be null or a number in (0, {MAX_ROPE_FACTOR:g}]"
    if key in ROPE_FACTORS and value is not None and not _within(value, 0.0, MAX_ROPE_FACTOR):
        return f"must be null or a number in [0, {MAX_ROPE_FACTOR:g}]"
    factors = value if isinstance(value, list) else [None]
    if key in ("short_factor", "long_factor") and not all(
        _within(v, 1.0 / MAX_ROPE_FACTOR, MAX_ROPE_FACTOR) for v in factors
    ):
        return f"must be a list of numbers in [1/{MAX_ROPE_FACTOR:g}, {MAX_ROPE_FACTOR:g}]"
    if key == "original_max_position_embeddings" and not (_integer(value) and value >= 1):
        return "must be an integer >= 1"
    return None


def _t5_buckets(config: dict) -> tuple[str, Any, str] | None:
    """T5's relative positions: log(max_distance / max_exact) divides, so it must be > 0."""
    buckets = config.get("relative_attention_num_buckets")
    distance = config.get("relative_attention_max_distance")
    if buckets is None and distance is None:
        return None
    if not (_integer(buckets) and buckets >= 4):
        return "relative_attention_num_buckets", buckets, "must be an integer >= 4"
    if not _integer(distance) or distance <= buckets // 2:
        message = f"must be an integer > relative_attention_num_buckets // 2 = {buckets // 2}"
        return "relative_attention_max_distance", distance, message
    return None


def _mapping_field(item: dict, where: str, rope: bool) -> tuple[str, Any, str] | None:
    """The first refused number directly in one mapping of the config."""
    for key, value in item.items():
        name = f"{where}.{key}" if where else str(key)
        if key in WEIGHTS_KEYS:
            message = "names the weights file to load: ship model.safetensors (or its index)"
            return name, value, message
        rule = _key_rule(str(key))
        problem = rule(value) if rule is not None and not isinstance(value, dict | list) else None
        if key in ("id2label", "label2id") and isinstance(value, dict) and len(value) > MAX_LABELS:
            value, problem = f"{len(value):,} labels", f"at most {MAX_LABELS:,} labels"
        if problem is None and rope:
            problem = _rope_field(str(key), value)
        if problem is None and isinstance(value, float) and abs(value) > MAX_FLOAT:
            problem = f"a float in a model config is at most {MAX_FLOAT:g} in size"
        if problem:
            return name, value, problem
    both = [item.get(key) for key in ROPE_MAPPINGS]
    if all(isinstance(m, dict) for m in both) and _rope_setting(both[0]) != _rope_setting(both[1]):
        name = f"{where}.rope_scaling" if where else "rope_scaling"
        message = (
            "states a RoPE setting other than rope_parameters' (transformers builds the model "
            "from rope_scaling): state one"
        )
        return name, both[1], message
    buckets = _t5_buckets(item)
    if buckets:
        return (f"{where}.{buckets[0]}" if where else buckets[0]), buckets[1], buckets[2]
    return None


def _rope_setting(mapping: dict) -> dict:
    """A RoPE mapping as transformers reads it: ``type`` is ``rope_type``; the base,
    ``rope_theta``, may be stated apart."""
    return {("rope_type" if k == "type" else k): v for k, v in mapping.items() if k != "rope_theta"}


def config_value_field(config: Any) -> tuple[str, Any, str] | None:
    """The dotted field, value and reason of the first number in a config (a JSON value) that
    would give non-finite logits, or of a key naming other weights; None when all are in range.
    One walk with a stack, linear in the config's size."""
    stack = [(config, "", False)]
    while stack:
        item, where, rope = stack.pop()
        if isinstance(item, dict):
            if "__float__" in item:  # transformers decodes {"__float__": "Infinity"} into inf
                message = (
                    "transformers' encoding of a special float (NaN or an infinity): a model "
                    "config's numbers are finite"
                )
                return (where or "(document)"), item, message
            found = _mapping_field(item, where, rope)
            if found:
                return found
            for key, sub in item.items():
                if isinstance(sub, dict | list):
                    name = f"{where}.{key}" if where else str(key)
                    stack.append((sub, name, rope or key in ROPE_MAPPINGS))
        elif isinstance(item, list):
            stack.extend(
                (sub, f"{where}[{i}]", rope)
                for i, sub in enumerate(item)
                if isinstance(sub, dict | list)
            )
    return None
