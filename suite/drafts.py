"""What a draft is, told by facts: method, KD dataset, τ_kd, divergence, training seed, origin.

A draft's name is a label. Its facts come from the ``training.json`` that ``suite distill`` writes
beside the weights, from a profile, or from a submission's YAML; studies select drafts by them
(:class:`DraftSelector`) and the tables group by them. Only records written before drafts carried
facts are read by name (:func:`facts_from_name`), so that old results folders still load.

A study's selectors::

    drafts:
      - {method: base}
      - {method: [offline, online], dataset: "{kd_dataset}", kd_temperature: any}
      - {method: online, dataset: "{kd_dataset}", recipe: true, seed: all}

Each key is a fact (``method``, ``dataset``, ``kd_temperature``, ``divergence``, ``seed``,
``recipe``, ``origin``) or ``name``, a label or glob; a plain string is a ``name``. A value is
one value, a list of values (any of them), ``null`` (the fact is absent), ``any`` (present, any
value) or ``all`` (no condition, as when the key is left out: every training seed, say).
``{kd_dataset}`` stands for the dataset the evaluation set's drafts were distilled on.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.errors import SpecError, control_character
from suite.seeding import SEED_LIMIT, seed_problem
from suite.specs import Reader
from suite.strict import read_config, whole

TRAINING_FILE = "training.json"
BASE, OFFLINE, ONLINE, OTHER = "base", "offline", "online", "other"
KD_METHODS = (OFFLINE, ONLINE)
SUBMISSION_METHODS = (OFFLINE, ONLINE, OTHER)  # what a submission may state it was trained by
BUNDLE, SUBMISSION = "bundle", "submission"
ORIGINS = (BUNDLE, SUBMISSION)
# Where the facts were read: a training record, a YAML that states them, or (old records) a name.
SOURCES = ("training.json", "profile", "submission.yaml", "name", "none")
DEFAULT_DIVERGENCE = {OFFLINE: "cross_entropy", ONLINE: "forward_kl"}
SUBMISSION_PREFIX = "sub-"  # the label a submission runs under: ``sub-<name>``
FIELDS = ("method", "dataset", "kd_temperature", "kd_temperatures", "divergence", "seed", "recipe")

Fail = Callable[[str, Any, str], Exception]


@dataclass(frozen=True)
class DraftFacts:
    """How a draft was made. ``kd_temperature`` is None for the base draft and recipe drafts."""

    method: str  # base, offline, online or other
    dataset: str | None = None  # the dataset it was distilled on
    kd_temperature: float | None = None
    kd_temperatures: tuple[float, ...] = ()  # every τ_kd of its KD data (several for a recipe)
    divergence: str | None = None
    seed: int | None = None  # the training seed
    recipe: bool = False  # the data-centric recipe: KD data drawn at several temperatures
    origin: str = BUNDLE  # bundle (the suite's own drafts, as a profile names them) or submission
    source: str = "training.json"

    @property
    def is_kd(self) -> bool:
        return self.method in KD_METHODS

    def configuration(self, label: str) -> str:
        """The configuration without its training seed: drafts that differ only in seed share it.

        Built from the facts (``kd-online-alpaca-t0.4``, ``kd-offline-gsm8k-recipe``, with the
        divergence when it is not the method's default); the base draft is ``base``; a submission
        or a draft without KD facts keeps its own label.
        """
        if self.origin == SUBMISSION:
            return label
        if self.method == BASE:
            return BASE
        if not self.is_kd or self.dataset is None or (self.kd_temperature is None) != self.recipe:
            return label
        tau = "recipe" if self.recipe else f"t{temperature_text(self.kd_temperature)}"
        name = f"kd-{self.method}-{self.dataset}-{tau}"
        if self.divergence not in (None, DEFAULT_DIVERGENCE[self.method]):
            name += f"-{self.divergence}"
        return name

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "dataset": self.dataset,
            "kd_temperature": self.kd_temperature,
            "kd_temperatures": list(self.kd_temperatures),
            "divergence": self.divergence,
            "seed": self.seed,
            "recipe": self.recipe,
            "origin": self.origin,
            "source": self.source,
        }


def temperature_text(tau: float) -> str:
    """0.4 -> '0.4', 1 -> '1.0', 0.25 -> '0.25': the spelling of ``suite distill``'s names (2
    decimals at most). A stated τ_kd with more keeps all its digits (0.401 -> '0.401'): two drafts
    whose τ_kd differ never share a configuration, so they are not pooled as one draft's seeds."""
    text = f"{float(tau):.2f}"
    text = text[:-1] if text.endswith("0") else text
    return text if float(text) == tau else repr(float(tau))


MAX_FACT_CHARS = 256  # a fact's text (a method, a dataset, a divergence): one table cell


def _text(value: Any, field: str, fail: Fail) -> str | None:
    """A fact's text: one short line, as tables, CSV cells and claims' filters take it."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise fail(field, value, "expected a non-empty string or null")
    if value is not None and len(value) > MAX_FACT_CHARS:
        raise fail(field, value, f"at most {MAX_FACT_CHARS} characters")
    c = None if value is None else control_character(value, allowed="")
    if c is not None:
        raise fail(field, value, f"U+{ord(c):04X}: a fact is one line of plain text, no tab")
    return value


MAX_KD_TEMPERATURE = 100.0  # as a bundled training.json's; the paper's grid is 0 to 1
MIN_KD_TEMPERATURE = 0.001  # a positive τ_kd below it samples as greedy to float32
RECIPE_MAX_KD_TEMPERATURE = 10.0  # what a KD recipe may ask: a draft's name spells τ_kd


def _tau(value: Any, field: str, fail: Fail) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(field, value, "expected a number or null")
    if not math.isfinite(value) or not (
        value == 0 or MIN_KD_TEMPERATURE <= value <= MAX_KD_TEMPERATURE
    ):  # as a sampling temperature: 0 (greedy) or from 0.001, shown to 2 decimals or more
        message = f"a KD temperature is 0 or in [{MIN_KD_TEMPERATURE:g}, {MAX_KD_TEMPERATURE:g}]"
        raise fail(field, value, message)
    return float(value) + 0.0  # -0.0 is 0.0: one configuration, as decode temperatures are


MAX_KD_TEMPERATURES = 256  # of one draft (a mixture of KD temperatures): far above any recipe's


def _taus(value: Any, field: str, fail: Fail) -> tuple[float, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise fail(field, value, "expected a list of temperatures")
    if len(value) > MAX_KD_TEMPERATURES:
        raise fail(field, len(value), f"at most {MAX_KD_TEMPERATURES} temperatures")
    taus = tuple(_tau(v, f"{field}[{i}]", fail) for i, v in enumerate(value))
    for i, tau in enumerate(taus):  # a mixture lists each temperature once
        if any(abs(tau - earlier) <= 1e-6 for earlier in taus[:i]):
            raise fail(f"{field}[{i}]", value[i], "a temperature listed twice")
    return taus


def _seed(value: Any, field: str, fail: Fail) -> int | None:
    value = whole(value)  # a whole exponent number (1e3) is that integer, as everywhere
    problem = None if value is None else seed_problem(value)
    if problem:
        raise fail(field, value, f"{problem} or null")
    return value


def _choice(value: Any, field: str, fail: Fail, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise fail(field, value, f"expected one of {', '.join(choices)}")
    return value


def facts_from_mapping(
    data: Mapping, fail: Fail, prefix: str = "", *, origin: str = BUNDLE, source: str = "profile"
) -> DraftFacts:
    """Facts stated in a YAML file or read back from a record, every field checked.

    ``fail(field, value, message)`` builds the error, so it names the file the mapping came from.
    """
    known = (*FIELDS, "origin", "source")
    for key in data:
        if key not in known:
            raise fail(f"{prefix}{key}", data[key], f"unknown field; known: {', '.join(known)}")
    if "method" not in data:
        raise fail(f"{prefix}method", None, "missing required field")
    method = _text(data["method"], f"{prefix}method", fail)
    if method is None:
        raise fail(f"{prefix}method", None, "missing required field")
    tau = _tau(data.get("kd_temperature"), f"{prefix}kd_temperature", fail)
    taus = _taus(data.get("kd_temperatures"), f"{prefix}kd_temperatures", fail)
    recipe = data.get("recipe", False)
    if not isinstance(recipe, bool):
        raise fail(f"{prefix}recipe", recipe, "expected true or false")
    if recipe and (tau is not None or not taus):  # a mix of sets: its τ_kd, none of them alone
        message = "a recipe states its kd_temperatures (one or more) and no single kd_temperature"
        raise fail(f"{prefix}kd_temperatures", list(taus), message)
    if not recipe and taus and list(taus) != ([] if tau is None else [tau]):
        message = f"a draft of one τ_kd states only it, kd_temperature {tau!r}"
        raise fail(f"{prefix}kd_temperatures", list(taus), message)
    origin = _choice(data.get("origin", origin), f"{prefix}origin", fail, ORIGINS)
    if origin == SUBMISSION and method not in SUBMISSION_METHODS:  # as `submissions check` reads
        message = f"a submission's method is one of: {', '.join(SUBMISSION_METHODS)}"
        raise fail(f"{prefix}method", method, message)
    return DraftFacts(
        method=method,
        dataset=_text(data.get("dataset"), f"{prefix}dataset", fail),
        kd_temperature=tau,
        kd_temperatures=taus or ((tau,) if tau is not None else ()),
        divergence=_text(data.get("divergence"), f"{prefix}divergence", fail),
        seed=_seed(data.get("seed"), f"{prefix}seed", fail),
        recipe=recipe,
        origin=origin,
        source=_choice(data.get("source", source), f"{prefix}source", fail, SOURCES),
    )


def read_training_facts(folder: Path, *, base: bool = False) -> DraftFacts:
    """The facts ``suite distill`` recorded in ``<folder>/training.json``.

    ``base``: the folder is the bundle's base draft (its training record names no KD method). A
    folder without the file is a draft of unknown making (method ``other``): studies that select
    by facts leave it out, a name in a study still selects it.
    """
    path = folder / TRAINING_FILE
    if not path.is_file():
        return DraftFacts(method=BASE if base else OTHER, source="none")
    data = read_config(path, nofollow=True)  # strict JSON, at most 16 MiB, an object, no link

    def fail(field: str, value: Any, message: str) -> SpecError:
        return SpecError(path, field, value, message)

    recipe = data.get("data_centric_recipe")
    stated = {key: data[key] for key in FIELDS if key in data} | {"recipe": recipe is not None}
    stated["method"] = BASE if base else data.get("method") or OTHER
    return facts_from_mapping(stated, fail, source="training.json")


_KD_NAME = re.compile(
    r"^kd-(?P<method>offline|online)-(?P<dataset>[\w.]+?)-(?:t(?P<tau>\d+(?:\.\d+)?)|recipe)"
    r"(?:-s(?P<seed>\d+))?$"
)


def facts_from_name(name: str) -> DraftFacts:
    """Facts read from a label: only for records written before records carried facts.

    ``base``, ``sub-<name>`` and ``kd-<method>-<dataset>-t<τ>`` / ``-recipe`` (with an optional
    ``-s<seed>``), as the bundle and the submissions named their drafts; anything else is
    ``other``.
    """
    if name == BASE:
        return DraftFacts(method=BASE, source="name")
    if name.startswith(SUBMISSION_PREFIX):
        return DraftFacts(method=OTHER, origin=SUBMISSION, source="name")
    m = _KD_NAME.match(name)
    if not m:
        return DraftFacts(method=OTHER, source="name")
    tau = None if m.group("tau") is None else float(m.group("tau"))
    seed = m.group("seed")
    return DraftFacts(
        method=m.group("method"),
        dataset=m.group("dataset"),
        kd_temperature=tau,
        kd_temperatures=() if tau is None else (tau,),
        seed=None if seed is None else int(seed),
        recipe=tau is None,
        source="name",
    )


# --- selection by facts ---------------------------------------------------------------------------

ANY, ALL = "any", "all"
# What a selector may ask of a draft: its label and its facts, with the type of a wanted value.
_SELECTABLE = {
    "name": str,
    "method": str,
    "dataset": str,
    "kd_temperature": float,
    "divergence": str,
    "seed": int,
    "recipe": bool,
    "origin": str,
}

# Facts whose every value is known: a selector naming another selects no draft there can be.
_CHOICES = {"method": (BASE, OFFLINE, ONLINE, OTHER), "origin": ORIGINS}


@dataclass(frozen=True)
class DraftSelector:
    """Drafts whose facts hold every condition: ``(fact, wanted)`` pairs, wanted values in a tuple.

    ``spec`` is the selector as the study wrote it, for errors and display.
    """

    conditions: tuple[tuple[str, Any], ...]
    spec: Any

    @classmethod
    def by_name(cls, pattern: str) -> DraftSelector:
        return cls((("name", (pattern,)),), pattern)

    def matches(self, name: str, facts: DraftFacts | None, kd_dataset: str) -> bool:
        facts = facts or DraftFacts(OTHER, source="none")
        for key, wanted in self.conditions:
            if key == "name":
                if not any(fnmatch.fnmatchcase(name, _fill(w, kd_dataset)) for w in wanted):
                    return False
            elif wanted == ANY:
                if getattr(facts, key) is None:
                    return False
            elif not any(_same(getattr(facts, key), _fill(w, kd_dataset)) for w in wanted):
                return False
        return True


def _fill(value: Any, kd_dataset: str) -> Any:
    return value.replace("{kd_dataset}", kd_dataset) if isinstance(value, str) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(have: Any, wanted: Any) -> bool:
    """Equal; temperatures compare as numbers (0.4 from YAML is the τ_kd 0.4 of a record)."""
    if _is_number(have) and _is_number(wanted):
        return math.isclose(have, wanted, rel_tol=0.0, abs_tol=1e-9)
    return have == wanted


def _wanted(r: Reader, key: str, value: Any, field: str) -> Any:
    """One condition's wanted values as a tuple, or ANY; None when it sets no condition (all)."""
    if value in (ANY, ALL):
        if key == "name":
            raise r.error(field, value, "a name condition takes a label or a glob")
        return None if value == ALL else ANY
    kind = _SELECTABLE[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise r.error(field, value, "expected a value or a non-empty list")
    out = []
    for v in values:
        if v is None and key != "name":
            out.append(None)
        elif kind is float and _is_number(v):
            if not math.isfinite(v) or v < 0:
                raise r.error(field, v, "a temperature must be finite and >= 0")
            out.append(float(v))
        elif key == "seed" and _of_kind(v, kind) and not 0 <= v < SEED_LIMIT:
            raise r.error(field, v, f"a draft's seed is from 0 to {SEED_LIMIT - 1:,}")
        elif _of_kind(v, kind):
            if v not in _CHOICES.get(key, (v,)):  # a typo would select nothing, silently
                raise r.error(field, v, f"a draft's {key} is one of: {', '.join(_CHOICES[key])}")
            out.append(v)
        else:
            expected = {float: "a number", int: "an integer", str: "a string", bool: "true/false"}
            raise r.error(field, v, f"expected {expected[kind]}, a list of them, any or all")
    return tuple(out)


def _of_kind(value: Any, kind: type) -> bool:
    if kind is int:
        return _is_number(value) and isinstance(value, int)
    if kind is str:
        return isinstance(value, str) and bool(value.strip())
    return isinstance(value, kind)


def read_selectors(r: Reader, value: Any, field: str) -> tuple[DraftSelector, ...]:
    """A list of drafts: names (or globs) and mappings of facts."""
    if not isinstance(value, list) or not value:
        raise r.error(field, value, "expected a non-empty list of drafts")
    out = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if isinstance(item, str):
            out.append(DraftSelector.by_name(r.string(item, where)))
            continue
        d = r.mapping(item, where, set(), set(_SELECTABLE))
        if not d:
            raise r.error(where, item, "name at least one fact (or write 'name: \"*\"')")
        conditions = []
        for key, wanted in d.items():
            parsed = _wanted(r, key, wanted, f"{where}.{key}")
            if parsed is not None:
                conditions.append((key, parsed))
        out.append(DraftSelector(tuple(conditions), item))
    return tuple(out)
