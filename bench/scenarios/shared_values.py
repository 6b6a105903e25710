"""Values in shared memory: set and get of 1 to 256 MiB, and a data loader of numpy arrays.

Part 1, per size (median of rounds, ms): tiny-mp-cache over a unix socket
with its shared path (set, get to bytes, get_buffer's zero-copy view, and
set_array/get_array of a float64 array of that size), the same server
with shared_from=None (the bytes through the socket), redis-py over a unix
socket to Redis, the echo floor (the same bytes through a socket, nothing
stored), multiprocessing.shared_memory by hand (create and copy in; attach
and copy out; attach and view), UltraDict (a dict in shared memory: a
write pickles the value into a stream buffer, which another handle's read
unpickles from), and a numpy copy of the value (memory's speed: the
physical limit of anything that ends with the bytes in a new buffer).

Part 2, a data loader: 8 producer processes each make arrays of dl_size
bytes and hand them to one consumer (this process), which reads a word of
every page of each. As PyTorch's DataLoader (prefetch_factor, 2 by
default, batches per worker), at most dl_in_flight arrays are made and not
yet consumed (a semaphore: a producer takes it before making an array, the
consumer gives it back when done with one; 0 for no bound). Arrays per
second, for tiny-mp-cache (set_array and
push the key; bpop, get_array, delete), Redis (SET and RPUSH; BLPOP, GET,
DEL) and multiprocessing.shared_memory by hand (a segment per array, its
name through a Queue; the consumer attaches, reads and unlinks) and
UltraDict (one dict of every producer's arrays, the key through a Queue; the
consumer reads the array and deletes its key).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable, Dict, List

from .. import lab as L
from ..stats import median

NAME = "shared_values"
TITLE = "Big values through shared memory (set/get of 1-256 MiB; 8-producer data loader)"
MIB = 1 << 20
READY = "dl:ready"


def _ms(fn: Callable[[], Any], rounds: int, after: Callable[[Any], None] = lambda r: None, warmup: int = 0) -> float:
    """Median wall time of fn() in ms over rounds, after warmup untimed calls; after(result) runs untimed."""
    for _ in range(warmup):
        after(fn())
    took = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = fn()
        took.append((time.perf_counter() - t0) * 1e3)
        after(r)
        del r
    return median(took)


def _shm_set(value: bytes) -> Any:
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=len(value))
    shm.buf[:len(value)] = value
    return shm


def _free(shm: Any) -> None:
    shm.close()
    shm.unlink()


def _ultradict(size: int) -> Any:
    """A new UltraDict whose stream buffer holds two values of size (a bigger value forces a full dump)."""
    from UltraDict import UltraDict

    return UltraDict(buffer_size=2 * (size + MIB), shared_lock=True)


def _ultradict_rows(value: bytes, rounds: int, row: Dict[str, float]) -> None:
    """UltraDict's set, and a read by a second handle (as another process's) of the value just set."""
    from UltraDict import UltraDict

    writer = _ultradict(len(value))
    reader = UltraDict(name=writer.name, shared_lock=True)
    try:
        def write(_: Any = None) -> None:
            writer["sv"] = value

        row["ultradict_set"] = _ms(write, rounds)
        row["ultradict_get"] = _ms(lambda: reader["sv"], rounds, write)  # each read has a new write to apply
        assert reader["sv"] == value
    finally:
        reader.close()
        writer.unlink()


def _first_set(path: str, value: bytes, rounds: int) -> float:
    """Median ms of a connection's first set of a value of its size (in a new memfd of the client's: new memory)."""
    from tiny_mp_cache import TinyCache

    took = []
    for _ in range(rounds):
        with TinyCache(f"unix://{path}", 60) as cache:
            t0 = time.perf_counter()
            cache.set("sv:first", value)
            took.append((time.perf_counter() - t0) * 1e3)
            cache.delete("sv:first")
    return median(took)


def _sizes(lab: Any, profile: Any, results: Dict[str, Any], progress: Any) -> None:
    import numpy as np
    import redis
    from tiny_mp_cache import TinyCache

    from ..systems import connect

    srv = lab.tmc_server("unix")
    rsrv = lab.redis_server()
    echo_spec = lab.spec(L.ECHO, "unix")
    shared = TinyCache(f"unix://{srv.unix}", 60)
    plain = TinyCache(f"unix://{srv.unix}", 60, shared_from=None)
    r = redis.Redis(unix_socket_path=rsrv.unix, socket_timeout=60) if rsrv else None
    echo = connect(echo_spec) if echo_spec else None
    rounds = profile.sv_rounds
    try:
        for size in profile.sv_sizes:
            row: Dict[str, float] = {}
            value = os.urandom(MIB) * (size // MIB) if size >= MIB else os.urandom(size)
            arr = np.frombuffer(value, dtype=np.float64)
            row["memcpy"] = _ms(arr.copy, rounds)
            row["tmc_first_set"] = _first_set(srv.unix, value, rounds)
            # A connection's values of one size once it has a free slab of it: its first goes in its own memfd,
            # the second makes its staging memfd and a slab, the third another, freeing the first for the next.
            row["tmc_set"] = _ms(lambda: shared.set("sv", value), rounds, warmup=3)
            row["tmc_get"] = _ms(lambda: shared.get("sv"), rounds)
            row["tmc_view"] = _ms(lambda: shared.get_buffer("sv"), rounds)
            row["tmc_set_array"] = _ms(lambda: shared.set_array("sv", arr), rounds, warmup=3)
            row["tmc_get_array"] = _ms(lambda: shared.get_array("sv"), rounds)
            assert shared.get_array("sv").tobytes() == value
            shared.delete("sv")
            row["socket_set"] = _ms(lambda: plain.set("sv", value), rounds)
            row["socket_get"] = _ms(lambda: plain.get("sv"), rounds)
            plain.delete("sv")
            if r is not None:
                row["redis_set"] = _ms(lambda: r.set("sv", value), rounds)
                row["redis_get"] = _ms(lambda: r.get("sv"), rounds)
                r.delete("sv")
            if echo is not None:
                echo.prepare("set", "sv", value)
                row["echo_set"] = _ms(lambda: echo.set("sv", value), rounds)
                echo.prepare("get", "sv", value)
                row["echo_get"] = _ms(lambda: echo.get("sv"), rounds)
            from multiprocessing import shared_memory

            row["shm_set"] = _ms(lambda: _shm_set(value), rounds, _free)
            kept = _shm_set(value)
            try:
                def attach_copy() -> bytes:
                    s = shared_memory.SharedMemory(kept.name)
                    data = bytes(s.buf)
                    s.close()
                    return data

                def attach_view() -> Any:
                    return shared_memory.SharedMemory(kept.name)

                row["shm_get"] = _ms(attach_copy, rounds)
                row["shm_view"] = _ms(attach_view, rounds, lambda s: s.close())
            finally:
                _free(kept)
            if _has_ultradict():
                _ultradict_rows(value, rounds, row)
            results["sizes"][str(size)] = row
            progress.step(f"{size // MIB} MiB", f"get {row['tmc_get']:.1f} ms (copy {row['memcpy']:.1f} ms), "
                                                f"view {row['tmc_view']:.3f} ms, set {row['tmc_set']:.1f} ms")
    finally:
        shared.close()
        plain.close()
        if r is not None:
            r.close()
        if echo is not None:
            echo.close()


# --- the data loader ---------------------------------------------------------------


def _array(wid: int, size: int) -> Any:
    import numpy as np

    return np.full(size // 8, wid, dtype=np.float64)


def produce_tmc(addr: str, wid: int, count: int, size: int, start: Any, room: Any) -> None:
    from tiny_mp_cache import TinyCache

    cache = TinyCache(addr, 60)
    arr = _array(wid, size)
    start.wait(60)
    for i in range(count):
        _make_room(room)
        key = f"dl:{wid}:{i}"
        cache.set_array(key, arr)
        cache.push(READY, key.encode())
    cache.close()


def produce_redis(path: str, wid: int, count: int, size: int, start: Any, room: Any) -> None:
    import redis

    r = redis.Redis(unix_socket_path=path, socket_timeout=60)
    arr = _array(wid, size)
    start.wait(60)
    for i in range(count):
        _make_room(room)
        key = f"dl:{wid}:{i}"
        r.set(key, arr.data.cast("B"))  # flat bytes: redis-py counts a view's items
        r.rpush(READY, key)
    r.close()


def produce_shm(queue: Any, wid: int, count: int, size: int, start: Any, room: Any) -> None:
    from multiprocessing import resource_tracker, shared_memory

    import numpy as np

    arr = _array(wid, size)
    start.wait(60)
    for _ in range(count):
        _make_room(room)
        shm = shared_memory.SharedMemory(create=True, size=size)
        np.ndarray(arr.shape, arr.dtype, buffer=shm.buf)[:] = arr
        queue.put(shm.name)
        shm.close()
        # The consumer unlinks it: this process's resource tracker (not the consumer's, where
        # the lab uses spawn or forkserver) must forget it, or it unlinks it again at exit.
        resource_tracker.unregister(shm._name, "shared_memory")


def produce_ultradict(where: Any, wid: int, count: int, size: int, start: Any, room: Any) -> None:
    from UltraDict import UltraDict

    name, queue = where
    d = UltraDict(name=name, shared_lock=True)
    arr = _array(wid, size)
    start.wait(60)
    for i in range(count):
        _make_room(room)
        key = f"dl:{wid}:{i}"
        d[key] = arr
        queue.put(key)
    d.close()


def _make_room(room: Any) -> None:
    """Wait until fewer than the bound of arrays are in flight (the consumer gives room back)."""
    if not room.acquire(timeout=60):
        raise TimeoutError("the consumer took no array for 60 s")


def _touch(a: Any) -> float:
    return float(a.reshape(-1)[:: 4096 // a.itemsize].sum())  # a word of every page


def _loader(lab: Any, profile: Any, results: Dict[str, Any], progress: Any) -> None:
    import numpy as np
    import redis
    from tiny_mp_cache import TinyCache

    ctx, size = lab.ctx, profile.dl_size
    srv, rsrv = lab.tmc_server("unix"), lab.redis_server()

    def consume_tmc(total: int, room: Any) -> None:
        cache = TinyCache(f"unix://{srv.unix}", 60)
        for _ in range(total):
            _, key = cache.bpop(READY, timeout=60)
            _touch(cache.get_array(key.decode()))
            cache.delete(key.decode())
            room.release()
        cache.close()

    def consume_redis(total: int, room: Any) -> None:
        r = redis.Redis(unix_socket_path=rsrv.unix, socket_timeout=60)
        for _ in range(total):
            _, key = r.blpop([READY], timeout=60)
            _touch(np.frombuffer(r.get(key), dtype=np.float64))
            r.delete(key)
            room.release()
        r.close()

    queue = ctx.Queue()

    def consume_shm(total: int, room: Any) -> None:
        from multiprocessing import shared_memory

        for _ in range(total):
            shm = shared_memory.SharedMemory(queue.get(timeout=60))
            a = np.ndarray((size // 8,), np.float64, buffer=shm.buf)
            _touch(a)
            del a
            shm.close()
            shm.unlink()
            room.release()

    count = profile.dl_arrays
    systems: List[Any] = [("tiny-mp-cache", produce_tmc, f"unix://{srv.unix}", consume_tmc, count)]
    if rsrv is not None:
        systems.append(("redis-py->Redis", produce_redis, rsrv.unix, consume_redis, count))
    systems.append(("shared_memory by hand", produce_shm, queue, consume_shm, count))
    ud = _ultradict(4 * size) if _has_ultradict() else None
    if ud is not None:

        def consume_ultradict(total: int, room: Any) -> None:
            for _ in range(total):
                key = queue.get(timeout=60)
                _touch(ud[key])
                del ud[key]
                room.release()

        # About a hundred times slower than the others: one array per producer gives its rate.
        systems.append(("UltraDict", produce_ultradict, (ud.name, queue), consume_ultradict, 1))
    rates: Dict[str, List[float]] = {name: [] for name, *_ in systems}
    try:
        _rounds(lab, profile, systems, rates, progress)
    finally:
        if ud is not None:
            ud.unlink()
    results["loader"] = {"producers": profile.dl_producers, "arrays": profile.dl_producers * count, "size": size,
                         "in_flight": profile.dl_in_flight,
                         "systems": {name: median(rs) for name, rs in rates.items() if rs}}


def _rounds(lab: Any, profile: Any, systems: List[Any], rates: Dict[str, List[float]], progress: Any) -> None:
    """Each system's producers and consumer, in turn, a round at a time: arrays per second into rates."""
    ctx, producers, size = lab.ctx, profile.dl_producers, profile.dl_size
    for _ in range(profile.sv_rounds):
        for name, produce, where, consume, count in systems:
            total = producers * count
            start = ctx.Barrier(producers + 1)
            room = ctx.Semaphore(profile.dl_in_flight or total)
            procs = [ctx.Process(target=produce, args=(where, w, count, size, start, room), daemon=True)
                     for w in range(producers)]
            for p in procs:
                p.start()
                lab.reaper.process(p)
            try:
                start.wait(120)
                t0 = time.perf_counter()
                consume(total, room)
                rates[name].append(total / (time.perf_counter() - t0))
            finally:
                for p in procs:
                    p.join(60)
                    if p.is_alive():
                        p.kill()
                        p.join(10)
            progress.step(f"data loader {name}", f"{rates[name][-1]:.0f} arrays/s")


@functools.lru_cache(maxsize=None)
def _has_ultradict() -> bool:
    """Whether UltraDict imports. Its import turns off multiprocessing's resource tracking of
    every shared memory segment in the process (python/cpython#82300's workaround), which
    would change the shm-by-hand system here: that is undone."""
    from multiprocessing import resource_tracker

    register, unregister = resource_tracker.register, resource_tracker.unregister
    try:
        import UltraDict  # noqa: F401
        return True
    except ImportError:
        return False
    finally:
        resource_tracker.register, resource_tracker.unregister = register, unregister


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    results: Dict[str, Any] = {"sizes": {}, "errors": [], "rounds": profile.sv_rounds}
    try:
        import numpy  # noqa: F401
    except ImportError:
        results["errors"].append({"system": "all", "error": "numpy is not installed"})
        return results
    progress.scenario(TITLE, len(profile.sv_sizes) + (4 if _has_ultradict() else 3) * profile.sv_rounds)
    for part in (_sizes, _loader):
        try:
            part(lab, profile, results, progress)
        except Exception as e:
            results["errors"].append({"system": part.__name__.strip("_"), "error": f"{type(e).__name__}: {e}"})
    return results
