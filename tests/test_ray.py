"""The Ray executor on a tiny bundle: records as in-process, resume, killed driver, lost worker.

One local Ray instance (two CPUs) serves the module; each run starts two actors on it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from suite.profiles import load_profile  # noqa: E402
from suite.ray_executor import FAULT_ENV, Queue, affinity, start  # noqa: E402
from suite.runner import run_plan, units  # noqa: E402
from suite.store import without_timing  # noqa: E402
from suite.studies import load_study, plan_studies  # noqa: E402
from tests.models import write_tiny_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny models with the real tokenizer, a profile and a two-engine study over them."""
    root = write_tiny_run(tmp_path_factory.mktemp("tiny-ray"))
    return root


@pytest.fixture(scope="module")
def cluster(tiny):
    """A local Ray instance for the module; its workers inherit the (unarmed) fault hook."""
    saved = {k: os.environ.get(k) for k in (FAULT_ENV, "RAY_USAGE_STATS_ENABLED")}
    os.environ[FAULT_ENV] = str(tiny / "fault")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _plan(tiny):
    return plan_studies([load_study(tiny / "grid.yaml")], load_profile(str(tiny / "tiny.yaml")))


def _lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "cells.jsonl").read_text().splitlines()]


def _differences(a, b, path=""):
    """Paths where two records differ, for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r:.60} != {b!r:.60}"]


def _assert_same(records: list[dict], reference: list[dict]) -> None:
    """Equal to the reference except "timing", in the same order."""
    assert [r["key"] for r in records] == [r["key"] for r in reference]
    pairs = zip(records, reference, strict=True)
    wrong = {r["key"]: _differences(without_timing(r), ref)[:3] for r, ref in pairs}
    assert not {k: v for k, v in wrong.items() if v}


def _cli(tiny, out, *extra):
    return [
        sys.executable, "-m", "suite", "run", str(tiny / "grid.yaml"),
        "--profile", str(tiny / "tiny.yaml"), "--out", str(out), "--quiet", "--threads", "1",
        "--executor", "ray", "--workers", "2", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def reference(tiny):
    """The local executor, one thread: Ray's actors get one each (2 CPUs, 2 workers)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_plan(_plan(tiny), tiny / "local", progress=False)
    finally:
        torch.set_num_threads(threads)
    return [without_timing(r) for r in _lines(tiny / "local")]


@pytest.fixture(scope="module")
def ray_run(tiny, cluster):
    out = tiny / "ray"
    return out, run_plan(_plan(tiny), out, workers=2, executor="ray", progress=False)


def test_units_of_one_model_pair_share_an_affinity_key(tiny):
    todo = units(list(_plan(tiny).cells))
    queue = Queue(todo)
    first = queue.take(None, set())
    key = affinity(todo[first])
    # The same actor keeps to its key; another actor is sent to a key nobody works on.
    assert affinity(todo[queue.take(key, {key})]) == key
    other = queue.take(None, {key})
    assert affinity(todo[other]) != key


def test_ray_gives_the_same_records_as_the_local_executor(tiny, reference, ray_run):
    out, report = ray_run
    assert report.ran == len(_plan(tiny).cells) == 18
    records = _lines(out)
    assert [r["key"] for r in records] == [c.key for c in _plan(tiny).cells]
    # Everything but "timing", torch_threads included: both ran one thread per worker.
    _assert_same(records, reference)


def test_rerunning_on_ray_runs_nothing(tiny, ray_run):
    out, _ = ray_run
    before = (out / "cells.jsonl").read_bytes()
    report = run_plan(_plan(tiny), out, workers=2, executor="ray", progress=False)
    assert (report.ran, report.already_done) == (0, report.cells)
    assert (out / "cells.jsonl").read_bytes() == before


def test_a_killed_driver_resumes_without_duplicates(tiny, cluster, reference):
    killed = tiny / "killed"
    path = killed / "cells.jsonl"
    # The driver joins the module's cluster and is SIGKILLed after two records; then rerun.
    proc = subprocess.Popen(
        _cli(tiny, killed, "--address", cluster), cwd=REPO, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and path.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = path.read_bytes().split(b"\n")
    for line in lines[:-1]:
        json.loads(line)
    assert 2 <= len(lines) - 1 < 18
    subprocess.run(
        _cli(tiny, killed, "--address", cluster), cwd=REPO, check=True, stderr=subprocess.DEVNULL
    )
    records = _lines(killed)
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == 18
    _assert_same(records, reference)


def test_a_lost_worker_costs_only_a_retry(tiny, cluster, reference, capfd):
    fault = tiny / "fault"
    fault.write_text("armed")  # the first actor to produce a record removes it and dies
    out = tiny / "lost"
    report = run_plan(_plan(tiny), out, workers=2, executor="ray", progress=False)
    assert not fault.exists()
    assert "a worker was lost" in capfd.readouterr().err
    keys = [r["key"] for r in _lines(out)]
    assert report.ran == len(keys) == len(set(keys)) == 18
    _assert_same(_lines(out), reference)


def test_a_real_head_passes_the_address_check(cluster):
    """The GetClusterId call of ``suite.ray_address`` against a real GCS (with its token, where
    ``ray.init`` turned token authentication on), and a port of the same host that is not Ray."""
    from suite.errors import SpecError
    from suite.ray_address import check_address

    check_address(cluster)
    host = cluster.rpartition(":")[0]
    with pytest.raises(SpecError, match="no Ray cluster answers"):
        check_address(f"{host}:1", timeout=1)


def test_an_address_without_ray_executor_is_refused_before_writing(tiny):
    with pytest.raises(ValueError, match="--executor ray"):
        run_plan(_plan(tiny), tiny / "never", address="127.0.0.1:6379", progress=False)
    assert not (tiny / "never").exists()


class FakeRay:
    """Records what ``start`` asks of Ray, without starting it."""

    def __init__(self, initialized=False):
        self.initialized, self.calls = initialized, []

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.calls.append(kwargs)


def test_without_an_address_a_local_instance_gets_the_workers_cpus():
    fake = FakeRay()
    assert start(fake, None, workers=2, threads=3) is True  # ours to shut down
    (call,) = fake.calls
    assert (call["address"], call["num_cpus"], call["include_dashboard"]) == ("local", 6, False)
    fake = FakeRay()
    assert start(fake, "head:6379", workers=2, threads=0) is True
    assert fake.calls[0]["address"] == "head:6379" and "num_cpus" not in fake.calls[0]
    fake = FakeRay(initialized=True)
    assert start(fake, None, workers=2, threads=0) is False
    assert not fake.calls  # an instance this process already joined is used, and left running
