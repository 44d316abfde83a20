"""Templates whose output could grow exponentially with their length: refused on the syntax tree,
before jinja (or transformers) compiles them, since jinja folds constants while compiling.

Three filters can multiply a text's length: ``join`` (its separator goes between every character
or item, up to 17 times the length), ``string`` of a list (``repr`` doubles every backslash) and
``tojson`` (escapes quotes and backslashes). One of them is linear; a chain (``x|join("..")|join
("..")``, ``[[x]|string]|string``, ``x|tojson|tojson``) is exponential. So a growth filter may not
apply to an expression that holds another growth filter, or (chat templates) a variable that a
``set`` built from one. A count of its output (``x|string|length``) is a number and may.

A chat template's ``set`` may mention the template's own variables at most once in its value (a
conditional counts its larger branch): ``{% set b = a ~ x %}`` grows a chain linearly, ``{% set b
= a ~ a %}`` doubles, and 28 doublings of a constant are gigabytes. The template's output is then
at most linear in its length and in the messages' size.
"""

from __future__ import annotations

from jinja2 import nodes

GROWTH_FILTERS = frozenset({"join", "string", "tojson"})
_NUMBER_FILTERS = frozenset({"length", "count", "wordcount", "int", "float", "abs", "round"})
_NUMBERS = (nodes.Test, nodes.Compare, nodes.Not)


def _is_number(expr: nodes.Node) -> bool:
    """An expression whose value is a number or a bool, whatever its input's size."""
    return isinstance(expr, _NUMBERS) or (
        isinstance(expr, nodes.Filter) and expr.name in _NUMBER_FILTERS
    )


def _grows(expr: nodes.Node, grown: frozenset) -> str | None:
    """The growth filter (or grown variable) that ``expr``'s value holds, or None."""
    if _is_number(expr):
        return None
    if isinstance(expr, nodes.Filter) and expr.name in GROWTH_FILTERS:
        return f"filter '{expr.name}'"
    if isinstance(expr, nodes.Name) and expr.name in grown:
        return f"variable '{expr.name}' (set from a join, string or tojson)"
    return next((g for child in expr.iter_child_nodes() if (g := _grows(child, grown))), None)


def growth_filter_problem(node: nodes.Filter, grown: frozenset = frozenset()) -> str | None:
    """Why a filter is refused: a growth filter applied to another's output, or None."""
    if node.name not in GROWTH_FILTERS or node.node is None:
        return None
    inner = _grows(node.node, grown)
    if inner is None:
        return None
    return (
        f"filter '{node.name}' is applied to the output of {inner}: each can multiply the text's "
        "length, so a chain grows exponentially; at most one of join, string, tojson per value"
    )


def _mentions(expr: nodes.Node, names: frozenset) -> int:
    """How many of ``names`` the value of ``expr`` can hold copies of."""
    if _is_number(expr):
        return 0
    if isinstance(expr, nodes.Name):
        return int(expr.name in names)
    if isinstance(expr, nodes.CondExpr):
        branches = [b for b in (expr.expr1, expr.expr2) if b is not None]
        return max(_mentions(b, names) for b in branches)
    if isinstance(expr, nodes.And | nodes.Or):
        return max(_mentions(expr.left, names), _mentions(expr.right, names))
    return sum(_mentions(child, names) for child in expr.iter_child_nodes())


def set_growth_problem(tree: nodes.Template, message_lists: frozenset) -> str | None:
    """Why a chat template's ``set`` values could grow exponentially, or None: a value mentions
    the template's own variables twice, or a growth filter applies to a variable built by one."""
    assigns = [a for a in tree.find_all(nodes.Assign) if isinstance(a.target, nodes.Name)]
    own = frozenset(a.target.name for a in assigns) - message_lists
    for a in assigns:
        if _mentions(a.node, own) > 1:
            return (
                f"the value of set '{a.target.name}' mentions the template's variables more than "
                "once: a chain of such sets doubles its size each time"
            )
    grown: frozenset = frozenset()
    for _ in range(len(assigns) + 1):  # names built from a growth filter, or from such a name
        new = frozenset(a.target.name for a in assigns if _grows(a.node, grown))
        if new == grown:
            break
        grown = new
    for node in tree.find_all(nodes.Filter):
        if problem := growth_filter_problem(node, grown):
            return problem
    return None
