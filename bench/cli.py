"""python -m bench: set up, run the scenarios, report, clean up.

Exit status: 0 when the harness ran (targets missed or not), 1 with --strict
when a target is missed or a system failed, 2 when the harness itself failed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, List, Optional

from . import deps, docs, report, targets
from .lab import Lab
from .procs import Reaper, cpu_model, mem_total
from .profile import FULL, QUICK
from .progress import Progress
from .scenarios import ALL, BY_NAME
from .servers import Servers

DEFAULT_OUT = os.path.join(deps.REPO, "bench", "results")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description="tiny-mp-cache benchmarks against Redis, memcached, "
                                 "multiprocessing.Manager, diskcache and an echo floor.")
    ap.add_argument("--quick", action="store_true", help="a smoke run with small counts (well under 2 minutes)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed or a system fails")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"directory for results.json and results.png (default {DEFAULT_OUT})")
    ap.add_argument("--only", help="comma-separated scenarios to run: " + ",".join(BY_NAME))
    ap.add_argument("--skip", help="comma-separated scenarios to skip")
    ap.add_argument("--no-install", action="store_true", help="do not pip/apt-get install missing dependencies")
    ap.add_argument("--no-build", action="store_true",
                    help="do not build the Go library and server from go/; use the installed library "
                         "($TINY_MP_CACHE_LIB or the package's) and tiny-mp-cache-server from PATH if any")
    ap.add_argument("--no-pin", action="store_true",
                    help="measure latency once, wherever the scheduler puts each process, instead of in two "
                         "placements (client and servers on one CPU; on two CPUs)")
    ap.add_argument("--loops", type=int, default=0,
                    help="our server's event loops (default: its own, one per usable CPU); to compare one loop with several")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write docs/benchmarks.md from this run (the page is generated, never edited by hand)")
    return ap


def _scenarios(args: argparse.Namespace) -> List[Any]:
    chosen = list(ALL)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise SystemExit(f"unknown scenario(s) {unknown}; known: {', '.join(BY_NAME)}")
        chosen = [m for m in ALL if m.NAME in names]
    if args.skip:
        skip = {n.strip() for n in args.skip.split(",")}
        chosen = [m for m in chosen if m.NAME not in skip]
    return chosen


class _Terminated(BaseException):
    """Raised by the SIGTERM handler; a BaseException so that no per-system handler swallows it."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _check_go_library(progress: Progress) -> Optional[str]:
    """Load the Go library here (the parent never forks a Python child, so this is safe); None if it loads."""
    try:
        from tiny_mp_cache import _bindings

        if _bindings.library() is None:
            return "the Go library was inherited through fork()"
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def _loadavg() -> Optional[List[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    profile = QUICK if args.quick else FULL
    scenarios = _scenarios(args)
    progress = Progress(args.quiet)
    reaper = Reaper()
    tmpdir = tempfile.mkdtemp(prefix="tmcb-", dir="/tmp" if os.path.isdir("/tmp") else None)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    lab: Optional[Lab] = None
    harness_errors: List[str] = []
    started = time.monotonic()
    load_before = _loadavg()
    try:
        progress.note(f"profile {profile.name}; temp dir {tmpdir}")
        have = deps.ensure_pip(progress.note, install=not args.no_install)
        tools: Dict[str, Any] = deps.ensure_apt(progress.note, install=not args.no_install)
        built = {"lib": None, "server": None}
        if not args.no_build:
            progress.note("building the Go library and server from go/")
            built = deps.build_go(tmpdir, progress.note)
        if built["lib"] and not os.environ.get("TINY_MP_CACHE_LIB"):
            os.environ["TINY_MP_CACHE_LIB"] = built["lib"]
        tools["tmc-server"] = built["server"] or shutil.which("tiny-mp-cache-server")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (deps.REPO, os.environ.get("PYTHONPATH")) if p)
        if have.get("cffi"):
            why = _check_go_library(progress)
            if why:
                progress.note(f"tiny-mp-cache Go client unavailable: {why}")
                have["cffi"] = False
        ctx = mp.get_context("spawn")
        servers = Servers(reaper, tmpdir, tools, dict(os.environ), loops=args.loops)
        lab = Lab(servers, ctx, reaper, have)
        lab.pin = not args.no_pin
        results: Dict[str, Any] = {}
        for module in scenarios:
            try:
                results[module.NAME] = module.run(lab, profile, progress)
            except Exception:
                tb = traceback.format_exc()
                harness_errors.append(f"{module.NAME}: {tb}")
                progress.note(f"HARNESS ERROR in {module.NAME}:\n{tb}")
                lab.reset_pool()
            lab.flush_all()
        results["meta"] = {
            "profile": profile.as_dict(),
            "commit": deps.git_describe(),
            "duration_s": time.monotonic() - started,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "memory": mem_total(), "kernel": platform.release(),
                        "os": platform.platform(),
                        "loadavg_before": load_before, "loadavg_after": _loadavg()},
            "versions": deps.versions(tools),
            "redis_py_parser": deps.redis_py_parser(),
            "tmc_server": servers.tmc_kind(),
            "tmc_loops": args.loops or "default (one per usable CPU)",
            "tmc_library": os.environ.get("TINY_MP_CACHE_LIB") or "the package's libtinympcache.so",
            "skipped": lab.skipped,
            "harness_errors": harness_errors,
        }
        results["targets"] = targets.evaluate(results)
        os.makedirs(args.out, exist_ok=True)
        json_path = os.path.join(args.out, "results.json")
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1, sort_keys=False)
        png_path = os.path.join(args.out, "results.png")
        if have.get("matplotlib"):
            try:
                from .plot import plot

                plot(results, png_path)
            except Exception:
                harness_errors.append("plot: " + traceback.format_exc())
                progress.note("HARNESS ERROR while plotting:\n" + traceback.format_exc())
        else:
            png_path = "(not written: matplotlib is missing)"
        print(report.render(results))
        print(f"\nwrote {json_path} and {png_path}")
        if args.write_docs:
            print(f"wrote {docs.write(results)}")
    except _Terminated:
        print("bench: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    except Exception:
        harness_errors.append(traceback.format_exc())
        print("bench: HARNESS ERROR\n" + traceback.format_exc(), file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            if lab is not None:
                lab.reset_pool()
        finally:
            reaper.reap()
            shutil.rmtree(tmpdir, ignore_errors=True)
    if harness_errors:
        print(f"bench: {len(harness_errors)} harness error(s); see above", file=sys.stderr)
        return 2
    if args.strict:
        missed = [t for t in results["targets"] if t["status"] == "MISS" and not t.get("stretch")]
        failed = [e for r in results.values() if isinstance(r, dict) for e in r.get("errors", [])]
        if missed or failed:
            print(f"bench: --strict: {len(missed)} target(s) missed, {len(failed)} system error(s)", file=sys.stderr)
            return 1
    return 0
