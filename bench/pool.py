"""A pool of client processes (multiprocessing, spawn context), reused across systems.

Spawning is slow (a fresh interpreter each), so the scenarios that need
several client processes spawn them once and then tell them, by message,
which system to open and which function to run. Functions are named as
"module:function" and called as fn(adapter, worker_id, **kwargs) in the
worker; their return value comes back to the parent.
"""

from __future__ import annotations

import importlib
import queue
import traceback
from typing import Any, Dict, List, Optional, Sequence

from .procs import Reaper
from .systems import Spec, connect


class WorkerError(RuntimeError):
    pass


def _worker_main(wid: int, inbox: Any, outbox: Any) -> None:
    adapter = None
    while True:
        msg = inbox.get()
        cmd = msg[0]
        if cmd == "exit":
            if adapter is not None:
                adapter.close()
            return
        try:
            if cmd == "open":
                if adapter is not None:
                    adapter.close()
                adapter = None
                adapter = connect(msg[1])
                result: Any = None
            elif cmd == "close":
                if adapter is not None:
                    adapter.close()
                adapter = result = None
            elif cmd == "run":
                module, _, name = msg[1].partition(":")
                fn = getattr(importlib.import_module(module), name)
                result = fn(adapter, wid, **msg[2])
            else:
                raise ValueError(f"unknown command {cmd!r}")
            outbox.put((wid, True, result))
        except BaseException:
            outbox.put((wid, False, traceback.format_exc()))


class Pool:
    def __init__(self, ctx: Any, size: int, reaper: Reaper, timeout: float = 600.0):
        self.size = size
        self.timeout = timeout
        self._outbox = ctx.Queue()
        self._inboxes = []
        self._procs = []
        for wid in range(size):
            inbox = ctx.Queue()
            p = ctx.Process(target=_worker_main, args=(wid, inbox, self._outbox), daemon=True, name=f"bench-worker-{wid}")
            p.start()
            reaper.process(p)
            self._inboxes.append(inbox)
            self._procs.append(p)
        self._reaper = reaper

    def send(self, workers: Sequence[int], msg: tuple) -> None:
        for w in workers:
            self._inboxes[w].put(msg)

    def collect(self, workers: Sequence[int], timeout: Optional[float] = None) -> List[Any]:
        """Wait for one reply from each worker; results in the order of workers."""
        want = set(workers)
        got: Dict[int, Any] = {}
        errors = []
        while want - set(got):
            try:
                wid, ok, result = self._outbox.get(timeout=timeout or self.timeout)
            except queue.Empty:
                raise WorkerError(f"workers {sorted(want - set(got))} did not answer in {timeout or self.timeout:g}s")
            got[wid] = result
            if not ok:
                errors.append(f"worker {wid}:\n{result}")
        if errors:
            raise WorkerError("\n".join(errors))
        return [got[w] for w in workers]

    def open(self, spec: Spec, workers: Sequence[int]) -> None:
        self.send(workers, ("open", spec))
        self.collect(workers, 120)

    def close(self, workers: Sequence[int]) -> None:
        self.send(workers, ("close",))
        self.collect(workers, 60)

    def start(self, fn: str, workers: Sequence[int], kwargs: Dict[str, Any]) -> None:
        self.send(workers, ("run", fn, kwargs))

    def run(self, fn: str, workers: Sequence[int], kwargs: Dict[str, Any]) -> List[Any]:
        self.start(fn, workers, kwargs)
        return self.collect(workers)

    def shutdown(self) -> None:
        self.send(range(self.size), ("exit",))
        for p in self._procs:
            self._reaper.stop(p, timeout=10)
