"""The original's producer/workers program (examples/producer_workers.py), in jobs/s.

A producer (this process) queues N JSON jobs; 8 worker processes take each
job exactly once. Two ways, with each system's natural primitive:

* keys+pop (the original): the producer sets job:<i> keys; then every
  worker loops: keys("job:*"), pop each key, until no key is left.
* list: workers block in a blocking pop (BRPOP, our bpop, or a Manager
  Queue's get) while the producer pushes the jobs, then one STOP per worker.

No simulated work per job (the original sleeps 1 ms), so the cache is what
is measured. jobs/s = N / (producer start .. last worker done), median over
rounds; the rounds are interleaved across systems, so a noisy minute hits
them all. Every round checks that each job was processed exactly once.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List

from .. import lab as L
from ..pool import WorkerError
from ..stats import median
from ..systems import Unsupported, connect

NAME = "producer_workers"
TITLE = "Producer/workers (jobs/s, 8 workers)"
PREFIX = "job:"
LIST_KEY = "jobs"
STOP = b"STOP"

SYSTEMS = {
    "keys+pop": [
        (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"), (L.TMC_PURE, "unix"),
        (L.REDIS, "tcp"), (L.REDIS, "unix"),
        (L.MANAGER, "unix"), (L.DISKCACHE, "local"),
    ],
    "list": [
        (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"), (L.TMC_PURE, "unix"),
        (L.REDIS, "tcp"), (L.REDIS, "unix"),
        (L.MANAGER, "unix"),
    ],
}
NOT_APPLICABLE = {
    "keys+pop": {L.MEMCACHED: "memcached cannot list keys"},
    "list": {L.MEMCACHED: "memcached has no lists", L.DISKCACHE: "diskcache has no blocking pop"},
}


def worker_keys_pop(adapter: Any, wid: int) -> List[Any]:
    ids = []
    while True:
        keys = adapter.keys(PREFIX + "*")
        if not keys:
            break
        for key in keys:
            raw = adapter.pop(key)
            if raw is None:
                continue
            ids.append(json.loads(raw)["id"])
    return [time.monotonic(), ids]


def worker_list(adapter: Any, wid: int, timeout: float) -> List[Any]:
    ids = []
    while True:
        raw = adapter.bpop(LIST_KEY, timeout)
        if raw is None:
            raise RuntimeError(f"no job within {timeout:g}s")
        if raw == STOP:
            break
        ids.append(json.loads(raw)["id"])
    return [time.monotonic(), ids]


def _job(i: int) -> bytes:
    return json.dumps({"id": i, "payload": f"data-{i}"}).encode("utf-8")


def _round(pool: Any, producer: Any, mode: str, jobs: List[bytes], workers: List[int]) -> float:
    if mode == "keys+pop":
        t0 = time.monotonic()
        for i, job in enumerate(jobs):
            producer.set(f"{PREFIX}{i}", job)
        results = pool.run(__name__ + ":worker_keys_pop", workers, {})
    else:
        pool.start(__name__ + ":worker_list", workers, {"timeout": 30.0})
        t0 = time.monotonic()
        for job in jobs:
            producer.push(LIST_KEY, job)
        for _ in workers:
            producer.push(LIST_KEY, STOP)
        results = pool.collect(workers)
    end = max(r[0] for r in results)
    ids = [i for r in results for i in r[1]]
    if len(ids) != len(jobs) or len(set(ids)) != len(jobs):
        hint = " (list: fewer jobs than queued means a STOP, pushed last, was popped before them: not FIFO)"
        raise RuntimeError(f"jobs processed: {len(ids)}, distinct {len(set(ids))}, queued {len(jobs)}: not exactly once"
                           + (hint if mode == "list" and len(ids) < len(jobs) else ""))
    return len(jobs) / (end - t0)


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    results: Dict[str, Any] = {"modes": {}, "errors": [], "jobs": profile.pw_jobs, "workers": profile.pw_workers,
                               "not_applicable": NOT_APPLICABLE}
    plan = [(mode, key, spec) for mode, wanted in SYSTEMS.items() for key, spec in lab.specs(wanted)]
    progress.scenario(TITLE, len(plan) * profile.pw_rounds)
    jobs = [_job(i) for i in range(profile.pw_jobs)]
    workers = list(range(min(profile.pw_workers, lab.pool_size)))
    # Rounds are interleaved across systems, so that a noisy minute on this
    # shared machine hits every system rather than one.
    rates: Dict[Any, List[float]] = {}
    notes: Dict[Any, Dict[str, str]] = {}
    failed: set = set()
    for rnd in range(profile.pw_rounds):
        for mode, key, spec in plan:
            if (mode, spec.name) in failed:
                continue
            got = _one_round(lab, results, mode, key, spec, jobs, workers, warm=rnd == 0, progress=progress)
            if got is None:
                failed.add((mode, spec.name))
                continue
            rate, notes[(mode, spec.name)] = got
            rates.setdefault((mode, spec.name), []).append(rate)
            if len(rates[(mode, spec.name)]) == profile.pw_rounds:
                results["modes"].setdefault(mode, {})[spec.name] = {
                    "key": key, "transport": spec.transport, "label": spec.label,
                    "jobs_per_s": median(rates[(mode, spec.name)]), "notes": notes[(mode, spec.name)],
                }
    return results


def _one_round(lab: Any, results: Dict[str, Any], mode: str, key: str, spec: Any, jobs: List[bytes],
               workers: List[int], warm: bool, progress: Any) -> Any:
    """One round of one system, with a fresh producer and the pool's workers connected to it: (jobs/s,
    the producer's notes), or None if it cannot run (recorded in results)."""
    producer = None
    try:
        producer = connect(spec)
        producer.flush()
        pool = lab.pool()
        pool.open(spec, workers)
        try:
            if warm:
                _round(pool, producer, mode, jobs[: max(8, len(jobs) // 10)], workers)
            rate = _round(pool, producer, mode, jobs, workers)
        finally:
            pool.close(workers)
        progress.step(f"{mode} {spec.name}", f"{rate:,.0f} jobs/s")
        return rate, {k: v for k, v in producer.notes.items() if k in ("lists", "pop")}
    except Unsupported as e:
        progress.step(f"{mode} {spec.name}", f"n/a: {e}")
    except Exception as e:
        results["errors"].append({"system": f"{mode} {spec.name}", "key": key, "error": f"{type(e).__name__}: {e}"})
        progress.step(f"{mode} {spec.name}", f"ERROR {type(e).__name__}: {str(e)[:200]}")
        if isinstance(e, WorkerError):
            lab.reset_pool()
    finally:
        if producer is not None:
            try:
                producer.flush()
            except Exception:
                pass
            producer.close()
    return None
