"""memcached with pymemcache. memcached has no atomic take and no key listing.

pop is its closest atomic primitive: get, then delete; the delete decides
which of several concurrent poppers owns the value (exactly one delete
reports that the key existed). Two round trips instead of one.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional

from .base import Adapter, Spec


def spec(addr: Any, transport: str) -> Spec:
    return Spec("memcached", "memcached pymemcache", transport, {"addr": addr})


class MemcachedAdapter(Adapter):
    notes = {"pop": "get + delete (2 round trips; the delete decides the owner)"}

    def __init__(self, addr: Any):
        from pymemcache.client.base import Client

        self.c = c = Client(addr, no_delay=True, default_noreply=False, timeout=60, connect_timeout=10)
        c.version()
        self.set = c.set
        self.get = c.get

    def pop(self, key: str) -> Optional[bytes]:
        value = self.c.get(key)
        if value is not None and self.c.delete(key, noreply=False):
            return value
        return None

    def mget(self, keys: List[str]) -> List[Optional[bytes]]:
        got = self.c.get_many(keys)
        return [got.get(k) for k in keys]

    def mset(self, mapping: Mapping[str, bytes]) -> Any:
        return self.c.set_many(mapping)

    def flush(self) -> None:
        self.c.flush_all(noreply=False)

    def close(self) -> None:
        self.c.close()


def connect(s: Spec) -> Adapter:
    return MemcachedAdapter(s.params["addr"])
