"""The report's figures: each a function of the seed-averaged per-prompt table (or of the typed
records, :class:`suite.records.ResultRecord`, in :mod:`suite.report.record_figures`), returning PNG
bytes. Claims name their figures by their names in this module.

A figure whose data are absent returns None, so the report can say so instead of drawing an empty
frame. Drawing is deterministic (see :mod:`suite.report.plotting`); a low dpi and a 256-colour
palette keep the inlined HTML small.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle

from suite.report.plotting import (
    METRICS,
    SEED,
    config_legend,
    draft_order,
    draft_styles,
    draw_band,
    error_bars,
    kd_grid,
    legend_label,
    no_data,
    of_engine,
    palette_for,
    png_figure,
    seed_summary,
    shade_out_of_range,
    side_legend,
    summarize,
    tau_label,
    with_config_labels,
)
from suite.report.record_figures import position_acceptance, token_length  # noqa: F401
from suite.report.shape_figures import u_curve  # noqa: F401  (claim 5's figure)


@png_figure
def temperature_heatmaps(frame: pd.DataFrame) -> plt.Figure | None:
    """Mean α and γ over τ_kd × τ_dec per dataset and method; the diagonal τ_kd = τ_dec boxed."""
    grid = kd_grid(frame)
    if (
        grid.empty
        or grid["kd_temperature"].nunique() < 2
        or grid["decode_temperature"].nunique() < 2
    ):
        return None
    series = sorted(grid.groupby(["dataset", "method"]).groups)
    fig, axes = plt.subplots(
        len(series), 2, figsize=(9.5, 3.2 * len(series)), squeeze=False, layout="constrained"
    )
    for row, (dataset, method) in enumerate(series):
        part = grid[(grid["dataset"] == dataset) & (grid["method"] == method)]
        for col, (metric, label) in enumerate(METRICS.items()):
            ax = axes[row, col]
            table = part.pivot_table(
                index="decode_temperature", columns="kd_temperature", values=metric, aggfunc="mean"
            ).reindex(  # every τ of the grid, a cell without a defined value left blank
                index=sorted(part["decode_temperature"].unique()),
                columns=sorted(part["kd_temperature"].unique()),
            )
            values = table.to_numpy(dtype=float)
            defined = values[np.isfinite(values)]
            if defined.size:
                image = ax.imshow(values, cmap="viridis", aspect="auto")
                fig.colorbar(image, ax=ax, label=label, shrink=0.9)
                low, span = defined.min(), np.ptp(defined) or 1.0
            else:
                ax.set_xlim(-0.5, len(table.columns) - 0.5)
                ax.set_ylim(len(table.index) - 0.5, -0.5)
                no_data(ax)
            for (i, j), v in np.ndenumerate(values):
                if np.isfinite(v):
                    light = (v - low) / span > 0.6
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="black" if light else "white",
                    )
                if np.isclose(table.index[i], table.columns[j]):
                    ax.add_patch(
                        Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, ec="red", lw=2)
                    )
            ax.set_xticks(range(len(table.columns)), [tau_label(c) for c in table.columns])
            ax.set_yticks(range(len(table.index)), [tau_label(i) for i in table.index])
            ax.grid(False)
            ax.set_xlabel("τ_kd (distillation)")
            ax.set_ylabel("τ_dec (decoding)")
            ax.set_title(f"{dataset} · {method} KD · {label.split(' ')[0]}", fontsize="medium")
    return fig


@png_figure
def temperature_curves(frame: pd.DataFrame) -> plt.Figure | None:
    """α and γ against τ_dec per draft configuration and dataset.

    One line per configuration (a draft's facts without its training seed): with several seeds
    the mean over seeds and their min–max as band; with one seed the 95% bootstrap interval over
    prompts. The analytic engine's cells when there are any (many prompts), else the empirical.
    """
    engine = "analytic"
    part = of_engine(frame, engine)
    if part.empty:
        engine = "empirical"
        part = of_engine(frame, engine)
    if part.empty or part["decode_temperature"].nunique() < 2:
        return None
    part = with_config_labels(part)
    datasets = sorted(part["dataset"].unique())
    configs = draft_order(part, "config_label")
    styles = draft_styles(part, "config_label")
    fig, axes = plt.subplots(
        len(datasets), 2, figsize=(10, 2.8 * len(datasets)), squeeze=False, layout="constrained"
    )
    handles, seeds = {}, {}
    for row, dataset in enumerate(datasets):
        sub = part[part["dataset"] == dataset]
        taus = np.sort(sub["decode_temperature"].unique())
        for col, (metric, label) in enumerate(METRICS.items()):
            ax = axes[row, col]
            shade_out_of_range(ax, taus)
            stats = seed_summary(sub, ["decode_temperature"], metric)
            if stats.empty:
                no_data(ax)
            for config, s in stats.groupby("config_label", sort=False):
                handles[config] = draw_band(
                    ax, s, "decode_temperature", label=config, **styles[config]
                )
                seeds[config] = max(seeds.get(config, 0), int(s["seeds"].iloc[0]))
            ax.set_xticks(taus, [tau_label(t) for t in taus])
            ax.set_xlabel("τ_dec")
            ax.set_ylabel(label)
            ax.set_title(f"{dataset} ({engine})", fontsize="medium")
    config_legend(fig, handles, seeds, configs)
    return fig


@png_figure
def online_offline_gap(frame: pd.DataFrame) -> plt.Figure | None:
    """Online minus offline α per prompt by τ_dec, averaged over the τ_kd both methods share."""
    grid = kd_grid(frame)
    if grid.empty:
        return None
    wide = grid.pivot_table(
        index=["dataset", "prompt", "decode_temperature", "kd_temperature"],
        columns="method",
        values="alpha",
        aggfunc="mean",
    )
    if "online" not in wide or "offline" not in wide:
        return None
    wide = wide.dropna(subset=["online", "offline"])
    if wide.empty:
        return None
    diff = (wide["online"] - wide["offline"]).rename("gap").reset_index()
    diff = diff.groupby(["dataset", "prompt", "decode_temperature"], as_index=False)["gap"].mean()
    taus = np.sort(diff["decode_temperature"].unique())
    stats = summarize(diff, ["dataset", "decode_temperature"], "gap")
    datasets = sorted(stats["dataset"].unique())
    colors = palette_for(datasets)
    fig, ax = plt.subplots(figsize=(7.5, 3.4), layout="constrained")
    ax.axhline(0.0, color="0.3", lw=1)
    shade_out_of_range(ax, taus)
    dodge = 0.015 * (np.ptp(taus) or 1.0)  # keeps the datasets' intervals apart
    for i, dataset in enumerate(datasets):
        s = stats[stats["dataset"] == dataset].copy()
        s["decode_temperature"] += dodge * (i - (len(datasets) - 1) / 2)
        draw_band(ax, s, "decode_temperature", colors[dataset], dataset, bars=True)
    ax.set_xticks(taus, [tau_label(t) for t in taus])
    ax.set_xlabel("τ_dec")
    ax.set_ylabel("α(online) − α(offline)")
    side_legend(ax, *ax.get_legend_handles_labels(), "dataset")
    return fig


@png_figure
def recipe_comparison(frame: pd.DataFrame) -> plt.Figure | None:
    """γ of the recipe drafts beside single-temperature drafts, at the recipe's τ_dec."""
    part = of_engine(frame, "analytic")
    if part.empty:
        return None
    part = part[part["method"].isin(["offline", "online"])]
    is_recipe = part["recipe"].astype(bool)
    panels = []
    for dataset in sorted(part[is_recipe]["dataset"].unique()):
        sub = part[part["dataset"] == dataset]
        mask = sub["recipe"].astype(bool)
        taus = set(sub[mask]["decode_temperature"]) & set(sub[~mask]["decode_temperature"])
        if taus:
            panels.append((dataset, sub[sub["decode_temperature"].isin(taus)]))
    if not panels:
        return None
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False, layout="constrained"
    )
    for ax, (dataset, sub) in zip(axes[:, 0], panels, strict=True):
        _recipe_bars(ax, with_config_labels(sub))
        ax.set_title(
            f"{dataset}: recipe drafts (hatched) and single-temperature drafts", fontsize="medium"
        )
        side_legend(ax, *ax.get_legend_handles_labels(), "draft")
    return fig


def _recipe_bars(ax: plt.Axes, sub: pd.DataFrame) -> None:
    """One bar per draft configuration and τ_dec: the mean over its training seeds with their
    min–max (a single-seed configuration: its bootstrap interval over prompts)."""
    configs = draft_order(sub, "config_label")
    recipes = set(sub.loc[sub["recipe"].astype(bool), "config_label"])
    colors = dict(zip(configs, sns.color_palette("Paired", len(configs)), strict=True))
    taus = sorted(sub["decode_temperature"].unique())
    stats = seed_summary(sub, ["decode_temperature"], "speedup")
    width = 0.8 / len(configs)
    for i, config in enumerate(configs):
        s = stats[stats["config_label"] == config]
        if s.empty:  # no defined γ for this configuration
            continue
        x = np.array([taus.index(t) for t in s["decode_temperature"]]) + (i + 0.5) * width - 0.4
        err = error_bars(s)
        ax.bar(
            x,
            s["mean"],
            width,
            yerr=err,
            capsize=2,
            color=colors[config],
            label=legend_label(config, int(s["seeds"].iloc[0])),
            hatch="//" if config in recipes else None,
            edgecolor="white",
        )
    ax.set_xticks(range(len(taus)), [tau_label(t) for t in taus])
    ax.set_xlabel("τ_dec")
    ax.set_ylabel(METRICS["speedup"])


@png_figure
def engine_agreement(agreement: dict) -> plt.Figure | None:
    """Analytic α̂ against the empirical judged rate, cell by cell, with the identity line."""
    pairs = agreement.get("pairs") or []
    if not pairs:
        return None
    data = pd.DataFrame(pairs)
    fig, ax = plt.subplots(figsize=(5.6, 4.4), layout="constrained")
    ax.plot([0, 1], [0, 1], color="0.4", lw=1, ls="--", label="identity")
    taus = sorted(data["decode_temperature"].unique())
    colors = dict(zip(taus, sns.color_palette("viridis", len(taus)), strict=True))
    markers = dict(zip(sorted(data["dataset"].unique()), "osD^vP*X", strict=False))
    for (tau, dataset), s in data.groupby(["decode_temperature", "dataset"], sort=True):
        ax.scatter(
            s["analytic"],
            s["empirical"],
            s=36,
            color=colors[tau],
            marker=markers.get(dataset, "o"),
            label=f"{dataset}, τ_dec = {tau_label(tau)}",
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("analytic α̂ (expected acceptance)")
    ax.set_ylabel("empirical judged acceptance")
    side_legend(ax, *ax.get_legend_handles_labels(), "")
    return fig


@png_figure
def dataset_difficulty(frame: pd.DataFrame) -> plt.Figure | None:
    """Per-prompt α of the base draft by dataset and τ_dec (analytic), mean with 95% interval."""
    part = of_engine(frame, "analytic")
    part = part[part["method"] == "base"] if not part.empty else part
    if part.empty:
        return None
    datasets = sorted(part["dataset"].unique())
    taus = sorted(part["decode_temperature"].unique())
    colors = dict(zip(taus, sns.color_palette("crest", len(taus)), strict=True))
    stats = summarize(part, ["dataset", "decode_temperature"], "alpha")
    rng = np.random.default_rng(SEED)
    width = 0.7 / len(taus)
    fig, ax = plt.subplots(figsize=(7.5, 3.3), layout="constrained")
    for j, tau in enumerate(taus):
        offset = (j + 0.5) * width - 0.35
        pts = part[part["decode_temperature"] == tau]
        x = np.array([datasets.index(d) for d in pts["dataset"]]) + offset
        ax.scatter(
            x + rng.uniform(-0.3, 0.3, len(x)) * width,
            pts["alpha"],
            s=6,
            alpha=0.35,
            color=colors[tau],
        )
        s = stats[stats["decode_temperature"] == tau]
        xs = np.array([datasets.index(d) for d in s["dataset"]]) + offset
        err = error_bars(s)
        ax.errorbar(
            xs,
            s["mean"],
            yerr=err,
            fmt="D",
            ms=5,
            capsize=3,
            color=colors[tau],
            label=tau_label(tau),
        )
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("α per prompt (base draft)")
    side_legend(ax, *ax.get_legend_handles_labels(), "τ_dec")
    return fig
