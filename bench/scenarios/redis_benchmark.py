"""Server throughput by redis-benchmark: SET and GET, -c 50, -P 1 and -P 16,
over TCP and a unix socket (-s), against our server and against redis-server.

100 B values (-d 100) over 100k random keys (-r 100000). Servers alternate
within each repeat; the result is the median requests/s over repeats.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Dict, List

from ..procs import run as run_cmd
from ..stats import median

NAME = "redis_benchmark"
TITLE = "redis-benchmark (requests/s, -c 50, -d 100, -r 100000)"
TESTS = ("SET", "GET")


def _parse_csv(text: str) -> Dict[str, float]:
    out = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0] in TESTS:
            out[row[0]] = float(row[1])
    return out


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    exe = lab.servers.tools.get("redis-benchmark")
    results: Dict[str, Any] = {"runs": {}, "errors": [], "clients": profile.rb_clients}
    if not exe:
        results["skipped"] = "redis-benchmark is not installed (Debian package redis-tools)"
        progress.note(results["skipped"])
        return results
    servers = {"tiny-mp-cache": lambda t: lab.tmc_server(t), "redis": lambda t: lab.redis_server()}
    transports = ("tcp", "unix")
    pipelines = (1, 16)
    progress.scenario(TITLE, profile.rb_repeats * len(transports) * len(pipelines) * len(servers))
    samples: Dict[str, Dict[str, List[float]]] = {}
    for _ in range(profile.rb_repeats):
        for transport in transports:
            for p in pipelines:
                for server_name, get_server in servers.items():
                    case = f"{server_name} {transport} -P {p}"
                    srv = get_server(transport)
                    if srv is None:
                        progress.step(case, "skipped: server not available")
                        continue
                    where = ["-h", "127.0.0.1", "-p", str(srv.tcp[1])] if transport == "tcp" else ["-s", srv.unix]
                    n = profile.rb_requests_p1 if p == 1 else profile.rb_requests_p16
                    argv = [exe, *where, "-c", str(profile.rb_clients), "-n", str(n), "-P", str(p), "-d", "100",
                            "-r", "100000", "-t", "set,get", "--csv"]
                    try:
                        proc = run_cmd(argv, timeout=600)
                        got = _parse_csv(proc.stdout)
                        if set(got) != set(TESTS):
                            raise RuntimeError(f"redis-benchmark printed no result (exit {proc.returncode}): "
                                               f"{(proc.stderr or proc.stdout).strip()[-300:]}")
                    except Exception as e:
                        results["errors"].append({"system": case, "key": server_name, "error": f"{type(e).__name__}: {e}"})
                        progress.step(case, f"ERROR {e}")
                        continue
                    for test, rps in got.items():
                        samples.setdefault(f"{server_name}|{transport}|{p}", {}).setdefault(test, []).append(rps)
                    progress.step(case, "  ".join(f"{t} {got[t]:,.0f}" for t in TESTS))
    for k, per_test in samples.items():
        server_name, transport, p = k.split("|")
        results["runs"][k] = {"server": server_name, "transport": transport, "pipeline": int(p),
                              "rps": {t: median(v) for t, v in per_test.items()}}
    results["our_server"] = lab.servers.tmc_kind()
    return results

