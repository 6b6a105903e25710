"""results.png: one panel per scenario (matplotlib, Agg backend). A scenario
that did not run leaves its panel with a note."""

from __future__ import annotations

from typing import Any, Dict

from .scenarios.memory import headline


def _short(name: str) -> str:
    return (name.replace("tiny-mp-cache", "tmc")
            .replace("memcached pymemcache", "memcached").replace("Manager().dict()", "Manager"))


def matplotlib_colors(n: int) -> list:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab20")
    return [cmap(i % 20) for i in range(n)]


def _empty(ax: Any, title: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _latency(ax: Any, results: Dict[str, Any]) -> None:
    title = "Mean latency per op, 100 B values"
    placements = results.get("latency", {}).get("placements", {})
    bars = [(f"{op} {where}", {n: e["sizes"]["100"][op]["mean_us"] for n, e in p["systems"].items() if "100" in e["sizes"]})
            for where, p in placements.items() for op in ("get", "set")]
    names = list(dict.fromkeys(n for _, vals in bars for n in vals))
    if not names:
        return _empty(ax, title)
    width = 0.8 / len(bars)
    for i, (label, vals) in enumerate(bars):
        ax.barh([y + (i - (len(bars) - 1) / 2) * width for y in range(len(names))], [vals.get(n, 0) for n in names],
                height=width, label=label)
    ax.set_yticks(range(len(names)), [_short(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("us (lower is better)")
    ax.set_title(title)
    ax.legend(fontsize=7)


def _batch(ax: Any, results: Dict[str, Any]) -> None:
    title = "mget/mset of 100 keys"
    batch = results.get("batch", {}).get("systems", {})
    if not batch:
        return _empty(ax, title)
    names = list(batch)
    for i, op in enumerate(("mset", "mget")):
        vals = [batch[n][op]["calls_per_s"] for n in names]
        ax.barh([y + (i - 0.5) * 0.4 for y in range(len(names))], vals, height=0.4, label=op)
    ax.set_yticks(range(len(names)), [_short(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("calls/s (higher is better)")
    ax.set_title(title)
    ax.legend()


def _throughput(ax: Any, results: Dict[str, Any]) -> None:
    title = "GET throughput, N client processes"
    tp = results.get("throughput", {})
    if not tp.get("systems"):
        return _empty(ax, title)
    colors = matplotlib_colors(len(tp["systems"]))
    for (n, e), color in zip(tp["systems"].items(), colors):
        levels = [int(k) for k in e["ops_per_s"]]
        style = "-" if n.startswith("tiny-mp-cache") else ("--" if n.startswith("echo") else ":")
        ax.plot(levels, list(e["ops_per_s"].values()), marker="o", linestyle=style, color=color, label=_short(n),
                linewidth=2.5 if n.startswith("tiny-mp-cache go") else 1.5)
    ax.set_xticks(tp["levels"], [str(x) for x in tp["levels"]])
    ax.set_xlabel("client processes")
    ax.set_ylabel("GETs/s")
    ax.set_title(title)
    ax.legend(fontsize=7)


def _producer_workers(ax: Any, results: Dict[str, Any]) -> None:
    title = "Producer/workers, 8 workers"
    rows = [(f"{mode}: {_short(n)}", e["jobs_per_s"])
            for mode, systems in results.get("producer_workers", {}).get("modes", {}).items() for n, e in systems.items()]
    if not rows:
        return _empty(ax, title)
    ax.barh(range(len(rows)), [v for _, v in rows], color="tab:green")
    ax.set_yticks(range(len(rows)), [r for r, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("jobs/s (higher is better)")
    ax.set_title(title)


def _big_values(ax: Any, results: Dict[str, Any]) -> None:
    big = results.get("big_values", {})
    title = f"One {big.get('size', 0) / 2**20:g} MiB SET, and another client's worst GET meanwhile"
    systems = big.get("systems", {})
    if not systems:
        return _empty(ax, title)
    names = list(systems)
    for i, (field, label) in enumerate((("set_ms", "SET"), ("probe_worst_ms", "other client's worst GET"))):
        ax.barh([y + (i - 0.5) * 0.4 for y in range(len(names))], [systems[n][field] for n in names], height=0.4,
                label=label)
    ax.set_yticks(range(len(names)), [_short(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms (lower is better)")
    ax.set_title(title)
    ax.legend()


def _redis_benchmark(ax: Any, results: Dict[str, Any]) -> None:
    title = "redis-benchmark -c 50"
    runs = results.get("redis_benchmark", {}).get("runs", {})
    if not runs:
        return _empty(ax, title)
    cases = [(t, p, test) for t in ("tcp", "unix") for p in (1, 16) for test in ("SET", "GET")]
    for i, server in enumerate(("tiny-mp-cache", "redis")):
        vals = [runs.get(f"{server}|{t}|{p}", {}).get("rps", {}).get(test, 0) for t, p, test in cases]
        ax.bar([x + (i - 0.5) * 0.4 for x in range(len(cases))], vals, width=0.4, label=server)
    ax.set_xticks(range(len(cases)), [f"{test}\n{t} P{p}" for t, p, test in cases], fontsize=8)
    ax.set_ylabel("requests/s (higher is better)")
    ax.set_title(title)
    ax.legend()


def _memory_hit_ratio(ax: Any, results: Dict[str, Any]) -> None:
    shown = headline(results.get("memory", {}))
    mem = shown["servers"]
    hr = results.get("hit_ratio", {}).get("servers", {})
    title = f"RSS with {shown['keys']:,} keys x 100 B; hit ratio on Zipf 0.99"
    labels = list(mem) or list(hr)
    if not labels:
        return _empty(ax, title)
    ax.bar(range(len(labels)), [mem.get(n, {}).get("rss", 0) / 2**20 for n in labels], color="tab:purple")
    ax.set_xticks(range(len(labels)),
                  [f"{n}\nhit ratio {hr[n]['hit_ratio']:.3f}" if n in hr else n for n in labels])
    ax.set_ylabel("RSS MiB (lower is better)")
    ax.set_title(title)


def _near_cache(ax: Any, results: Dict[str, Any]) -> None:
    title = "Near cache: Zipf 95/5, 8 processes"
    zipf = results.get("near_cache", {}).get("zipf", {})
    names = list(dict.fromkeys(n for systems in zipf.values() for n in systems))
    if not names:
        return _empty(ax, title)
    width = 0.8 / len(zipf)
    for i, (writes_to, systems) in enumerate(zipf.items()):
        ax.barh([y + (i - (len(zipf) - 1) / 2) * width for y in range(len(names))],
                [systems.get(n, {}).get("ops_per_s", 0) for n in names], height=width, label=f"sets {writes_to}")
    ax.set_yticks(range(len(names)), [_short(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ops/s, log scale (higher is better)")
    ax.set_title(title)
    ax.legend(fontsize=7)


def plot(results: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 2, figsize=(16, 21))
    meta = results["meta"]
    fig.suptitle(f"tiny-mp-cache benchmarks ({meta['profile']['name']} run, {meta['machine']['cores']} cores, "
                 f"commit {meta['commit']})")
    panels = (_latency, _batch, _throughput, _producer_workers, _big_values, _redis_benchmark, _memory_hit_ratio,
              _near_cache)
    cells = [a for row in axes for a in row]
    for ax, panel in zip(cells, panels):
        panel(ax, results)
    for ax in cells[len(panels):]:
        ax.set_axis_off()
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path, dpi=80)
    plt.close(fig)
