"""Markdown tables of the bundle, from ``MANIFEST.json`` alone: the models, and α̂ of every KD
configuration over τ_dec (mean over its training seeds, with their spread)."""

from __future__ import annotations

import math
import re
import reprlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from suite.bundle import ARTIFACT_NAME, ARTIFACT_NAME_RULE, MAX_PARAMETERS
from suite.drafts import RECIPE_MAX_KD_TEMPERATURE
from suite.errors import Parser, SpecError, control_character, error_line, printable
from suite.reader import MAX_TEMPERATURE, MIN_TEMPERATURE
from suite.stats.intervals import mean_and_spread

_METHODS = (None, "base", "offline", "online")
MAX_WRITE_BYTES = 16 << 20  # the file `--write` edits: a README, kilobytes


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(value: Any, depth: int, leaf=_number) -> bool:
    """A mapping of text keys ``depth`` levels deep whose leaves pass ``leaf``."""
    if depth == 0:
        return leaf(value)
    return isinstance(value, dict) and all(
        isinstance(k, str) and _numbers(v, depth - 1, leaf) for k, v in value.items()
    )


_DECIMAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,6})?", re.ASCII)
_DATASET = re.compile(r"[A-Za-z0-9._-]{1,128}", re.ASCII)


def _tau_dec(text: str) -> bool:
    """A decode temperature as the manifest spells one (``f"{tau:.1f}"``): a plain decimal in
    the range every decode temperature is in (so the columns sort by it)."""
    if not _DECIMAL.fullmatch(text):
        return False
    tau = float(text)
    return tau == 0 or MIN_TEMPERATURE <= tau <= MAX_TEMPERATURE


ROUNDING = 1e-9  # a bootstrap's bound and α̂ of one resample summed in another order


def _alpha(value: Any) -> bool:
    """``{"alpha": α̂ in [0, 1]}``, with its ``ci95`` where stated: ``[low, high]`` in [0, 1]
    around α̂, as every interval ``manifest`` measures is."""
    alpha = value.get("alpha") if isinstance(value, dict) else None
    if not (_number(alpha) and 0.0 <= alpha <= 1.0):
        return False
    if value.get("ci95") is None:
        return True
    ci = value["ci95"]
    return (
        isinstance(ci, list)
        and len(ci) == 2
        and all(map(_number, ci))
        and 0.0 <= ci[0] <= ci[1] <= 1.0
        and ci[0] - ROUNDING <= alpha <= ci[1] + ROUNDING
    )


MAX_NATS = 1_000.0  # a loss or an entropy per token: log(vocabulary) is about 10 nats


def _nats(value: Any) -> bool:
    """A held-out loss or an entropy in nats per token: finite, never negative, bounded."""
    return _number(value) and 0.0 <= value <= MAX_NATS


def _kd_temperature(value: Any) -> bool:
    """A τ_kd as recipes give one: 0, or from 0.001 to 10 (as a KD recipe may ask) with at most
    2 decimals."""
    if not _number(value) or not (
        value == 0 or MIN_TEMPERATURE <= value <= RECIPE_MAX_KD_TEMPERATURE
    ):
        return False
    return value == 0 or abs(round(value, 2) - value) <= 1e-9


# The fields the tables read, each with the shape it must have when present.
_TABLE_FIELDS = {
    "acceptance": lambda v: _numbers(v, 2, _alpha),  # dataset → τ_dec → {"alpha": in [0, 1]}
    "heldout_loss": lambda v: _numbers(v, 1, _nats),
    "pretrained": lambda v: isinstance(v, dict) and _numbers(v.get("heldout_loss", {}), 1, _nats),
    "entropy_at_tau_1": lambda v: _numbers(v, 2, _nats),
    "parameters": lambda v: type(v) is int and 1 <= v <= MAX_PARAMETERS,
    "method": lambda v: v in _METHODS,
    "kd_temperature": lambda v: v is None or _kd_temperature(v),
}


def check_table_fields(manifest: dict, path: Path) -> None:
    """Every field the tables read, typed (a manifest from --reference is not trusted):
    a SpecError names the manifest, the artifact's field and the value. The names the tables
    print (artifacts, datasets) are plain names, so none is markup in the file ``--write``
    edits (its block's end marker, HTML, a backtick closing a code span)."""
    spelled: dict[float, str] = {}  # one column per τ_dec: one spelling of each
    for name, entry in manifest["artifacts"].items():
        acceptance = entry.get("acceptance") if isinstance(entry.get("acceptance"), dict) else {}
        taus = [(f"artifacts.{name}.acceptance.{d}"[:200], t) for d, by in acceptance.items()
                if isinstance(by, dict) for t in by]  # fmt: skip
        if not isinstance(name, str) or not ARTIFACT_NAME.fullmatch(name):
            raise SpecError(path, "artifacts", name, ARTIFACT_NAME_RULE)
        for dataset in acceptance:  # names printed in the tables: plain, never markup
            if not isinstance(dataset, str) or not _DATASET.fullmatch(dataset):
                message = "a dataset name: ASCII letters, digits, '.', '_' and '-' (as gsm8k)"
                raise SpecError(path, f"artifacts.{name}.acceptance", dataset, message)
        for where, text in taus:
            if not isinstance(text, str) or control_character(text, "") or "|" in text:
                message = "a name the tables print: one line, no control character or '|'"
                raise SpecError(path, where, text, message)
        for where, text in taus:
            if not _tau_dec(text):
                message = (
                    f"a τ_dec: a plain decimal number (ASCII digits, '0.6'), 0 or from "
                    f"{MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}"
                )
                raise SpecError(path, where, text, message)
            first = spelled.setdefault(float(text), text)
            if first != text:
                message = f"the τ_dec written '{first}' elsewhere: one spelling per temperature"
                raise SpecError(path, where, text, message)
        for key, ok in _TABLE_FIELDS.items():
            if key in entry and not ok(entry[key]):  # null too: a table cell formats it
                value = reprlib.repr(entry[key])
                raise SpecError(path, f"artifacts.{name}.{key}", value, "not the manifest's shape")
        if entry.get("method") not in (None, "base") and "kd_temperature" not in entry:
            message = "a KD draft states its kd_temperature (null for a recipe)"
            raise SpecError(path, f"artifacts.{name}.kd_temperature", None, message)
        if "evaluation" in entry:
            _check_evaluation(entry["evaluation"], path, f"artifacts.{name}.evaluation")
    _check_table_size(manifest, path)


MAX_EVALUATION_PROMPTS = 100_000  # prompts a target's evaluation scored: the bundle's 100
MAX_SAMPLES = 64  # greedy samples kept (the bundle's 4)
MAX_SAMPLE_CHARS = 65_536
_WHO = ("target", "base_draft")


def _count(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_evaluation(value: Any, path: Path, field: str) -> None:
    """A target's evaluation as ``manifest`` measures it and the model card prints it: GSM8K
    accuracy as its counts' ratio, greedy samples of plain text, and the greedy quality of the
    target and the base draft by dataset (names the card prints as they are); a SpecError
    names the first field that is not."""

    def fail(where: str, bad: Any, message: str) -> SpecError:
        return SpecError(path, f"{field}{where}"[:300], reprlib.repr(bad), message)

    if not isinstance(value, dict):
        raise fail("", value, "a mapping of greedy_quality, greedy_samples, gsm8k_test_accuracy")
    for key in value:
        if key not in ("greedy_quality", "greedy_samples", "gsm8k_test_accuracy"):
            raise fail(f".{key}", key, "unknown field; known: greedy_quality, greedy_samples, "
                       "gsm8k_test_accuracy")  # fmt: skip
    acc = value.get("gsm8k_test_accuracy")
    if acc is not None:
        ok = (
            isinstance(acc, dict)
            and set(acc) <= {"correct", "prompts", "accuracy", "decoding"}
            and _count(acc.get("prompts"), 1, MAX_EVALUATION_PROMPTS)
            and _count(acc.get("correct"), 0, acc["prompts"])
            and _number(acc.get("accuracy"))
            and abs(acc["accuracy"] - acc["correct"] / acc["prompts"]) <= ROUNDING
            and (acc.get("decoding") is None or _line(acc["decoding"]))
        )
        if not ok:
            message = "correct of prompts, accuracy their ratio, decoding one line of text"
            raise fail(".gsm8k_test_accuracy", acc, message)
    samples = value.get("greedy_samples", [])
    if not isinstance(samples, list) or len(samples) > MAX_SAMPLES:
        raise fail(".greedy_samples", samples, f"a list of at most {MAX_SAMPLES} samples")
    for i, sample in enumerate(samples):
        ok = (
            isinstance(sample, dict)
            and set(sample) == {"task", "instruction", "greedy"}
            and isinstance(sample["task"], str)
            and _DATASET.fullmatch(sample["task"]) is not None
            and all(_text(sample[k]) for k in ("instruction", "greedy"))
        )
        if not ok:
            message = (
                f"a task name, and instruction and greedy texts of at most {MAX_SAMPLE_CHARS:,}"
            )
            raise fail(f".greedy_samples[{i}]", sample, message)
    _check_greedy_quality(value.get("greedy_quality", {}), fail)


def _check_greedy_quality(quality: Any, fail) -> None:
    if not isinstance(quality, dict):
        raise fail(".greedy_quality", quality, "a mapping of target and base_draft by dataset")
    per = quality.get("prompts_per_dataset")
    if per is not None and not _count(per, 1, MAX_EVALUATION_PROMPTS):
        message = f"a count of prompts from 1 to {MAX_EVALUATION_PROMPTS:,}"
        raise fail(".greedy_quality.prompts_per_dataset", per, message)
    for who, by_dataset in quality.items():
        if who == "prompts_per_dataset":
            continue
        where = f".greedy_quality.{who}"
        if who not in _WHO:
            raise fail(where, who, f"unknown model; known: {', '.join(_WHO)}")
        if not isinstance(by_dataset, dict):
            raise fail(where, by_dataset, "a mapping of datasets")
        for dataset, q in by_dataset.items():
            if not (isinstance(dataset, str) and _DATASET.fullmatch(dataset)):
                message = "a dataset name: ASCII letters, digits, '.', '_' and '-' (as gsm8k)"
                raise fail(where, dataset, message)
            ok = (
                isinstance(q, dict)
                and set(q) == {"prompts", "f1", "accuracy"}
                and _count(q["prompts"], 1, MAX_EVALUATION_PROMPTS)
                and (per is None or q["prompts"] <= per)  # a dataset may hold fewer
                and all(_number(q[k]) and 0.0 <= q[k] <= 1.0 for k in ("f1", "accuracy"))
            )
            if not ok:
                message = "prompts (at most prompts_per_dataset), f1 and accuracy in [0, 1]"
                raise fail(f"{where}.{dataset}", q, message)


def _line(value: Any) -> bool:
    return (
        isinstance(value, str) and 0 < len(value) <= 4_096 and control_character(value, "") is None
    )


def _text(value: Any) -> bool:
    """A sample's text: a model's output may hold any character (a card prints none of it)."""
    return isinstance(value, str) and len(value) <= MAX_SAMPLE_CHARS


MAX_TABLE_CELLS = 100_000  # α̂ cells of all acceptance tables: the bundle's hold 236


def _check_table_size(manifest: dict, path: Path) -> None:
    """The acceptance tables print a cell for every (configuration, τ_dec) of each (family,
    dataset): bounded, so a forged manifest of many configurations and temperatures cannot
    make gigabytes of tables."""
    rows: dict[tuple[str, str], set] = defaultdict(set)
    cols: dict[tuple[str, str], set] = defaultdict(set)
    for name, entry in manifest["artifacts"].items():
        if entry.get("kind") != "draft":
            continue
        for dataset, by_tau in (entry.get("acceptance") or {}).items():
            rows[(name.split("/")[0], dataset)].add(_config(entry))
            cols[(name.split("/")[0], dataset)].update(float(t) for t in by_tau)
    cells = sum(len(rows[k]) * len(cols[k]) for k in rows)
    if cells > MAX_TABLE_CELLS:
        message = f"at most {MAX_TABLE_CELLS:,} (configurations × τ_dec of each table)"
        raise SpecError(path, "artifacts", f"{cells:,} acceptance table cells", message)


def _config(entry: dict) -> tuple[str, str]:
    """(method, τ_kd label) of a draft: its facts, never its folder name."""
    if entry.get("method") in (None, "base"):
        return ("base", "")
    tau = entry.get("kd_temperature")
    if tau is None:
        return (entry["method"], "recipe")
    text = f"{float(tau) + 0.0:.2f}"  # at most 2 decimals: 0.6 and 0.61 two rows; -0.0 is 0
    return (entry["method"], text[:-1] if text.endswith("0") else text)


def _cell(values: list[float], bold: bool) -> str:
    mean, spread = mean_and_spread(values)
    text = f"{mean:.3f}"
    if spread is not None:
        text += f" ± {spread:.3f}"
    return f"**{text}**" if bold else text


def acceptance_tables(manifest: dict) -> str:
    """One table per (family, dataset): a row per KD configuration, α̂ at each τ_dec as the mean
    over the configuration's seeds ± their standard deviation (n seeds in the last column)."""
    rows: dict[tuple[str, str], dict[tuple[str, str], list[dict]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for name, entry in manifest["artifacts"].items():
        if entry.get("kind") != "draft":
            continue
        family = name.split("/")[0]
        for dataset, by_tau in (entry.get("acceptance") or {}).items():
            rows[(family, dataset)][_config(entry)].append(by_tau)
    out = []
    for (family, dataset), configs in sorted(rows.items()):
        taus = sorted({t for runs in configs.values() for r in runs for t in r}, key=float)
        out += [f"{family}, {dataset}:", ""]
        out.append("| draft | " + " | ".join(f"τ_dec {t}" for t in taus) + " | seeds |")
        out.append("| --- " * (len(taus) + 2) + "|")
        for (method, kd), runs in sorted(configs.items(), key=lambda kv: _order(kv[0])):
            label = {"base": "base draft", "recipe": f"{method} recipe"}.get(
                method if method == "base" else kd, f"{method} τ_kd {kd}"
            )
            cells = [
                _cell([r[t]["alpha"] for r in runs if t in r], t == kd)
                if any(t in r for r in runs)
                else ""
                for t in taus
            ]
            out.append(f"| {label} | " + " | ".join(cells) + f" | {len(runs)} |")
        out.append("")
    return "\n".join(out)


def _order(config: tuple[str, str]) -> tuple:
    method, kd = config
    return ({"base": 0, "offline": 1, "online": 2}.get(method, 3), kd == "recipe", kd)


def _losses(loss: dict | None) -> str:
    return " / ".join(f"{loss[d]:.2f}" for d in ("alpaca", "gsm8k") if d in (loss or {}))


def model_table(manifest: dict) -> str:
    """Targets and base drafts: parameters, held-out loss, entropy and greedy answer quality."""
    out = [
        "| model | parameters | held-out loss alpaca / gsm8k | entropy at τ 1 alpaca / gsm8k "
        "(target vs base draft, on the target's samples) |",
        "| --- | --- | --- | --- |",
    ]
    artifacts = manifest["artifacts"]
    for name, entry in sorted(artifacts.items()):
        if entry.get("kind") == "target" or name.endswith("/draft"):
            shown = _losses(entry.get("heldout_loss"))
            if entry.get("pretrained"):
                shown += f" (pretrained stage {_losses(entry['pretrained'].get('heldout_loss'))})"
            ent = entry.get("entropy_at_tau_1") or {}
            h = " / ".join(
                f"{ent[d]['target']:.2f} vs {ent[d]['base_draft']:.2f}"
                for d in ("alpaca", "gsm8k")
                if d in ent and {"target", "base_draft"} <= set(ent[d])
            )
            out.append(f"| `{name}` | {entry.get('parameters', 0):,} | {shown} | {h} |")
    drafts = [e for e in artifacts.values() if e.get("kind") == "draft"]
    out += ["", f"{len(drafts)} drafts in all (base drafts included)."]
    return "\n".join(out)


START, END = "<!-- bundle-tables:start -->", "<!-- bundle-tables:end -->"


def markdown(manifest: dict) -> str:
    return model_table(manifest) + "\n\n" + acceptance_tables(manifest).rstrip() + "\n"


def replace_block(text: str, tables: str, where: str) -> str:
    """``text`` with the block between the bundle-tables markers replaced by ``tables``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"{where}: needs one {START} line followed by one {END} line")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{tables}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    import sys

    from suite.bundle import MANIFEST, load_manifest
    from suite.io import write_text_atomic
    from suite.path_arguments import non_empty_path
    from suite.paths import bundle_dir
    from suite.strict import decode, read_bytes

    parser = Parser(
        prog="python -m suite bundle-tables",
        description="Markdown tables of the bundle from its MANIFEST.json.",
    )
    parser.add_argument(
        "--reference", type=non_empty_path, help="bundle folder (default: the suite's bundle)"
    )
    parser.add_argument(
        "--write", metavar="FILE", type=non_empty_path, help="replace the marked block in FILE"
    )
    args = parser.parse_args(argv)
    root = Path(args.reference) if args.reference else bundle_dir()
    try:
        manifest = load_manifest(root)  # strict JSON, no link, typed artifacts
        check_table_fields(manifest, root / MANIFEST)
    except SpecError as err:
        print(error_line(err), file=sys.stderr)
        return 2
    tables = markdown(manifest)
    if not args.write:
        print(printable(tables, keep="\n"), end="")  # a manifest's names are not trusted
        return 0
    path = Path(args.write)
    try:
        # a regular file, not a link, FIFO or device, at most 16 MiB (a README is kilobytes)
        raw = read_bytes(path, "the --write file", MAX_WRITE_BYTES, nofollow=True)
        text = decode(raw, path, "the --write file")
        write_text_atomic(path, replace_block(text, tables, str(path)))
    except (OSError, ValueError) as err:
        print(error_line(err), file=sys.stderr)
        return 2
    return 0
