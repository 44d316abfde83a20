"""Strict reading of files the suite does not trust: one place for every YAML and JSON it reads.

A file is read only if it is a regular file (a FIFO would block, a device never ends), up to a
byte bound, as UTF-8. YAML has no aliases (an alias chain expands without bound), no duplicate
keys (the last one would silently win), no integer of more than 100 digits and at most 64
levels of nesting (each reader checks that its numbers are finite, naming the field); JSON the
same, and without NaN or infinities. Neither has a lone surrogate (a ``"\\ud800"`` escape): it is
no character and cannot be written back as UTF-8 (a YAML escaped pair, ``"\\ud83d\\ude00"``, is
read as the one character it spells, as JSON reads it). YAML timestamps stay text. Every refusal
is a :class:`SpecError` naming the file, and where it can the field (a YAML value's also its line
and column). Only yaml and the standard library: ``suite.fetch`` uses it before the suite is
installed.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from suite.errors import SpecError, printable

MAX_YAML_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000  # YAML nodes per file: a 1 MiB flow list of 500k items is refused early
MAX_INT_DIGITS = 100
MAX_FLOAT_CHARS = 400  # a float's text (digits, point, exponent)
MAX_CONFIG_BYTES = 16 << 20  # any model's config.json: real ones are a few kilobytes
# A model folder's file other than its weights (a tokenizer.json is up to a few tens of MiB):
# every file is hashed into the model's fingerprint, so a huge (or sparse) one costs its size.
MAX_SIDE_FILE_BYTES = 64 << 20


def check_side_file(path: Path, size: int, field: str = "model") -> None:
    """A model folder's file: weights (``*.safetensors``, bounded by their header) of any size,
    any other file at most MAX_SIDE_FILE_BYTES."""
    if size > MAX_SIDE_FILE_BYTES and not path.name.endswith(".safetensors"):
        message = (
            f"{size:,} bytes; a model folder's file other than its weights is at most "
            f"{MAX_SIDE_FILE_BYTES:,}"
        )
        raise SpecError(path, field, path.name, message)


def read_bytes(path: Path, what: str, limit: int, *, nofollow: bool = False) -> bytes:
    """At most ``limit`` bytes of a regular file; a FIFO, device, folder, oversized file or (with
    ``nofollow``) a symbolic link is refused without blocking or reading it."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if nofollow and e.errno == errno.ELOOP:
            raise SpecError(path, None, None, f"{what} is a symbolic link; refused") from None
        raise SpecError(path, None, None, f"cannot read {what}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SpecError(path, None, None, f"{what} is not a regular file; refused")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise SpecError(path, None, None, f"cannot read {what}: {e.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise SpecError(path, None, None, f"{what} is over {limit} bytes; refused")
    return b"".join(chunks)


def decode(raw: bytes, path: Path, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        message = f"{what} is not UTF-8 (byte {e.start}: {raw[e.start : e.start + 1]!r})"
        raise SpecError(path, None, None, message) from None


class FieldError(ValueError):
    """A value that cannot be read: which field (dotted, ``a.b[0]``), which value, why."""

    def __init__(self, field: str, value: Any, message: str):
        super().__init__(field, value, message)
        self.field, self.value, self.message = field, value, message

    def __str__(self) -> str:
        return f"field '{self.field}' = {self.value!r:.80}: {self.message}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate of ``text`` (one not in a high-low pair), or None."""
    for match in _SURROGATE.finditer(text):
        i, c = match.start(), match.group()
        if c <= "\udbff" and text[i + 1 : i + 2] and "\udc00" <= text[i + 1] <= "\udfff":
            continue  # a high surrogate before a low one: a pair
        if c >= "\udc00" and i and "\ud800" <= text[i - 1] <= "\udbff":
            continue  # the low half of a pair
        return c
    return None


def _surrogate_message(c: str) -> str:
    return f"a lone surrogate (U+{ord(c):04X}) is not a character: refused"


class _NodeError(yaml.constructor.ConstructorError):
    """A value that cannot be constructed, with its node: :func:`parse_yaml` names its field."""

    def __init__(self, message: str, node):
        super().__init__(None, None, message, node.start_mark)
        self.node = node


class StrictLoader(yaml.SafeLoader):
    """yaml's safe loader without aliases, duplicate keys, huge integers, deep nesting or lone
    surrogates; timestamps stay text, and an error constructing a value names its node."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            message = f"found alias *{event.anchor}: YAML aliases are refused"
            raise yaml.composer.ComposerError(None, None, message, event.start_mark)
        self._nodes = getattr(self, "_nodes", 0) + 1
        if self._nodes > MAX_NODES:
            mark = self.peek_event().start_mark
            message = f"more than {MAX_NODES:,} values in one file; refused"
            raise yaml.composer.ComposerError(None, None, message, mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                message = f"nested deeper than {MAX_DEPTH} levels; refused"
                raise yaml.composer.ComposerError(None, None, message, mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        self.root = node  # where parse_yaml looks for the field of a refused node
        return super().construct_document(node)

    def construct_object(self, node, deep=False):
        """Any error building a value names its node, whatever constructor raised it (``!!float
        abc``, ``!!bool maybe``, ``!!map [1]``): every value is built deep, inside this call,
        not later from the document's loop (no alias can make a cycle that needs that)."""
        try:
            return super().construct_object(node, deep=True)
        except _NodeError:
            raise
        except yaml.constructor.ConstructorError as e:
            raise _NodeError(e.problem or str(e), node) from None
        except Exception as e:  # a constructor's own error: KeyError, TypeError, ValueError...
            raise _NodeError(f"{type(e).__name__}: {e}", node) from None

    def construct_scalar(self, node):
        value = super().construct_scalar(node)
        if isinstance(value, str) and _SURROGATE.search(value):
            c = lone_surrogate(value)
            if c is not None:
                raise _NodeError(_surrogate_message(c), node)
            value = value.encode("utf-16", "surrogatepass").decode("utf-16")  # pairs joined
        return value

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise _NodeError("a mapping key must be a scalar", key_node) from None
            if duplicate:
                raise _NodeError(f"duplicate key {key!r:.80}", key_node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        """Only decimal integers (``[-+]?[0-9]+``, no leading zero): YAML 1.1's other spellings
        (``1:00`` is 60, ``0x7f``, ``0o17``, ``017`` octal, ``1_2_8``) stay strings, so a field
        that wants an integer refuses them, naming the field and the text as written."""
        text = str(node.value)
        if len(text) > MAX_INT_DIGITS:
            raise _NodeError(f"an integer of over {MAX_INT_DIGITS} digits is refused", node)
        if not _DECIMAL.fullmatch(text):
            return self.construct_scalar(node)
        return int(text)

    def construct_yaml_float(self, node):
        """Only floats written in ASCII decimal (``0.5``, ``-1e-3``, ``.inf``): YAML 1.1's
        sexagesimal (``1:30.5``) and underscored (``1_0.5``) floats stay strings, which a field
        that wants a number refuses, and any other text tagged ``!!float`` is refused, naming its
        node: Python's ``float`` reads other scripts' digits and spaces (``!!float "٠.٥"`` was
        0.5). A float is the number written: ``256.00000000000001`` (read as 256.0, a whole
        count) and ``4.9e-324`` (5e-324) are refused, as ``1e-400`` is."""
        text = str(node.value)
        if ":" in text or "_" in text:
            return self.construct_scalar(node)
        if not _FLOAT.fullmatch(text):
            raise _NodeError(f"{text!r:.80} is not a float written in ASCII decimal digits", node)
        value = super().construct_yaml_float(node)
        if underflows(text, value):  # 1e-400: not the number
            raise _NodeError(f"{text!r:.80} is below the smallest float: it would read as 0", node)
        if not holds(text, value):
            # 256.00000000000001 read as the count 256, 100.00000000000000001 passed "≤ 100"
            message = f"{text!r:.80} has more digits than a float holds: it would read as {value!r}"
            raise _NodeError(message, node)
        return value


_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


StrictLoader.add_constructor("tag:yaml.org,2002:map", StrictLoader.construct_yaml_map)
StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictLoader.construct_scalar)
# YAML 1.2's exponent floats that YAML 1.1 reads as text (no point: ``1e-3``, ``2E6``; a point
# and an unsigned exponent: ``5.0e0``, ``2.0e6``, ``.5E1``): a user writing a small temperature
# or a large count this way means the number.
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _node_field(root, target) -> str | None:
    """The dotted field (``a.b[0]``) of ``target`` in the document ``root`` (a key: the field it
    names); None for the document itself or a node not found."""
    stack = [(root, "")]
    while stack:
        node, field = stack.pop()
        if node is target:
            return field or None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = printable(key.value, keep="") if isinstance(key, yaml.ScalarNode) else "?"
                name = f"{field}.{name}" if field else name
                if key is target:
                    return name
                stack.append((value, name))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{field}[{i}]") for i, item in enumerate(node.value))
    return None


def _shown(text: str, node) -> Any:
    """The value a refusal shows: a scalar's value, or as written (first characters) for a
    collection or any node with an explicit tag (``!!python/name:os.system`` shows its tag)."""
    start, end = node.start_mark.index, node.end_mark.index
    written = text[start : min(end, start + 120)]
    if isinstance(node, yaml.ScalarNode) and not written.startswith("!"):
        return node.value
    return written


def parse_yaml(text: str, path: Path) -> Any:
    loader = None
    try:  # the reader refuses non-printable characters as soon as it is made
        loader = StrictLoader(text)
        return loader.get_single_data()
    except _NodeError as e:
        node, mark = e.node, e.problem_mark
        field = _node_field(getattr(loader, "root", None), node)
        value = _shown(text, node)
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        raise SpecError(path, field, value, f"invalid YAML: {e.problem} ({where})") from None
    except yaml.MarkedYAMLError as e:  # one line: the problem and where, not a quoted excerpt
        mark = e.problem_mark or e.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        context = f"{e.context}: " if e.context else ""
        raise SpecError(path, None, None, f"invalid YAML: {context}{e.problem}{where}") from None
    except yaml.YAMLError as e:
        raise SpecError(path, None, None, f"invalid YAML: {e}") from None
    except (ValueError, RecursionError) as e:
        raise SpecError(path, None, None, f"invalid YAML: {type(e).__name__}: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(path: Path, what: str, limit: int = MAX_YAML_BYTES, *, nofollow: bool = False) -> Any:
    """Parse one YAML file strictly; anything refused is a SpecError naming the file."""
    return parse_yaml(decode(read_bytes(path, what, limit, nofollow=nofollow), path, what), path)


def whole(value: Any) -> Any:
    """A whole float within 2^53 (``2e3``, YAML 1.2's way to write two thousand) as that integer,
    where a file's field asks for an integer; any other value as it is, for its reader to judge."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r:.80}")
        out[key] = value
    return out


def _constant(name: str):
    raise ValueError(f"{name} is refused: numbers must be finite")


def underflows(text: str, value: float) -> bool:
    """Whether a number written with a non-zero digit before its exponent read as 0.0 (below
    the smallest float): not the number written."""
    return value == 0 and any(c in "123456789" for c in re.split("[eE]", text)[0])


def _float(text: str) -> float:
    """A JSON number with a fraction or exponent, the number written: one that overflows to
    infinity, underflows to 0 or has more digits than a float holds is refused."""
    if len(text) > MAX_FLOAT_CHARS:
        raise ValueError(f"a number of over {MAX_FLOAT_CHARS} characters is refused")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is refused: numbers must be finite")
    if underflows(text, value):
        raise ValueError(f"{text} is refused: below the smallest float, it would read as 0")
    if not holds(text, value):  # 1.00000000000000000001 passed a bound of 1 as 1.0
        raise ValueError(f"{text} is refused: it has more digits than a float holds ({value!r})")
    return value


def holds(text: str, value: float) -> bool:
    """Whether the float ``value`` read from ``text`` is the number written: its shortest
    decimal (``repr``) and the text are one number (``0.1``, ``1e-3``; not
    ``256.00000000000001``, which reads as 256.0)."""
    return not math.isfinite(value) or Decimal(repr(value)) == Decimal(text)


def _int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of over {MAX_INT_DIGITS} digits is refused")
    return int(text)


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


# Where a JSON text may hold a surrogate: an escape of one, or one itself (bytes are decoded as
# strict UTF-8 first, which refuses encoded surrogates). Only a text that matches is searched
# value by value.
_MAYBE_SURROGATE = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def _surrogate_field(value: Any) -> FieldError | None:
    """The first key or text of ``value`` holding a lone surrogate, as a FieldError."""
    stack = [(value, "")]
    while stack:
        item, field = stack.pop()
        if isinstance(item, str):
            c = lone_surrogate(item)
            if c is not None:
                return FieldError(field or "(document)", item, _surrogate_message(c))
        elif isinstance(item, list):
            stack.extend((v, f"{field}[{i}]") for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, dict):
            for key, v in reversed(item.items()):
                name = f"{field}.{printable(key, keep='')}" if field else printable(key, keep="")
                c = lone_surrogate(key)
                if c is not None:
                    return FieldError(name, key, _surrogate_message(c))
                stack.append((v, name))
    return None


def loads_json(text: str | bytes) -> Any:
    """Strict JSON: duplicate keys, NaN, infinities, huge integers and deep nesting raise a
    ValueError (JSONDecodeError for malformed text); a lone surrogate a FieldError naming the
    field."""
    if isinstance(text, bytes | bytearray):
        # UTF-8 only, as every file the suite writes: json.loads would also take UTF-16 and 32
        # and a byte-order mark from bytes, which str input (a file read as text) refuses
        text = bytes(text).decode("utf-8")  # a UnicodeDecodeError is a ValueError
    if text.startswith("\ufeff"):
        raise ValueError("starts with a byte-order mark: JSON here is UTF-8 without one")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_constant,
            parse_int=_int,
            parse_float=_float,
        )
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if not _depth_ok(value):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if _MAYBE_SURROGATE.search(text) and (error := _surrogate_field(value)) is not None:
        raise error
    return value


def read_json(path: Path, what: str, limit: int, *, nofollow: bool = False) -> Any:
    """One JSON file, strictly; anything refused is a SpecError naming the file (and the field,
    where one is to blame)."""
    text = decode(read_bytes(path, what, limit, nofollow=nofollow), path, what)
    try:
        return loads_json(text)
    except FieldError as e:
        raise SpecError(path, e.field, e.value, f"in {what}: {e.message}") from None
    except ValueError as e:
        raise SpecError(path, None, None, f"invalid JSON in {what}: {e}") from None


def read_config(path: Path, *, nofollow: bool = False) -> dict:
    """A model's ``config.json`` (or another of its JSON files): strict JSON, at most 16 MiB, an
    object; anything else is a SpecError naming the file."""
    data = read_json(path, path.name, MAX_CONFIG_BYTES, nofollow=nofollow)
    if not isinstance(data, dict):
        raise SpecError(path, path.name, type(data).__name__, "expected a JSON object")
    return data


def same_json(a, b) -> bool:
    """Equal as JSON values, type for type at every depth (``true`` is not ``1.0``, ``3`` is
    not ``3.0``, a key absent is not a key of null); a tuple is compared as a list is, so
    values of other types (a tensor) are never compared element-wise."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return a == b
