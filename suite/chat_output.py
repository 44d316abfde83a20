"""How much a tokenizer's chat template can print, bounded on its syntax tree before it renders.

transformers passes every special token to the template (``bos_token``, ``eos_token``, each
model-specific ``*_token``), so ``{{ bos_token }}`` repeated 4,000 times with a 50,000-character
``bos_token`` makes a 200 MB prompt, and the Rust tokenizer then aborts the process. A size is
counted on the tree as copies of the messages plus characters:

* ``messages``, a slice of it, a loop's message: one copy; a special token, or any other name the
  template does not set: :data:`MAX_SPECIAL_TOKEN_CHARS` characters (each special token of a
  tokenizer is at most that long, :mod:`suite.tokenizer_files`); a constant: its length;
* ``~`` and ``+`` add; ``x if c else y``, ``and`` and ``or`` take the larger; a comparison, a test
  or a count is a short number or bool;
* ``join(sep)`` multiplies by ``1 + len(sep)``, ``string`` by 2 (plus its quotes), ``tojson`` by
  its escapes (a control character becomes six characters, twelve with ``ensure_ascii``) plus
  its indent and separators, a case change (``upper``, ``title``) by 3 (``'ß'.upper()`` is ``SS``)
  and a list written out by the escapes of ``repr``;
* a ``set`` name holds its value's size. Sets are read in the template's order: jinja gives each
  loop iteration the values from before the loop, so no set runs twice on its own output, and
  where a set is conditional the larger size is kept. A set that grows a name's copies of the
  messages from the name itself is refused (``{% set a = a ~ a %}``).

An output inside the loop counts once per message (the suite renders one user message). The
template is refused when a variable may hold over :data:`MAX_CHAT_COPIES` copies of the messages,
the output over ``4 *`` that, or over :data:`MAX_CHAT_OUTPUT_CHARS` characters besides them.
Whatever the bound misses, a rendered prompt over :func:`max_rendered_chars` is refused before it
is tokenized (:mod:`suite.prompts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import nodes

MAX_SPECIAL_TOKEN_CHARS = 256
MAX_CHAT_COPIES = 16
MAX_CHAT_OUTPUT_CHARS = 256 << 10
MAX_RENDERED_CHARS = 1 << 20
MESSAGES = "messages"
_BOOL_CHARS = 5  # "False"
_NUMBER_CHARS = 32  # a count, or a float's repr
_OBJECT_CHARS = 64  # the repr of a method or a loop's context (``<built-in method ...>``)
_REPR_ESCAPE = 10  # repr writes a character as at most ten (``\U000e0001``)
_CASE_GROWTH = 3  # str.upper and friends write a character as at most three
_JSON_ESCAPE = 6  # json.dumps writes a control character as six (``\u0000``)
_COUNTS = frozenset({"length", "count", "wordcount"})
_NUMBERS = frozenset({"int", "float", "abs", "round"})
_CASES = frozenset({"upper", "lower", "title", "capitalize"})
_STRIPS = frozenset({"strip", "lstrip", "rstrip"})


@dataclass(frozen=True)
class Size:
    """At most ``copies`` copies of the messages plus ``chars`` characters."""

    copies: int = 0
    chars: int = 0

    def __add__(self, other: Size) -> Size:
        return Size(self.copies + other.copies, self.chars + other.chars)

    def times(self, factor: int, plus: int = 0) -> Size:
        return Size(self.copies * factor, self.chars * factor + plus)

    def most(self, other: Size) -> Size:
        return Size(max(self.copies, other.copies), max(self.chars, other.chars))


TOKEN = Size(0, MAX_SPECIAL_TOKEN_CHARS)
ONE_COPY = Size(1, 0)


def max_rendered_chars(instruction: str) -> int:
    """The most characters a chat template may render for one user message: a fixed cap plus
    four copies of the message (a system prompt and a turn may each repeat it)."""
    return MAX_RENDERED_CHARS + 4 * len(instruction)


def _total(exprs, names: dict[str, Size]) -> Size:
    out = Size()
    for expr in exprs:
        out = out + size(expr, names)
    return out


def _text(node: nodes.Node | None) -> int:
    """The length of a constant filter argument (checked small before), else the most allowed."""
    if isinstance(node, nodes.Const):
        return len(str(node.value))
    return 16 if node is not None else 0


def _argument(node: nodes.Filter, name: str, position: int | None) -> nodes.Node | None:
    if position is not None and len(node.args) > position:
        return node.args[position]
    return next((k.value for k in node.kwargs if k.key == name), None)


def _tojson_factor(node: nodes.Filter) -> int:
    """Each character's escapes, and per item a line break, the indent and the separators (an
    item is at least one character)."""
    ascii_ = _argument(node, "ensure_ascii", None)
    escape = _JSON_ESCAPE * (2 if ascii_ is not None and _truthy(ascii_) else 1)
    separators = _argument(node, "separators", None)
    items = separators.items if isinstance(separators, nodes.Tuple | nodes.List) else []
    indent = _argument(node, "indent", None)
    spaces = indent.value if isinstance(indent, nodes.Const) and type(indent.value) is int else 0
    return escape + 1 + max(spaces, _text(indent)) + sum(_text(i) for i in items)


def _truthy(node: nodes.Node) -> bool:
    return not isinstance(node, nodes.Const) or bool(node.value)


def _filter_size(node: nodes.Filter, names: dict[str, Size]) -> Size:
    value = size(node.node, names) if node.node is not None else Size()
    if node.name in _COUNTS:
        return Size(0, _NUMBER_CHARS)
    if node.name in _NUMBERS:
        return value + Size(0, _NUMBER_CHARS)
    if node.name == "join":
        return value.times(1 + _text(_argument(node, "d", 0)))
    if node.name == "string":
        return value.times(2, 2)
    if node.name == "tojson":
        return value.times(_tojson_factor(node), 2)
    if node.name in _CASES:
        return value.times(_CASE_GROWTH)
    return value + _total([*node.args, *(k.value for k in node.kwargs)], names)  # default(x)


def _call_size(node: nodes.Call, names: dict[str, Size]) -> Size:
    f = node.node
    if isinstance(f, nodes.Name) and f.name == "raise_exception":
        return Size()  # it raises
    if isinstance(f, nodes.Getattr):
        owner = size(f.node, names)
        if f.attr in _STRIPS:
            return owner
        if f.attr in _CASES:
            return owner.times(_CASE_GROWTH)
        if f.attr in ("startswith", "endswith"):
            return Size(0, _BOOL_CHARS)
    return _total(node.iter_child_nodes(), names)


def size(expr: nodes.Node, names: dict[str, Size]) -> Size:
    """The most an expression can print, given each set name's size (rules in the module doc)."""
    if isinstance(expr, nodes.Name):
        return names.get(expr.name, TOKEN)
    if isinstance(expr, nodes.Const):
        value = expr.value
        return Size(0, len(value) if isinstance(value, str) else len(repr(value)))
    if isinstance(expr, nodes.TemplateData):
        return Size(0, len(expr.data))
    if isinstance(expr, nodes.Test | nodes.Compare | nodes.Not):
        return Size(0, _BOOL_CHARS)
    if isinstance(expr, nodes.Filter):
        return _filter_size(expr, names)
    if isinstance(expr, nodes.Call):
        return _call_size(expr, names)
    if isinstance(expr, nodes.Getattr | nodes.Getitem):  # a part of the value, or a method
        return size(expr.node, names) + Size(0, _OBJECT_CHARS)
    if isinstance(expr, nodes.CondExpr):
        other = size(expr.expr2, names) if expr.expr2 is not None else Size()
        return size(expr.expr1, names).most(other)
    if isinstance(expr, nodes.And | nodes.Or):  # jinja gives one of the operands
        return size(expr.left, names).most(size(expr.right, names))
    if isinstance(expr, nodes.List | nodes.Tuple):  # written out as repr, when printed
        items = _total(expr.items, names)
        return items.times(_REPR_ESCAPE, 4 * len(expr.items) + 2)
    return _total(expr.iter_child_nodes(), names)


def _mentions(expr: nodes.Node, name: str) -> bool:
    return any(n.name == name for n in expr.find_all(nodes.Name))


def name_sizes(tree: nodes.Template) -> dict[str, Size] | str:
    """Each name's size after every ``set`` and loop, read in the template's order; or why a set
    grows a name's copies of the messages from the name itself."""
    names = {MESSAGES: ONE_COPY}
    for node in tree.find_all((nodes.Assign, nodes.For)):
        if isinstance(node, nodes.For):
            value = size(node.iter, names)
            target = node.target  # a name, or a tuple of names (find_all skips the node itself)
            targets = [
                n.name for n in (target, *target.find_all(nodes.Name)) if isinstance(n, nodes.Name)
            ]
        else:
            value = size(node.node, names)
            targets = [node.target.name]
            before = names.get(node.target.name, Size())
            if value.copies > before.copies and _mentions(node.node, node.target.name):
                return "a set grows a variable from itself: its size has no bound"
        for name in targets:
            names[name] = names.get(name, Size()).most(value)
    return names


def variable_problem(names: dict[str, Size]) -> str | None:
    if max(s.copies for s in names.values()) > MAX_CHAT_COPIES:
        return f"a variable holds over {MAX_CHAT_COPIES} copies of the messages"
    return None


def output_problem(tree: nodes.Template, names: dict[str, Size]) -> str | None:
    """Why the template's output is too large for one user message, or None."""
    out = _total(tree.find_all(nodes.Output), names)
    if out.copies > 4 * MAX_CHAT_COPIES:
        return f"the output holds over {4 * MAX_CHAT_COPIES} copies of the messages"
    if out.chars > MAX_CHAT_OUTPUT_CHARS:
        return (
            f"the output can reach {out.chars:,} characters besides the messages, over "
            f"{MAX_CHAT_OUTPUT_CHARS:,} (a constant counts its length, a special token "
            f"{MAX_SPECIAL_TOKEN_CHARS}, join, string and tojson multiply)"
        )
    return None
