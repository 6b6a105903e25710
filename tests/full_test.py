"""Load test: one producer and many worker processes using the cache as a job queue.

    python tests/full_test.py [--jobs 10000] [--workers 8]

Starts its own server (`python -m tiny_mp_cache serve`, through server_argv:
the same package as this script, whatever the current directory) on a free
port. The producer queues jobs while the workers already take them (keys +
pop); a "producer:done" key tells the workers when the queue is final. Every
job must be processed exactly once. Two rounds:

  spawn  workers start in fresh interpreters (each loads the Go client);
  fork   workers are forked from this process after it loaded the Go
         library, so they must fall back to the pure-Python client.

Every process is joined with a deadline; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import random
import signal
import socket
import subprocess
import sys
import time

from tiny_mp_cache import TinyCache
from tiny_mp_cache._server import server_argv

DONE_KEY = "producer:done"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_kind(cache: TinyCache) -> str:
    return "pure" if "pure" in repr(cache) else "go"


def producer(addr: str, n_jobs: int, results) -> None:
    cache = TinyCache(addr)
    for i in range(n_jobs):
        job = {"id": i, "payload": f"data-{i}" * (1 + i % 10)}
        cache.set(f"job:{i}", json.dumps(job).encode("utf-8"))
    cache.set(DONE_KEY, b"1")
    results.put(("producer", n_jobs, client_kind(cache)))


def worker(addr: str, worker_id: int, results) -> None:
    try:
        cache = TinyCache(addr)
        rng = random.Random(worker_id)
        processed = []
        while True:
            done = cache.get(DONE_KEY) is not None  # read before listing: no job can appear after
            keys = cache.keys("job:*")
            if not keys:
                if done:
                    break
                time.sleep(0.001)
                continue
            rng.shuffle(keys)
            for key in keys:
                raw = cache.pop(key)
                if raw is None:
                    continue
                job = json.loads(raw.decode("utf-8"))
                if f"job:{job['id']}" != key or job["payload"] != f"data-{job['id']}" * (1 + job["id"] % 10):
                    raise AssertionError(f"job {key} has the wrong payload: {raw[:80]!r}")
                processed.append(job["id"])
        results.put(("worker", processed, client_kind(cache)))
    except BaseException as e:
        results.put(("error", f"worker {worker_id}: {e!r}", ""))
        raise


def run_round(method: str, addr: str, n_jobs: int, n_workers: int, expect_worker_kind: str) -> list:
    """Run one producer and n_workers workers; return a list of problems (empty if fine)."""
    problems = []
    ctx = mp.get_context(method)
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(addr, w, results)) for w in range(n_workers)]
    procs.append(ctx.Process(target=producer, args=(addr, n_jobs, results)))
    start = time.monotonic()
    for p in procs:
        p.start()
    processed, kinds = [], []
    try:
        for _ in procs:
            try:
                tag, payload, kind = results.get(timeout=300)
            except queue.Empty:
                problems.append("timed out waiting for the processes to report")
                break
            if tag == "error":
                problems.append(payload)
            elif tag == "worker":
                processed.append(payload)
                kinds.append(kind)
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                problems.append(f"process {p.pid} did not exit; killing it")
                p.kill()
                p.join(10)
            elif p.exitcode != 0:
                problems.append(f"process {p.pid} exited with {p.exitcode}")
        results.close()
        results.join_thread()
    elapsed = time.monotonic() - start

    ids = [i for got in processed for i in got]
    unique = set(ids)
    duplicates = len(ids) - len(unique)
    print(f"[{method}] workers={n_workers} jobs={n_jobs} time={elapsed:.2f}s clients={sorted(set(kinds))}")
    print(f"[{method}] per worker: {[len(got) for got in processed]}")
    print(f"[{method}] processed  : total={len(ids)}, unique={len(unique)}, duplicates={duplicates}")
    if duplicates:
        problems.append(f"{duplicates} jobs were processed more than once")
    missing = set(range(n_jobs)) - unique
    if missing:
        problems.append(f"{len(missing)} jobs were never processed, e.g. {sorted(missing)[:10]}")
    if len(processed) == n_workers and set(kinds) != {expect_worker_kind}:
        problems.append(f"workers used {sorted(set(kinds))} clients, expected {expect_worker_kind}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    port = free_port()
    addr = f"127.0.0.1:{port}"
    server = subprocess.Popen(server_argv("--port", str(port)))
    problems = []
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                # This loads the Go library here, before the fork round.
                cache = TinyCache(addr, timeout=1.0)
                break
            except ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print("FAILED: the server did not start")
                    return 1
                time.sleep(0.05)
        parent_kind = client_kind(cache)
        spawn_kind = parent_kind  # fresh interpreters choose like this one did
        fork_kind = "pure"  # forked after the Go library was loaded, or pure anyway
        for method, kind in (("spawn", spawn_kind), ("fork", fork_kind)):
            for key in cache.keys("*"):
                cache.delete(key)
            round_problems = run_round(method, addr, args.jobs, args.workers, kind)
            if cache.keys("job:*"):
                round_problems.append("jobs left in the queue")
            problems += [f"[{method}] {p}" for p in round_problems]
        cache.close()
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            rc = server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            rc = server.wait(timeout=10)
        if rc != 0:
            problems.append(f"the server exited with {rc}")

    if problems:
        for p in problems:
            print("ERROR:", p)
        print("FAILED")
        return 1
    print("ALL OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
