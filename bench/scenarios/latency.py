"""Latency per op from one Python client: set, get and pop, p50 and p99.

Two diagnostic rows cross clients and servers, to tell client time from
server time: redis-py against our server, and our Go client against Redis.

Each repeat runs, for every system in turn (interleaved, so that a noisy
moment hits all of them), a cycle over fresh keys: set each key, get each
key (all hits), pop each key (all hits). Values of 100 B and 10 KiB. The
reported p50/p99 are medians over the repeats.

While it measures, the harness, every server and all their threads run on
one CPU (procs.pinned; --no-pin turns that off), so that no system's
numbers depend on whether the scheduler happened to put client and server
on the same vCPU.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable, Dict, List

from .. import lab as L
from ..procs import pinned
from ..stats import median_of, summarize_ns

NAME = "latency"
TITLE = "Latency per op (one client, us)"
OPS = ("set", "get", "pop")

SYSTEMS = [
    (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"),
    (L.TMC_PURE, "tcp"), (L.TMC_PURE, "unix"),
    (L.REDIS, "tcp"), (L.REDIS, "unix"),
    (L.REDIS_TMC, "tcp"), (L.REDIS_TMC, "unix"),
    (L.TMC_REDIS, "tcp"), (L.TMC_REDIS, "unix"),
    (L.MEMCACHED, "tcp"), (L.MEMCACHED, "unix"),
    (L.MANAGER, "unix"),
    (L.DISKCACHE, "local"),
    (L.ECHO, "tcp"), (L.ECHO, "unix"),
]


def _timed(fn: Callable, keys: List[str], value: Any = None) -> List[int]:
    out: List[int] = []
    append, now = out.append, time.perf_counter_ns
    if value is None:
        for k in keys:
            t0 = now()
            fn(k)
            append(now() - t0)
    else:
        for k in keys:
            t0 = now()
            fn(k, value)
            append(now() - t0)
    return out


def _cycle(adapter: Any, prefix: str, n: int, value: bytes) -> Dict[str, List[int]]:
    keys = [f"{prefix}:{i}" for i in range(n)]
    return {
        "set": _timed(adapter.set, keys, value),
        "get": _timed(adapter.get, keys),
        "pop": _timed(adapter.pop, keys),
    }


def _check(adapter: Any, key: str, value: bytes, echo: bool) -> None:
    adapter.set(key, value)
    if echo:
        return
    got = adapter.get(key)
    if got != value:
        raise RuntimeError(f"get returned {len(got) if got is not None else None} bytes, wanted {len(value)}")
    got = adapter.pop(key)
    if got != value:
        raise RuntimeError("pop did not return the value")
    if adapter.get(key) is not None:
        raise RuntimeError("the key is still there after pop")


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    from ..systems import connect

    specs = lab.specs(SYSTEMS)
    results: Dict[str, Any] = {"systems": {}, "errors": [], "sizes": profile.sizes, "ops": profile.latency_ops,
                               "repeats": profile.latency_repeats}
    adapters = {}
    notes: Dict[str, Dict[str, str]] = {}
    for key, spec in specs:
        try:
            a = connect(spec)
            a.flush()
            for size in profile.sizes:
                _check(a, "lat:check", b"v" * size, key == L.ECHO)
                _cycle(a, f"warm{size}", profile.latency_warmup, b"w" * size)
            adapters[spec.name] = (key, spec, a)
            notes[spec.name] = {op: n for op, n in a.notes.items() if op in OPS}
        except Exception as e:
            results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
    samples: Dict[str, Dict[int, List[Dict[str, Dict[str, float]]]]] = {n: {s: [] for s in profile.sizes} for n in adapters}
    progress.scenario(TITLE, profile.latency_repeats * len(profile.sizes) * len(adapters))
    pin = pinned(0) if lab.pin and (os.cpu_count() or 1) > 1 else contextlib.nullcontext()
    results["pinned_cpu"] = 0 if isinstance(pin, pinned) else None
    try:
        with pin:
            _measure(adapters, samples, results, profile, progress)
    finally:
        for _, _, a in adapters.values():
            a.close()
    for name in samples:
        key, spec = next((k, s) for k, s in specs if s.name == name)
        per_size = {}
        for size, reps in samples[name].items():
            if reps:
                per_size[str(size)] = {op: median_of([r[op] for r in reps]) for op in OPS}
        if per_size:
            results["systems"][name] = {"key": key, "transport": spec.transport, "label": spec.label,
                                        "sizes": per_size, "notes": notes.get(name, {})}
    return results


def _measure(adapters: Dict[str, Any], samples: Dict[str, Any], results: Dict[str, Any], profile: Any,
             progress: Any) -> None:
    for rep in range(profile.latency_repeats):
        for size in profile.sizes:
            value = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            for name, (key, spec, a) in list(adapters.items()):
                try:
                    raw = _cycle(a, f"r{rep}s{size}", profile.latency_ops, value)
                except Exception as e:
                    results["errors"].append({"system": name, "key": key, "error": f"{type(e).__name__}: {e}"})
                    del adapters[name]
                    a.close()
                    continue
                summary = {op: summarize_ns(raw[op]) for op in OPS}
                samples[name][size].append(summary)
                progress.step(f"{name} {size} B", "  ".join(f"{op} {summary[op]['p50_us']:.1f}" for op in OPS))
