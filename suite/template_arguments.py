"""Filter arguments that are exponents or repeat counts, in task and chat templates: each must be
a small constant, checked on the syntax tree before a template is compiled (jinja calls a filter
whose arguments are constants while compiling, so a check at render time would come too late).

``round``'s precision is an exponent (``10**precision`` is computed for an integer, and for the
``ceil`` and ``floor`` methods); ``join``'s separator is repeated between every item; ``tojson``'s
indent is repeated once per nesting level on every line and its separators once per item. The
other allowed filters' arguments cannot grow their output: ``trim``'s characters, ``default``'s
value, ``int``'s base (Python refuses one outside 2 to 36, and the filter then gives its default)
and ``float``'s default; tests (``divisibleby``) compare or take a remainder.

In task templates ``join`` and ``string`` also cap what they output: MAX_FILTER_OUTPUT characters
a call, and MAX_RENDER_FILTER_OUTPUT for all calls of one render together (:func:`render_budget`),
so a template of a hundred joins cannot build a hundred megabytes for one field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from jinja2 import nodes
from jinja2.exceptions import FilterArgumentError
from jinja2.filters import do_join, do_round
from jinja2.utils import pass_eval_context
from markupsafe import soft_str

MAX_ROUND_DIGITS = 20
MAX_ARGUMENT_CHARS = 16  # join's separator, tojson's indent text and separators
MAX_JSON_INDENT = 16
MAX_FILTER_OUTPUT = 1 << 20  # characters of one join or string in a task template
MAX_RENDER_FILTER_OUTPUT = 4 << 20  # characters of all joins and strings of one render
_ROUND_METHODS = ("common", "ceil", "floor")


def bounded_round(value, precision=0, method="common"):
    """jinja's ``round`` with a precision within ±MAX_ROUND_DIGITS: the filter the task templates'
    environment runs, and folds constants with, so a template the check missed still cannot
    compute ``10**10**12``."""
    if isinstance(precision, bool) or not isinstance(precision, int):
        raise FilterArgumentError("round: the precision must be an integer")
    if abs(precision) > MAX_ROUND_DIGITS:
        raise FilterArgumentError(f"round: the precision must be within ±{MAX_ROUND_DIGITS}")
    return do_round(value, precision, method)


# Characters the joins and strings of the render in progress may still output: a template of
# 4,096 characters holds a hundred joins, each under MAX_FILTER_OUTPUT, so the calls of one render
# share this budget. None outside a render (jinja folding constants while compiling).
_RENDER_LEFT: ContextVar[list[int] | None] = ContextVar("render_left", default=None)


@contextlib.contextmanager
def render_budget() -> Iterator[None]:
    """Within the block (one render), the bounded filters output MAX_RENDER_FILTER_OUTPUT
    characters at most, all calls together."""
    token = _RENDER_LEFT.set([MAX_RENDER_FILTER_OUTPUT])
    try:
        yield
    finally:
        _RENDER_LEFT.reset(token)


def _capped(name: str, text: str) -> str:
    if len(text) > MAX_FILTER_OUTPUT:
        raise FilterArgumentError(f"{name}: the output is over {MAX_FILTER_OUTPUT:,} characters")
    left = _RENDER_LEFT.get()
    if left is not None:
        left[0] -= len(text)
        if left[0] < 0:
            raise FilterArgumentError(
                f"{name}: the joins and strings of one render output over "
                f"{MAX_RENDER_FILTER_OUTPUT:,} characters in all"
            )
    return text


@pass_eval_context
def bounded_join(eval_ctx, value, d="", attribute=None):
    """jinja's ``join`` with an output of at most MAX_FILTER_OUTPUT characters: a chain the
    syntax check missed cannot fill memory while jinja folds constants or renders a record."""
    return _capped("join", do_join(eval_ctx, value, d, attribute))


def bounded_string(value):
    """jinja's ``string`` (``repr`` of a list) with an output of at most MAX_FILTER_OUTPUT
    characters, as bounded_join."""
    return _capped("string", soft_str(value))


def _small_int(node: nodes.Node) -> int | None:
    """A constant integer (``5``, ``-5``, ``+5``), else None."""
    sign = 1
    while isinstance(node, nodes.Neg | nodes.Pos):
        sign = -sign if isinstance(node, nodes.Neg) else sign
        node = node.node
    if isinstance(node, nodes.Const) and type(node.value) is int:
        return sign * node.value
    return None


def _short_text(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and len(str(node.value)) <= MAX_ARGUMENT_CHARS


def _join_problem(args: dict[str, nodes.Node]) -> str | None:
    # join(field) repeats the separator between every item: a field joined with itself is
    # quadratic, nested joins cubic
    if not all(_short_text(a) for a in args.values()):
        return f"takes a constant separator of at most {MAX_ARGUMENT_CHARS} characters"
    return None


def _round_problem(args: dict[str, nodes.Node]) -> str | None:
    if "precision" in args:
        value = _small_int(args["precision"])
        if value is None or abs(value) > MAX_ROUND_DIGITS:
            return f"takes a constant precision from -{MAX_ROUND_DIGITS} to {MAX_ROUND_DIGITS}"
    method = args.get("method")
    if method is not None and not (
        isinstance(method, nodes.Const) and method.value in _ROUND_METHODS
    ):
        return "takes a constant method: 'common', 'ceil' or 'floor'"
    return None


def _tojson_problem(args: dict[str, nodes.Node]) -> str | None:
    if "indent" in args:
        indent = args["indent"]
        number = _small_int(indent)
        if not (0 <= number <= MAX_JSON_INDENT if number is not None else _short_text(indent)):
            return (
                f"takes a constant indent from 0 to {MAX_JSON_INDENT}, or a text of at most "
                f"{MAX_ARGUMENT_CHARS} characters"
            )
    separators = args.get("separators")
    if separators is not None and not (
        isinstance(separators, nodes.Tuple | nodes.List)
        and all(_short_text(item) for item in separators.items)
    ):
        return f"takes constant separators of at most {MAX_ARGUMENT_CHARS} characters each"
    for key in ("ensure_ascii", "sort_keys"):
        if key in args and not isinstance(args[key], nodes.Const):
            return f"takes a constant {key}"
    return None


# name: (positional parameters after the value, keyword-only parameters, check). tojson takes
# keywords only: jinja's is tojson(indent), transformers' tojson(ensure_ascii, indent, ...).
_RULES = {
    "join": (("d", "attribute"), (), _join_problem),
    "round": (("precision", "method"), (), _round_problem),
    "tojson": ((), ("ensure_ascii", "indent", "separators", "sort_keys"), _tojson_problem),
}


def _arguments(node: nodes.Filter, positional: tuple, keywords: tuple) -> dict | str:
    """A filter's arguments by parameter name, or why they cannot be read so."""
    names = (*positional, *keywords)
    if node.dyn_args or node.dyn_kwargs:
        return "takes no *args or **kwargs"
    if len(node.args) > len(positional):
        if not positional:
            return f"takes keyword arguments only ({', '.join(keywords)})"
        return f"takes at most {len(positional)} positional arguments"
    bound = dict(zip(positional, node.args, strict=False))
    for keyword in node.kwargs:
        if keyword.key not in names or keyword.key in bound:
            return f"has no argument '{keyword.key}' (or has it twice); it takes {names}"
        bound[keyword.key] = keyword.value
    return bound


def filter_argument_problem(node: nodes.Filter) -> str | None:
    """Why a filter's arguments are refused, or None: see the module's doc."""
    if node.name not in _RULES:
        return None
    positional, keywords, check = _RULES[node.name]
    args = _arguments(node, positional, keywords)
    problem = args if isinstance(args, str) else check(args)
    return f"filter '{node.name}' {problem}" if problem else None
