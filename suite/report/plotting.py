"""Shared drawing helpers for the report's figures: style, PNG encoding, intervals, draft styles.

A seeded, vectorised bootstrap (:func:`suite.stats.intervals.resampled_mean_interval`) replaces
seaborn's per-point one, which was slow on many series and, for strip plots, unseeded; with it,
the same results give byte-identical images.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from PIL import Image

from suite.stats.intervals import resampled_mean_interval

DPI = 90
SEED = 0
N_BOOT = 1000
METRICS = {"alpha": "α (acceptance rate)", "speedup": "γ (projected if analytic)"}
OUT_OF_RANGE = 1.0  # the paper distils and decodes at τ ≤ 1; above is "out of range"


def png(fig: plt.Figure) -> bytes:
    """PNG bytes with a 256-colour palette: half the size, no visible loss for plots."""
    buf = io.BytesIO()
    with warnings.catch_warnings():  # long (legal) names leave no room for the layout: drawn as is
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def png_figure(func: Callable) -> Callable:
    """Draw inside one fixed style; close the figure even when drawing fails."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> bytes | None:
        with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.85):
            try:
                fig = func(*args, **kwargs)
            except Exception:
                plt.close("all")
                raise
            return None if fig is None else png(fig)

    return wrapper


def summarize(data: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean of ``value`` per group with a 95% percentile bootstrap interval over its rows (NaN for
    a single row)."""
    rows = []
    for key, part in data.groupby(by, sort=True):
        v = part[value].dropna().to_numpy(dtype=float)
        if v.size == 0:
            continue
        # One generator per group: a group's interval ignores the others.
        lo, hi = resampled_mean_interval(v, n_boot=N_BOOT, rng=np.random.default_rng(SEED))
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key, strict=True)), "mean": v.mean(), "lo": lo, "hi": hi})
    out = pd.DataFrame(rows, columns=[*by, "mean", "lo", "hi"])  # columns even with no row
    return out.astype({c: float for c in ("mean", "lo", "hi")})  # float even with no row


def of_engine(frame: pd.DataFrame, engine: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    return frame[frame["engine"] == engine]


def kd_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Single-temperature KD drafts: the τ_kd × τ_dec grid of the paper's Figure 2."""
    part = of_engine(frame, "analytic")
    if part.empty:
        return part
    mask = part["method"].isin(["offline", "online"]) & ~part["recipe"].astype(bool)
    return part[mask & part["kd_temperature"].notna()]


def tau_label(value: float) -> str:
    return f"{value:g}"


def _drafts(frame: pd.DataFrame, key: str = "draft") -> pd.DataFrame:
    """One row per draft (or per ``key``, e.g. ``config_label``) of a per-prompt table: its
    method, τ_kd and recipe flag."""
    return frame.drop_duplicates(key).set_index(key)[["method", "kd_temperature", "recipe"]]


def draft_order(frame: pd.DataFrame, key: str = "draft") -> list[str]:
    """The base draft first, then recipe drafts, then the others, each by label."""
    drafts = _drafts(frame, key)
    return sorted(
        drafts.index,
        key=lambda d: (drafts.at[d, "method"] != "base", not drafts.at[d, "recipe"], d),
    )


def draft_styles(frame: pd.DataFrame, key: str = "draft") -> dict[str, dict]:
    """Colour by τ_kd (base black, recipe red), line style by method: legible with many drafts."""
    drafts = _drafts(frame, key)
    taus = sorted(set(drafts["kd_temperature"].dropna()))
    shades = dict(zip(taus, sns.color_palette("viridis", max(len(taus), 1)), strict=False))
    styles = {}
    for draft, info in drafts.iterrows():
        if info["method"] == "base":
            color = "black"
        elif info["recipe"]:
            color = "tab:red"
        else:
            color = shades.get(info["kd_temperature"], "0.5")
        styles[draft] = {"color": color, "ls": "--" if info["method"] == "offline" else "-"}
    return styles


def _config_label(row: pd.Series, several_datasets: bool) -> str:
    if row["method"] == "base":
        return "base"
    if row["method"] not in ("offline", "online"):
        return row["draft_config"]  # a submission or a draft without KD facts: its own label
    if row["recipe"]:
        label = f"{row['method']} recipe"
    elif pd.notna(row["kd_temperature"]):
        label = f"{row['method']} τ_kd {tau_label(row['kd_temperature'])}"
    else:
        return row["draft_config"]
    return f"{label} · {row['kd_dataset']}" if several_datasets else label


def with_config_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with ``config_label``: a legend label per draft configuration (its facts without
    the training seed), e.g. "offline τ_kd 0.4" or "base"; the KD dataset is named when the table
    holds several, and labels that would still collide fall back to the configuration's name."""
    configs = frame.drop_duplicates("draft_config").set_index("draft_config", drop=False)
    kd = configs[configs["method"].isin(["offline", "online"])]
    several = kd["kd_dataset"].nunique() > 1
    labels = {c: _config_label(row, several) for c, row in configs.iterrows()}
    taken = pd.Series(labels).value_counts()
    labels = {c: c if taken[label] > 1 else label for c, label in labels.items()}
    return frame.assign(config_label=frame["draft_config"].map(labels))


def seed_summary(data: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean of ``value`` per ``config_label`` and ``by``, with a band, and ``seeds``.

    A configuration with several training seeds (drafts): the mean over its drafts of each
    draft's mean, the band the drafts' min–max. A single-seed configuration: its mean with the
    95% bootstrap interval over rows (:func:`summarize`).
    """
    parts = []
    for label, part in data.groupby("config_label", sort=True):
        seeds = part["draft"].nunique()
        if seeds == 1:
            s = summarize(part, by, value)
        else:
            per_seed = part.groupby(["draft", *by], as_index=False)[value].mean()
            s = per_seed.groupby(by, as_index=False)[value].agg(mean="mean", lo="min", hi="max")
            s = s[s["mean"].notna()]  # a point no seed defines (every value null) is not drawn
        if not s.empty:
            parts.append(s.assign(config_label=label, seeds=seeds))
    if not parts:  # no value defined: no row, but the columns a caller groups by
        return pd.DataFrame(columns=[*by, "mean", "lo", "hi", "config_label", "seeds"])
    return pd.concat(parts, ignore_index=True)


def legend_label(label: str, seeds: int) -> str:
    return f"{label} ({seeds} seeds)" if seeds > 1 else label


def config_legend(fig: plt.Figure, handles: dict, seeds: dict, configs: list[str]) -> None:
    """One legend beside all panels: the drawn configurations in ``configs``' order, each with
    its number of training seeds."""
    order = [c for c in configs if c in handles]
    fig.legend(
        [handles[c] for c in order],
        [legend_label(c, seeds[c]) for c in order],
        title="draft",
        loc="outside right upper",
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )


def palette_for(names: list[str]) -> dict:
    return dict(
        zip(
            names,
            sns.color_palette("tab10" if len(names) <= 10 else "husl", len(names)),
            strict=True,
        )
    )


def side_legend(ax_or_fig, handles, labels, title: str) -> None:
    if handles:
        ax_or_fig.legend(
            handles,
            labels,
            title=title,
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
            fontsize="small",
            title_fontsize="small",
            frameon=False,
        )


def shade_out_of_range(ax: plt.Axes, taus) -> None:
    if len(taus) and np.max(taus) > OUT_OF_RANGE:
        ax.axvspan(OUT_OF_RANGE, np.max(taus), color="0.5", alpha=0.12, lw=0)


def error_bars(s: pd.DataFrame) -> np.ndarray:
    """The 2 x n error bars of a summary's interval around its mean: never negative (an
    interval of identical values may lie a rounding error inside its mean), 0 where undefined."""
    mean, lo, hi = (s[c].to_numpy(dtype=float) for c in ("mean", "lo", "hi"))
    return np.clip(np.nan_to_num(np.vstack([mean - lo, hi - mean])), 0.0, None)


def no_data(ax: plt.Axes, what: str = "no defined values") -> None:
    """Say so on a panel whose values are all undefined, rather than leave it blank."""
    ax.text(
        0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color="0.4",
        bbox={"facecolor": "white", "edgecolor": "none"},
    )  # fmt: skip


def draw_band(
    ax: plt.Axes, s: pd.DataFrame, x: str, color, label: str, *, bars: bool = False, ls: str = "-"
):
    """A summary's mean over ``x`` with its interval, as a line and band or as error bars."""
    s = s.astype({c: float for c in ("mean", "lo", "hi")})  # null values are NaN, not objects
    if bars:
        return ax.errorbar(
            s[x],
            s["mean"],
            yerr=error_bars(s),
            marker="o",
            capsize=3,
            color=color,
            label=label,
        )
    (line,) = ax.plot(s[x], s["mean"], marker="o", ms=4, color=color, ls=ls, label=label)
    ax.fill_between(s[x], s["lo"], s["hi"], color=color, alpha=0.12, lw=0)
    return line
