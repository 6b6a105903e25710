"""redis-py, against redis-server (the usual pick) or against our server.

redis-py uses the hiredis reply parser when hiredis is installed; the run
reports which one it got. With pipeline=True, mget/mset are a pipeline of
single GETs/SETs (one round trip), the peer of the mget/mset target.
With cache=N, redis-py's own client-side cache of N entries (RESP3, CLIENT
TRACKING, redis-py >= 5.1: Redis(protocol=3, cache_config=CacheConfig(max_size=N))); redis-py
refuses a server whose HELLO reports a version below 7.4.0. With
ungated=True that check is lowered to 6.0 (the first Redis with
tracking) for this client's one connection: a diagnostic row of
redis-py's cache against an older Redis, not what a user can run as is.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from .base import Adapter, Spec, Unsupported


def spec(addr: Any, transport: str, server: str = "redis", pipeline: bool = False, cache: int = 0,
         ungated: bool = False) -> Spec:
    label = "redis-py" + (" pipeline" if pipeline else "") + (" cache" if cache else "")
    label += " (7.4 check off)" if ungated else ""
    label += "" if server == "redis" else f" -> {server}"
    return Spec("redis_py", label, transport, {"addr": addr, "pipeline": pipeline, "cache": cache, "ungated": ungated})


class RedisAdapter(Adapter):
    def __init__(self, addr: Any, pipeline: bool, cache: int = 0, ungated: bool = False):
        import redis

        options: Dict[str, Any] = {"socket_timeout": 60}
        if cache:
            if isinstance(addr, str):
                raise Unsupported("redis-py's client-side cache works over TCP only (its CacheProxyConnection needs "
                                  "a port; Redis(unix_socket_path=..., cache_config=...) runs without the cache)")
            from redis.cache import CacheConfig

            options.update(protocol=3, cache_config=CacheConfig(max_size=cache))
        if isinstance(addr, str):
            self.r = r = redis.Redis(unix_socket_path=addr, **options)
        else:
            self.r = r = redis.Redis(host=addr[0], port=addr[1], **options)
        if ungated:
            from redis.connection import CacheProxyConnection

            gate = CacheProxyConnection.MIN_ALLOWED_VERSION
            CacheProxyConnection.MIN_ALLOWED_VERSION = "6.0.0"
            try:
                r.ping()  # makes this client's one connection
            finally:
                CacheProxyConnection.MIN_ALLOWED_VERSION = gate
            for conn in r.connection_pool._available_connections:  # it checks again before every command
                conn.MIN_ALLOWED_VERSION = "6.0.0"
        r.ping()
        if cache and r.get_cache() is None:
            raise Unsupported("redis-py made no client-side cache")
        self.notes = {}
        self.set = r.set
        self.get = r.get
        self.pop = r.getdel
        if pipeline:
            self.mget, self.mset = self._mget_pipeline, self._mset_pipeline
            self.notes = {"mget": "pipeline of GETs", "mset": "pipeline of SETs"}
        else:
            self.mget = r.mget
            self.mset = r.mset
        self.push = r.lpush

    def _mget_pipeline(self, keys: List[str]) -> List[Optional[bytes]]:
        p = self.r.pipeline(transaction=False)
        for k in keys:
            p.get(k)
        return p.execute()

    def _mset_pipeline(self, mapping: Mapping[str, bytes]) -> Any:
        p = self.r.pipeline(transaction=False)
        for k, v in mapping.items():
            p.set(k, v)
        return p.execute()

    def keys(self, pattern: str) -> List[str]:
        return [k.decode() for k in self.r.keys(pattern)]

    def bpop(self, key: str, timeout: float) -> Optional[bytes]:
        got = self.r.brpop(key, timeout=timeout)
        return None if got is None else got[1]

    def flush(self) -> None:
        self.r.flushall()

    def close(self) -> None:
        self.r.close()


def connect(s: Spec) -> Adapter:
    return RedisAdapter(s.params["addr"], s.params["pipeline"], s.params.get("cache", 0), s.params.get("ungated", False))

