"""The pure-Python client's system calls per request, counted by strace in a child process.

A call's deadline lives in the kernel's socket timeouts (SO_RCVTIMEO and
SO_SNDTIMEO), so a GET is one sendto and one recvfrom: no poll before each,
no ioctl for settimeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from conftest import need_tool

if not sys.platform.startswith("linux"):
    pytest.skip("the kernel's socket timeouts are used on Linux", allow_module_level=True)

GETS = 200

CHILD = """
import sys
from tiny_mp_cache import TinyCache
c = TinyCache(sys.argv[1], _pure=True)
c.set("k", b"x" * 100)
for _ in range(int(sys.argv[2])):
    assert c.get("k") == b"x" * 100
"""


def syscalls(addr: str, gets: int) -> dict[str, int]:
    """The system calls (name -> count) of a child that connects, sets and does gets GETs."""
    strace = need_tool("strace")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "strace.txt")
        subprocess.run([strace, "-f", "-c", "-o", out, sys.executable, "-c", CHILD, addr, str(gets)],
                       check=True, timeout=60, stdin=subprocess.DEVNULL)
        counts: dict[str, int] = {}
        for line in open(out):
            parts = line.split()
            if len(parts) >= 5 and parts[-1].isidentifier() and parts[3].isdigit() and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
        return counts


def test_a_pure_get_is_one_send_and_one_receive(unix_server):
    few, many = syscalls(unix_server.addr, 0), syscalls(unix_server.addr, GETS)
    per_get = {name: (many.get(name, 0) - few.get(name, 0)) / GETS for name in many}
    busy = {name: n for name, n in per_get.items() if n >= 0.5}
    assert busy == {"sendto": 1.0, "recvfrom": 1.0}, per_get
