"""Latency per op from one Python client: set, get and pop; mean, p50 and p99.

The floor is the echo (systems/echo.py): the same RESP bytes over the same
transport to a one-thread server doing blocking recv and sendall, answered
with the bytes a real server sends. Diagnostic rows tell client time from
server time: a raw socket (no client library) to our server and to Redis,
redis-py to our server, our Go client to Redis.

Two placements, since users do not pin their processes: the client (this
process, all its threads) and every server (all their threads) on the same
CPU, then the client on one CPU and the servers on another. Within a
placement the systems take turns in rounds (each round starts one system
later), so a noisy moment hits them all; a system's turn is, per value
size, a run of sets of fresh keys, gets of them (hits) and pops of them.
The stats are over all rounds' samples together; results.json also keeps
each round's. --no-pin measures once, wherever the scheduler puts things.
"""

from __future__ import annotations

import contextlib
import os
import time
from array import array
from typing import Any, Dict, List, Optional, Tuple

from .. import lab as L
from ..procs import placed
from ..stats import summarize_ns

NAME = "latency"
TITLE = "Latency per op (one client, us)"
OPS = ("set", "get", "pop")

SYSTEMS = [
    (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"),
    (L.TMC_PURE, "tcp"), (L.TMC_PURE, "unix"),
    (L.REDIS, "tcp"), (L.REDIS, "unix"),
    (L.RAW_TMC, "tcp"), (L.RAW_TMC, "unix"),
    (L.RAW_REDIS, "tcp"), (L.RAW_REDIS, "unix"),
    (L.REDIS_TMC, "tcp"), (L.REDIS_TMC, "unix"),
    (L.TMC_REDIS, "tcp"), (L.TMC_REDIS, "unix"),
    (L.MEMCACHED, "tcp"), (L.MEMCACHED, "unix"),
    (L.MANAGER, "unix"),
    (L.DISKCACHE, "local"),
    (L.ECHO, "tcp"), (L.ECHO, "unix"),
]


def placements(pin: bool) -> List[Tuple[str, Optional[Tuple[int, int]]]]:
    """(name, (client CPU, server CPU) or None for unpinned) for each placement to measure."""
    if not pin:
        return [("unpinned", None)]
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return [("same-cpu", (cpus[0], cpus[0]))]
    return [("same-cpu", (cpus[0], cpus[0])), ("cross-cpu", (cpus[0], cpus[1]))]


def _phase(adapter: Any, op: str, keys: List[str], value: bytes, warm: str) -> List[int]:
    """Time op on each key (set sends value; get and pop expect it back).

    Before the timed requests every system gets one untimed request of the
    same kind, on the key warm: the echo floor's prepare() is a round trip
    that has just woken its server, and without one of their own the others
    would pay, on their first timed request, for a wake-up the floor does
    not (measured on one CPU: a first SET of 82 us on our server and 84 on
    Redis against 21 on the echo, the rest 12-14 us).
    """
    adapter.prepare(op, keys[0], value)
    fn = getattr(adapter, op)
    fn(warm, value) if op == "set" else fn(warm)
    out: List[int] = []
    append, now = out.append, time.perf_counter_ns
    if op == "set":
        for k in keys:
            t0 = now()
            fn(k, value)
            append(now() - t0)
    else:
        for k in keys:
            t0 = now()
            fn(k)
            append(now() - t0)
    return out


def _turn(adapter: Any, prefix: str, n: int, value: bytes) -> Dict[str, List[int]]:
    keys = [f"{prefix}:{i:06d}" for i in range(n)]  # one length: the echo floor expects one request length
    warm = f"{prefix}:warmup"  # as long as the others; set, got and popped untimed
    return {op: _phase(adapter, op, keys, value, warm) for op in OPS}


def _check(adapter: Any, key: str, value: bytes) -> None:
    """set, get (a hit), pop (a hit), get (a miss): each answers what it should."""
    for op, want in (("set", None), ("get", value), ("pop", value), ("get", None)):
        adapter.prepare(op, key, value if op == "set" else want)
        got = adapter.set(key, value) if op == "set" else getattr(adapter, op)(key)
        if op != "set" and got != want:
            raise RuntimeError(f"{op} returned {None if got is None else len(got)} bytes, wanted "
                               f"{None if want is None else len(want)}")


def _value(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + b"x" * (size % 256)


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    from ..systems import connect

    specs = lab.specs(SYSTEMS)
    where = placements(lab.pin)
    results: Dict[str, Any] = {"placements": {}, "errors": [], "sizes": profile.sizes, "ops": profile.latency_ops,
                               "rounds": profile.latency_rounds}
    members = {spec.name: (key, spec) for key, spec in specs}
    adapters: Dict[str, Any] = {}  # name -> open adapter, while it works
    notes: Dict[str, Dict[str, str]] = {}
    for key, spec in specs:
        try:
            a = connect(spec)
            a.flush()
            for size in profile.sizes:
                _check(a, "lat:check", _value(size))
            adapters[spec.name] = a
            notes[spec.name] = {op: n for op, n in a.notes.items() if op in OPS}
        except Exception as e:
            results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
    progress.scenario(TITLE, len(where) * profile.latency_rounds)
    try:
        for name, cpus in where:
            results["placements"][name] = _placement(members, adapters, cpus, results["errors"], profile, progress,
                                                      name)
    finally:
        for a in adapters.values():
            a.close()
    for placement in results["placements"].values():
        for name, entry in placement["systems"].items():
            entry["notes"] = notes.get(name, {})
    return results


def _placement(members: Dict[str, Tuple[str, Any]], adapters: Dict[str, Any], cpus: Optional[Tuple[int, int]],
               errors: List[Dict[str, str]], profile: Any, progress: Any, where: str) -> Dict[str, Any]:
    """Every system's rounds in one placement: pooled stats and per-round stats per (size, op)."""
    order = list(adapters)
    pooled = {n: {s: {op: array("q") for op in OPS} for s in profile.sizes} for n in order}
    rounds: Dict[str, Dict[int, Dict[str, List[Dict[str, float]]]]] = {
        n: {s: {op: [] for op in OPS} for s in profile.sizes} for n in order}
    values = {size: _value(size) for size in profile.sizes}

    def turn(name: str, prefix: str, ops: int) -> Optional[Dict[int, Dict[str, List[int]]]]:
        a = adapters[name]
        try:
            return {size: _turn(a, f"{prefix}:{size:05d}", ops, values[size]) for size in profile.sizes}
        except Exception as e:
            errors.append({"system": name, "key": members[name][0], "placement": where,
                           "error": f"{type(e).__name__}: {e}"})
            del adapters[name]
            a.close()
            return None

    with placed(*cpus) if cpus else contextlib.nullcontext():
        for i, name in enumerate(order):  # warm up in this placement
            if name in adapters:
                turn(name, f"warm{i:02d}", profile.latency_warmup)
        for r in range(profile.latency_rounds):
            shift = r % len(order) if order else 0
            for name in order[shift:] + order[:shift]:
                if name not in adapters:
                    continue
                got = turn(name, f"lat{order.index(name):02d}", profile.latency_ops)
                for size, per_op in (got or {}).items():
                    for op, ns in per_op.items():
                        pooled[name][size][op].extend(ns)
                        rounds[name][size][op].append(summarize_ns(ns))
            progress.step(f"{where} round {r + 1}/{profile.latency_rounds}", _glance(rounds, profile.sizes[0]))
    systems = {}
    for name in order:
        if not any(rounds[name][s]["get"] for s in profile.sizes):
            continue
        key, spec = members[name]
        systems[name] = {
            "key": key, "transport": spec.transport, "label": spec.label,
            "sizes": {str(s): {op: summarize_ns(pooled[name][s][op]) for op in OPS} for s in profile.sizes
                      if pooled[name][s]["get"]},
            "rounds": {str(s): rounds[name][s] for s in profile.sizes},
        }
    return {"cpus": None if cpus is None else {"client": cpus[0], "server": cpus[1]}, "systems": systems}


def _glance(rounds: Dict[str, Any], size: int) -> str:
    """The last round's mean get of a few systems, for the progress line."""
    out = []
    for name, per_size in rounds.items():
        if name.startswith(("tiny-mp-cache go [", "echo floor [", "redis-py [")) and per_size[size]["get"]:
            out.append(f"{name} {per_size[size]['get'][-1]['mean_us']:.1f}")
    return "get mean us: " + ", ".join(out)
