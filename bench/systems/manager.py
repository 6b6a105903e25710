"""multiprocessing.Manager(): a dict proxy (and a Queue proxy for the job list).

Every call is a round trip to the manager's server process, which pickles
arguments and results. Its transport is the Manager default (a unix socket
on Linux). It has no batch read: mget is 100 dict.get calls; mset is
dict.update. pop is dict.pop, atomic in the manager process. The list
scenario uses a Manager().Queue(): put, and get with a timeout.
"""

from __future__ import annotations

import fnmatch
import queue
from typing import Any, List, Mapping, Optional

from .base import Adapter, Spec


def spec(shared_dict: Any, shared_queue: Any) -> Spec:
    return Spec("manager", "Manager().dict()", "unix", {"dict": shared_dict, "queue": shared_queue})


class ManagerAdapter(Adapter):
    notes = {"mget": "100 x dict.get (no batch read)", "mset": "dict.update", "lists": "Manager().Queue() put/get"}

    def __init__(self, d: Any, q: Any):
        self.d, self.q = d, q
        self.set = d.__setitem__
        self.get = d.get

    def pop(self, key: str) -> Optional[bytes]:
        return self.d.pop(key, None)

    def mget(self, keys: List[str]) -> List[Optional[bytes]]:
        get = self.d.get
        return [get(k) for k in keys]

    def mset(self, mapping: Mapping[str, bytes]) -> Any:
        self.d.update(mapping)

    def keys(self, pattern: str) -> List[str]:
        return [k for k in self.d.keys() if fnmatch.fnmatchcase(k, pattern)]

    def push(self, key: str, value: bytes) -> Any:
        self.q.put(value)

    def bpop(self, key: str, timeout: float) -> Optional[bytes]:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def flush(self) -> None:
        self.d.clear()
        while True:
            try:
                self.q.get_nowait()
            except queue.Empty:
                return


def connect(s: Spec) -> Adapter:
    return ManagerAdapter(s.params["dict"], s.params["queue"])
