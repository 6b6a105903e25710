"""Resident memory with 1M keys x 100 B values: our server against redis-server.

Each server starts fresh (no bound, no persistence) and is loaded through
redis-py with pipelined MSET batches (10 MSETs of 1000 keys per round trip).
RSS is VmRSS from /proc/PID/status, read after a 2 s pause; the RSS of the
empty server is reported too.
"""

from __future__ import annotations

import time
from typing import Any, Dict

from ..procs import rss_bytes

NAME = "memory"
TITLE = "Resident memory, keys x 100 B values"
BATCH = 1000
PIPELINE = 10
SETTLE_S = 2.0


def _load(addr: Any, keys: int, value_size: int, label: str) -> Dict[str, Any]:
    import redis

    r = redis.Redis(host=addr[0], port=addr[1], socket_timeout=120)
    filler = b"v" * (value_size - 8)
    try:
        for start in range(0, keys, BATCH * PIPELINE):
            p = r.pipeline(transaction=False)
            for b in range(start, min(keys, start + BATCH * PIPELINE), BATCH):
                p.mset({b"mem:%08d" % i: b"%08d" % i + filler for i in range(b, min(keys, b + BATCH))})
            p.execute()
        n = r.dbsize()
        if n != keys:
            raise RuntimeError(f"{label}: DBSIZE is {n} after loading {keys} keys")
        try:
            used = int(r.info("memory").get("used_memory", 0)) or None
        except Exception:
            used = None
        return {"dbsize": n, "used_memory": used}
    finally:
        r.close()


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    results: Dict[str, Any] = {"servers": {}, "errors": [], "keys": profile.mem_keys, "value_size": profile.mem_value}
    if not lab.have.get("redis"):
        results["skipped"] = "redis-py is not installed"
        return results
    starts = {"tiny-mp-cache": lambda: lab.servers.tmc("tcp"), "redis": lambda: lab.servers.redis()}
    progress.scenario(TITLE, len(starts))
    for name, start in starts.items():
        srv = None
        try:
            srv = start()
            if srv is None:
                progress.step(name, "skipped: not installed")
                continue
            time.sleep(0.5)
            base = rss_bytes(srv.pid)
            t0 = time.monotonic()
            info = _load(srv.tcp, profile.mem_keys, profile.mem_value, name)
            load_s = time.monotonic() - t0
            time.sleep(SETTLE_S)
            rss = rss_bytes(srv.pid)
            results["servers"][name] = {
                "rss": rss, "rss_empty": base, "bytes_per_key": (rss - base) / profile.mem_keys,
                "load_s": load_s, "pid_is": lab.servers.tmc_kind() if name == "tiny-mp-cache" else "redis-server", **info,
            }
            progress.step(name, f"RSS {rss / 2**20:.1f} MiB (empty {base / 2**20:.1f} MiB), loaded in {load_s:.1f}s")
        except Exception as e:
            results["errors"].append({"system": name, "key": name, "error": f"{type(e).__name__}: {e}"})
            progress.step(name, f"ERROR {e}")
        finally:
            if srv is not None:
                lab.servers.stop(srv)
    return results
