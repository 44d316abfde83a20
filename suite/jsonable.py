"""JSON values: numpy scalars and arrays to plain Python values, so ``json`` can write them, and
one walk over every mapping entry of a value read from YAML or JSON."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Dict keys as strings, tuples as lists, numpy arrays and scalars as Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite float written as None: JSON has no such numbers."""
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def entries(value: Any, field: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every mapping entry anywhere in ``value``: (dotted field like ``a.b[0].c``, key, value).
    One walk with a stack, linear in the value's size (the readers bound its depth); names are
    built for mapping entries and containers only."""
    stack = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                name = f"{where}.{key}" if where else str(key)
                yield name, key, sub
                if isinstance(sub, dict | list):
                    stack.append((sub, name))
        elif isinstance(item, list):
            stack.extend(
                (sub, f"{where}[{i}]") for i, sub in enumerate(item) if isinstance(sub, dict | list)
            )
