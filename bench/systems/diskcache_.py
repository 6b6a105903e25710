"""diskcache: SQLite files in a directory, no server. Each process opens the
same directory. pop is Cache.pop (atomic, in a transaction); mget/mset are
loops inside one transaction (it has no batch call); there is no blocking
pop, so the list scenario is n/a for it.
"""

from __future__ import annotations

import fnmatch
from typing import Any, List, Mapping, Optional

from .base import Adapter, Spec


def spec(directory: str) -> Spec:
    return Spec("diskcache_", "diskcache", "local", {"dir": directory})


class DiskcacheAdapter(Adapter):
    notes = {"mget": "100 x get in one transaction", "mset": "100 x set in one transaction"}

    def __init__(self, directory: str):
        import diskcache

        self.c = c = diskcache.Cache(directory)
        self.set = c.set
        self.get = c.get
        self.pop = c.pop

    def mget(self, keys: List[str]) -> List[Optional[bytes]]:
        get = self.c.get
        with self.c.transact():
            return [get(k) for k in keys]

    def mset(self, mapping: Mapping[str, bytes]) -> Any:
        set_ = self.c.set
        with self.c.transact():
            for k, v in mapping.items():
                set_(k, v)

    def keys(self, pattern: str) -> List[str]:
        return [k for k in self.c.iterkeys() if isinstance(k, str) and fnmatch.fnmatchcase(k, pattern)]

    def flush(self) -> None:
        self.c.clear()

    def close(self) -> None:
        self.c.close()


def connect(s: Spec) -> Adapter:
    return DiskcacheAdapter(s.params["dir"])
