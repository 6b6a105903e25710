"""The Lab: the shared servers of one run, started on first use, and the specs
that name each system on each transport. A system whose server or client
package is missing is skipped, with the reason recorded.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from .pool import Pool
from .procs import Reaper
from .servers import Server, Servers
from .systems import Spec
from .systems import diskcache_ as diskcache_sys
from .systems import echo as echo_sys
from .systems import manager as manager_sys
from .systems import memcached as memcached_sys
from .systems import raw as raw_sys
from .systems import redis_py as redis_sys
from .systems import tmc as tmc_sys

# System keys, in table order.
TMC_GO = "tmc-go"
TMC_PURE = "tmc-pure"
TMC_PIPE = "tmc-go-pipeline"
TMC_NEAR = "tmc-go-near"
REDIS = "redis-py"
REDIS_PIPE = "redis-py-pipeline"
REDIS_TMC = "redis-py->tmc"
REDIS_CACHE = "redis-py-cache"
REDIS_CACHE_UNGATED = "redis-py-cache-ungated"  # diagnostic: redis-py's 7.4 check lowered, for an older Redis
REDIS_CACHE_TMC = "redis-py-cache->tmc"
TMC_REDIS = "tmc-go->redis"
MEMCACHED = "memcached"
MANAGER = "manager"
DISKCACHE = "diskcache"
ECHO = "echo"
RAW_TMC = "raw->tmc"
RAW_REDIS = "raw->redis"


class Lab:
    def __init__(self, servers: Servers, ctx: Any, reaper: Reaper, have: Dict[str, bool], pool_size: int = 8):
        self.servers = servers
        self.ctx = ctx
        self.reaper = reaper
        self.have = have  # pip package -> importable
        self.pin = True  # measure latency in two pinned placements (--no-pin: False, once, unpinned)
        self.pool_size = pool_size
        self.near_cache_size = 16384  # entries kept in the process: TinyCache(near_cache=...), CacheConfig(max_size=...)
        self.skipped: Dict[str, str] = {}  # system key -> why
        self._tmc: Dict[str, Server] = {}
        self._redis: Optional[Server] = None
        self._memcached: Dict[str, Server] = {}
        self._echo: Dict[str, Server] = {}
        self._manager: Optional[Tuple[Any, Any]] = None
        self._pool: Optional[Pool] = None
        self._failed: Dict[str, str] = {}  # server name -> start error

    # --- servers ---------------------------------------------------------------

    def _once(self, name: str, start):
        if name in self._failed:
            return None
        try:
            return start()
        except Exception as e:
            self._failed[name] = f"{type(e).__name__}: {e}"
            self.skipped[name] = self._failed[name]
            return None

    def tmc_server(self, transport: str) -> Optional[Server]:
        if transport not in self._tmc:
            srv = self._once(f"tiny-mp-cache server {transport}", lambda: self.servers.tmc(transport))
            if srv is None:
                return None
            self._tmc[transport] = srv
        return self._tmc[transport]

    def redis_server(self) -> Optional[Server]:
        if self._redis is None:
            self._redis = self._once("redis-server", self.servers.redis)
        return self._redis

    def memcached_server(self, transport: str) -> Optional[Server]:
        if transport not in self._memcached:
            srv = self._once(f"memcached {transport}", lambda: self.servers.memcached(transport))
            if srv is None:
                return None
            self._memcached[transport] = srv
        return self._memcached[transport]

    def echo_server(self, transport: str) -> Optional[Server]:
        if transport not in self._echo:
            srv = self._once(f"echo server {transport}", lambda: self.servers.echo(transport))
            if srv is None:
                return None
            self._echo[transport] = srv
        return self._echo[transport]

    def manager(self) -> Optional[Tuple[Any, Any]]:
        if self._manager is None:
            def start():
                m = self.servers.manager(self.ctx)
                return m.dict(), m.Queue()
            self._manager = self._once("Manager", start)
        return self._manager

    # --- specs -----------------------------------------------------------------

    def spec(self, key: str, transport: str = "tcp") -> Optional[Spec]:
        """The spec of system key on transport, or None (recorded in skipped) if unavailable."""
        why = self._why_not(key)
        if why:
            self.skipped.setdefault(key, why)
            return None
        if key in (TMC_GO, TMC_PURE, TMC_PIPE, TMC_NEAR):
            srv = self.tmc_server(transport)
            if srv is None:
                return None
            addr = f"127.0.0.1:{srv.tcp[1]}" if transport == "tcp" else f"unix://{srv.unix}"
            return tmc_sys.spec(addr, transport, pure=key == TMC_PURE, pipeline=key == TMC_PIPE,
                                near_cache=self.near_cache_size if key == TMC_NEAR else 0)
        if key in (REDIS, REDIS_PIPE, REDIS_CACHE, REDIS_CACHE_UNGATED):
            srv = self.redis_server()
            cached = key in (REDIS_CACHE, REDIS_CACHE_UNGATED)
            return None if srv is None else redis_sys.spec(srv.addr(transport), transport, pipeline=key == REDIS_PIPE,
                                                          cache=self.near_cache_size if cached else 0,
                                                          ungated=key == REDIS_CACHE_UNGATED)
        if key == TMC_REDIS:
            srv = self.redis_server()
            if srv is None:
                return None
            addr = f"127.0.0.1:{srv.tcp[1]}" if transport == "tcp" else f"unix://{srv.unix}"
            return tmc_sys.spec(addr, transport, pure=False, server="redis")
        if key in (REDIS_TMC, REDIS_CACHE_TMC):
            srv = self.tmc_server(transport)
            return None if srv is None else redis_sys.spec(srv.addr(transport), transport, server="tiny-mp-cache",
                                                          cache=self.near_cache_size if key == REDIS_CACHE_TMC else 0)
        if key == MEMCACHED:
            srv = self.memcached_server(transport)
            return None if srv is None else memcached_sys.spec(srv.addr(transport), transport)
        if key == MANAGER:
            m = self.manager()
            return None if m is None else manager_sys.spec(*m)
        if key == DISKCACHE:
            d = os.path.join(self.servers.tmpdir, "diskcache")
            os.makedirs(d, exist_ok=True)
            return diskcache_sys.spec(d)
        if key == ECHO:
            srv = self.echo_server(transport)
            return None if srv is None else echo_sys.spec(srv.addr(transport), transport)
        if key == RAW_TMC:
            srv = self.tmc_server(transport)
            return None if srv is None else raw_sys.spec(srv.addr(transport), transport, "tiny-mp-cache")
        if key == RAW_REDIS:
            srv = self.redis_server()
            return None if srv is None else raw_sys.spec(srv.addr(transport), transport, "Redis")
        raise ValueError(f"unknown system {key!r}")

    def specs(self, wanted: List[Tuple[str, str]]) -> List[Tuple[str, Spec]]:
        """(key, spec) for each available (key, transport) in wanted."""
        out = []
        for key, transport in wanted:
            s = self.spec(key, transport)
            if s is not None:
                out.append((key, s))
        return out

    def _why_not(self, key: str) -> str:
        need = {REDIS: "redis", REDIS_PIPE: "redis", REDIS_TMC: "redis", REDIS_CACHE: "redis", REDIS_CACHE_TMC: "redis",
                REDIS_CACHE_UNGATED: "redis",
                MEMCACHED: "pymemcache", DISKCACHE: "diskcache",
                TMC_GO: "cffi", TMC_PIPE: "cffi", TMC_REDIS: "cffi", TMC_NEAR: "cffi"}.get(key)
        if need and not self.have.get(need):
            return f"Python package {need} is not installed"
        if key in (REDIS, REDIS_PIPE, REDIS_CACHE, REDIS_CACHE_UNGATED, TMC_REDIS, RAW_REDIS) and \
                not self.servers.tools.get("redis-server"):
            return "redis-server is not installed"
        if key == MEMCACHED and not self.servers.tools.get("memcached"):
            return "memcached is not installed"
        return ""

    # --- client processes ------------------------------------------------------

    def pool(self) -> Pool:
        if self._pool is None:
            self._pool = Pool(self.ctx, self.pool_size, self.reaper)
        return self._pool

    def reset_pool(self) -> None:
        """Throw the pool away (after a worker failed or hung); the next pool() spawns a new one."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown()

    def flush_all(self) -> None:
        """Empty the shared servers that were started (between scenarios)."""
        from .systems import connect

        started = [(TMC_GO, t) for t in self._tmc] + [(MEMCACHED, t) for t in self._memcached]
        started += [(REDIS, "tcp")] if self._redis is not None else []
        started += [(MANAGER, "unix")] if self._manager is not None else []
        started += [(DISKCACHE, "local")]
        for key, transport in started:
            s = self.spec(key, transport)
            if s is None:
                continue
            try:
                a = connect(s)
                try:
                    a.flush()
                finally:
                    a.close()
            except Exception:
                pass
