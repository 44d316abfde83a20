"""The report's figures drawn from the typed records (:class:`suite.records.ResultRecord`) rather
than the per-prompt table: acceptance by draft position, and β by token length."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from suite.records import EMPIRICAL, ResultRecord
from suite.report.plotting import (
    config_legend,
    draft_order,
    draft_styles,
    palette_for,
    png_figure,
    side_legend,
    tau_label,
    with_config_labels,
)
from suite.tables import draft_columns, token_char_buckets


def _position_rows(records: list[ResultRecord]) -> list[dict]:
    """One row per empirical cell and draft position with a defined share."""
    return [
        {
            "family": r.cell.family,
            "draft": r.cell.draft,
            "decode_temperature": r.cell.decode_temperature,
            "position": i + 1,
            "acceptance": float(v),
        }
        | draft_columns(r.cell.draft, r.facts)
        for r in records
        if r.engine == EMPIRICAL
        for i, v in enumerate(r.result.position_acceptance)
        if np.isfinite(v)
    ]


def _panel_axes(panels: int) -> tuple[plt.Figure, np.ndarray]:
    """Up to three panels a row, sharing the y axis; the unused places hidden."""
    ncols = min(panels, 3)
    nrows = -(-panels // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.3 * ncols + 2.4, 2.6 * nrows),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax in axes.flat[panels:]:
        ax.set_visible(False)
    return fig, axes


def _draw_positions(ax: plt.Axes, sub: pd.DataFrame, styles: dict, handles: dict, seeds: dict):
    """Each configuration's mean share by position; the min–max over its training seeds."""
    for config, c in sub.groupby("config_label", sort=False):
        s = c.groupby("position", as_index=False)["acceptance"].agg(["mean", "min", "max"])
        (handles[config],) = ax.plot(
            s["position"], s["mean"], marker="o", ms=4, label=config, **styles[config]
        )
        seeds[config] = max(seeds.get(config, 0), c["draft"].nunique())
        if c["draft"].nunique() > 1:  # several training seeds: their min–max
            color = styles[config]["color"]
            ax.fill_between(s["position"], s["min"], s["max"], color=color, alpha=0.12, lw=0)
    ax.set_xticks(sorted(sub["position"].unique()))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("draft position")
    ax.set_ylabel("accepted share")


@png_figure
def position_acceptance(records: list[ResultRecord]) -> plt.Figure | None:
    """Empirical share of drafted tokens accepted at each draft position, per draft configuration
    and τ_dec: the mean over training seeds, their min–max as band when there are several."""
    rows = _position_rows(records)
    if not rows:
        return None
    keys = ["family", "decode_temperature", "draft", "position"]
    labelled = with_config_labels(pd.DataFrame(rows))
    data = labelled.groupby([*keys, "config_label"], as_index=False)["acceptance"].mean()
    facts = labelled.drop_duplicates("config_label")
    # One panel per family and τ_dec: drafts of different families may share a name.
    panels = sorted(set(zip(data["family"], data["decode_temperature"], strict=True)))
    several = data["family"].nunique() > 1
    styles = draft_styles(facts, "config_label")
    fig, axes = _panel_axes(len(panels))
    handles, seeds = {}, {}
    for ax, (family, tau) in zip(axes.flat, panels, strict=False):
        sub = data[(data["decode_temperature"] == tau) & (data["family"] == family)]
        _draw_positions(ax, sub, styles, handles, seeds)
        title = f"τ_dec = {tau_label(tau)}"
        ax.set_title(f"{family}, {title}" if several else title, fontsize="medium")
    config_legend(fig, handles, seeds, draft_order(facts, "config_label"))
    return fig


@png_figure
def token_length(records: list[ResultRecord]) -> plt.Figure | None:
    """Mean β by token length in characters (base draft, analytic), with the tokens per bucket."""
    data = token_char_buckets(records)
    if data.empty:
        return None
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7.5, 5.0), sharex=True, height_ratios=[2, 1], layout="constrained"
    )
    datasets = sorted(data["dataset"].unique())
    colors = palette_for(datasets)
    width = 0.8 / len(datasets)
    for i, dataset in enumerate(datasets):
        sub = data[data["dataset"] == dataset]
        top.plot(sub["chars"], sub["beta"], marker="o", ms=4, color=colors[dataset], label=dataset)
        bottom.bar(
            sub["chars"] + (i - (len(datasets) - 1) / 2) * width,
            sub["count"],
            width,
            color=colors[dataset],
        )
    top.set_ylabel("mean β")
    top.set_ylim(-0.02, 1.02)
    side_legend(top, *top.get_legend_handles_labels(), "dataset")
    ticks = data.drop_duplicates("chars").sort_values("chars")
    bottom.set_xticks(ticks["chars"], ticks["label"])
    bottom.set_xlabel("token length (characters)")
    bottom.set_ylabel("tokens")
    return fig
