"""What a task file may compute: templates that only fill in fields, regexes that run in linear-ish
time. A task file comes from ``--tasks-dir`` and is data, so both are checked when it is read.

Templates render in jinja2's ``ImmutableSandboxedEnvironment`` (no Python internals, no mutation)
and, beyond that, may only print fields, index them, compare them and choose with ``if``: no loops,
no assignments, no calls, no ``*``, ``**`` or ``%`` and only filters that cannot multiply their
input. Jinja folds constants while compiling, so ``{{ "x" * 10**10 }}`` would fill memory before
any render; the syntax tree is checked first. A filter argument that is an exponent or a repeat
count is a small constant: ``round``'s precision (``10**precision`` is computed), ``join``'s
separator and ``tojson``'s indent and separators (chat templates). The other filters' arguments
cannot grow their output (``trim``'s characters, ``default``'s value, ``int``'s base). ``join``,
``string`` and ``tojson`` may not be chained (suite.template_growth). A template's output is then
at most linear in its length and its record's size.

Answer-extraction regexes run over every generation: a nested quantifier (``(a+)+``), a
quantified alternation (``(a|a)*``) or a back-reference can take exponential time on a crafted
text, so they are refused, as are patterns over 256 characters or with more than four unbounded
repeats (each one more power of the text's length in the worst case). They run with the
``regex`` module (for its clock), in its ``V0`` mode, and are checked with both engines: a pattern
must compile in each, and a ``{`` must be a repeat count (``{2}``, ``{1,3}``) or escaped, so
``regex``-only syntax such as fuzzy matching (``(?:abc){e<=9}``) is refused, never read by ``re``
as literal text and then run by ``regex`` as something else.
"""

from __future__ import annotations

import decimal
import math
import re
import warnings
from collections.abc import Iterator

import jinja2
import jinja2.ext
import regex as timed_re
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from suite.chat_output import MESSAGES, name_sizes, output_problem, variable_problem
from suite.template_arguments import (
    bounded_join,
    bounded_round,
    bounded_string,
    filter_argument_problem,
)
from suite.template_growth import growth_filter_problem, set_growth_problem

try:  # Python 3.11+
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

MAX_TEMPLATE_CHARS = 4096
MAX_REGEX_CHARS = 256
MAX_UNBOUNDED_REPEATS = 4
SAFE_FILTERS = frozenset(
    {"trim", "lower", "upper", "title", "capitalize", "default", "d", "string", "first", "last"}
    | {"length", "count", "int", "float", "abs", "round", "striptags", "wordcount", "join"}
)
_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.Name, nodes.Const,
    nodes.Getitem, nodes.Getattr, nodes.Slice, nodes.CondExpr, nodes.Compare, nodes.Operand,
    nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Concat, nodes.Add, nodes.Sub,
    nodes.Filter, nodes.Test, nodes.Tuple, nodes.List, nodes.Keyword,
)  # fmt: skip


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with no globals (``range``, ``lipsum``, ``namespace``, ``dict``, ``cycler``)."""

    def __init__(self):
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=False)
        self.globals.clear()
        self.filters = {k: v for k, v in self.filters.items() if k in SAFE_FILTERS}
        self.filters["round"] = bounded_round
        self.filters["join"] = bounded_join
        self.filters["string"] = bounded_string
        self.filters["float"] = strict_float
        self.filters["int"] = strict_int
        for name in ("divisibleby", "odd", "even"):  # value % n: printf on a text
            self.tests[name] = _numbers_only(name, self.tests[name])

    intercepted_binops = frozenset({"+", "-"})  # computed as rendered: checked as rendered

    def call_binop(self, context, operator, left, right):
        """``+`` and ``-`` whose result a float holds: ``(1e308 if x else 0) + 1e308`` is inf
        only as it renders (constant sums are refused when the spec is read)."""
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, float) and not math.isfinite(result):
            raise SecurityError(f"'{operator}' gives {result}: beyond the largest float")
        return result

    def getattr(self, obj, attribute):
        """A field, never a method: a template calls nothing, and a method printed uncalled
        (``{{ ID.upper }}``) is its memory address, other in every process."""
        value = super().getattr(obj, attribute)
        if callable(value) and not isinstance(value, jinja2.Undefined):
            raise SecurityError(f"'{attribute}' is a method, not a field: a template reads fields")
        return value

    def getitem(self, obj, argument):
        """As :meth:`getattr`: ``ID['upper']`` falls back to the attribute, a method."""
        value = super().getitem(obj, argument)
        if callable(value) and not isinstance(value, jinja2.Undefined):
            raise SecurityError(f"'{argument}' is a method, not a field: a template reads fields")
        return value


_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def _number_of(value, name: str) -> float | int:
    """A number, or a number's text in ASCII digits, read as written: jinja's own ``float``
    and ``int`` give 0 for a text they cannot read, 0 for ``1e-400``, inf for ``1e999`` and 12
    for Arabic-Indic digits; here each is refused naming the filter."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and len(value) <= 1024 and _NUMBER_TEXT.fullmatch(value.strip()):
        text = value.strip()
        number = int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)
        if isinstance(number, float) and (problem := _float_literal_problem(text)):
            raise SecurityError(f"the filter '{name}': {problem}")
    else:
        shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
        raise SecurityError(f"the filter '{name}' takes a number or a number's text, not {shown}")
    if isinstance(number, float) and not math.isfinite(number):
        raise SecurityError(f"the filter '{name}' takes a finite number, not {number}")
    return number


def strict_float(value, default=None):
    """jinja's ``float`` on numbers and numbers' texts only (:func:`_number_of`)."""
    return float(_number_of(value, "float"))


def strict_int(value, default=None, base=10):
    """jinja's ``int`` on numbers and decimal numbers' texts only (:func:`_number_of`); a text
    is truncated as written (``"1e23"`` is 10**23, not the float nearest it)."""
    if base != 10:
        raise SecurityError("the filter 'int' reads decimal numbers only (base 10)")
    number = _number_of(value, "int")
    if isinstance(value, str) and isinstance(number, float):
        return int(decimal.Decimal(value.strip()))  # a float holds it: at most 309 digits
    return int(number)


def _numbers_only(name: str, test):
    """A jinja test that computes ``value % n`` (``divisibleby``, ``odd``, ``even``), on
    numbers only: on a text ``%`` is printf formatting, and ``"%0400000000d" is odd`` would
    build 400 MB."""

    def run(value, *args):
        for item in (value, *args):
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise SecurityError(f"the test '{name}' takes numbers, not {type(item).__name__}")
        return test(value, *args)

    return run


JINJA = _Environment()
_FOLDING = jinja2.Environment()  # folds constant sums for template_problem; renders nothing


def _float_literal_problem(text: str) -> str | None:
    """A number written in a template is read as written: never one a float cannot hold."""
    value = float(text.replace("_", ""))
    mantissa = re.split("[eE]", text)[0]
    if not math.isfinite(value):
        return f"the number {text[:40]} is beyond the largest float: it would read as inf"
    if value == 0 and any(c in "123456789" for c in mantissa):
        return f"the number {text[:40]} is below the smallest float: it would read as 0"
    return None


def template_problem(source: str) -> str | None:
    """Why a template is refused, or None. Syntax errors raise TemplateSyntaxError."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"a template is at most {MAX_TEMPLATE_CHARS:,} characters"
    for _, kind, text in JINJA.lex(source):
        if kind == "float" and (problem := _float_literal_problem(text)):
            return problem
    tree = JINJA.parse(source)
    context = nodes.EvalContext(_FOLDING)
    for node in tree.find_all((nodes.Add, nodes.Sub, nodes.Neg, nodes.Pos)):
        try:  # a sum of constants (1e308 + 1e308), wherever it is
            value = node.as_const(context)
        except Exception:  # not constant (Impossible), or a sum of a text and a number
            continue
        if isinstance(value, float) and not math.isfinite(value):
            return "a sum of numbers beyond the largest float: it would read as inf"
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            return f"{type(node).__name__} is not allowed in a task template (fields, if, filters)"
        if isinstance(node, nodes.Filter) and node.name not in SAFE_FILTERS:
            return (
                f"filter '{node.name}' is not allowed; allowed: {', '.join(sorted(SAFE_FILTERS))}"
            )
        if isinstance(node, nodes.Filter) and (
            problem := filter_argument_problem(node) or growth_filter_problem(node)
        ):
            return problem
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return f"attribute '{node.attr}' is private: a template reads fields only"
        big = isinstance(node, nodes.Const) and isinstance(node.value, int | str)
        if big and len(str(node.value)) > 1024:
            return "a constant of over 1,024 characters"
    return None


_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT)}


MAX_BOUNDED_REPEAT = 1_000  # a repeat count above it ({0,4294967294}) counts as unbounded


def _sub_patterns(arg) -> list:
    """Every sub-pattern an op's argument holds (a group's body, a look-around's, an atomic
    group's, a conditional's branches), whatever the op: none is left unchecked."""
    if isinstance(arg, sre_parse.SubPattern):
        return [arg]
    if isinstance(arg, tuple | list):
        return [a for a in arg if isinstance(a, sre_parse.SubPattern)]
    return []


def _walk(items, inside_repeat: bool, counts: dict) -> str | None:
    """Depth-first over a parsed pattern; the first dangerous construct's name, or None."""
    for op, arg in items:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            return "a back-reference"
        if op in _REPEATS:
            low, high, body = arg
            unbounded = high is sre_constants.MAXREPEAT or high > MAX_BOUNDED_REPEAT
            many = unbounded or high > 1
            if inside_repeat and (many or low != high):
                # an optional part inside a repeat ((a?){30}) backtracks like a nested one
                return "a nested quantifier (a repeat inside a repeat)"
            counts["unbounded"] += unbounded
            problem = _walk(body, inside_repeat or many, counts)
        elif op is sre_constants.BRANCH:
            if inside_repeat:
                return "an alternation inside a repeat"
            problem = next((p for b in arg[1] if (p := _walk(b, False, counts))), None)
        else:  # groups, look-arounds, atomic groups and any other op with a sub-pattern
            problem = next(
                (p for sub in _sub_patterns(arg) if (p := _walk(sub, inside_repeat, counts))), None
            )
        if problem:
            return problem
    return None


_REPEAT_COUNT = re.compile(r"\{(?:\d+(?:,\d*)?|,\d+)\}")


# An inline flag group: ``(?x)`` (the pattern's, at its start) or ``(?x-i:...)`` (a group's).
_FLAG_GROUP = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]*))?([:)])")
_NAMED_ESCAPE = re.compile(r"\\[NpP]\{[^}]*\}")  # \N{DIGIT ONE}, \p{L}: one escape, braces and all
_VERBOSE_SPACE = " \t\n\r\f\v"


def syntax_chars(
    pattern: str, comments: list | None = None, spans: list | None = None
) -> Iterator[tuple[int, str]]:
    """(index, character) of each character of a regex outside character classes and comments
    that no backslash escapes: where groups, alternation, repeats and braces are read. Comments
    are skipped as the engines skip them: ``(?#...)`` to its first unescaped ``)``, and in
    verbose mode (``(?x)``, or a group's ``(?x:...)``) whitespace and ``#`` to the line's end,
    so a ``[`` or ``(`` inside one opens nothing. ``comments`` (a list) collects each verbose
    comment's text, ``spans`` each comment's (start, end), of both kinds."""
    i, in_class, verbose = 0, False, [False]  # verbose mode of each open group, the pattern's first
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            named = _NAMED_ESCAPE.match(pattern, i)
            i = named.end() if named else i + 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            i += pattern[i : i + 1] == "^"
            i += pattern[i : i + 1] == "]"  # a leading ']' is a member
            continue
        elif pattern.startswith("(?#", i):
            start, i = i, i + 3
            while i < len(pattern) and pattern[i] != ")":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            if spans is not None:
                spans.append((start, min(i, len(pattern))))
            continue
        elif verbose[-1] and c == "#":
            end = pattern.find("\n", i)
            end = len(pattern) if end < 0 else end
            if comments is not None:
                comments.append(pattern[i:end])
            if spans is not None:
                spans.append((i, end))
            i = end + 1
            continue
        elif verbose[-1] and c in _VERBOSE_SPACE:
            i += 1
            continue
        else:
            if c == "(":
                state, flags = verbose[-1], _FLAG_GROUP.match(pattern, i)
                if flags is not None:
                    on, off, end = flags.groups()
                    if end == ")" and "x" in on:  # the pattern's flags: verbose throughout
                        verbose = [True] * len(verbose)
                    state = (state or "x" in on) and "x" not in (off or "")
                verbose.append(state if flags is None or flags.group(3) == ":" else verbose[-1])
            elif c == ")" and len(verbose) > 1:
                verbose.pop()
            yield i, c
        i += 1


def _comment_problem(pattern: str) -> str | None:
    """A verbose comment holding a backslash: ``re`` reads ``\\`` and a newline in one as an
    escaped character and goes on to the next line, the ``regex`` module ends the comment at the
    newline and runs what follows, so the checks (on ``re``'s parse) would not see it."""
    comments: list[str] = []
    for _ in syntax_chars(pattern, comments):
        pass
    if any("\\" in text for text in comments):
        return "a backslash in a verbose (?x) comment: the regex engines end it differently"
    return None


def without_comments(pattern: str) -> str:
    """``pattern`` with each comment's characters (:func:`syntax_chars`) written as spaces, at
    the same indices: for the scans of character classes, which a comment's ``[`` would open."""
    spans: list[tuple[int, int]] = []
    for _ in syntax_chars(pattern, spans=spans):
        pass
    chars = list(pattern)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def class_members(pattern: str) -> Iterator[tuple[int, str]]:
    """(index, character) of each character inside a character class (after its ``[``, ``^``
    and a leading ``]``), comments and escapes skipped: where a class's own syntax is read."""
    text, in_class, i = without_comments(pattern), False, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if not in_class and c == "[":
            in_class, i = True, i + 1
            i += text[i : i + 1] == "^"
            i += text[i : i + 1] == "]"  # a leading ']' is a member
            continue
        if in_class and c == "]":
            in_class = False
        elif in_class:
            yield i, c
        i += 1


def posix_bracket_problem(pattern: str) -> str | None:
    """A POSIX bracket inside a character class (``[[:digit:]]``, ``[[=a=]]``, ``[[.a.]]``):
    ``re``, whose parse the checks read, sees the set ``[:digt`` and a literal ``]``, the
    ``regex`` module (and Oniguruma) a class of digits, so the pattern checked is not the one
    run."""
    for i, c in class_members(pattern):
        if c == "[" and pattern[i + 1 : i + 2] in (":", "=", "."):
            return (
                "a POSIX bracket ([:name:]) in a character class: the regex engines read it "
                "differently; write its characters (0-9), an escape (\\d), or \\[ for a '['"
            )
    return None


def _brace_problem(pattern: str) -> str | None:
    """A ``{`` outside a character class that is neither escaped nor a repeat count: ``re`` reads
    it as a literal, ``regex`` may read it as fuzzy matching (``{e<=9}``) or another construct."""
    for i, c in syntax_chars(pattern):
        if c == "{" and not _REPEAT_COUNT.match(pattern, i):
            return (
                "'{' that is not a repeat count ({2}, {1,3}): fuzzy matching and other regex-only "
                "syntax is not allowed; write a literal brace as \\{"
            )
    return None


def compile_regex(pattern: str):
    """The pattern as the answer extraction runs it: the ``regex`` module in its ``V0`` mode."""
    return timed_re.compile(pattern, timed_re.V0)


def regex_problem(pattern: str) -> str | None:
    """Why an answer regex is refused (it could take super-linear time), or None. A pattern that
    does not compile raises re.error."""
    if len(pattern) > MAX_REGEX_CHARS:
        return f"a pattern is at most {MAX_REGEX_CHARS} characters"
    with warnings.catch_warnings():  # "possible nested set": a hostile pattern is not our code's
        warnings.simplefilter("ignore", FutureWarning)
        re.compile(pattern)
    brace = _comment_problem(pattern) or _brace_problem(pattern) or posix_bracket_problem(pattern)
    if brace:
        return brace
    try:
        compile_regex(pattern)
    except timed_re.error as e:
        raise re.error(f"{e} (with the regex module)") from None
    counts = {"unbounded": 0}
    problem = _walk(sre_parse.parse(pattern), False, counts)
    if problem:
        return f"{problem} can take exponential time; refused"
    if counts["unbounded"] > MAX_UNBOUNDED_REPEATS:
        return f"more than {MAX_UNBOUNDED_REPEATS} unbounded repeats; refused"
    return None


# A tokenizer's chat template (a profile's tokenizer folder, or a Hub tokenizer) renders in
# transformers' sandbox, which allows loops, ``range`` and ``*``. It is checked first: besides the
# task-template nodes, it may loop over the messages (not nested), ``set`` names, test
# ``loop.index0 % 2``, raise an error and call string methods that do not grow their input. Each
# name's size and the output's are then bounded in copies of the messages plus characters
# (suite.chat_output): a ``set`` that grows a name from itself (``{% set a = a + a %}``), names
# past MAX_CHAT_COPIES copies, or an output past its budget are refused.
MAX_CHAT_TEMPLATE_CHARS = 65_536
CHAT_FILTERS = SAFE_FILTERS | {"tojson"}
_CHAT_METHODS = frozenset({"strip", "lstrip", "rstrip", "lower", "upper", "title", "capitalize"})
_CHAT_METHODS |= {"startswith", "endswith"}
_CHAT_NODES = (*_ALLOWED_NODES, nodes.For, nodes.Assign, nodes.Call, nodes.Mod, nodes.Break)
_CHAT_NODES = (*_CHAT_NODES, nodes.Continue)
# Tests that compute ``value % n``: printf formatting on a text (see _numbers_only), which
# transformers' environment does not guard.
_MOD_TESTS = frozenset({"divisibleby", "odd", "even"})


class _Generation(jinja2.ext.Extension):
    """transformers' ``{% generation %}...{% endgeneration %}`` (it marks the assistant's tokens
    for a mask), parsed for the check as its body alone."""

    tags = frozenset({"generation"})

    def parse(self, parser):
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


# Chat templates parse as transformers compiles them: with loop controls and its generation tag.
_CHAT_PARSER = jinja2.Environment(extensions=[jinja2.ext.loopcontrols, _Generation])


def _is_loop_number(node: nodes.Node) -> bool:
    """``loop.index0`` (any ``loop`` attribute) or an integer constant."""
    if isinstance(node, nodes.Const):
        return type(node.value) is int
    return (
        isinstance(node, nodes.Getattr)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "loop"
    )


def _is_messages(expr: nodes.Node, names: frozenset) -> bool:
    """``messages``, a slice of it, or a name only ever set to one of those."""
    if isinstance(expr, nodes.Getitem) and isinstance(expr.arg, nodes.Slice):
        expr = expr.node
    return isinstance(expr, nodes.Name) and (expr.name == MESSAGES or expr.name in names)


def _message_lists(tree: nodes.Template) -> frozenset:
    """Names that every ``set`` binds to the messages or a slice of them."""
    assigns = list(tree.find_all(nodes.Assign))
    named = {a.target.name for a in assigns if isinstance(a.target, nodes.Name)}
    return frozenset(
        n
        for n in named
        if all(
            _is_messages(a.node, frozenset())
            for a in assigns
            if isinstance(a.target, nodes.Name) and a.target.name == n
        )
    )


def _chat_node_problem(node: nodes.Node, names: frozenset) -> str | None:
    if not isinstance(node, _CHAT_NODES):
        return f"{type(node).__name__} is not allowed in a chat template"
    if isinstance(node, nodes.Filter) and node.name not in CHAT_FILTERS:
        return f"filter '{node.name}' is not allowed in a chat template"
    if isinstance(node, nodes.Filter) and (problem := filter_argument_problem(node)):
        return problem
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"attribute '{node.attr}' is private"
    if isinstance(node, nodes.For) and (
        node.recursive or not _is_messages(node.iter, names) or node.find(nodes.For) is not None
    ):
        return "a loop may only run once over the messages (no range, no nested loop)"
    if isinstance(node, nodes.Assign) and not isinstance(node.target, nodes.Name):
        return "a set may only name one variable"
    if isinstance(node, nodes.Call):
        f = node.node
        ok = isinstance(f, nodes.Name) and f.name == "raise_exception"
        ok = ok or (isinstance(f, nodes.Getattr) and f.attr in _CHAT_METHODS)
        if not ok or node.dyn_args or node.dyn_kwargs:
            return "a call may only be raise_exception() or a string method that does not grow"
    if isinstance(node, nodes.Test) and node.name in _MOD_TESTS and not _is_loop_number(node.node):
        return (
            f"the test '{node.name}' may only test a loop attribute or an integer "
            "(on a text it is printf formatting)"
        )
    if isinstance(node, nodes.Mod) and not (
        isinstance(node.left, nodes.Getattr)
        and isinstance(node.left.node, nodes.Name)
        and node.left.node.name == "loop"
        and isinstance(node.right, nodes.Const)
    ):
        return "'%' is allowed only as loop.index0 % n"
    big = isinstance(node, nodes.Const) and isinstance(node.value, int | str)
    if big and len(str(node.value)) > 1024:
        return "a constant of over 1,024 characters"
    return None


def chat_template_problem(source: str) -> str | None:
    """Why a tokenizer's chat template is refused, or None. Syntax errors raise
    TemplateSyntaxError; a template nested too deeply to parse raises RecursionError."""
    if len(source) > MAX_CHAT_TEMPLATE_CHARS:
        return f"a chat template is at most {MAX_CHAT_TEMPLATE_CHARS:,} characters"
    tree = _CHAT_PARSER.parse(source)
    names = _message_lists(tree)
    for node in tree.find_all(nodes.Node):
        problem = _chat_node_problem(node, names)
        if problem:
            return problem
    sizes = name_sizes(tree)
    if isinstance(sizes, str):
        return sizes
    return set_growth_problem(tree, names) or variable_problem(sizes) or output_problem(tree, sizes)


MAX_NAMED_TEMPLATES = 16  # as the additional_chat_templates/ folder's


def chat_template_refusal(value) -> str | None:
    """Why a tokenizer's ``chat_template`` value (a template, a list of named templates as
    tokenizer_config.json may hold, or the mapping of name to template transformers makes of
    them and of ``additional_chat_templates/``) is refused, or None."""
    if isinstance(value, list | dict):
        if len(value) > MAX_NAMED_TEMPLATES:
            return f"{len(value)} named chat templates; at most {MAX_NAMED_TEMPLATES}"
        if isinstance(value, list) and not all(
            isinstance(t, dict) and {"name", "template"} <= set(t) and isinstance(t["name"], str)
            for t in value
        ):
            return "each named chat template is a mapping of a text 'name' and its 'template'"
        named = value if isinstance(value, dict) else {t["name"]: t["template"] for t in value}
        if not all(isinstance(name, str) for name in named):
            return "a named chat template's name must be a text"
        if len(named) > 1 and "default" not in named:  # transformers would refuse every render
            return "named chat templates without a 'default' one"
        templates = list(named.values())
    else:
        templates = [value]
    for source in templates:
        if not isinstance(source, str):
            return "expected a chat template (a string), or a list or mapping of named templates"
        try:
            problem = chat_template_problem(source)
        except jinja2.TemplateSyntaxError as e:
            problem = f"bad Jinja2 template: {e.message} (line {e.lineno})"
        except RecursionError:
            problem = "nested too deeply to parse"
        if problem:
            return f"chat_template: {problem}"
    return None
