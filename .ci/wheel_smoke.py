"""Install a wheel into fresh venvs of the oldest and the newest CPython here, and run the original's examples.

    python .ci/wheel_smoke.py dist/tiny_mp_cache-*-manylinux_2_17_x86_64*.whl

Interpreters: every `python3.N` on PATH, every ~/.pyenv/versions/*/bin/python3
(used when present, never required) and this script's own interpreter;
those that run and are >= 3.9 count, and the oldest and the newest are used
(one run if they are the same). For each: a fresh venv, `pip install WHEEL`
(which must not build anything), then, from the repository root:
examples/*.py, tests/readme_snippets.py (every ```python block of the
README and docs/*.md) and tests/cache_api_test.py. Exits non-zero on any failure.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN = (3, 9)


def version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys, venv, ensurepip; print(*sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.fullmatch(r"(\d+) (\d+)", out.stdout.strip())
    return (int(m.group(1)), int(m.group(2))) if out.returncode == 0 and m else None


def interpreters() -> list[tuple[tuple[int, int], str]]:
    """(version, path) of the oldest and the newest usable CPython."""
    candidates = [sys.executable]
    candidates += [shutil.which(f"python3.{minor}") for minor in range(MIN[1], 20)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    found: dict[tuple[int, int], str] = {}
    for python in candidates:
        if python and (v := version(python)) and v >= MIN:
            found.setdefault(v, python)
    versions = sorted(found)
    return [(v, found[v]) for v in sorted({versions[0], versions[-1]})]


def run(cmd: list[str], timeout: float, **kwargs) -> None:
    print("$", " ".join(cmd), flush=True)
    start = time.monotonic()
    subprocess.run(cmd, check=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    print(f"  ({time.monotonic() - start:.0f}s)", flush=True)


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].endswith(".whl"):
        sys.exit(__doc__)
    wheel = os.path.abspath(sys.argv[1])
    pythons = interpreters()
    print("interpreters:", ", ".join(f"{v[0]}.{v[1]} ({p})" for v, p in pythons), flush=True)
    # The examples and snippets serve on port 5002: take the lock that
    # tests/test_examples.py takes, so that two runs on one machine take turns.
    lock = open("/tmp/tiny-mp-cache-port-5002.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    for (major, minor), python in pythons:
        print(f"\n==> CPython {major}.{minor}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"tmc-smoke-{major}.{minor}-") as tmp:
            env_dir = os.path.join(tmp, "venv")
            run([python, "-m", "venv", env_dir], timeout=120)
            py = os.path.join(env_dir, "bin", "python")
            # --only-binary: the wheel must install as it is, never fall back to a build.
            # The redis extra: the client-side caching snippet (docs/recipes.md) uses redis-py.
            run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--only-binary", ":all:",
                 wheel + "[redis]"], timeout=300)
            for example in sorted(glob.glob(os.path.join(ROOT, "examples", "*.py"))):
                # quickstart_unix.py puts its socket in the current directory.
                run([py, example], timeout=240, cwd=tmp)
            run([py, os.path.join(ROOT, "tests", "readme_snippets.py")], timeout=300, cwd=ROOT)
            run([py, os.path.join(ROOT, "tests", "cache_api_test.py")], timeout=300, cwd=ROOT)
    print("\nwheel smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
