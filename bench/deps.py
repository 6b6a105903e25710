"""What the benchmark needs, installed when missing: pip packages, Debian
packages (as root, with apt-get), and a fresh build of the Go library and the
standalone server from this checkout's go/.

A dependency that cannot be had is not an error: the systems that need it
are skipped and their targets reported as n/a.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from typing import Dict, Optional

from .procs import run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GO_DIR = os.path.join(REPO, "go")

# import name -> pip requirement
PIP_PACKAGES = {
    "cffi": "cffi>=1.15",
    "redis": "redis",
    "hiredis": "hiredis",
    "pymemcache": "pymemcache",
    "diskcache": "diskcache",
    "matplotlib": "matplotlib",
    "UltraDict": "UltraDict",  # builds with Cython and a C compiler; shared_lock needs atomics
    "atomics": "atomics",
}

# executable -> Debian package
APT_PACKAGES = {
    "redis-server": "redis-server",
    "redis-benchmark": "redis-tools",
    "memcached": "memcached",
}


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:
        return False


def ensure_pip(log, install: bool = True) -> Dict[str, bool]:
    """Import each package, pip-installing the missing ones. Returns name -> available."""
    missing = [name for name in PIP_PACKAGES if not _importable(name)]
    if missing and install:
        reqs = [PIP_PACKAGES[n] for n in missing]
        log(f"pip install {' '.join(reqs)}")
        try:
            p = run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs], timeout=600)
            if p.returncode != 0:
                # Install one by one, so that one failure (hiredis without a wheel) costs only itself.
                for r in reqs:
                    run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", r], timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            log(f"pip install failed: {e}")
        importlib.invalidate_caches()
    return {name: _importable(name) for name in PIP_PACKAGES}


def ensure_apt(log, install: bool = True) -> Dict[str, Optional[str]]:
    """Find redis-server, redis-benchmark and memcached, apt-get installing them as root."""
    missing = sorted({pkg for exe, pkg in APT_PACKAGES.items() if shutil.which(exe) is None})
    can = install and shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0
    if missing and can:
        log(f"apt-get install {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            run(["apt-get", "update", "-qq"], timeout=600, env=env)
            p = run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], timeout=900, env=env)
            if p.returncode != 0:
                log(f"apt-get install failed: {p.stderr.strip()[-300:]}")
        except (OSError, subprocess.TimeoutExpired) as e:
            log(f"apt-get failed: {e}")
    elif missing:
        log(f"missing {', '.join(missing)} (not root or no apt-get): those systems are skipped")
    return {exe: shutil.which(exe) for exe in APT_PACKAGES}


def _go() -> Optional[str]:
    go = shutil.which("go")
    if go is None:
        for d in ("/usr/local/go/bin", os.path.expanduser("~/go/bin"), "/usr/lib/go/bin"):
            if os.access(os.path.join(d, "go"), os.X_OK):
                return os.path.join(d, "go")
    return go


def build_go(outdir: str, log) -> Dict[str, Optional[str]]:
    """Build libtinympcache.so and tiny-mp-cache-server from go/ into outdir.

    Returns paths (None for what could not be built, with the reason logged).
    """
    out: Dict[str, Optional[str]] = {"lib": None, "server": None}
    go = _go()
    if go is None or not os.path.isdir(GO_DIR):
        log("no Go toolchain or no go/ directory: using the installed library and the Python-hosted server")
        return out
    env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="1", GOFLAGS="-mod=vendor -buildvcs=false -trimpath")
    targets = {
        "lib": (["-buildmode=c-shared", "-o", os.path.join(outdir, "libtinympcache.so"), "./capi"],),
        "server": (["-o", os.path.join(outdir, "tiny-mp-cache-server"), "./cmd/tiny-mp-cache-server"],),
    }
    for name, (args,) in targets.items():
        if name == "server" and not os.path.isdir(os.path.join(GO_DIR, "cmd", "tiny-mp-cache-server")):
            continue
        try:
            p = run([go, "build", "-ldflags=-s -w", *args], timeout=600, cwd=GO_DIR, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            log(f"go build {name} failed: {e}")
            continue
        if p.returncode != 0:
            log(f"go build {name} failed: {p.stderr.strip()[-500:]}")
            continue
        out[name] = args[args.index("-o") + 1]
    return out


def versions(tools: Dict[str, Optional[str]]) -> Dict[str, str]:
    """Versions of what is compared, for the results file."""
    v: Dict[str, str] = {"python": sys.version.split()[0]}
    for mod in ("redis", "hiredis", "pymemcache", "diskcache", "cffi", "matplotlib"):
        try:
            v[mod] = getattr(importlib.import_module(mod), "__version__", "?")
        except Exception:
            v[mod] = "missing"
    for exe, flag in (("redis-server", "--version"), ("memcached", "-V")):
        path = tools.get(exe)
        if path:
            try:
                v[exe] = run([path, flag], timeout=10).stdout.strip()
            except Exception:
                v[exe] = "?"
    go = _go()
    if go:
        try:
            v["go"] = run([go, "version"], timeout=30).stdout.strip()
        except Exception:
            pass
    return v


def redis_py_parser() -> str:
    """The reply parser redis-py picked: hiredis when it is installed."""
    try:
        import redis.connection as rc

        parser = getattr(rc, "DefaultParser", None)
        name = parser.__name__ if parser is not None else "?"
        return "hiredis" if "Hiredis" in name else f"pure Python ({name})"
    except Exception:
        return "n/a"


def git_describe() -> str:
    try:
        p = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], timeout=10)
        head = p.stdout.strip()
        dirty = run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"], timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except Exception:
        return "?"

