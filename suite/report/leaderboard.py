"""The leaderboard: a submitted draft beside the bundled drafts, per engine, dataset and τ_dec.

At each τ_dec the submission is compared with the best bundled draft there (highest mean α) and
with the base draft, on the same prompts (seeds averaged within a prompt): a two-sided Wilcoxon
signed-rank test of per-prompt α, as everywhere in the suite. Only results holding submitted
drafts (facts of origin "submission") get a leaderboard; the claims never see them (method
"submission" in the tables, and only the leaderboard study holds them).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from suite import stats
from suite.drafts import BASE, SUBMISSION
from suite.report.plotting import METRICS, draw_band, png_figure, summarize, tau_label
from suite.report.views import interval, number, pvalue
from suite.tables import matrix, seed_means

HIGHLIGHT = "tab:red"


def _metrics(part: pd.DataFrame, draft: str | None) -> dict | None:
    """Mean α and γ of one draft with 95% bootstrap intervals over prompts."""
    rows = part[part["draft"] == draft] if draft is not None else part[:0]
    if rows.empty:
        return None
    out: dict = {"draft": draft, "prompts": int(rows["prompt"].nunique())}
    for metric in ("alpha", "speedup"):
        values = rows.groupby("prompt")[metric].mean().dropna().to_numpy(dtype=float)
        out[metric] = float(values.mean()) if values.size else None
        out[f"{metric}_ci"] = list(stats.bootstrap_ci(values)) if values.size >= 2 else None
    return out


def _paired(part: pd.DataFrame, sub: str, best: str | None) -> dict:
    """Submission minus the best bundled draft, per prompt: Wilcoxon signed-rank, two-sided."""
    if best is None:
        return {"note": "no bundled draft at this τ_dec"}
    y, drafts, _ = matrix(part[part["draft"].isin([sub, best])], "draft", "alpha")
    if len(drafts) != 2:
        return {"note": "no prompts shared by both drafts"}
    try:
        res = stats.paired_test(
            y[:, drafts.index(sub)], y[:, drafts.index(best)], alternative="two-sided"
        )
    except ValueError as err:  # fewer than two shared prompts
        return {"note": str(err)}
    return res.to_dict()


def build(rows: pd.DataFrame, submission: dict | None = None) -> dict | None:
    """The leaderboard's numbers for summary.json, or None when no submission was run."""
    if rows.empty:
        return None
    frame = seed_means(rows)
    subs = sorted(frame.loc[frame["draft_origin"] == SUBMISSION, "draft"].unique())
    if not subs:
        return None
    tables = []
    groups = frame.groupby(["engine", "dataset", "num_draft_tokens"], sort=True)
    for (engine, dataset, k), part in groups:
        for sub in subs:
            if sub not in set(part["draft"]):
                continue
            entries = []
            for tau, at in part.groupby("decode_temperature", sort=True):
                bundled = at[at["draft_origin"] != SUBMISSION]
                means = bundled.groupby("draft")["alpha"].mean().dropna()
                best = None if means.empty else sorted(means.index, key=lambda d: -means[d])[0]
                base = sorted(bundled.loc[bundled["method"] == BASE, "draft"].unique())
                entries.append(
                    {
                        "decode_temperature": float(tau),
                        "submission": _metrics(at, sub),
                        "best": _metrics(at, best),
                        "base": _metrics(at, base[0] if base else None),
                        "test": _paired(at, sub, best),
                    }
                )
            tables.append(
                {
                    "engine": engine,
                    "dataset": dataset,
                    "num_draft_tokens": int(k),
                    "draft": sub,
                    "bundled_drafts": sorted(set(part["draft"]) - set(subs)),
                    "rows": entries,
                }
            )
    return {"submission": submission, "drafts": subs, "tables": tables}


def _value(mean, ci, *, signed: bool = False) -> str:
    """A mean with its interval, or the mean alone when there is no interval (one prompt)."""
    text = number(mean, signed=signed)
    return text if not ci or text == "—" else f"{text} {interval(ci, signed=signed)}"


def _cell(m: dict | None) -> dict:
    if m is None:
        return {"draft": "—", "alpha": "—", "speedup": "—"}
    return {
        "draft": m["draft"],
        "alpha": _value(m["alpha"], m["alpha_ci"]),
        "speedup": _value(m["speedup"], m["speedup_ci"]),
    }


def view(board: dict) -> dict:
    """Display strings for the template; every value stays text for Jinja to escape."""
    tables = []
    for t in board["tables"]:
        rows = []
        for e in t["rows"]:
            test = e["test"]
            rows.append(
                {
                    "tau": tau_label(e["decode_temperature"]),
                    "submission": _cell(e["submission"]),
                    "best": _cell(e["best"]),
                    "base": _cell(e["base"]),
                    "difference": _value(test.get("estimate"), test.get("ci"), signed=True),
                    "p": pvalue(test.get("pvalue")) if "pvalue" in test else "—",
                    "n": number(test.get("n")) if "n" in test else "—",
                    "note": test.get("note", ""),
                }
            )
        tables.append(
            {
                "title": f"{t['dataset']} · {t['engine']} engine · K = {t['num_draft_tokens']}",
                "draft": t["draft"],
                "bundled": ", ".join(t["bundled_drafts"]) or "—",
                "rows": rows,
            }
        )
    meta = board.get("submission") or {}
    training = meta.get("training") or {}
    details = [
        ("draft", meta.get("draft")),
        ("authors", ", ".join(meta.get("authors") or [])),
        ("drafts for", meta.get("target")),
        ("model", meta.get("model")),
        ("parameters", f"{n:,}" if isinstance(n := meta.get("parameters"), int) else None),
        ("training", training.get("method")),
        ("τ_kd", number(training.get("kd_temperature"), 2)),
        ("training data", training.get("data")),
        ("KD dataset", training.get("dataset")),
        ("training seed", training.get("seed")),
        ("license", meta.get("license")),
        ("description", meta.get("description")),
        ("sha256", meta.get("sha256")),
    ]
    return {
        "drafts": board["drafts"],
        "details": [(k, "—" if v in (None, "") else str(v)) for k, v in details if meta],
        "tables": tables,
    }


@png_figure
def figure(frame: pd.DataFrame) -> plt.Figure | None:
    """α and γ against τ_dec (seed-averaged rows): submissions highlighted, bundled drafts grey."""
    part = frame[frame["engine"] == "analytic"]
    engine = "analytic"
    if part.empty:
        part, engine = frame[frame["engine"] == "empirical"], "empirical"
    if part.empty or SUBMISSION not in set(part["draft_origin"]):
        return None
    datasets = sorted(part["dataset"].unique())
    fig, axes = plt.subplots(
        len(datasets), 2, figsize=(10, 2.8 * len(datasets)), squeeze=False, layout="constrained"
    )
    handles: dict = {}
    for row, dataset in enumerate(datasets):
        sub = part[part["dataset"] == dataset]
        taus = np.sort(sub["decode_temperature"].unique())
        for col, (metric, label) in enumerate(METRICS.items()):
            ax = axes[row, col]
            summary = summarize(sub, ["draft", "decode_temperature"], metric)
            for draft, s in summary.groupby("draft", sort=True):
                facts = sub.loc[sub["draft"] == draft].iloc[0]
                if facts["draft_origin"] == SUBMISSION:
                    handles[draft] = draw_band(ax, s, "decode_temperature", HIGHLIGHT, draft)
                    handles[draft].set_linewidth(2.5)
                elif facts["method"] == BASE:
                    (handles["base"],) = ax.plot(
                        s["decode_temperature"], s["mean"], color="0.25", lw=1.2, ls="--"
                    )
                else:
                    (handles["bundled KD drafts"],) = ax.plot(
                        s["decode_temperature"], s["mean"], color="0.6", lw=0.8, alpha=0.8
                    )
            ax.set_xticks(taus, [tau_label(t) for t in taus])
            ax.set_xlabel("τ_dec")
            ax.set_ylabel(label)
            ax.set_title(f"{dataset} ({engine})", fontsize="medium")
    order = sorted(handles, key=lambda h: (h in ("base", "bundled KD drafts"), h))
    fig.legend(
        [handles[h] for h in order],
        order,
        loc="outside right upper",
        fontsize="small",
        frameon=False,
    )
    return fig


def terminal_table(board: dict | None) -> str:
    """The leaderboard as plain text: α per τ_dec of submission, best bundled draft and base."""
    if not board:
        return "no submission in these results"
    lines = []
    for t in view(board)["tables"]:
        lines.append(f"{t['draft']} · {t['title']}")
        head = ["τ_dec", "submission α", "best bundled", "α", "base α", "Δα vs best", "p"]
        body = [
            [
                r["tau"],
                r["submission"]["alpha"],
                r["best"]["draft"],
                r["best"]["alpha"],
                r["base"]["alpha"],
                r["difference"],
                r["p"],
            ]
            for r in t["rows"]
        ]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
        for r in [head, ["-" * w for w in widths], *body]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        lines.append("")
    return "\n".join(lines).rstrip()
