"""Resident memory with N keys x 100 B values, for each N of the profile: our server against redis-server.

For each count (100k, 1M, 5M and 10M keys in the full run), each server
starts fresh (no bound, no persistence) and is loaded through redis-py with
pipelined MSET batches (10 MSETs of 1000 keys per round trip). RSS is VmRSS
from /proc/PID/status, read after a 2 s pause; the RSS of the empty server
is reported too. results["runs"] has one entry per count.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List

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


def runs(res: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One {"keys", "servers"} per key count (also of a results.json from before there were several)."""
    if "runs" in res:
        return res["runs"]
    return [{"keys": res.get("keys", 0), "servers": res.get("servers", {})}] if res.get("servers") else []


def headline(res: Dict[str, Any]) -> Dict[str, Any]:
    """The run of 1M keys (the size the first target named), else the largest measured: for the plot."""
    measured = [r for r in runs(res) if r["servers"]]
    return next((r for r in measured if r["keys"] == 1_000_000), measured[-1] if measured else {"keys": 0, "servers": {}})


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    results: Dict[str, Any] = {"runs": [], "errors": [], "sizes": profile.mem_sizes, "value_size": profile.mem_value}
    if not lab.have.get("redis"):
        results["skipped"] = "redis-py is not installed"
        return results
    starts = {"tiny-mp-cache": lambda: lab.servers.tmc("tcp"), "redis": lambda: lab.servers.redis()}
    progress.scenario(TITLE, len(starts) * len(profile.mem_sizes))
    for keys in profile.mem_sizes:
        servers: Dict[str, Any] = {}
        results["runs"].append({"keys": keys, "servers": servers})
        for name, start in starts.items():
            _measure(lab, name, start, keys, profile.mem_value, servers, results["errors"], progress)
    return results


def _measure(lab: Any, name: str, start: Any, keys: int, value_size: int, servers: Dict[str, Any],
             errors: List[Dict[str, str]], progress: Any) -> None:
    """Start one fresh server, load keys values into it, record its RSS in servers[name]; stop it."""
    srv = None
    try:
        srv = start()
        if srv is None:
            progress.step(name, "skipped: not installed")
            return
        time.sleep(0.5)
        base = rss_bytes(srv.pid)
        t0 = time.monotonic()
        info = _load(srv.tcp, keys, value_size, name)
        load_s = time.monotonic() - t0
        time.sleep(SETTLE_S)
        rss = rss_bytes(srv.pid)
        servers[name] = {
            "rss": rss, "rss_empty": base, "bytes_per_key": (rss - base) / keys,
            "load_s": load_s, "pid_is": lab.servers.tmc_kind() if name == "tiny-mp-cache" else "redis-server", **info,
        }
        progress.step(f"{name} {keys:,} keys",
                      f"RSS {rss / 2**20:.1f} MiB (empty {base / 2**20:.1f} MiB), loaded in {load_s:.1f}s")
    except Exception as e:
        errors.append({"system": name, "key": name, "keys": keys, "error": f"{type(e).__name__}: {e}"})
        progress.step(name, f"ERROR {e}")
    finally:
        if srv is not None:
            lab.servers.stop(srv)
