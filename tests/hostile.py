"""Shared by the hostile-input corpus (tests/test_hostile_*.py): drive the real CLI, and check
that a refusal exits 2 naming file, field and value, without a traceback or a raw control
character, and changes nothing."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from suite.cli import main
from suite.errors import control_character


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: a file's bytes, a link's target, a FIFO's kind."""
    out: dict[str, object] = {}
    for path in sorted(Path(folder).rglob("*")):
        mode = path.lstat().st_mode
        key = str(path.relative_to(folder))
        if stat.S_ISLNK(mode):
            out[key] = ("link", os.readlink(path))
        elif stat.S_ISREG(mode):
            out[key] = path.read_bytes()
        else:
            out[key] = ("kind", stat.S_IFMT(mode))
    return out


def stats_counts(st) -> dict:
    """A decoder's counts (suite.decoding.speculative.GenerationStats) as an empirical record
    states them, with their rates (null where a count is 0, as JSON writes NaN)."""

    def rate(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {
        "steps": st.steps,
        "proposed": st.proposed,
        "accepted": st.accepted,
        "judged": st.judged,
        "proposed_per_position": list(st.proposed_per_position),
        "accepted_per_position": list(st.accepted_per_position),
        "acceptance_rate": rate(st.acceptance_rate),
        "judged_acceptance_rate": rate(st.judged_acceptance_rate),
    }


def refused(argv: list[str], folder: Path, capsys, *expected: str) -> str:
    """Run ``python -m suite`` in process; it must exit 2 naming every ``expected`` text, print
    no traceback, and leave ``folder`` exactly as it was."""
    before = snapshot(folder)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line: no warning, no forgery
    raw = control_character(err)  # a file name or value never drives the terminal
    assert raw is None, (raw, err)
    for text in expected:
        assert text in err, (text, err)
    assert snapshot(folder) == before
    return err


def restate_analytic(record: dict) -> dict:
    """An analytic record, edited in its prompts, made to agree with itself again as a run would
    have written it: its totals, α, per-position rates, token-length buckets, and interval and
    standard error recomputed from its prompts (on the bootstrap stream of its cell's seed)."""
    from suite.records import accepted_length
    from suite.stats.intervals import MAX_BOOTSTRAP_DRAWS, restated_ratio_bootstrap

    x, cell = record["result"], record["cell"]
    tokens = x["prompt_tokens"]
    sums = [a * t if t else 0.0 for a, t in zip(x["prompt_acceptance"], tokens, strict=True)]
    total = sum(tokens)
    alpha = sum(sums) / total if total else None
    x.update(
        tokens=total,
        acceptance_rate=alpha,
        mean_accepted_length=None
        if alpha is None
        else accepted_length(alpha, cell["num_draft_tokens"]),
        position_acceptance=[alpha] * max(tokens, default=0),
        acceptance_by_token_chars={"1": [sum(sums), total]} if total else {},
    )
    n_boot = x.get("n_boot")
    if n_boot is None or n_boot * len(tokens) > MAX_BOOTSTRAP_DRAWS:
        x.update(n_boot=None, confidence_interval=None, standard_error=None)
    else:
        level = x.get("confidence_level") or 0.95
        ci, se = restated_ratio_bootstrap(
            sums, tokens, seed=cell["seed"], n_boot=n_boot, level=level
        )

        def json_value(v):  # a record holds NaN as null
            return None if v != v else v

        x.update(confidence_interval=[json_value(v) for v in ci], standard_error=json_value(se))
    return restate_timing(record)


def restate_timing(record: dict) -> dict:
    """A record's timing made to agree with its clock readings and rates, as a run computes
    it: an analytic cell's projected γ from its α, K and cost ratio; an empirical prompt's and
    cell's γ from the seconds and tokens, the cell's seconds its prompts' sums."""
    from suite.records import accepted_length

    timing, x, cell = record.get("timing") or {}, record["result"], record["cell"]
    k, alpha = cell["num_draft_tokens"], x.get("acceptance_rate")
    if cell["engine"] == "analytic":
        c = timing.get("cost_ratio")
        if timing.get("projected_speedup") is not None and c is not None and alpha is not None:
            timing["projected_speedup"] = accepted_length(alpha, k) / (k * c + 1.0)
        return record

    def gamma(base, spec, base_tokens, tokens):
        if base is None or not spec:
            return None
        return (base / max(base_tokens, 1)) / (spec / max(tokens, 1))

    prompts = x.get("per_prompt") or []
    for t, p in zip(timing.get("per_prompt") or [], prompts, strict=False):
        if t.get("speedup") is not None:
            t["speedup"] = gamma(t.get("baseline_seconds"), t.get("speculative_seconds"),
                                 (p.get("target") or {}).get("tokens", 0),
                                 (p.get("speculative") or {}).get("tokens", 0))  # fmt: skip
    if timing.get("per_prompt"):
        for key in ("speculative_seconds", "baseline_seconds"):
            values = [t.get(key) for t in timing["per_prompt"]]
            if timing.get(key) is not None and None not in values:
                timing[key] = sum(values)
    if timing.get("speedup") is not None:
        seconds = (timing.get("baseline_seconds"), timing.get("speculative_seconds"))
        tokens = (x.get("tokens_target") or 0, x.get("tokens_speculative") or 0)
        timing["speedup"] = gamma(*seconds, *tokens)
    return record


_BOUNDED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from suite.errors import SpecError
{setup}
def peak():  # this process's own high-water mark (ru_maxrss keeps the forking parent's)
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) // 1024
before = peak()
try:
    {call}
except SpecError as err:
    grown = peak() - before
    print("REFUSED", grown, "MB", err)
    sys.exit(0)
sys.exit(1)
"""


def refused_in_a_subprocess(setup: str, call: str, *, gigabytes: int = 3) -> tuple[int, str]:
    """Run ``setup`` then ``call`` (one line) in a Python of ``gigabytes`` of address space and a
    timeout, for memory and time bombs: the call must raise a SpecError. Returns how many MB the
    call grew the peak memory by, and the error's text."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    script = _BOUNDED.format(limit=gigabytes << 30, setup=setup, call=call)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=repo,
                          env=os.environ | {"PYTHONPATH": str(repo)})  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("REFUSED"), done.stderr[-2000:]
    _, grown, _, text = done.stdout.split(" ", 3)
    return int(grown), text
