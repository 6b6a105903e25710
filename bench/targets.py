"""The issue's targets, each a ratio measured in the same run: PASS, MISS or n/a.

A target line compares ours (tiny-mp-cache, Go client path) with its peer:
ratio = ours / peer, and the target holds when ratio <= limit (times) or
ratio >= limit (rates, hit ratio).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import lab as L


def _line(target: str, case: str, ours: Optional[float], peer: Optional[float], op: str, limit: float,
          unit: str) -> Dict[str, Any]:
    ratio = ours / peer if ours is not None and peer else None
    if ratio is None:
        status = "n/a"
    elif op == "<=":
        status = "PASS" if ratio <= limit else "MISS"
    else:
        status = "PASS" if ratio >= limit else "MISS"
    return {"target": target, "case": case, "ours": ours, "peer": peer, "ratio": ratio, "op": op, "limit": limit,
            "unit": unit, "status": status}


def _find(systems: Dict[str, Any], key: str, transport: str) -> Optional[Dict[str, Any]]:
    for entry in systems.values():
        if entry["key"] == key and entry["transport"] == transport:
            return entry
    return None


def _latency(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    lat = results.get("latency") or {}
    systems = lat.get("systems", {})
    for peer_key, limit, target in ((L.ECHO, 1.15, "get/set <= 1.15x echo floor (p50)"),
                                    (L.REDIS, 0.8, "get/set <= 0.8x redis-py->Redis (p50)")):
        for transport in ("tcp", "unix"):
            ours, peer = _find(systems, L.TMC_GO, transport), _find(systems, peer_key, transport)
            for size in [str(s) for s in lat.get("sizes", [])]:
                for op in ("get", "set"):
                    o = ours["sizes"].get(size, {}).get(op, {}).get("p50_us") if ours else None
                    p = peer["sizes"].get(size, {}).get(op, {}).get("p50_us") if peer else None
                    lines.append(_line(target, f"{op} {size} B {transport}", o, p, "<=", limit, "us"))
    return lines


def _batch(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    systems = (results.get("batch") or {}).get("systems", {})
    for transport in ("tcp", "unix"):
        ours, peer = _find(systems, L.TMC_GO, transport), _find(systems, L.REDIS_PIPE, transport)
        for op in ("mget", "mset"):
            o = ours[op]["calls_per_s"] if ours else None
            p = peer[op]["calls_per_s"] if peer else None
            lines.append(_line("mget/mset 100 keys >= 2x redis-py pipeline", f"{op} {transport}", o, p, ">=", 2.0,
                               "calls/s"))
    return lines


def _redis_benchmark(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    runs = (results.get("redis_benchmark") or {}).get("runs", {})
    for transport in ("tcp", "unix"):
        for p in (1, 16):
            ours = runs.get(f"tiny-mp-cache|{transport}|{p}")
            peer = runs.get(f"redis|{transport}|{p}")
            for test in ("SET", "GET"):
                o = ours["rps"].get(test) if ours else None
                q = peer["rps"].get(test) if peer else None
                lines.append(_line("redis-benchmark >= 1.0x Redis rps", f"{test} -P {p} {transport}", o, q, ">=", 1.0,
                                   "req/s"))
    return lines


def _memory(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    m = results.get("memory") or {}
    servers = m.get("servers", {})
    o = servers.get("tiny-mp-cache", {}).get("rss")
    p = servers.get("redis", {}).get("rss")
    keys = m.get("keys", 0)
    return [_line("memory <= 1.2x Redis RSS", f"{keys:,} keys x {m.get('value_size', 100)} B", o, p, "<=", 1.2, "bytes")]


def _producer_workers(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    modes = (results.get("producer_workers") or {}).get("modes", {})
    for mode in ("keys+pop", "list"):
        systems = modes.get(mode, {})
        for transport in ("tcp", "unix"):
            ours, peer = _find(systems, L.TMC_GO, transport), _find(systems, L.REDIS, transport)
            o = ours["jobs_per_s"] if ours else None
            p = peer["jobs_per_s"] if peer else None
            lines.append(_line("producer/workers >= 1.5x redis-py+Redis", f"{mode} {transport}", o, p, ">=", 1.5,
                               "jobs/s"))
    return lines


def _hit_ratio(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    servers = (results.get("hit_ratio") or {}).get("servers", {})
    o = servers.get("tiny-mp-cache", {}).get("hit_ratio")
    p = servers.get("redis", {}).get("hit_ratio")
    return [_line("hit ratio >= Redis allkeys-lru", "Zipf 0.99", o, p, ">=", 1.0, "hits/req")]


def evaluate(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines: List[Dict[str, Any]] = []
    for fn, scenario in ((_latency, "latency"), (_batch, "batch"), (_redis_benchmark, "redis_benchmark"),
                         (_memory, "memory"), (_producer_workers, "producer_workers"), (_hit_ratio, "hit_ratio")):
        if scenario in results:
            lines += fn(results)
    return lines
