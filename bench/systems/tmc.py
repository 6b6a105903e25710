"""tiny-mp-cache through its Python API, TinyCache: the Go client path or the
pure-Python fallback (TinyCache(..., _pure=True), as TINY_MP_CACHE_PURE=1).

mget/mset/push/bpop/execute_command/pipeline are TinyCache's own methods
when it has them. With an older TinyCache that lacks them, the adapter sends
the commands through the client's generic command path (tmc_command in the
Go library, or the pure client's _call) and says so in its notes.
With pipeline=True, mget/mset are a TinyCache pipeline of single GETs/SETs,
the like-for-like peer of a redis-py pipeline. With near_cache=N the
TinyCache keeps up to N values in the process (TinyCache(addr,
near_cache=N)); the adapter refuses to run if the near cache is off
(its near_cache_stats() says why), so no row measures the wrong thing.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

from .base import Adapter, Spec, Unsupported


def spec(addr: str, transport: str, pure: bool, server: str = "", pipeline: bool = False, near_cache: int = 0) -> Spec:
    label = "tiny-mp-cache " + ("pure" if pure else "go") + (" pipeline" if pipeline else "")
    label += " near cache" if near_cache else ""
    label += f" -> {server}" if server else ""
    return Spec("tmc", label, transport, {"addr": addr, "pure": pure, "pipeline": pipeline, "near_cache": near_cache})


class TmcAdapter(Adapter):
    def __init__(self, addr: str, pure: bool, pipeline: bool = False, near_cache: int = 0):
        from tiny_mp_cache import TinyCache

        if near_cache:
            self.cache = c = TinyCache(addr, timeout=60.0, _pure=pure, near_cache=near_cache)
            stats = c.near_cache_stats()
            if stats.get("mode") != "shared-memory":
                c.close()
                raise Unsupported(f"the near cache is {stats.get('mode')}: {stats.get('reason')}")
        else:
            self.cache = c = TinyCache(addr, timeout=60.0, _pure=pure)
        self.near = bool(near_cache)
        self.notes = {}
        kind = _backend_kind(c)
        if kind != ("pure" if pure else "go"):
            raise RuntimeError(f"asked for the {'pure' if pure else 'go'} client, got {kind}: {c!r}")
        self.set = c.set
        self.get = c.get
        self.pop = c.pop
        if pipeline:
            if not hasattr(c, "pipeline"):
                raise Unsupported("TinyCache has no pipeline()")
            self.mget, self.mset = self._mget_pipeline, self._mset_pipeline
            self.notes.update(mget="pipeline of GETs", mset="pipeline of SETs")
        else:
            for op in ("mget", "mset"):
                if hasattr(c, op):
                    setattr(self, op, getattr(c, op))
                else:
                    self.notes[op] = f"{op.upper()} via the generic command path (no TinyCache.{op} yet)"
        if hasattr(c, "push") and hasattr(c, "bpop"):
            self._push, self._bpop = c.push, c.bpop
        else:
            self._push = self._bpop = None
            self.notes["lists"] = "LPUSH/BRPOP via the generic command path (no TinyCache.push/bpop yet)"
        self._raw = _raw_caller(c)

    def _mget_pipeline(self, keys: List[str]) -> List[Optional[bytes]]:
        p = self.cache.pipeline()
        for k in keys:
            p.get(k)
        return p.execute()

    def _mset_pipeline(self, mapping: Mapping[str, bytes]) -> Any:
        p = self.cache.pipeline()
        for k, v in mapping.items():
            p.set(k, v)
        return p.execute()

    def mget(self, keys: List[str]) -> List[Optional[bytes]]:
        return self._raw([b"MGET", *(k.encode() for k in keys)])

    def mset(self, mapping: Mapping[str, bytes]) -> Any:
        args = [b"MSET"]
        for k, v in mapping.items():
            args.append(k.encode())
            args.append(v)
        return self._raw(args)

    def keys(self, pattern: str) -> List[str]:
        return self.cache.keys(pattern)

    def push(self, key: str, value: bytes) -> Any:
        if self._push is not None:
            return self._push(key, value)
        return self._raw([b"LPUSH", key.encode(), value])

    def bpop(self, key: str, timeout: float) -> Optional[bytes]:
        if self._bpop is not None:
            got = self._bpop(key, timeout)
        else:
            got = self._raw([b"BRPOP", key.encode(), b"%g" % timeout], wait=timeout)
        if isinstance(got, (list, tuple)):  # [key, value]
            return got[1]
        return got

    def flush(self) -> None:
        self._raw([b"FLUSHALL"])

    def close(self) -> None:
        self.cache.close()


def _backend_kind(cache: Any) -> str:
    """Which client TinyCache uses: "go" (the cffi binding) or "pure" (the Python RESP client)."""
    backend = cache._client()
    return "go" if type(backend).__module__.endswith("_bindings") else "pure"


def _raw_caller(cache: Any):
    """A function that sends one command through cache's own client and returns the parsed reply."""
    from tiny_mp_cache import ServerError

    def raw(args: List[bytes], wait: float = 0.0) -> Any:
        if not wait and hasattr(cache, "execute_command"):
            return cache.execute_command(*args)
        backend = cache._client()
        if not type(backend).__module__.endswith("_bindings"):  # the pure-Python client
            from tiny_mp_cache._commands import RAW, finish

            return finish(RAW, args, backend.run(RAW, args))
        reply = _go_command(backend, args, wait)
        value, _ = _parse(reply, 0)
        if isinstance(value, _Err):
            raise ServerError(value.msg)
        return value

    return raw


def _go_command(backend: Any, args: List[bytes], wait: float) -> bytes:
    """tmc_command (tmc_command_wait for a blocking command, where the library has it)."""
    from tiny_mp_cache import _bindings

    ffi, lib = _bindings.ffi, backend._lib
    if not hasattr(lib, "tmc_command"):
        raise Unsupported("the Go library has no tmc_command")
    bufs = [ffi.from_buffer(a) for a in args]
    argv = ffi.new("const char *[]", bufs)
    arglen = ffi.new("size_t[]", [len(a) for a in args])
    out = ffi.new("char **")
    out_len = ffi.new("size_t *")
    err = ffi.new("char[]", _bindings.ERR_CAP)
    if wait and hasattr(lib, "tmc_command_wait"):
        status = lib.tmc_command_wait(backend._h(), wait, len(args), argv, arglen, out, out_len, err, _bindings.ERR_CAP)
    else:
        status = lib.tmc_command(backend._h(), len(args), argv, arglen, out, out_len, err, _bindings.ERR_CAP)
    if status != 0:
        raise _bindings.error(status, err)
    try:
        return ffi.unpack(out[0], out_len[0])
    finally:
        lib.tmc_free(out[0])


class _Err:
    def __init__(self, msg: str):
        self.msg = msg


def _parse(buf: bytes, pos: int) -> Tuple[Any, int]:
    """Parse one RESP2 reply from buf at pos: (value, next position)."""
    end = buf.index(b"\r\n", pos)
    kind, line = buf[pos:pos + 1], buf[pos + 1:end]
    pos = end + 2
    if kind == b"+":
        return line.decode(), pos
    if kind == b"-":
        return _Err(line.decode("utf-8", "replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, pos
        return buf[pos:pos + n], pos + n + 2
    if kind == b"*":
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    raise ValueError(f"bad RESP reply {buf[:32]!r}")


def connect(s: Spec) -> Adapter:
    return TmcAdapter(s.params["addr"], s.params["pure"], s.params.get("pipeline", False),
                      s.params.get("near_cache", 0))
