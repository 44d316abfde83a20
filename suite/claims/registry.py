"""The claims the report decides, each registered where its check is written.

As lm-evaluation-harness registers its models (``lm_eval/api/registry.py``), a decorator adds a
claim to a registry and refuses a number already taken::

    @register_claim(9, studies=("degradation",), metric="acceptance_rate",
                    figures=(Figure("temperature_curves", "α against τ_dec."),))
    def claim_something(data: ClaimData) -> Evaluation: ...

The registration says everything the suite does with the claim: the studies whose cells it
reads, the quantity it decides on, whether it reads the raw records as well as the per-prompt
table, and the report's figures. The claim's words (title, statement, source, the paper's
numbers) stay in ``reference/paper.yaml`` under the same number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from suite.claims.model import ClaimData, Evaluation

FIGURE_INPUTS = ("frame", "records")

Check = Callable[[ClaimData], Evaluation]


@dataclass(frozen=True)
class Figure:
    """One figure of a claim's section, drawn once per study that the claim reads.

    ``draw`` names a function of :mod:`suite.report.figures`, or is any function returning PNG
    bytes (None when its data are absent). It takes the study's seed-averaged per-prompt table
    (``takes="frame"``) or its raw cell records (``takes="records"``).
    """

    draw: str | Callable
    caption: str
    takes: str = "frame"


@dataclass(frozen=True)
class Claim:
    number: int
    check: Check
    studies: tuple[str, ...]  # the studies whose cells the check reads, every family's
    metric: str  # the per-prompt quantity it decides on
    figures: tuple[Figure, ...] = ()
    reads_records: bool = False  # the check also needs the cell records, not only the table
    decide_on: str = "analytic"  # the engine whose verdict is primary when it ran on enough units

    @property
    def name(self) -> str:
        return f"{self.check.__module__}.{self.check.__qualname__}"


class ClaimRegistry(Mapping[int, Claim]):
    """Claims by number, in number order."""

    def __init__(self, claims: Mapping[int, Claim] | None = None):
        self._claims: dict[int, Claim] = dict(claims or {})

    def __getitem__(self, number: int) -> Claim:
        return self._claims[number]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._claims))

    def __len__(self) -> int:
        return len(self._claims)

    def copy(self) -> ClaimRegistry:
        """A registry to extend without touching this one (tests, experiments)."""
        return ClaimRegistry(self._claims)

    def add(self, claim: Claim) -> Claim:
        current = self._claims.get(claim.number)
        if current is not None and current.check is not claim.check:
            raise ValueError(
                f"claim {claim.number} is already registered ({current.name}); "
                f"{claim.name} needs a number of its own"
            )
        self._claims[claim.number] = claim
        return claim

    def register(
        self,
        number: int,
        *,
        studies: tuple[str, ...] | list[str],
        metric: str,
        figures: tuple[Figure, ...] | list[Figure] = (),
        reads_records: bool = False,
        decide_on: str = "analytic",
    ) -> Callable[[Check], Check]:
        """Decorator: register ``check`` as claim ``number``; the check is returned unchanged."""
        _validate(number, studies, metric, figures, decide_on)

        def decorate(check: Check) -> Check:
            if not callable(check):
                raise TypeError(f"claim {number}: the check must be a function, got {check!r}")
            claim = Claim(
                number, check, tuple(studies), metric, tuple(figures), reads_records, decide_on
            )
            self.add(claim)
            return check

        return decorate


def _validate(number, studies, metric, figures, decide_on="analytic") -> None:
    if decide_on not in ("analytic", "empirical"):
        raise ValueError(f"claim {number}: decide_on must be an engine, got {decide_on!r}")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"a claim's number is a positive integer, got {number!r}")
    if isinstance(studies, str) or not studies or not all(isinstance(s, str) for s in studies):
        raise ValueError(f"claim {number}: studies must be a list of study names, got {studies!r}")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"claim {number}: metric must name a quantity, got {metric!r}")
    for figure in figures:
        if not isinstance(figure, Figure) or figure.takes not in FIGURE_INPUTS:
            raise ValueError(
                f"claim {number}: each figure is a Figure taking one of {FIGURE_INPUTS}, "
                f"got {figure!r}"
            )


REGISTRY = ClaimRegistry()  # the paper's claims; suite.claims imports the modules that fill it


register_claim = REGISTRY.register  # @register_claim(number, studies=..., metric=..., figures=...)


def claims_on(studies: tuple[str, ...], metric: str, figure: str) -> Callable:
    """A decorator maker for claims that read the same studies, decide on the same metric and
    show the same figure, each with its own caption: ``@maker(number, caption)``."""

    def register(number: int, caption: str) -> Callable[[Check], Check]:
        return register_claim(
            number, studies=studies, metric=metric, figures=[Figure(figure, caption)]
        )

    return register
