"""The runner and the results store on a tiny bundle: resume, SIGKILL, determinism, workers."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from suite.errors import SpecError
from suite.profiles import load_profile
from suite.record_json import record_from_json, record_to_json
from suite.runner import run_plan
from suite.store import ResultsStore, dumps, without_timing
from suite.studies import load_study, plan_studies
from tests.hostile import restate_analytic
from tests.models import write_tiny_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny models with the real tokenizer, a profile and a two-engine study over them."""
    root = write_tiny_run(tmp_path_factory.mktemp("tiny"))
    study = yaml.safe_load((root / "grid.yaml").read_text())
    other = {**study, "name": "other", "engines": ["analytic"]}
    (root / "other.yaml").write_text(yaml.safe_dump(other))
    return root


def _plan(tiny, name="grid"):
    return plan_studies([load_study(tiny / f"{name}.yaml")], load_profile(str(tiny / "tiny.yaml")))


def _lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "cells.jsonl").read_text().splitlines()]


def _cli(tiny, out, *extra):
    return [
        sys.executable, "-m", "suite", "run", str(tiny / "grid.yaml"),
        "--profile", str(tiny / "tiny.yaml"), "--out", str(out), "--quiet", "--threads", "1",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def reference_run(tiny):
    out = tiny / "reference"
    report = run_plan(_plan(tiny), out, progress=False)
    return out, report


def test_a_run_writes_one_record_per_cell_with_provenance(tiny, reference_run):
    out, report = reference_run
    plan = _plan(tiny)
    records = _lines(out)
    assert report.ran == len(plan.cells) == len(records) == 3 * 2 * 2 + 3 * 2 * 1
    assert [r["key"] for r in records] == [c.key for c in plan.cells]
    for r in records:
        prov = r["provenance"]
        assert prov["profile"] == "tiny" and prov["packages"]["torch"].startswith("2.13")
        assert len(prov["models"]["target"]["sha256"]) == 64
        assert {"cpu", "cpu_count", "torch_threads"} <= set(prov["hardware"])
        assert 0.0 <= r["result"]["acceptance_rate"] <= 1.0
    empirical = [r for r in records if r["cell"]["engine"] == "empirical"]
    for r in empirical:
        assert len(r["result"]["per_prompt"]) == 2 and r["timing"]["speedup"] > 0
        # Greedy speculative decoding is token-identical to the target's own greedy decoding.
        if r["cell"]["decode_temperature"] == 0.0:
            assert r["result"]["identical_outputs"] == 2
    analytic = [r for r in records if r["cell"]["engine"] == "analytic"]
    assert all(len(r["result"]["prompt_acceptance"]) == 3 for r in analytic)


def test_every_stored_line_reads_into_a_record_that_writes_the_same_line(reference_run):
    out, _ = reference_run
    lines = (out / "cells.jsonl").read_text().splitlines()
    records = list(ResultsStore(out).load().values())
    assert [dumps(record_to_json(r)) for r in records] == lines
    # The layout stays what the store always wrote, plus the draft's facts in the cell.
    first = json.loads(lines[0])
    assert set(first) == {"key", "cell", "prompt_ids", "result", "provenance", "timing"}
    facts = {r.cell.draft: r.cell.draft_facts for r in records}
    assert facts["base"].method == "base"
    kd = facts["kd-offline-gsm8k-t0.0"]
    assert (kd.method, kd.dataset, kd.kd_temperature, kd.seed) == ("offline", "gsm8k", 0.0, 0)
    # One per-prompt shape for both engines: α, tokens, mean accepted length on every prompt.
    for r in records:
        assert len(r.result.prompts) == r.cell.prompts
        assert all(0.0 <= p.alpha <= 1.0 and p.tokens > 0 for p in r.result.prompts)
        assert all(1.0 <= p.mean_accepted_length <= 5.0 for p in r.result.prompts)
        assert (r.result.analytic is None) == (r.engine == "empirical")


def test_rerunning_the_same_command_skips_finished_cells(tiny, reference_run):
    out, _ = reference_run
    before = (out / "cells.jsonl").read_bytes()
    report = run_plan(_plan(tiny), out, progress=False)
    assert (report.ran, report.already_done) == (0, report.cells)
    assert (out / "cells.jsonl").read_bytes() == before


def test_two_runs_with_the_same_seeds_give_identical_records_but_timing(tiny, reference_run):
    out, _ = reference_run
    again = tiny / "again"
    run_plan(_plan(tiny), again, progress=False)
    first, second = _lines(out), _lines(again)
    assert [without_timing(r) for r in first] == [without_timing(r) for r in second]
    assert any(a["timing"] != b["timing"] for a, b in zip(first, second, strict=True))


def test_two_workers_give_the_same_records_as_one(tiny, reference_run):
    out, _ = reference_run
    parallel = tiny / "parallel"
    run_plan(_plan(tiny), parallel, workers=2, progress=False)
    assert [without_timing(r) for r in _lines(parallel)] == [without_timing(r) for r in _lines(out)]


def test_sigkill_at_any_moment_loses_no_finished_cell_and_leaves_no_corrupt_line(
    tiny, reference_run
):
    out, _ = reference_run
    killed = tiny / "killed"
    expected = {r["key"]: without_timing(r) for r in _lines(out)}
    # Kill after 1, then 3, then 6 finished cells, then let it finish.
    for threshold in (1, 3, 6):
        proc = subprocess.Popen(_cli(tiny, killed), cwd=REPO, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        path = killed / "cells.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:
            if path.is_file() and path.read_bytes().count(b"\n") >= threshold:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lines = path.read_bytes().split(b"\n")
        # Every complete line parses; only a torn tail may lack its newline.
        for line in lines[:-1]:
            json.loads(line)
        assert len(lines) - 1 >= threshold
    subprocess.run(_cli(tiny, killed), cwd=REPO, check=True, stderr=subprocess.DEVNULL)
    records = _lines(killed)
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == len(expected)
    assert {r["key"]: without_timing(r) for r in records} == expected


def test_a_torn_last_line_is_cut_away_on_open(tiny, reference_run):
    out, _ = reference_run
    torn = tiny / "torn"
    shutil.copytree(out, torn)
    good = (torn / "cells.jsonl").read_bytes()
    keep = good[: good.rstrip(b"\n").rfind(b"\n") + 1]  # drop the last record...
    (torn / "cells.jsonl").write_bytes(keep + b'{"key": "analytic/ll')  # ...and tear one
    report = run_plan(_plan(tiny), torn, progress=False)
    assert report.ran == 1
    assert [without_timing(r) for r in _lines(torn)] == [without_timing(r) for r in _lines(out)]


def test_a_folder_holding_another_studys_results_is_refused_untouched(tiny, reference_run):
    out, _ = reference_run
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(SpecError, match="another run") as err:
        run_plan(_plan(tiny, "other"), out, progress=False)
    assert err.value.field == "studies"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_workers_must_be_positive(tiny):
    with pytest.raises(ValueError, match="workers"):
        run_plan(_plan(tiny), tiny / "never", workers=0, progress=False)
    assert not (tiny / "never").exists()


def test_a_missing_dataset_fails_before_the_first_cell_naming_the_fix(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "empty"))
    out = tmp_path / "out"
    with pytest.raises(SpecError, match=r"python -m suite fetch .*empty"):
        run_plan(_plan(tiny), out, progress=False)
    assert not out.exists()


def test_the_store_writes_strict_json_without_nan(tmp_path, reference_run):
    out, _ = reference_run
    record = next(r for r in ResultsStore(out).load().values() if r.cell.engine == "analytic")
    data = record_to_json(record)
    x = data["result"]  # a prompt whose continuation was empty: its α undefined
    x["prompt_tokens"][0], x["prompt_acceptance"][0], x["prompt_token_chars"][0] = 0, None, None
    undefined = record_from_json(restate_analytic(data))
    assert math.isnan(undefined.result.prompts[0].alpha)
    store = ResultsStore(tmp_path)
    store.open({"studies": ["x"], "profile": "p"})
    store.append(undefined)
    line = (tmp_path / "cells.jsonl").read_text()
    assert "NaN" not in line and json.loads(line)["result"]["prompt_acceptance"][0] is None
    assert math.isnan(store.load()[record.key].result.prompts[0].alpha)
    assert os.path.getsize(tmp_path / "run.json") > 0


def test_a_second_runner_on_a_held_folder_is_refused_naming_the_holder(tiny, reference_run):
    out, _ = reference_run
    held = tiny / "held"
    shutil.copytree(out, held)
    before = (held / "cells.jsonl").read_bytes()
    code = "import time\nfrom suite.store import ResultsStore\nwith ResultsStore({!r}).lock():\n"
    code = code.format(str(held)) + "    print('held', flush=True); time.sleep(60)\n"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SpecError, match=f"pid {holder.pid} on"):
            run_plan(_plan(tiny), held, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert (held / "cells.jsonl").read_bytes() == before
    report = run_plan(_plan(tiny), held, progress=False)  # the dead holder's lock is gone
    assert report.ran == 0


def test_a_record_from_a_model_that_has_changed_is_recomputed_on_resume(tiny, reference_run):
    out, report = reference_run
    moved = tiny / "moved"
    shutil.copytree(out, moved)
    lines = (moved / "cells.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    for model in first["provenance"]["models"].values():
        model["sha256"] = "0" * 64  # as if made from other weights at the same location
    lines[0] = dumps(first)
    (moved / "cells.jsonl").write_text("\n".join(lines) + "\n")
    again = run_plan(_plan(tiny), moved, progress=False)
    assert again.ran == 1 and again.already_done == report.cells - 1
    recomputed = _lines(moved)
    assert [without_timing(r) for r in recomputed] == [without_timing(r) for r in _lines(out)]


def test_a_planted_lock_link_is_refused_when_a_run_takes_the_lock(tiny, reference_run):
    out, _ = reference_run
    planted = tiny / "planted"
    shutil.copytree(out, planted)
    victim = tiny / "victim.txt"
    victim.write_text("precious")
    (planted / ".lock").unlink(missing_ok=True)
    (planted / ".lock").symlink_to(victim)
    before = {p.name: p.read_bytes() for p in planted.iterdir() if not p.is_symlink()}
    with pytest.raises(SpecError) as err:
        run_plan(_plan(tiny), planted, progress=False)
    assert err.value.field == ".lock" and err.value.value == str(victim)
    assert "symbolic link" in str(err.value) and Path(err.value.path).name == ".lock"
    assert victim.read_text() == "precious"
    assert {p.name: p.read_bytes() for p in planted.iterdir() if not p.is_symlink()} == before


def test_resume_compares_a_bundled_models_hash_under_the_location_its_records_store(
    reference_run,
):
    """Records spell a bundled model's location relative to the repository; the run's hashes were
    keyed by absolute path, so a changed bundled model's records were kept on resume."""
    from suite.record_json import record_from_json
    from suite.runner import _plan_refs, recorded_prints, stale

    plan = plan_studies([load_study(REPO / "tasks" / "studies" / "degradation.yaml")],
                        load_profile("smoke"))  # fmt: skip
    prints = {location: "f" * 64 for location in _plan_refs(plan)}  # the hashes, without hashing
    recorded = recorded_prints(plan, prints)
    assert "reference/llama/target" in recorded and "reference/llama/tokenizer" in recorded
    out, _ = reference_run
    line = _lines(out)[0]
    for role, where in (("target", "target"), ("draft", "draft"), ("tokenizer", "tokenizer")):
        line["provenance"]["models"][role] = {"location": f"reference/llama/{where}",
                                              "sha256": "f" * 64}  # fmt: skip
    assert not stale(record_from_json(line), recorded, line["provenance"]["profile"])
    line["provenance"]["models"]["target"]["sha256"] = "0" * 64  # the bundled target changed
    assert stale(record_from_json(line), recorded, line["provenance"]["profile"])


def test_a_finished_folder_resumes_with_several_workers(tiny, reference_run):
    """Nothing pending and workers > 1: no pool is started (sizing it by the pending units
    divided the CPUs by 0)."""
    out, _ = reference_run
    held = tiny / "resumed-with-workers"
    shutil.copytree(out, held)
    assert run_plan(_plan(tiny), held, workers=2, progress=False).ran == 0
