"""Running cells: the analytic engine on a group of cells, the decoders on one empirical cell.

Everything random is seeded from the cell, so a cell's record (:class:`suite.records.ResultRecord`)
is the same on every run except its ``timing`` (clocks, and what is computed from them: c, γ).
:mod:`suite.cells.context` holds what a worker loads, :mod:`suite.cells.analytic` and
:mod:`suite.cells.empirical` the two engines.
"""

from __future__ import annotations

from collections.abc import Iterator

from suite.cells.analytic import N_BOOT, by_token_chars, lookup_chars, run_analytic
from suite.cells.context import Context, Models, architecture, resolve_device
from suite.cells.empirical import run_empirical
from suite.decoding.sampling import NonFiniteLogits
from suite.errors import SpecError
from suite.records import ResultRecord

__all__ = [
    "N_BOOT",
    "Context",
    "Models",
    "architecture",
    "by_token_chars",
    "execute_unit",
    "lookup_chars",
    "resolve_device",
    "run_analytic",
    "run_empirical",
]


def execute_unit(unit: tuple[str, list], ctx: Context) -> Iterator[ResultRecord]:
    """Records of one unit of work: an analytic group (one call) or one empirical cell."""
    engine, cells = unit
    try:
        if engine == "analytic":
            yield from run_analytic(cells, ctx)
        else:
            yield run_empirical(cells[0], ctx)
    except NonFiniteLogits as err:
        raise _non_finite(err, cells[0], ctx) from None


def _non_finite(err: NonFiniteLogits, cell, ctx: Context) -> SpecError:
    """The model that gave NaN or infinite logits on a prompt of ``cell``, named by its folder:
    scored, it would show an α of 0 (an argmax of NaN picks a token) rather than fail."""
    family = ctx.profile.models[cell.family]
    name = err.name or (cell.draft if err.role == "draft" else None)
    ref = family.drafts[name] if name is not None else family.target
    message = (
        f"{err} on a prompt of {cell.dataset}/{cell.split} at τ_dec {cell.decode_temperature:g}: "
        "check its weights and config.json's numbers"
    )
    return SpecError(ref.location, "draft" if name is not None else "target", ref.name, message)
