"""Child processes of the harness: start, wait until they listen, measure, reap.

Every process the harness starts is recorded in one Reaper, and reap()
terminates and waits for each of them (then kills what did not stop), so
the harness leaves nothing running, whatever happens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Any, List, Optional, Sequence, Tuple, Union

Address = Union[Tuple[str, int], str]  # (host, port) or a unix socket path


def _descendants(pid: int) -> List[int]:
    children: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


class placed:
    """Pin this process (the client) and all its threads to client_cpu, and every process it
    started (the servers) and all their threads to server_cpu; undo on exit.

    Threads started later inherit their creator's CPU. Both placements are
    what users get: the scheduler puts a worker and the server on the same
    CPU or on two, and on a VM a round trip between two vCPUs also pays for
    waking the other one. Pinning makes each placement repeatable.
    """

    def __init__(self, client_cpu: int, server_cpu: int) -> None:
        self.client_cpu, self.server_cpu = client_cpu, server_cpu
        self.saved: dict = {}  # pid -> its CPUs before, restored on all its threads (also the new ones)

    @staticmethod
    def _pin(pid: int, cpus: Any) -> None:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            return
        for tid in tids:
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                pass

    def __enter__(self) -> "placed":
        me = os.getpid()
        for pid in [me] + _descendants(me):
            try:
                self.saved[pid] = os.sched_getaffinity(pid)
            except OSError:
                continue
            self._pin(pid, {self.client_cpu if pid == me else self.server_cpu})
        return self

    def __exit__(self, *exc: Any) -> None:
        for pid, cpus in self.saved.items():
            self._pin(pid, cpus)


class Reaper:
    """Remembers every child process and every cleanup, and undoes them in reverse order."""

    def __init__(self) -> None:
        self._items: List[Tuple[str, Any]] = []

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        proc = subprocess.Popen(list(argv), **kwargs)
        self._items.append(("popen", proc))
        return proc

    def process(self, proc: Any) -> Any:
        """Track a started multiprocessing.Process."""
        self._items.append(("mp", proc))
        return proc

    def callback(self, fn: Any) -> None:
        """Run fn() at reap time (for example a Manager's shutdown)."""
        self._items.append(("call", fn))

    def stop(self, proc: Any, timeout: float = 5.0) -> None:
        """Stop one tracked process now."""
        for i, (kind, item) in enumerate(self._items):
            if item is proc:
                del self._items[i]
                _stop(kind, item, timeout)
                return
        _stop("popen" if isinstance(proc, subprocess.Popen) else "mp", proc, timeout)

    def reap(self, timeout: float = 5.0) -> None:
        while self._items:
            kind, item = self._items.pop()
            try:
                _stop(kind, item, timeout)
            except Exception as e:  # keep reaping the rest
                print(f"bench: while stopping {item!r}: {e}", flush=True)


def _stop(kind: str, item: Any, timeout: float) -> None:
    if kind == "call":
        item()
        return
    if kind == "popen":
        if item.poll() is None:
            item.terminate()
            try:
                item.wait(timeout)
            except subprocess.TimeoutExpired:
                item.kill()
                item.wait(timeout)
        return
    # multiprocessing.Process
    if item.is_alive():
        item.terminate()
        item.join(timeout)
        if item.is_alive():
            item.kill()
            item.join(timeout)
    else:
        item.join(0.1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(addr: Address, proc: Optional[subprocess.Popen] = None, timeout: float = 15.0) -> None:
    """Wait until something accepts connections at addr (and proc is still alive)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with status {proc.returncode} before listening on {addr}")
        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect(addr)
                return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {addr} after {timeout:g}s")
        time.sleep(0.05)


def rss_bytes(pid: int) -> int:
    """Resident set size of pid, from /proc/PID/status (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def run(argv: Sequence[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command to completion (killed after timeout), capturing its output as text."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def mem_total() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def unix_path(tmpdir: str, name: str) -> str:
    path = os.path.join(tmpdir, name)
    if len(path.encode()) > 100:  # sun_path is 108 bytes
        raise RuntimeError(f"unix socket path too long: {path}")
    return path
