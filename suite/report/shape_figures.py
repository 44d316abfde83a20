"""The U-curve figure of claim 5: γ over τ_dec with the two-lines test's fitted lines.

The lines are those the claim's test uses (:func:`suite.stats.split_u_test`): least-squares
lines through the mean curve on each side of the breakpoint, which is chosen on a held-out half
of the prompts; the breakpoint is drawn as a dashed vertical line.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from suite import stats
from suite.report.plotting import (
    draft_styles,
    no_data,
    of_engine,
    png_figure,
    shade_out_of_range,
    tau_label,
)
from suite.tables import matrix


def _engine_part(frame: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """Measured γ where the empirical engine ran, projected γ otherwise (as the claim decides)."""
    for engine in ("empirical", "analytic"):
        part = of_engine(frame, engine)
        if not part.empty and part["decode_temperature"].nunique() >= 5:
            return engine, part
    return "", pd.DataFrame()


@png_figure
def u_curve(frame: pd.DataFrame) -> plt.Figure | None:
    engine, part = _engine_part(frame)
    if part.empty:
        return None
    datasets = sorted(part["dataset"].unique())
    styles = draft_styles(part)
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(4.8 * len(datasets), 3.4), squeeze=False, layout="constrained"
    )
    drawn = 0
    for ax, dataset in zip(axes[0], datasets, strict=True):
        sub = part[part["dataset"] == dataset]
        taus = np.sort(sub["decode_temperature"].unique())
        shade_out_of_range(ax, taus)
        for draft, d in sub.groupby("draft", sort=True):
            y, t, _ = matrix(d, "decode_temperature", "speedup")
            if len(t) < 5 or len(y) < 4:  # too few defined γ (say, no timing) for the test
                continue
            drawn += 1
            res = stats.split_u_test(y, np.array(t))
            color = styles[draft].get("color")
            ax.plot(t, y.mean(axis=0), "o", color=color, ms=4, label=draft)
            for x0, y0, x1, y1 in res.details["lines"]:
                ax.plot([x0, x1], [y0, y1], "-", color=color, lw=1.5)
            ax.axvline(res.details["breakpoint"], color=color, ls="--", lw=0.8)
        ax.set_xticks(taus, [tau_label(t) for t in taus])
        ax.set_xlabel("τ_dec")
        ax.set_ylabel("γ (measured)" if engine == "empirical" else "γ (projected)")
        ax.set_title(f"{dataset} ({engine}): two lines, dashed breakpoint", fontsize="medium")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small", frameon=False)
        else:
            no_data(ax, "no draft with γ on five τ_dec and four prompts")
    if not drawn:  # no series to fit: the figure's data are absent
        plt.close(fig)
        return None
    return fig
