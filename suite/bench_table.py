"""The benchmark's printed table: a line per τ_dec, draft and K, then the best K of each."""

from __future__ import annotations

COLUMNS = (  # header, width, value of a row
    ("τ", 4, lambda r: _tau(r["temperature"])),
    ("K", 2, lambda r: str(r["num_draft_tokens"])),
    ("target", 13, lambda r: _ms(r, "target")),
    ("ours", 13, lambda r: _ms(r, "speculative")),
    ("assisted", 13, lambda r: _ms(r, "assisted")),
    ("α ours", 6, lambda r: f"{r['methods']['speculative']['acceptance_rate']:.3f}"),
    ("α HF", 6, lambda r: f"{r['methods']['assisted']['acceptance_rate']:.3f}"),
    ("α* ours", 7, lambda r: f"{r['methods']['speculative']['judged_acceptance_rate']:.3f}"),
    ("MAL", 5, lambda r: f"{r['methods']['speculative']['mean_accepted_length']:.2f}"),
    ("MAL(α*)", 7, lambda r: f"{r['mean_accepted_length_predicted']:.2f}"),
    ("c", 5, lambda r: f"{r['cost_ratio']['cost_ratio']:.3f}"),
    ("γ meas", 7, lambda r: f"{r['speedup_measured']:.2f}{'*' if r.get('best_k') else ' '}"),
    ("γ pred", 6, lambda r: f"{r['speedup_predicted']:.2f}"),
    ("meas/pred", 9, lambda r: f"{r['measured_over_predicted']:.3f}"),
    ("γ HF", 5, lambda r: f"{r['speedup_assisted']:.2f}"),
    ("HF/ours", 7, lambda r: f"{r['assisted_over_ours']:.3f}"),
    ("verify×", 7, lambda r: f"{r['verify_over_single_forward']:.2f}"),
    ("γ pred'", 7, lambda r: f"{r['speedup_predicted_with_verify_cost']:.2f}"),
)
LEGEND = (
    "target/ours/assisted: ms per emitted token, total over prompts (median of prompts).",
    "α = accepted/proposed; α* = accepted/judged (the α of the formulas); MAL measured and",
    "(1-α*^(K+1))/(1-α*). γ meas = target/ours (* the best K of that draft and τ); γ pred =",
    "MAL(α*)/(K·c+1); γ HF = target/assisted; HF/ours = assisted/ours; verify× = our K+1-token",
    "verify forward / one-token forward; γ pred' = MAL(α*)/(verify× + K·c); c is the median of",
    "draft/target ratios of blocked repeats in alternating rounds (torch.utils.benchmark).",
)


def _tau(value) -> str:
    """τ as its key writes it (6 significant digits): 0.7 and 0.74 are two labels, not one."""
    return f"{float(value) + 0.0:g}"


def _ms(row: dict, method: str) -> str:
    entry = row["methods"][method]
    return f"{entry['ms_per_token']:.2f} ({entry['ms_per_token_median']:.2f})"


def _size(parameters: int) -> str:
    return f"{parameters / 1e6:.2f}M" if parameters >= 1e5 else f"{parameters / 1e3:.1f}k"


def _header(result: dict) -> list[str]:
    pair, n = result["pair"], result["max_new_tokens"]
    t_par = pair["target"]["parameters"]
    lines = [
        f"{pair['kind']}: target {_size(t_par)} parameters; K swept "
        f"{' '.join(map(str, result['num_draft_tokens']))}; {n} new tokens, "
        f"{result['prompts']} prompts, {result['machine']['torch_threads']} thread(s), float32"
    ]
    for label, facts in pair["drafts"].items():
        d_par = facts["model"]["parameters"]
        lines.append(
            f"  {label}: {facts['role']} draft, {_size(d_par)} parameters "
            f"({t_par / d_par:.1f}x smaller)"
        )
    return lines


def _best_lines(result: dict) -> list[str]:
    lines = ["best K by measured γ (ours; assisted generation at its own best K):"]
    for draft, per_tau in result["best_num_draft_tokens"].items():
        parts = [
            f"τ {_tau(tau)}: K={b['num_draft_tokens']} γ {b['speedup_measured']:.2f}"
            f"{' (edge of sweep)' if b['at_edge_of_sweep'] else ''}"
            f" [HF K={b['assisted_num_draft_tokens']} γ {b['speedup_assisted']:.2f}]"
            for tau, b in per_tau.items()
        ]
        lines.append(f"  {draft}: " + "; ".join(parts))
    heads = []
    for draft, per_tau in result["headline"].items():
        shown = [
            f"τ {_tau(t)} {h['speedup']:.2f} (K={h['num_draft_tokens']})"
            for t, h in per_tau.items()
            if h
        ]
        heads.append(f"{draft} " + ", ".join(shown or ["not run"]))
    lines.append("headline γ at the best K: " + "; ".join(heads))
    return lines


def format_table(result: dict) -> str:
    rows = result["rows"]
    width = max([5] + [len(r["draft"]) for r in rows])
    columns = (COLUMNS[0], ("draft", width, lambda r: r["draft"]), *COLUMNS[1:])
    lines = _header(result)
    lines.append(" ".join(f"{head:>{w}}" for head, w, _ in columns))
    for row in rows:
        lines.append(" ".join(f"{value(row):>{w}}" for _, w, value in columns))
    return "\n".join(lines + _best_lines(result) + list(LEGEND))
