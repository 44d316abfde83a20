"""lm-eval ``run``'s arguments read as written, before lm-eval reads them.

lm-eval reads a temperature of ``1e-400`` as 0.0 (greedy), ``١`` (an Arabic-Indic digit) as 1,
and a ``--config`` file with ``yaml.safe_load`` (aliases expanded, and printed whole). So the
texts are checked where lm-eval's own parser hands them over: :func:`reading_as_written` hooks
argparse's ``_get_value``, which receives every option's text however it was given (a long
option, an abbreviation, ``-a``, ``-wa``, ``--model_args=...``), and checks it:

- ``--model_args``: the suite's number keys (``temperature``, ``num_draft_tokens``, ``seed``,
  ``max_new_tokens``, ...) as written, in the ``key=value`` form or lm-eval's JSON form;
- ``--config FILE``: a regular UTF-8 file of at most 1 MiB, YAML without aliases, a mapping of
  lm-eval's settings whose ``model_args`` (text or mapping) is checked as above;
- every other option: a number in ASCII digits (``--seed ١,٢`` and ``max_gen_toks=٤`` are not);
- lm-eval's number options (``--limit``, ``--num_fewshot``, ``--max_batch_size``, ``--seed``)
  as written and bounded;
- options the suite does not take (:data:`NOT_TAKEN`: ``--use_cache`` and ``--cache_requests``,
  whose caches are pickles, ``--samples``, ...): refused, as in a config.

:func:`settings_named` turns lm-eval's own refusals of its settings (a ``TypeError`` from a
setting of the wrong type) into one line naming them.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import reprlib
import stat
from collections.abc import Iterator

import yaml

MODEL_NAME = "specdec"
# model_args lm-eval would read as whole numbers: checked as written (ASCII digits)
WHOLE_ARGS = ("num_draft_tokens", "seed", "max_new_tokens", "batch_size", "max_batch_size")
MAX_CONFIG_BYTES = 1 << 20  # an lm-eval --config file: a page of settings


class Refused(ValueError):
    """An lm-eval argument refused as written: one line, exit status 2."""


def check_numbers_as_written(args: str | dict) -> None:
    """``--model_args``' numbers as the user wrote them (lm-eval's parser takes ``1_0``,
    other scripts' digits, and a temperature of ``1e-400`` as 0.0, greedy): each named by its
    key. ``args`` is lm-eval's text form (``a=1,b=2``), its JSON form (``{"a": 1}``, every
    number kept as its text, every key checked however often it is given) or a mapping whose
    numbers are texts (a ``--config`` file read by :func:`read_config`). A ``true`` or
    ``false`` for a number key is refused; other values are checked where they are used."""
    from suite.number_arguments import decode_temperature, integer

    for key, value in _pairs_as_written(args):
        if key not in ("temperature", *WHOLE_ARGS):
            continue
        if isinstance(value, bool):  # JSON true, YAML on/off/yes/no: float(True) is 1.0
            raise Refused(f"{MODEL_NAME}: model_args {key}={value!r}: expected a number")
        if not isinstance(value, str):  # null, a list: refused where used
            continue
        text = value.strip().strip("\"'")
        try:
            if key == "temperature":
                decode_temperature(text)
            elif text.lower() not in ("", "none", "auto"):
                integer(text, "an integer written in ASCII digits")
        except argparse.ArgumentTypeError as err:
            raise Refused(f"{MODEL_NAME}: model_args {key}={text!r}: {err}") from None


def _pairs_as_written(args: str | dict) -> list[tuple[str, object]]:
    """(key, value) of every model arg, numbers as texts; lm-eval reads a text that starts
    with ``{`` as JSON (and names JSON it cannot read)."""
    if isinstance(args, dict):
        return [(str(k).strip(), v) for k, v in args.items()]
    args = args or ""
    if args.lstrip().startswith("{"):
        import json

        try:
            pairs = json.loads(args, parse_float=str, parse_int=str, parse_constant=str,
                               object_pairs_hook=list)  # fmt: skip
        except (json.JSONDecodeError, RecursionError) as err:
            shown = f"{reprlib.repr(args)}: {str(err)[:80] or type(err).__name__}"
            raise Refused(f"{MODEL_NAME}: model_args {shown}: expected a JSON object") from None
        return [(str(k).strip(), v) for k, v in pairs] if isinstance(pairs, list) else []
    return [
        (key.strip(), text) for key, _, text in (pair.partition("=") for pair in args.split(","))
    ]


def _foreign_number(text: str) -> bool:
    """A number Python reads (``int``, ``float``, ``str.isnumeric``) written in other than
    ASCII: ``١``, ``²``, ``٣.٥``."""
    text = text.strip()
    if text.isascii():
        return False
    if text.isnumeric():
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_plain_option(option: str, text: str, mapping: bool = False, cli: bool = True) -> None:
    """Any other option's numbers in ASCII digits: ``--batch_size ٥`` and ``--gen_kwargs
    max_gen_toks=٤`` are read as numbers by lm-eval. A ``key=value`` option's (``mapping``:
    ``--gen_kwargs``, ``--metadata``) values are read one by one as lm-eval splits them (at
    top-level commas on the command line, at every comma in a ``--config`` text, ``cli``
    False): a number is one a float holds (lm-eval reads ``1e400`` and ``inf`` as infinity,
    written to its results as ``Infinity``, not JSON, and ``1e-400`` as 0), a value it reads as
    a Python literal holds such numbers (:func:`_literal_problem`), a quoted value is text."""
    shown = f"{option} {reprlib.repr(text)}"
    if not mapping:
        if any(_foreign_number(p) for part in text.split(",") for p in part.split("=")):
            raise Refused(f"{shown}: a number is written in ASCII digits")
        return
    if text.lstrip().startswith("{"):
        import json

        try:
            json.loads(text, parse_float=_held_float, parse_constant=_no_constant)
        except ValueError as err:  # JSON lm-eval cannot read is named by lm-eval
            if isinstance(err, Refused):
                raise Refused(f"{shown}: {err}") from None
        except (RecursionError, MemoryError):
            raise Refused(f"{shown}: JSON nested too deep to read") from None
        return
    items = _split_pairs(text) if cli else [item for item in text.split(",") if item]
    for item in items:
        value = item.partition("=")[2].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            continue  # quoted: text, as written
        if cli and value[:1] in "[({":
            if problem := _literal_problem(value):
                raise Refused(f"{shown}: {problem}")
            continue
        if _foreign_number(value):
            raise Refused(f"{shown}: a number is written in ASCII digits")
        try:
            _held_float(value)
        except Refused as err:
            raise Refused(f"{shown}: {err}") from None
        if cli and (problem := _literal_problem(value)):  # 0x4, 1j
            raise Refused(f"{shown}: {problem}")


_DECIMAL_INT = re.compile(r"[0-9]+")


def _literal_problem(text: str) -> str | None:
    """Why a key=value option's value that lm-eval reads as a Python literal (its
    ``handle_cli_value_string`` falls back to ``ast.literal_eval``: ``[1e400]`` is ``[inf]``,
    ``0x4`` is 4) holds a number not as written, or None: each number in it is decimal and one
    a float holds, finite and not below 1e-308."""
    import ast

    text = text.strip()
    try:
        ast.literal_eval(text)
        tree = ast.parse(text, mode="eval")
    except (ValueError, TypeError, SyntaxError):
        return None  # lm-eval keeps the text
    except (MemoryError, RecursionError):  # lm-eval's own literal_eval would end in a traceback
        return "a value nested too deep to read"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or isinstance(node.value, bool | str | bytes):
            continue
        written = ast.get_source_segment(text, node) or repr(node.value)
        if isinstance(node.value, complex):
            return f"{written}: a complex number"
        if isinstance(node.value, int) and not _DECIMAL_INT.fullmatch(written):
            return f"{written}: a number is written in decimal digits"
        if isinstance(node.value, float):
            try:
                _held_float(written)
            except Refused as err:
                return str(err)
    return None


def _no_constant(text: str) -> float:
    raise Refused(f"{text}: a number a float holds, finite")


def _held_float(text: str) -> float | None:
    """``text`` where lm-eval would read it as a float: refused when the float is not the
    number written (infinite, not a number, or below the smallest float)."""
    from suite.strict import underflows

    try:
        value = float(text)
    except ValueError:
        return None  # not a number: lm-eval keeps the text
    if not _FLOAT_WRITTEN.fullmatch(text.strip()):  # float() takes 1_0.5 (10.5) and ١.٥
        raise Refused(f"{reprlib.repr(text)}: a number is written in decimal digits")
    if not math.isfinite(value) or underflows(text, value):
        raise Refused(f"{reprlib.repr(text)}: a number a float holds, finite and not below 1e-308")
    return value


class _Written(str):
    """A YAML number's text, as written."""


# A number as the command line writes one: YAML 1.1 also reads .inf, .nan, 1:04 (64), 0x4 and
# 1_0 as numbers, which float() and int() do not.
# and 010 as octal (8): a whole part is 0 or starts with another digit
_DECIMAL = re.compile(r"[-+]?(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
# a float as float() reads it, in ASCII digits without separators (inf and nan are refused apart)
_FLOAT_WRITTEN = re.compile(
    r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|infinity|nan)", re.I
)


class _AsWrittenLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s reading, with each int and float kept as the text written, and a
    key given twice in one mapping, or a merge key (``<<``, whose mapping's keys PyYAML copies
    in without building it), refused: ``yaml.safe_load`` keeps the last of a key."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, _ in node.value:
                if key.tag == "tag:yaml.org,2002:merge":  # its keys are copied in unbuilt
                    raise yaml.constructor.ConstructorError(
                        None, None, "a merge key (<<) is refused: write each setting out",
                        key.start_mark,
                    )  # fmt: skip
                if not isinstance(key, yaml.ScalarNode):
                    continue
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key.value!r} is given twice", key.start_mark
                    )
                seen.add(key.value)
        return super().construct_mapping(node, deep=deep)


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
    _AsWrittenLoader.add_constructor(_tag, lambda loader, node: _Written(node.value))


def _config_fields() -> set[str] | None:
    """lm-eval's settings, the keys a --config file may hold (None where this lm-eval has no
    ``EvaluatorConfig``)."""
    try:
        from dataclasses import fields

        from lm_eval.config.evaluate_config import EvaluatorConfig
    except ImportError:
        return None
    return {f.name for f in fields(EvaluatorConfig)}


def read_config(path: str) -> dict:
    """A ``--config`` file as lm-eval reads it (``yaml.safe_load``: merge keys applied), with
    every number kept as its text; refused (naming the file, and the key) where it is not a
    regular file of at most 1 MiB of UTF-8 YAML without aliases, gives a key twice in one
    mapping (lm-eval would keep the last), is not a mapping of lm-eval's settings, or holds a
    number not written in ASCII or a ``model_args`` number :func:`check_numbers_as_written`
    refuses."""
    shown = f"--config {reprlib.repr(path)}"
    try:  # never waits on a FIFO: opened without blocking, then required to be a file
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise Refused(f"{shown}: {err.strerror or err}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused(f"{shown}: not a regular file")
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise Refused(f"{shown}: larger than {MAX_CONFIG_BYTES:,} bytes, not a config file")
    try:
        text = data.decode("utf-8")
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise Refused(f"{shown}: YAML aliases are refused (lm-eval expands and prints them)")
        root = yaml.load(text, Loader=_AsWrittenLoader)
    except UnicodeDecodeError as err:
        raise Refused(f"{shown}: not UTF-8 text (byte {err.start})") from None
    except (yaml.YAMLError, RecursionError) as err:
        message = " ".join(str(err).split())[:200] or type(err).__name__
        raise Refused(f"{shown}: not YAML lm-eval can read: {message}") from None
    if not isinstance(root, dict):
        kind = type(root).__name__
        raise Refused(f"{shown}: expected a mapping of lm-eval's settings, got {kind}")
    known = _config_fields()
    for key in root:
        if not isinstance(key, str) or (known is not None and key not in known):
            raise Refused(f"{shown}: {reprlib.repr(key)} is not one of lm-eval's settings")
    for key, why in NOT_TAKEN.items():
        stated = key in root and (key in ABSENT_ONLY or root[key] not in (None, False, {}, ""))
        if stated:  # lm-eval turns its caches on for "" and fails on false or null
            raise Refused(f"{shown}: {key} = {reprlib.repr(root[key])}: not taken here ({why})")
    level = root.get("verbosity")
    if level is not None and level not in VERBOSITY:  # lm-eval hands it to logging as written
        message = f"expected one of {', '.join(VERBOSITY)}, in capitals"
        raise Refused(f"{shown}: verbosity = {reprlib.repr(level)}: {message}")
    for key, rule in _NUMBER_OPTIONS.items():
        value = root.get(key)
        listed = isinstance(value, list) and key == "seed" and len(value) in (1, 3, 4)
        quoted = isinstance(value, str) and not isinstance(value, _Written)  # "1": lm-eval's text
        if (isinstance(value, list | dict | bool) and not listed) or quoted:  # [1] was joined
            expected = "one number, unquoted" + (" (or 1, 3 or 4 seeds)" if key == "seed" else "")
            raise Refused(f"{shown}: {key} = {reprlib.repr(value)}: expected {expected}")
        text = ",".join(map(str, value)) if listed else str(value)
        problem = rule(text) if value is not None else None
        if problem is not None:
            raise Refused(f"{shown}: {key} = {reprlib.repr(value)}: expected {problem}")
    for key in _bool_settings():  # lm-eval takes any non-empty text as true: 'no' logged
        if root.get(key) is not None and not isinstance(root[key], bool):
            message = "expected true or false (unquoted)"
            raise Refused(f"{shown}: {key} = {reprlib.repr(root[key])}: {message}")
    if isinstance(root.get("batch_size"), bool):  # yes ran as a batch of 1
        raise Refused(f"{shown}: batch_size = {root['batch_size']!r}: expected a number or auto")
    instruction = root.get("system_instruction")
    if isinstance(instruction, str) and len(instruction) > MAX_INSTRUCTION_CHARS:
        _long_instruction(shown, "system_instruction", instruction)
    for key in TEXT_SETTINGS:  # lm-eval takes each as text: a number or true was a traceback
        value = root.get(key)
        lists = key in ("tasks", "include_path")
        values = value if lists and isinstance(value, list) else [value]
        if value is not None and not all(_text(v) for v in values):
            message = "expected text" + (" or a list of texts" if lists else "")
            raise Refused(f"{shown}: {key} = {reprlib.repr(value)}: {message} (quote a number)")
    args = root.get("model_args")
    if args is not None and (isinstance(args, _Written) or not isinstance(args, str | dict)):
        raise Refused(f"{shown}: model_args = {reprlib.repr(args)}: expected text or a mapping")
    path = root.get("output_path")
    if path is not None and (isinstance(path, _Written) or not isinstance(path, str)):
        shown_path = reprlib.repr(root["output_path"])
        message = "expected a path (text; quote a name YAML reads as a number)"
        raise Refused(f"{shown}: output_path = {shown_path}: {message}")
    for field, value in _scalars(root):
        if isinstance(value, _Key):
            raise Refused(f"{shown}: {field}: {value!r} is not a name (YAML reads it as a value)")
        if not isinstance(value, str | bool | None):  # a date, bytes: YAML's, not lm-eval's
            kind = type(value).__name__
            message = f"a {kind}, not text or a number"
            raise Refused(f"{shown}: {field} = {reprlib.repr(value)}: {message}")
        if isinstance(value, _Written) and not _DECIMAL.fullmatch(value):
            read = yaml.safe_load(value)  # lm-eval's reading: YAML 1.1's
            message = f"a number is written in decimal digits (YAML 1.1 reads it as {read!r})"
            raise Refused(f"{shown}: {field} = {str(value)!r}: {message}")
        if isinstance(value, str) and field not in FREE_TEXT and _foreign_number(value):
            raise Refused(f"{shown}: {field} = {value!r}: a number is written in ASCII digits")
        if field.startswith(("gen_kwargs.", "metadata.")) and isinstance(value, str):
            try:  # as the same value in --gen_kwargs or --metadata
                _held_float(str(value))
            except Refused as err:
                raise Refused(f"{shown}: {field}: {err}") from None
    for key in DICT_SETTINGS:
        if isinstance(root.get(key), str):
            _check_setting_text(shown, key, root[key])
    gen_kwargs = root.get("gen_kwargs")
    if isinstance(gen_kwargs, dict) and (problem := until_problem(gen_kwargs.get("until"))):
        raise Refused(f"{shown}: gen_kwargs.until = {reprlib.repr(gen_kwargs['until'])}: {problem}")
    try:
        check_numbers_as_written(args or "")
    except Refused as err:
        raise Refused(f"{shown}: {err}") from None
    return root


# lm-eval's settings of key=value pairs: a --config file may write one as text (``a=1,b=2``),
# which lm-eval splits at every comma (``simple_parse_args_string``)
DICT_SETTINGS = ("model_args", "gen_kwargs", "metadata", "wandb_args", "wandb_config_args",
                 "hf_hub_log_args", "trackio_args")  # fmt: skip


def _setting_keys(value) -> list[str]:
    """The keys of a key=value setting: a mapping's, or a text's as lm-eval splits it."""
    if isinstance(value, dict):
        return [str(key).strip() for key in value]
    if isinstance(value, str):
        return [item.split("=", 1)[0].strip() for item in value.strip().split(",") if item]
    return []


def _check_setting_text(shown: str, key: str, text: str) -> None:
    """A --config setting of key=value pairs written as text, read as the command line's: each
    key once, and (but ``model_args``, whose numbers :func:`check_numbers_as_written` reads)
    each number in ASCII digits and one a float holds."""
    if isinstance(text, _Written):  # a number: lm-eval would read it as a key
        raise Refused(f"{shown}: {key} = {str(text)!r}: expected key=value text or a mapping")
    keys = _setting_keys(text)
    twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if twice is not None:
        message = "is given twice (lm-eval would keep the last): give each key once"
        raise Refused(f"{shown}: {key}: the key {reprlib.repr(twice)} {message}")
    if key != "model_args":
        try:
            _check_plain_option(key, text, mapping=True, cli=False)
        except Refused as err:
            raise Refused(f"{shown}: {err}") from None


# A system instruction goes before every prompt: at most a task field's length (900 KB was
# refused only after the models loaded, naming the tokenizer)
MAX_INSTRUCTION_CHARS = 16_384


def _long_instruction(shown: str, key: str, text: str) -> None:
    where = f"{shown}: {key} =" if key else shown
    message = f"{len(text):,} characters; a system instruction is at most {MAX_INSTRUCTION_CHARS:,}"
    raise Refused(f"{where} {reprlib.repr(text)}: {message}")


def _bool_settings() -> list[str]:
    """lm-eval's settings that are true or false (``log_samples``, ``predict_only``, ...)."""
    try:
        from dataclasses import fields

        from lm_eval.config.evaluate_config import EvaluatorConfig
    except ImportError:
        return []
    return [f.name for f in fields(EvaluatorConfig) if str(f.type).startswith("bool")]


def _text(value) -> bool:
    """A YAML text as written, not a number's (:class:`_Written`) or a boolean."""
    return isinstance(value, str) and not isinstance(value, _Written)


def until_problem(until) -> str | None:
    """Why stop strings (``until``) are refused: at most as many and as long as a task spec's
    ``generation.stop`` (each is searched for after every generated token), or None."""
    from suite.specs import MAX_STOP_CHARS, MAX_STOP_STRINGS

    listed = [until] if isinstance(until, str) else until
    if until is None:
        return None
    if not isinstance(listed, list | tuple) or not all(isinstance(s, str) for s in listed):
        return "a string or a list of strings"
    if len(listed) > MAX_STOP_STRINGS:
        return f"{len(listed):,} stop strings; at most {MAX_STOP_STRINGS}, as a task spec's"
    if any(len(text) > MAX_STOP_CHARS for text in listed):
        return f"a stop string is at most {MAX_STOP_CHARS} characters, as a task spec's"
    return None


class _Key:
    """A mapping key YAML reads as something other than text (``1:`` is the integer 1)."""

    def __init__(self, key):
        self.key = key

    def __repr__(self) -> str:
        return f"the key {self.key!r}"


def _scalars(value, field: str = "") -> Iterator[tuple[str, object]]:
    """Each scalar of a config with its dotted field; a key that is not text is yielded as a
    value of its own (YAML reads ``1:`` as the integer 1, a date key as a date)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(key, _Written):  # 1:, a date: not names
                yield f"{field}.{key}" if field else str(key), _Key(key)
                continue
            yield from _scalars(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _scalars(item, f"{field}[{i}]")
    else:
        yield field, value


MAX_LIMIT = 10**9  # examples per task
MAX_FEWSHOT = 10_000


def _limit(text: str) -> str | None:
    """``--limit``: a count of examples (a whole number from 1) or a fraction in (0, 1), as
    written (lm-eval reads ``1e-400`` as 0, ``1_0`` as 10, and fails on ``inf``)."""
    from decimal import Decimal

    from suite.number_arguments import _DECIMAL

    if not _DECIMAL.fullmatch(text.strip()):
        return "a count of examples (1, 2, ...) or a fraction in (0, 1), in ASCII"
    value = Decimal(text.strip())
    if 0 < value < 1 and 0 < float(value) < 1:  # 0.99999999999999999 reads as 1.0: 1 example
        return None
    if value == value.to_integral_value() and 1 <= value <= MAX_LIMIT:
        return None
    return f"a count of examples from 1 to {MAX_LIMIT:,} or a fraction in (0, 1)"


def _whole(text: str, low: int, high: int) -> str | None:
    from suite.number_arguments import _INTEGER

    if _INTEGER.fullmatch(text.strip()) and low <= int(text) <= high:
        return None
    return f"a whole number from {low:,} to {high:,} in ASCII digits"


def _seeds(text: str) -> str | None:
    """``--seed``: one to four seeds (``0,1234,1234,1234``), each a seed or ``None``."""
    from suite.seeding import SEED_LIMIT

    pieces = text.split(",")
    if len(pieces) not in (1, 3, 4):
        return f"1, 3 or 4 seeds (lm-eval's), not {len(pieces)}"
    for piece in pieces:
        if piece.strip().lower() != "none" and _whole(piece, 0, SEED_LIMIT - 1) is not None:
            return f"seeds from 0 to {SEED_LIMIT - 1:,} (or None), in ASCII digits, by commas"
    return None


# lm-eval's number options, each read as written here (argparse's int/float take 1_0, ٣, inf)
_NUMBER_OPTIONS = {
    "limit": _limit,
    "num_fewshot": lambda text: _whole(text, 0, MAX_FEWSHOT),
    "max_batch_size": lambda text: _whole(text, 1, MAX_LIMIT),
    "seed": _seeds,
}
# lm-eval options `suite lm-eval run` does not take, each with why; its caches load pickles (a
# response cache with pickle.loads, a request cache with dill), which run the code they hold
PICKLES = "lm-eval's caches are pickles, and loading one runs code"
NETWORK = "it sends the run's settings and results to a remote service; use --output_path"
NOT_TAKEN = {
    "use_cache": PICKLES,
    "cache_requests": PICKLES,
    "samples": "document ids by task read from JSON or a file of any size: use --limit",
    "apply_chat_template": "specdec renders each task's prompt itself",
    "check_integrity": "it runs lm-eval's own task tests",
    "trust_remote_code": "specdec loads safetensors only, never a model folder's or dataset's code",
    "wandb_args": NETWORK,
    "wandb_config_args": NETWORK,
    "trackio_args": NETWORK,
    "hf_hub_log_args": NETWORK,
}
# What each exported task states of itself in its results (suite.lm_eval_tasks writes it): a
# run's --metadata may not restate it, lm-eval writes the metadata over the task's own
TASK_METADATA = ("version", "spec", "split")
# caches lm-eval turns on for any value but None (a path of "" too): refused whatever is given
ABSENT_ONLY = frozenset({"use_cache", "cache_requests"})
VERBOSITY = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# lm-eval options whose text it reads as numbers, beside _NUMBER_OPTIONS' (checked as written):
# in other scripts' digits they are refused; any other option's text is taken as written
READ_AS_NUMBERS = frozenset({"batch_size"})
# generation settings that are numbers: a boolean for one (YAML's yes, on) is refused
NUMBER_GEN_KWARGS = frozenset({"temperature", "top_p", "top_k", "min_p", "max_gen_toks",
                               "max_new_tokens", "min_new_tokens", "repetition_penalty",
                               "num_beams", "length_penalty"})  # fmt: skip
# a --config's settings lm-eval takes as text (tasks and include_path also as lists of texts)
TEXT_SETTINGS = ("model", "tasks", "include_path", "system_instruction", "device")
FREE_TEXT = frozenset({"system_instruction", "output_path", "include_path", "model", "device"})
# specdec's model args: a --metadata key of one of these would state, in the results, a setting
# the model did not run with (lm-eval writes model_args | metadata into each task's config)
SPECDEC_ARGS = ("target", "draft", "tokenizer", "temperature", "num_draft_tokens", "seed",
                "max_new_tokens", "batch_size", "max_batch_size", "device", "dtype")  # fmt: skip


def _check_option(action: argparse.Action, text: str) -> None:
    option = action.option_strings[0] if action.option_strings else action.dest
    if action.dest in NOT_TAKEN:
        message = f"not taken by `suite lm-eval run` ({NOT_TAKEN[action.dest]})"
        raise Refused(f"{option} {reprlib.repr(text)}: {message}")
    if action.dest == "system_instruction" and len(text) > MAX_INSTRUCTION_CHARS:
        _long_instruction(option, "", text)
    if action.dest == "verbosity" and text.upper() not in VERBOSITY:  # ' info': lm-eval's too
        raise Refused(f"{option} {reprlib.repr(text)}: expected one of {', '.join(VERBOSITY)}")
    rule = _NUMBER_OPTIONS.get(action.dest)
    why = rule(text) if rule is not None else None
    if why is not None:
        raise Refused(f"{option} {reprlib.repr(text)}: expected {why}")
    if action.dest == "model_args":
        check_numbers_as_written(text)
    elif action.dest == "config":
        read_config(text)
    elif type(action).__name__ == "MergeDictAction":  # key=value pairs lm-eval reads as values
        _check_plain_option(option, text, mapping=True)
    elif action.dest in READ_AS_NUMBERS:  # free text (a system instruction) is taken as written
        _check_plain_option(option, text)


def check_parsed(args: argparse.Namespace) -> None:
    """What the hook cannot see: an option given without a value (``--apply_chat_template``,
    ``--check_integrity``) that `suite lm-eval run` does not take, a ``--metadata`` key that is
    also a ``model_args`` key, ``--gen_kwargs``' stop strings and budget, and where the results
    go (:func:`_check_output_path`)."""
    for dest, why in NOT_TAKEN.items():
        value = getattr(args, dest, None)
        if (dest in ABSENT_ONLY and value is not None) or value not in (None, False, "", {}):
            option = "--" + dest
            raise Refused(f"{option}: not taken by `suite lm-eval run` ({why})")
    config = read_config(args.config) if getattr(args, "config", None) else {}
    _check_model(args, config)
    model = getattr(args, "model_args", None) or config.get("model_args")
    metadata = getattr(args, "metadata", None) or config.get("metadata")
    named = set(_setting_keys(model))
    named |= set(SPECDEC_ARGS)
    task = [key for key in _setting_keys(metadata) if key in TASK_METADATA]
    if task:  # lm-eval writes metadata over each task's own: the results would state another task
        message = "is what each task states of itself: the results would state another task"
        raise Refused(f"--metadata: the key {reprlib.repr(task[0])} {message}")
    both = [key for key in _setting_keys(metadata) if key in named]
    if both:  # lm-eval writes model_args | metadata into each task's results: metadata's wins
        message = (
            "is a model_args key: the results would state the metadata's value, not the one "
            "the model runs with; give it in model_args"
        )
        raise Refused(f"--metadata: the key {reprlib.repr(both[0])} {message}")
    _check_gen_kwargs(getattr(args, "gen_kwargs", None) or config.get("gen_kwargs"))
    output = getattr(args, "output_path", None)
    if output is None:
        output = config.get("output_path")
    if output is not None:
        _check_output_path(str(output))


def _check_model(args: argparse.Namespace, config: dict) -> None:
    """``specdec`` only, the default where neither the command line nor ``--config`` names a
    model (lm-eval's own default, ``hf``, and its other models load pickles, run a model
    folder's code or send each prompt over the network: run ``lm_eval`` itself for them)."""
    named = getattr(args, "model", None)
    where = "--model"
    if named is None and "model" in config:
        named, where = config["model"], f"--config {reprlib.repr(args.config)}: field 'model'"
    if named is None:
        args.model = MODEL_NAME
    elif named != MODEL_NAME:
        raise Refused(
            f"{where} = {reprlib.repr(named)}: `suite lm-eval run` runs the suite's model, "
            f"{MODEL_NAME!r}, only (run lm_eval itself for its other models)"
        )


def _check_gen_kwargs(gen_kwargs) -> None:
    """The run's ``--gen_kwargs`` (or its ``--config`` mapping's) stop strings and token budget,
    as specdec reads them for each request, before the models load rather than at the first
    request."""
    if isinstance(gen_kwargs, str):  # a --config's text: split as lm-eval splits it
        gen_kwargs = dict(item.partition("=")[::2] for item in gen_kwargs.split(",") if item)
        gen_kwargs = {key.strip(): value.strip() for key, value in gen_kwargs.items()}
    if not isinstance(gen_kwargs, dict):
        return
    for key in NUMBER_GEN_KWARGS & set(gen_kwargs):  # temperature: yes was recorded as True
        value = gen_kwargs[key]
        if isinstance(value, bool) or str(value).strip().lower() in ("true", "false"):
            raise Refused(f"--gen_kwargs {key} = {value!r}: expected a number")
    until = gen_kwargs.get("until")
    if problem := until_problem(until):
        raise Refused(f"--gen_kwargs until = {reprlib.repr(until)}: {problem}")
    if "max_gen_toks" in gen_kwargs:  # as specdec reads it: an int, or its ASCII digits
        from suite.specs import MAX_NEW_TOKENS

        budget = gen_kwargs["max_gen_toks"]
        text = str(budget) if type(budget) is int else budget
        if not isinstance(text, str) or _whole(text, 1, MAX_NEW_TOKENS) is not None:
            message = f"expected a whole number from 1 to {MAX_NEW_TOKENS:,}"
            raise Refused(f"--gen_kwargs max_gen_toks = {reprlib.repr(budget)}: {message}")


def _check_output_path(output: str) -> None:
    """Where lm-eval will write its results (a folder, or a ``.json`` file's name in one) can be
    written, before the models load: lm-eval only logs a failed save, and the run ends 0 with
    nothing kept."""
    from pathlib import Path

    from suite.errors import SpecError
    from suite.io import check_out_folder

    path = Path(output)
    folder = path.parent if path.suffix == ".json" else path
    try:
        if not output.strip():
            raise SpecError(path, "--output_path", output, "an empty path names no folder")
        if path.suffix == ".json" and (path.is_dir() or (path.exists() and not path.is_file())):
            raise SpecError(path, "--output_path", output, "exists and is not a file")
        check_out_folder(folder, "--output_path")
        saved = f"{path.stem}_{'0' * DATE_ID_CHARS}.json"  # lm-eval adds the date to the name
        if path.suffix == ".json" and len(saved.encode()) > _name_limit(folder):
            message = f"the name lm-eval saves ({saved}) is longer than this file system allows"
            raise SpecError(path, "--output_path", output, message)
    except SpecError as err:
        raise Refused(f"--output_path {reprlib.repr(output)}: {err.message}") from None


def _split_pairs(text: str) -> list[str]:
    """``key=value`` items of one text as lm-eval splits them: at commas outside brackets,
    braces and quotes (its ``split_top_level``)."""
    try:
        from lm_eval._cli.utils import split_top_level
    except ImportError:  # an lm-eval without it splits at every comma
        return [part for part in text.split(",") if part]
    return split_top_level(text)


def _unique_pairs(pairs) -> dict:
    """A JSON object's pairs (``object_pairs_hook``), refused where a key is given twice."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise Refused(f"the key {reprlib.repr(key)} is given twice")
        seen[key] = value
    return seen


def _mapping_keys(option: str, texts: list[str]) -> None:
    """One ``--model_args`` (or ``--gen_kwargs``, ``--metadata``, ...) as lm-eval merges it:
    JSON in its first text (the texts after it unread, so refused), or ``key=value`` items in
    each; a key given twice is refused (lm-eval keeps the last: ``temperature=0.7,
    temperature=0`` decoded greedily)."""
    import json

    shown = f"{option} {reprlib.repr(' '.join(texts))}"
    first = texts[0].strip() if texts else ""
    try:  # lm-eval reads its first text as JSON whatever it is: [[[...]]] was a RecursionError
        json.loads(first)
    except ValueError:
        pass
    except (RecursionError, MemoryError):
        raise Refused(f"{shown}: JSON nested too deep to read") from None
    if first.startswith("{"):
        if len(texts) > 1:
            raise Refused(f"{shown}: JSON is the option's only value (lm-eval reads no other)")
        try:
            json.loads(first, object_pairs_hook=_unique_pairs)
        except Refused as err:
            raise Refused(f"{shown}: {err}") from None
        except (ValueError, RecursionError):  # JSON lm-eval cannot read is named by lm-eval
            pass
        return
    keys: set[str] = set()
    for text in texts:
        for item in _split_pairs(text):
            key = item.partition("=")[0].strip()
            if key in keys:
                message = "given twice (lm-eval would keep the last): give each key once"
                raise Refused(f"{shown}: the key {reprlib.repr(key)} is {message}")
            keys.add(key)


DATE_ID_CHARS = 26  # lm-eval's date in a file name: 2026-12-06T16-20-36.123456


def _name_limit(folder) -> int:
    """The longest file name, in bytes, ``folder``'s file system takes (255 where unknown)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


@contextlib.contextmanager
def reading_as_written() -> Iterator[None]:
    """While lm-eval parses its command line, every option's text is checked as written
    (:func:`_check_option`) before argparse converts it; an option that takes a value is given
    once (argparse keeps the last and drops the first: ``--limit 1 --limit 200`` ran 200
    examples), and a ``key=value`` option's keys are each given once (:func:`_mapping_keys`)."""
    original = argparse.ArgumentParser._get_value
    original_values = argparse.ArgumentParser._get_values
    given: set[int] = set()

    def checked(parser, action, text):
        if isinstance(text, str):
            _check_option(action, text)
        return original(parser, action, text)

    def each_once(parser, action, texts):
        if action.option_strings and action.nargs != 0:  # an option that takes a value
            option = max(action.option_strings, key=len)
            if id(action) in given:
                raise Refused(f"{option} given twice: list all its values after one {option}")
            given.add(id(action))
            if type(action).__name__ == "MergeDictAction":
                _mapping_keys(option, [t for t in texts if isinstance(t, str)])
        return original_values(parser, action, texts)

    argparse.ArgumentParser._get_value = checked
    argparse.ArgumentParser._get_values = each_once
    try:
        yield
    finally:
        argparse.ArgumentParser._get_value = original
        argparse.ArgumentParser._get_values = original_values


@contextlib.contextmanager
def settings_named() -> Iterator[None]:
    """lm-eval's refusal of its settings (``EvaluatorConfig.from_cli`` raises ``TypeError``
    for a setting of the wrong type) as one line, not a traceback."""
    try:
        from lm_eval.config.evaluate_config import EvaluatorConfig
    except ImportError:
        yield
        return
    original = EvaluatorConfig.__dict__["from_cli"]

    def from_cli(cls, namespace):
        try:
            return original.__func__(cls, namespace)
        except (TypeError, AttributeError, KeyError) as err:
            raise Refused(f"lm-eval's settings (--config and options): {err}") from None

    EvaluatorConfig.from_cli = classmethod(from_cli)
    try:
        yield
    finally:
        EvaluatorConfig.from_cli = original
