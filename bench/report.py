"""The printed report: one table per scenario, with ratios, then the targets."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from . import lab as L
from .scenarios.memory import runs as memory_runs
from .scenarios.types import OPS as TYPE_OPS
from .targets import _find

TYPE_OP_NAMES = {"hset": "HSET", "hget": "HGET", "sadd": "SADD", "zadd": "ZADD", "publish": "PUBLISH -> receive"}


def table(headers: Sequence[str], rows: List[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for n, r in enumerate(cells):
        line = "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        out.append(line.rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _f(x: Optional[float], fmt: str = "{:.1f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _x(ratio: Optional[float]) -> str:
    return "" if ratio is None else f"{ratio:.2f}x"


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def latency(res: Dict[str, Any]) -> str:
    parts = []
    for where, placement in res.get("placements", {}).items():
        systems = placement.get("systems", {})
        cpus = placement.get("cpus")
        place = ("wherever the scheduler puts them" if cpus is None
                 else f"client on CPU {cpus['client']}, servers on CPU {cpus['server']}")
        for size in [str(s) for s in res.get("sizes", [])]:
            rows = []
            for name, e in systems.items():
                d = e["sizes"].get(size)
                if not d:
                    continue
                echo = _find(systems, L.ECHO, e["transport"])
                redis = _find(systems, L.REDIS, e["transport"])
                raw = _find(systems, L.RAW_TMC, e["transport"])
                echo = echo["sizes"].get(size) if echo else None
                raw = raw["sizes"].get(size) if raw else None
                redis = redis["sizes"].get(size) if redis else None
                rows.append([name]
                            + [_f(d[op][f"{stat}_us"]) for op in ("get", "set") for stat in ("mean", "p50", "p99")]
                            + [_f(d["pop"]["mean_us"]),
                               _x(_ratio(d["get"]["mean_us"], echo["get"]["mean_us"]) if echo else None),
                               _x(_ratio(d["set"]["mean_us"], echo["set"]["mean_us"]) if echo else None),
                               _x(_ratio(d["get"]["mean_us"], raw["get"]["mean_us"]) if raw else None),
                               _x(_ratio(d["get"]["mean_us"], redis["get"]["mean_us"]) if redis else None)])
            n = res.get("rounds", 0) * res.get("ops", 0)
            parts.append(f"{where} ({place}), value {size} B, us per op "
                         f"({res.get('rounds')} rounds x {res.get('ops')} ops = {n} per cell)\n" + table(
                             ["system", "get mean", "p50", "p99", "set mean", "p50", "p99", "pop mean", "get/echo",
                              "set/echo", "get/raw", "get/redis"], rows))
    return "\n\n".join(parts) + "\n(x/echo, get/raw and get/redis: ratios of means, against the echo floor, a raw " \
        "socket to our server and redis-py with Redis on the same transport)"


def types(res: Dict[str, Any]) -> str:
    parts = []
    for where, placement in res.get("placements", {}).items():
        systems = placement.get("systems", {})
        cpus = placement.get("cpus")
        place = ("wherever the scheduler puts them" if cpus is None
                 else f"clients on CPU {cpus['client']}, servers on CPU {cpus['server']}")
        rows = []
        for op in TYPE_OPS:
            for name, e in systems.items():
                d = e["ops"].get(op)
                if not d:
                    continue
                floor = _find(systems, L.ECHO, e["transport"])
                redis = _find(systems, L.REDIS, e["transport"])
                f = floor["ops"].get(op) if floor else None
                r = redis["ops"].get(op) if redis else None
                rows.append([TYPE_OP_NAMES[op], name, _f(d["mean_us"]), _f(d["p50_us"]), _f(d["p99_us"]),
                             _x(_ratio(d["mean_us"], f["mean_us"]) if f else None),
                             _x(_ratio(d["mean_us"], r["mean_us"]) if r else None)])
        parts.append(f"{where} ({place}), {res.get('size')} B values, us per op ({res.get('rounds')} rounds x "
                     f"{res.get('ops')} ops per cell)\n"
                     + table(["op", "system", "mean", "p50", "p99", "x floor", "x redis-py->Redis"], rows))
    return "\n\n".join(parts) + "\n(x floor, x redis-py->Redis: ratios of means on the same transport; the floor of " \
        "PUBLISH -> receive is the relay of bench/pubsub_echo.py)"


def batch(res: Dict[str, Any]) -> str:
    systems = res.get("systems", {})
    rows = []
    for name, e in systems.items():
        pipe = _find(systems, L.REDIS_PIPE, e["transport"])
        rows.append([
            name,
            _f(e["mset"]["p50_us"], "{:.0f}"), _f(e["mset"]["calls_per_s"], "{:,.0f}"),
            _f(e["mget"]["p50_us"], "{:.0f}"), _f(e["mget"]["calls_per_s"], "{:,.0f}"),
            _x(_ratio(e["mset"]["calls_per_s"], pipe["mset"]["calls_per_s"]) if pipe else None),
            _x(_ratio(e["mget"]["calls_per_s"], pipe["mget"]["calls_per_s"]) if pipe else None),
        ])
    na = [f"{name}: {why}" for name, why in res.get("not_applicable", {}).items()]
    return (f"{res.get('keys')} keys x 100 B per call; x/pipe = calls/s over redis-py's pipeline on the same transport\n"
            + table(["system", "mset p50 us", "mset calls/s", "mget p50 us", "mget calls/s", "mset/pipe", "mget/pipe"], rows)
            + ("\nn/a: " + "; ".join(na) if na else ""))


def throughput(res: Dict[str, Any]) -> str:
    levels = [str(n) for n in res.get("levels", [])]
    rows = []
    for name, e in res.get("systems", {}).items():
        rows.append([name] + [_f(e["ops_per_s"].get(n), "{:,.0f}") for n in levels])
    return (f"{res.get('ops_per_process')} GETs per process, total GETs/s, median of {res.get('rounds')} rounds\n"
            + table(["system"] + [f"{n} proc" for n in levels], rows))


def big_values(res: Dict[str, Any]) -> str:
    rows = []
    for name, e in res.get("systems", {}).items():
        redis = _find(res.get("systems", {}), L.REDIS, e["transport"])
        rows.append([name, _f(e["set_ms"]), _f(e["get_ms"]), _f(e["probe_worst_ms"]), _f(e["probe_gets_during"], "{:.0f}"),
                     _f(e["probe_p50_us"]), _x(_ratio(e["set_ms"], redis["set_ms"]) if redis else None),
                     _x(_ratio(e["probe_worst_ms"], redis["probe_worst_ms"]) if redis else None)])
    return (f"one value of {res.get('size', 0) / 2**20:g} MiB, median of {res.get('rounds')} rounds; "
            "'other' = another client GETting 100 B meanwhile\n"
            + table(["system", "SET ms", "GET ms", "other worst ms", "other GETs", "other p50 us", "SET/redis",
                     "worst/redis"], rows))


_SV_COLUMNS = [("copy", "memcpy"), ("tmc first set", "tmc_first_set"), ("tmc set", "tmc_set"), ("tmc get", "tmc_get"), ("tmc view", "tmc_view"),
               ("set_array", "tmc_set_array"), ("get_array", "tmc_get_array"), ("socket set", "socket_set"),
               ("socket get", "socket_get"), ("redis set", "redis_set"), ("redis get", "redis_get"),
               ("echo set", "echo_set"), ("echo get", "echo_get"), ("shm set", "shm_set"), ("shm get", "shm_get"),
               ("shm view", "shm_view"), ("UltraDict set", "ultradict_set"), ("UltraDict get", "ultradict_get")]


def shared_values(res: Dict[str, Any]) -> str:
    rows = [[f"{int(size) / 2**20:g} MiB"] + [_f(row.get(field), "{:.3f}" if "view" in field else "{:.1f}")
                                              for _, field in _SV_COLUMNS]
            for size, row in res.get("sizes", {}).items()]
    loader = res.get("loader", {})
    lines = [f"ms, median of {res.get('rounds')} rounds, unix sockets; tmc = TinyCache's shared path, socket = "
             "shared_from=None, shm = multiprocessing.shared_memory by hand, copy = numpy copy; UltraDict get = "
             "another handle's read of the value just set; tmc first set = a connection's first value of the size "
             "(new memory), tmc set and set_array = the ones after (memory reused)",
             table(["size"] + [name for name, _ in _SV_COLUMNS], rows)]
    if loader:
        lines.append(f"data loader: {loader['producers']} producers, {loader['arrays']} arrays of "
                     f"{loader['size'] / 2**20:g} MiB (at most {loader.get('in_flight') or 'all'} in flight), one consumer: "
                     + ", ".join(f"{name} {rate:.1f} arrays/s" for name, rate in loader["systems"].items()))
    return "\n".join(lines)


def producer_workers(res: Dict[str, Any]) -> str:
    rows = []
    for mode, systems in res.get("modes", {}).items():
        for name, e in systems.items():
            redis = _find(systems, L.REDIS, e["transport"])
            rows.append([mode, name, _f(e["jobs_per_s"], "{:,.0f}"),
                         _x(_ratio(e["jobs_per_s"], redis["jobs_per_s"]) if redis else None)])
    na = [f"{mode}: {why}" for mode, d in res.get("not_applicable", {}).items() for why in d.values()]
    return (f"{res.get('jobs')} jobs, {res.get('workers')} workers, no work per job\n"
            + table(["mode", "system", "jobs/s", "vs redis-py"], rows)
            + ("\nn/a: " + "; ".join(na) if na else ""))


def redis_benchmark(res: Dict[str, Any]) -> str:
    if res.get("skipped"):
        return "skipped: " + res["skipped"]
    runs = res.get("runs", {})
    rows = []
    for transport in ("tcp", "unix"):
        for p in (1, 16):
            o = runs.get(f"tiny-mp-cache|{transport}|{p}", {}).get("rps", {})
            r = runs.get(f"redis|{transport}|{p}", {}).get("rps", {})
            row = [f"{transport} -P {p}"]
            for t in ("SET", "GET"):
                row += [_f(o.get(t), "{:,.0f}"), _f(r.get(t), "{:,.0f}"), _x(_ratio(o.get(t), r.get(t)))]
            rows.append(row)
    return f"our server: {res.get('our_server')}\n" + table(
        ["case", "SET ours", "SET redis", "ratio", "GET ours", "GET redis", "ratio"], rows)


def memory(res: Dict[str, Any]) -> str:
    if res.get("skipped"):
        return "skipped: " + res["skipped"]
    rows = []
    for run in memory_runs(res):
        servers = run["servers"]
        redis_rss = servers.get("redis", {}).get("rss")
        for name, e in servers.items():
            rows.append([f"{run['keys']:,}", name, f"{e['rss'] / 2**20:.1f}", f"{e['rss_empty'] / 2**20:.1f}",
                         f"{e['bytes_per_key']:.0f}",
                         "n/a" if not e.get("used_memory") else f"{e['used_memory'] / 2**20:.1f}", f"{e['load_s']:.1f}",
                         _x(_ratio(e["rss"], redis_rss))])
    return f"keys x {res.get('value_size')} B, fresh servers for each count\n" + table(
        ["keys", "server", "RSS MiB", "empty MiB", "B/key", "used_memory MiB", "load s", "vs redis"], rows)


def hit_ratio(res: Dict[str, Any]) -> str:
    servers = res.get("servers", {})
    rows = [[name, e["policy"], f"{e['hit_ratio']:.4f}", e.get("keys_at_end"), e.get("client")] for name, e in servers.items()]
    return (f"{res.get('requests'):,} requests over {res.get('keys'):,} keys ({res.get('distinct_keys_in_trace'):,} seen), "
            f"{res.get('value_size')} B values, bound {res.get('bound_bytes', 0) / 2**20:.1f} MiB\n"
            + table(["server", "policy", "hit ratio", "keys at end", "client"], rows))


def near_cache(res: Dict[str, Any]) -> str:
    hit, zipf = res.get("hit", {}), res.get("zipf", {})
    floor = next((e for e in hit.values() if e["key"] is None), None)
    rows = [[name, _f(e["mean_us"], "{:.3f}"), _f(e["p50_us"], "{:.3f}"), _f(e["p99_us"], "{:.3f}"),
             _x(_ratio(e["mean_us"], floor["mean_us"]) if floor else None),
             "" if e.get("near_hits") is None else f"{e['near_hits']:.0%}"] for name, e in hit.items()]
    out = [f"hit latency: {res.get('hit_batches')} batches of {res.get('hit_keys')} gets of "
           f"{res.get('value_size')} B keys each; mean = total time / gets; p50 and p99 of the per-batch means "
           "(single calls are too short to time one by one)",
           table(["system", "mean us", "p50 us", "p99 us", "vs dict", "near hits"], rows)]
    rows = []
    for writes_to, systems in zipf.items():
        near = _find(systems, L.TMC_NEAR, "unix")
        rows += [[f"sets {writes_to}", name, _f(e["ops_per_s"], "{:,.0f}"),
                  _x(_ratio(near["ops_per_s"], e["ops_per_s"]) if near else None),
                  "" if e.get("near_hit_ratio") is None else f"{e['near_hit_ratio']:.0%}"] for name, e in systems.items()]
    out += ["", f"Zipf({res.get('alpha')}) reads over {res.get('keys'):,} keys, {res.get('write_ratio', 0):.0%} sets "
            "(drawn from the same Zipf, or uniform), "
            f"{res.get('processes')} processes x {res.get('ops_per_process'):,} ops, warm caches, median of "
            f"{res.get('rounds')} rounds; near cache of {res.get('near_cache_size'):,} entries (redis-py's cache the "
            "same size)",
            table(["case", "system", "ops/s", "near / this", "near hits"], rows)]
    na = res.get("not_applicable", {})
    if na:
        out.append("n/a: " + "; ".join(f"{name}: {why[:300]}" for name, why in na.items()))
    return "\n".join(out)


def targets(lines: List[Dict[str, Any]]) -> str:
    rows = []
    for t in lines:
        rows.append([t["status"].lower() if t.get("stretch") else t["status"], t["target"], t["case"], _num(t["ours"], t["unit"]), _num(t["peer"], t["unit"]),
                     _x(t["ratio"]) or "n/a", f"{t['op']} {t['limit']:g}x"])
    return table(["", "target", "case", "ours", "peer", "ratio", "need"], rows)


def _num(x: Optional[float], unit: str) -> str:
    if x is None:
        return "n/a"
    if unit == "bytes":
        return f"{x / 2**20:.1f} MiB"
    if unit in ("us", "ms"):
        return f"{x:.1f} {unit}"
    if unit == "hits/req":
        return f"{x:.4f}"
    return f"{x:,.0f}"


SECTIONS = [
    ("latency", "Latency per op", latency),
    ("types", "Hashes, sets, sorted sets and pub/sub", types),
    ("batch", "mget/mset", batch),
    ("throughput", "GET throughput with N client processes", throughput),
    ("producer_workers", "Producer/workers", producer_workers),
    ("big_values", "Big values", big_values),
    ("redis_benchmark", "redis-benchmark, requests/s", redis_benchmark),
    ("memory", "Resident memory", memory),
    ("hit_ratio", "Hit ratio under a memory bound", hit_ratio),
    ("near_cache", "Near cache", near_cache),
    ("shared_values", "Big values through shared memory", shared_values),
]


def render(results: Dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    out = [
        "tiny-mp-cache benchmarks",
        f"commit {meta['commit']}, {meta['date']}, profile {meta['profile']['name']}, {meta['duration_s']:.0f} s",
        f"machine: {m['cpu']}, {m['cores']} vCPUs, {m['memory']}, kernel {m.get('kernel', '?')} ({m['os']}); "
        f"load average before/after: {m.get('loadavg_before')} / {m.get('loadavg_after')}",
        f"our server: {meta['tmc_server']}, loops: {meta.get('tmc_loops', 'default')}; redis-py parser: {meta['redis_py_parser']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
    ]
    for key, title, fn in SECTIONS:
        res = results.get(key)
        if res is None:
            continue
        out.append(f"\n== {title} ==")
        out.append(fn(res))
        for note in _notes(res):
            out.append(f"  note: {note}")
        for err in res.get("errors", []):
            out.append(f"ERROR {err['system']}: {err['error'][:500]}")
    if meta.get("skipped"):
        out.append("\nskipped: " + "; ".join(f"{k}: {v}" for k, v in meta["skipped"].items()))
    out.append("\n== Targets (ours = tiny-mp-cache, Go client) ==")
    out.append(targets(results["targets"]))
    main = [t for t in results["targets"] if not t.get("stretch")]
    counts = {s: sum(1 for t in main if t["status"] == s) for s in ("PASS", "MISS", "n/a")}
    stretch = [t for t in results["targets"] if t.get("stretch")]
    out.append(f"{counts['PASS']} PASS, {counts['MISS']} MISS, {counts['n/a']} n/a" + (
        f"; stretch (lower case): {sum(1 for t in stretch if t['status'] == 'PASS')} of {len(stretch)} met"
        if stretch else ""))
    return "\n".join(out)


def _notes(res: Dict[str, Any]) -> List[str]:
    seen = []
    systems = dict(res.get("systems", {}))
    for group in list(res.get("modes", {}).values()) + [p["systems"] for p in res.get("placements", {}).values()]:
        systems.update(group)
    for e in systems.values():
        for op, note in (e.get("notes") or {}).items():
            text = f"{e['label']}: {op} = {note}"
            if text not in seen:
                seen.append(text)
    return seen
