"""Units of work on a Ray cluster: one actor per worker, records streamed back to the driver.

Each actor is a long-lived process, so the models it loads stay in ``suite.cells``' caches, and
the driver hands it units that need the same models as its last one. Actors never touch the
results store: they return records, and the driver (``suite.runner``) writes them. A unit whose
actor dies (killed, out of memory, node lost) goes back to the queue and a fresh actor replaces
the dead one, so a lost worker costs at most the units it held and never duplicates a record.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from collections.abc import Iterator

from suite.cells import Context, execute_unit
from suite.records import ResultRecord
from suite.studies import Cell

Unit = tuple[str, list[Cell]]
MAX_ATTEMPTS = 3  # a unit that kills three actors is broken, not unlucky
# Test hook: when this names an existing file, the first actor to remove it dies mid-unit, the way
# an OOM kill or a lost node would end it; tests use it to prove a lost worker loses nothing.
FAULT_ENV = "SUITE_RAY_FAULT_FILE"
GPU_DEVICES = ("cuda", "auto")
WAIT_HINT_SECONDS = 120.0


def require_ray():
    """Import ray, or say how to get it (a ValueError: the CLI exits 2 and writes nothing)."""
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--executor ray needs Ray: pip install 'specdec-temperature-suite[ray]' (or ray)"
        ) from None
    return ray


def affinity(unit: Unit) -> tuple:
    """Units with equal keys load the same models: the target and one draft, or a family."""
    engine, cells = unit
    cell = cells[0]
    return (cell.family, engine, cell.draft if engine == "empirical" else "")


def _fault_injection() -> None:
    path = os.environ.get(FAULT_ENV)
    if not path:
        return
    try:
        os.unlink(path)  # atomic: exactly one actor claims the fault
    except FileNotFoundError:
        return
    os._exit(17)


class UnitWorker:
    """A Ray actor: runs units in its own process, keeping what it loaded for the next unit."""

    def __init__(self, ctx: Context, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.ctx = ctx

    def ready(self) -> int:
        return os.getpid()

    def run(self, unit: Unit) -> list[ResultRecord]:
        records = []
        for record in execute_unit(unit, self.ctx):
            records.append(record)
            _fault_injection()
        return records


class Queue:
    """Units by affinity key in plan order; an actor keeps to its key while that key has work."""

    def __init__(self, units: list[Unit]):
        self.units = units
        self.keys: dict[tuple, deque[int]] = {}
        for index, unit in enumerate(units):
            self.keys.setdefault(affinity(unit), deque()).append(index)

    def __bool__(self) -> bool:
        return any(self.keys.values())

    def take(self, last: tuple | None, busy: set[tuple]) -> int | None:
        """The next unit of ``last``; else of a key nobody works on; else of the longest queue."""
        open_keys = [k for k, q in self.keys.items() if q]
        if not open_keys:
            return None
        if last in open_keys:
            key = last
        else:
            idle = [k for k in open_keys if k not in busy]
            key = idle[0] if idle else max(open_keys, key=lambda k: len(self.keys[k]))
        return self.keys[key].popleft()

    def put_back(self, index: int) -> None:
        self.keys[affinity(self.units[index])].appendleft(index)


def _lost_errors(ray) -> tuple[type[BaseException], ...]:
    """What ray.get raises when the process, not the code, failed: worth a retry elsewhere."""
    ex = ray.exceptions
    return (
        ex.RayActorError,
        ex.WorkerCrashedError,
        ex.OutOfMemoryError,
        ex.NodeDiedError,
        ex.ObjectLostError,
    )


def start(ray, address: str | None, workers: int, threads: int) -> bool:
    """Connect to ``address``, or start a quiet local instance; True when we must shut it down."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline clusters: no usage reports
    quiet = dict(log_to_driver=False, logging_level=logging.ERROR)
    if address:
        ray.init(address=address, **quiet)
    else:  # "local": a new instance even where RAY_ADDRESS or `ray start` name another
        per_actor = threads or max(1, (os.cpu_count() or 1) // workers)
        cpus = workers * per_actor
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
    return True


def actor_options(ray, ctx: Context, workers: int, threads: int) -> tuple[dict, int]:
    """Ray resources per actor and its torch threads: the cluster's CPUs shared like the local
    executor shares a machine's, and a GPU (or a share of one) when the profile wants one."""
    total = ray.cluster_resources()
    node_cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    per_actor = threads or max(1, int(total.get("CPU", 1) // workers))
    options = {
        "num_cpus": max(1, min(per_actor, int(max(node_cpus, default=1)))),
        "max_restarts": 0,  # the driver replaces a dead actor and requeues its unit itself
        "max_task_retries": 0,
    }
    gpus = total.get("GPU", 0)
    if ctx.profile.device == "cuda" and not gpus:
        raise ValueError(f"profile '{ctx.profile.name}' asks for cuda; the Ray cluster has no GPU")
    if ctx.profile.device in GPU_DEVICES and gpus:
        options["num_gpus"] = min(1.0, gpus / workers)
    return options, per_actor


def ray_records(
    units: list[Unit],
    ctx: Context,
    *,
    workers: int,
    address: str | None = None,
    threads: int = 0,
) -> Iterator[ResultRecord]:
    """Every record of ``units``, as each unit finishes on one of ``workers`` actors."""
    ray = require_ray()
    if not units:
        return
    started = start(ray, address, workers, threads)
    try:
        yield from _Pool(ray, ctx, workers, threads).records(units)
    finally:
        if started:
            ray.shutdown()


class _Pool:
    """The driver's side: actors, what each is running, and the retries of lost units."""

    def __init__(self, ray, ctx: Context, workers: int, threads: int):
        self.ray, self.ctx, self.workers = ray, ctx, workers
        options, self.threads = actor_options(ray, ctx, workers, threads)
        self.actor_class = ray.remote(**options)(UnitWorker)
        self.inflight: dict = {}  # object ref -> (actor, unit index or None while starting)
        self.last: dict = {}  # actor -> affinity key of its last unit
        for _ in range(workers):
            self._spawn()

    def _spawn(self) -> None:
        actor = self.actor_class.remote(self.ctx, self.threads)
        self.inflight[actor.ready.remote()] = (actor, None)

    def _busy(self) -> set[tuple]:
        return {self.last[a] for a, i in self.inflight.values() if i is not None and a in self.last}

    def _assign(self, actor, queue: Queue) -> None:
        index = queue.take(self.last.get(actor), self._busy())
        if index is None:
            self.ray.kill(actor)  # no work left for it: free its resources for the others
            self.last.pop(actor, None)
            return
        self.last[actor] = affinity(queue.units[index])
        self.inflight[actor.run.remote(queue.units[index])] = (actor, index)

    def records(self, units: list[Unit]) -> Iterator[ResultRecord]:
        queue = Queue(units)
        attempts = [0] * len(units)
        lost = _lost_errors(self.ray)
        waited_since = time.monotonic()
        failed_starts = 0
        while self.inflight:
            ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=WAIT_HINT_SECONDS)
            if not ready:
                if all(index is None for _, index in self.inflight.values()):
                    self._hint(waited_since)  # no actor has started: likely short of resources
                continue
            ref = ready[0]
            actor, index = self.inflight.pop(ref)
            try:
                result = self.ray.get(ref)
            except lost as err:
                self.last.pop(actor, None)
                self.ray.kill(actor)
                if index is None:
                    failed_starts += 1
                    if failed_starts >= MAX_ATTEMPTS * self.workers:
                        raise RuntimeError(f"ray: {failed_starts} workers failed to start") from err
                else:
                    attempts[index] += 1
                    if attempts[index] >= MAX_ATTEMPTS:
                        raise RuntimeError(
                            f"a unit of {len(units[index][1])} cells (first "
                            f"{units[index][1][0].key}) lost its worker {MAX_ATTEMPTS} times"
                        ) from err
                    queue.put_back(index)
                what = "failed to start" if index is None else "was lost; its unit is queued again"
                print(f"ray: a worker {what} ({type(err).__name__})", file=sys.stderr)
                if queue:
                    self._spawn()
                continue
            waited_since = time.monotonic()
            if index is not None:
                yield from result
            self._assign(actor, queue)
        if queue:  # every actor died and none could be replaced: cannot happen, but never hang
            raise RuntimeError("ray: no worker left while units remain")

    def _hint(self, since: float) -> None:
        waited = time.monotonic() - since
        print(
            f"ray: no worker started in {waited:.0f} s; cluster resources "
            f"{self.ray.cluster_resources()}, available {self.ray.available_resources()}",
            file=sys.stderr,
        )
