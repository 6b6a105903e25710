"""The near cache's consistency checker (issue 13): histories, the check, and the workload that makes them.

The guarantee under test: a read that starts after a write to its key was
acknowledged to any process returns that write or a later one.

Histories. Every key has one writer, which records, per write, the time it
was acknowledged (time.monotonic_ns() right after the call returned: on
Linux CLOCK_MONOTONIC is one clock for every process) and the key's state
after it: bytes, None (deleted, popped, expired, flushed, evicted) or LIST
(the key holds a list). Each writer puts a sequence number in its values,
so states are distinct. Events that no writer acknowledges get a time too:
a TTL's end (the ack of the write that set it + the TTL +
EXPIRY_MARGIN_NS), a flush (the FLUSHALL's or FLUSHDB's ack, writers paused), a server
restart (SIGKILL, writers paused; the event is when the new server at the
same path answers: a killed server can tell no one, so until then its
clients may serve what they hold) and an eviction (the reply of a plain
read, no near cache, that found the key gone). Readers record, per read,
the time it started, the API (get or mget) and what it returned.

The check. For a read R of key k starting at t, let i0 be the last event of
k with time < t. R must return the state of event i0 or of a later event;
before any event, the initial state None counts as event -1. A read that
overlaps a write may return either side of it. Only this ordering is
asserted; no read is required to be fast.

The workload: run(Spec), in a fresh interpreter (python -c ... main(SPEC),
see the test module), starts one server on a unix socket and child
processes under a multiprocessing start method. Scenario "mixed": writers
with plain clients, readers with TinyCache(addr, near_cache=N) or
AsyncTinyCache(addr, near_cache=N) (or, under
fork with Spec.inherit, readers that use a near cache the parent made and
filled before it forked them); the parent pauses the writers to FLUSHALL,
to FLUSHDB, and to SIGKILL and restart the server at the same path. Scenario
"eviction": keys a reader holds are evicted under max_memory by another
process's fills. The parent reaps every child, then checks all histories
and prints one RESULT line.
"""

from __future__ import annotations

import bisect
import json
import multiprocessing
import os
import pickle
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

LIST = "LIST"  # the state of a key holding a list: get raises WRONGTYPE, mget answers None
EXPIRY_MARGIN_NS = 2_000_000  # a TTL's end: the server's deadline is <= the ack + TTL; 2 ms for its wall clock

State = Any  # bytes | None | LIST
Event = Tuple[int, State]  # (time ns, state after it)
Read = Tuple[str, int, str, Any]  # (key, start ns, "get" | "mget", what it returned)


# --- the check ----------------------------------------------------------------


def seen_as(state: State, api: str) -> State:
    """What a read through api returns for a key in state."""
    return None if state == LIST and api == "mget" else state


@dataclass
class Violation:
    key: str
    started_ns: int
    api: str
    got: Any
    latest: Any  # the state after the last write acknowledged before the read started
    latest_ns: int

    def __str__(self) -> str:
        return (f"{self.api} {self.key!r} started at {self.started_ns} returned {self.got!r}, older than "
                f"{self.latest!r} acknowledged at {self.latest_ns} ({self.started_ns - self.latest_ns} ns before)")


class History:
    """The events of one key, in time order, and where each state was last seen."""

    def __init__(self, events: Iterable[Event]):
        self.events = sorted(events, key=lambda e: e[0])
        self.times = [t for t, _ in self.events]
        self.last: Dict[str, Dict[Any, int]] = {}
        for api in ("get", "mget"):
            last: Dict[Any, int] = {None: -1}  # the initial state
            for i, (_, state) in enumerate(self.events):
                last[seen_as(state, api)] = i
            self.last[api] = last

    def stale(self, started_ns: int, api: str, got: Any) -> Optional[Violation]:
        """A Violation if a read of this key that started at started_ns returned an older state than it may."""
        i0 = bisect.bisect_left(self.times, started_ns) - 1  # the last event strictly before the start
        if self.last[api].get(got, -2) >= i0:
            return None
        t, state = self.events[i0] if i0 >= 0 else (0, None)  # a value no write ever stored
        return Violation("", started_ns, api, got, seen_as(state, api), t)


def check(events: Dict[str, List[Event]], reads: Iterable[Read]) -> List[Violation]:
    """Every read that returned a state older than one acknowledged before it started."""
    histories = {key: History(evs) for key, evs in events.items()}
    empty = History([])
    out = []
    for key, started, api, got in reads:
        v = histories.get(key, empty).stale(started, api, got)
        if v is not None:
            v.key = key
            out.append(v)
    return out


# --- the workload's configuration -------------------------------------------------


@dataclass
class Spec:
    method: str  # multiprocessing start method: fork | spawn | forkserver
    scenario: str = "mixed"  # mixed (every write kind, a flush, a restart) | eviction
    near_cache: int = 64  # readers' TinyCache(near_cache=...); 0: no near cache (the harness alone)
    break_validity: bool = False  # the self-test: readers serve entries whatever the server changed
    inherit: bool = False  # fork only: the readers use a near cache the parent made and filled (with Go loaded)
    writers: int = 2
    readers: int = 2
    async_readers: int = 0  # how many of the readers use AsyncTinyCache(addr, near_cache=N)
    seconds: float = 2.4  # the mixed scenario's length; flushes at 1/4 and 1/2 of it, the restart at 3/4
    seed: int = 13
    timeout: float = 40.0  # the bound on the whole run


STR_KEYS, COUNTER_KEYS, LIST_KEYS = 5, 2, 2  # per writer
TTL_S = 0.03  # short TTLs: set(ttl=...) and expire()
PERSIST_TTL_S = 0.2  # expire() then persist() at once: the key keeps its value past the TTL
AFTER_LAST_EVENT_S = 0.5  # the mixed run lasts at least this long after its restart
READS_PER_NAP = 40  # readers sleep 1 ms after this many reads: bounded histories, CPU left for the writers


def writer_keys(wid: int) -> Dict[str, str]:
    """The keys writer wid owns: name -> kind (str, counter or list)."""
    keys = {f"w{wid}:s{i}": "str" for i in range(STR_KEYS)}
    keys.update({f"w{wid}:c{i}": "counter" for i in range(COUNTER_KEYS)})
    keys.update({f"w{wid}:l{i}": "list" for i in range(LIST_KEYS)})
    return keys


def all_keys(spec: Spec) -> List[str]:
    return [k for w in range(spec.writers) for k in writer_keys(w)]


def open_reader(addr: str, spec: Spec) -> Any:
    from tiny_mp_cache import TinyCache

    if spec.near_cache:
        return TinyCache(addr, timeout=5.0, near_cache=spec.near_cache)
    return TinyCache(addr, timeout=5.0)


INHERITED: Optional[Any] = None  # under Spec.inherit, the parent's TinyCache, which forked readers use


def break_validity() -> None:
    """Make every near-cache entry look valid forever, in this process: the checker must then catch stale reads."""
    from tiny_mp_cache import _near

    _near.VALIDATE = False  # the near cache's seam: caches made after this serve what they hold, unchecked


# --- shared control block -------------------------------------------------------

# ctl (a shared array of int64): [0] gate: odd = writers park; [1] start ns; [2] end ns;
# [3] eviction phase; then one slot per child: READY, then for writers the (odd, > 0) gate they parked at.
GATE, START, END, PHASE, CHILD = 0, 1, 2, 3, 4
READY = -1


def _wait_start(ctl: Any, slot: int, limit_ns: int) -> None:
    ctl[CHILD + slot] = READY
    while ctl[START] == 0:
        if time.monotonic_ns() > limit_ns:
            raise TimeoutError("the parent never gave the start time")
        time.sleep(0.001)
    time.sleep(max(0.0, (ctl[START] - time.monotonic_ns()) / 1e9))


def _child(fn: Any, spec: Spec, ctl: Any, slot: int, addr: str, out: str) -> None:
    """A child's body: run fn, then write (its history, its stats, an error) to out; never raise."""
    result: Dict[str, Any] = {"error": None}
    try:
        limit_ns = time.monotonic_ns() + int(spec.timeout * 1e9)
        if spec.break_validity and fn in (_read, _read_async, _evict_read):
            break_validity()
        result.update(fn(spec, ctl, slot, addr, limit_ns))
    except BaseException:
        result["error"] = traceback.format_exc()
    with open(out, "wb") as f:
        pickle.dump(result, f)


# --- writers ------------------------------------------------------------------------


class Writer:
    """One writer's keys, its model of their states, and its history."""

    def __init__(self, cache: Any, wid: int, seed: int):
        self.cache = cache
        self.wid = wid
        self.rng = random.Random(seed * 1000 + wid)
        self.kinds = writer_keys(wid)
        self.state: Dict[str, State] = {k: None for k in self.kinds}
        self.list_len: Dict[str, int] = {k: 0 for k in self.kinds}
        self.busy_until: Dict[str, int] = {k: 0 for k in self.kinds}  # a TTL runs: no write before its end
        self.events: Dict[str, List[Event]] = {k: [] for k in self.kinds}
        self.kinds_done: Dict[str, int] = {}
        self.seq = 0

    def record(self, key: str, state: State, kind: str, at: Optional[int] = None) -> None:
        self.state[key] = state
        self.events[key].append((time.monotonic_ns() if at is None else at, state))
        self.kinds_done[kind] = self.kinds_done.get(kind, 0) + 1

    def value(self, key: str) -> bytes:
        self.seq += 1
        return f"{key}={self.seq}".encode() + b"." * 40

    def set(self, key: str) -> None:
        v = self.value(key)
        self.cache.set(key, v)
        self.record(key, v, "set")

    def wiped(self) -> None:
        """After a flush or a restart (the parent records those events): every key is gone."""
        for k in self.kinds:
            self.state[k] = None
            self.list_len[k] = 0

    def step(self) -> None:
        now = time.monotonic_ns()
        free = [k for k in self.kinds if self.busy_until[k] <= now]
        if not free:
            time.sleep(0.001)
            return
        key = self.rng.choice(free)
        getattr(self, "_" + self.kinds[key])(key)

    def _ttl_ends(self, key: str, acked: int, ttl_s: float) -> None:
        """The key expires: an event at the ack + TTL (+ margin), and no write to it before then."""
        end = acked + int(ttl_s * 1e9) + EXPIRY_MARGIN_NS
        self.events[key].append((end, None))
        self.busy_until[key] = end
        self.state[key] = None
        self.list_len[key] = 0

    def _str(self, key: str) -> None:
        c, op = self.cache, self.rng.choice(["set", "set", "delete", "pop", "set_ttl", "expire", "expire_persist"])
        if op == "set":
            self.set(key)
        elif op == "delete":
            c.delete(key)
            self.record(key, None, "delete")
        elif op == "pop":
            c.pop(key)
            self.record(key, None, "pop")
        elif op == "set_ttl":
            v = self.value(key)
            c.set(key, v, ttl=TTL_S)
            self.record(key, v, "set_ttl")
            self._ttl_ends(key, self.events[key][-1][0], TTL_S)
        elif op == "expire":
            if self.state[key] is None:
                self.set(key)
            had = self.state[key]
            assert c.expire(key, TTL_S), f"expire {key}: no such key"
            self.record(key, had, "expire")
            self._ttl_ends(key, self.events[key][-1][0], TTL_S)
        else:  # expire_persist: a TTL, then persist at once: the key keeps its value (unless it expired first)
            if self.state[key] is None:
                self.set(key)
            had = self.state[key]
            assert c.expire(key, PERSIST_TTL_S), f"expire {key}: no such key"
            self.record(key, had, "expire")
            acked = self.events[key][-1][0]
            if c.persist(key):
                self.record(key, had, "persist")
            else:  # it expired before persist arrived
                self.record(key, None, "persist")
                self._ttl_ends(key, acked, PERSIST_TTL_S)

    def _counter(self, key: str) -> None:
        c = self.cache
        if self.state[key] is None or self.rng.random() < 0.1:  # a fresh base keeps every state distinct
            self.seq += 1
            base = b"%d" % (self.seq * 1_000_000)
            c.set(key, base)
            self.record(key, base, "set")
        elif self.rng.random() < 0.1:
            c.delete(key)
            self.record(key, None, "delete")
        else:
            n = c.incr(key)
            self.record(key, b"%d" % n, "incr")

    def _list(self, key: str) -> None:
        c, state = self.cache, self.state[key]
        if isinstance(state, bytes):
            op = self.rng.choice(["set", "delete"])
        elif state == LIST:
            op = self.rng.choice(["lpush", "rpush", "rpop", "rpop", "delete", "set"])
        else:
            op = self.rng.choice(["lpush", "rpush", "set"])
        if op == "set":
            self.set(key)
        elif op == "delete":
            c.delete(key)
            self.list_len[key] = 0
            self.record(key, None, "delete")
        elif op in ("lpush", "rpush"):
            self.list_len[key] = c.push(key, self.value(key), left=op == "lpush")
            self.record(key, LIST, op)
        else:
            got = c.execute_command("RPOP", key)
            assert got is not None, f"rpop {key}: the list was empty"
            self.list_len[key] -= 1
            self.record(key, LIST if self.list_len[key] else None, "rpop")


def _ping(cache: Any, limit_ns: int) -> None:
    """Until the server answers (after a restart the first call finds the old connection dead)."""
    from tiny_mp_cache import ConnectionError

    while True:
        try:
            cache.execute_command("PING")
            return
        except ConnectionError:
            if time.monotonic_ns() > limit_ns:
                raise
            time.sleep(0.005)


def _write(spec: Spec, ctl: Any, slot: int, addr: str, limit_ns: int) -> Dict[str, Any]:
    from tiny_mp_cache import TinyCache

    cache = TinyCache(addr, timeout=5.0)  # a plain client: no near cache
    w = Writer(cache, slot, spec.seed)
    _wait_start(ctl, slot, limit_ns)
    while time.monotonic_ns() < ctl[END]:
        gate = ctl[GATE]
        if gate % 2:  # the parent flushes or restarts the server: park until it is done
            ctl[CHILD + slot] = gate
            while ctl[GATE] == gate:
                if time.monotonic_ns() > limit_ns:
                    raise TimeoutError("parked for too long")
                time.sleep(0.001)
            w.wiped()
            _ping(cache, limit_ns)
            continue
        w.step()
    cache.close()
    return {"events": w.events, "kinds": w.kinds_done}


# --- readers ------------------------------------------------------------------------


def _read(spec: Spec, ctl: Any, slot: int, addr: str, limit_ns: int) -> Dict[str, Any]:
    from tiny_mp_cache import ConnectionError, ServerError

    cache = INHERITED if INHERITED is not None else open_reader(addr, spec)
    keys = all_keys(spec)
    rng = random.Random(spec.seed * 1000 + 500 + slot)
    reads: List[Read] = []
    failed = 0  # reads that raised ConnectionError (while the server restarts)
    _wait_start(ctl, slot, limit_ns)
    now = time.monotonic_ns
    while now() < ctl[END]:
        for _ in range(READS_PER_NAP):
            if rng.random() < 0.8:
                key = rng.choice(keys)
                t = now()
                try:
                    got = cache.get(key)
                except ServerError as e:
                    if "WRONGTYPE" not in str(e):
                        raise
                    got = LIST
                except ConnectionError:
                    failed += 1
                    continue
                reads.append((key, t, "get", got))
            else:
                some = rng.sample(keys, 3)
                t = now()
                try:
                    got = cache.mget(some)
                except ConnectionError:
                    failed += 1
                    continue
                reads += [(k, t, "mget", v) for k, v in zip(some, got)]
        time.sleep(0.001)
    stats = cache.near_cache_stats() if spec.near_cache else None
    client = "go" if type(cache._client()).__module__.endswith("_bindings") else "pure"
    cache.close()
    return {"reads": reads, "failed": failed, "stats": stats, "client": client}


def _read_async(spec: Spec, ctl: Any, slot: int, addr: str, limit_ns: int) -> Dict[str, Any]:
    """_read with AsyncTinyCache(addr, near_cache=N)."""
    import asyncio

    from tiny_mp_cache import AsyncTinyCache, ConnectionError, ServerError

    async def body() -> Dict[str, Any]:
        cache = AsyncTinyCache(addr, timeout=5.0, near_cache=spec.near_cache or None)
        keys = all_keys(spec)
        rng = random.Random(spec.seed * 1000 + 500 + slot)
        reads: List[Read] = []
        failed = 0
        _wait_start(ctl, slot, limit_ns)
        now = time.monotonic_ns
        while now() < ctl[END]:
            for _ in range(READS_PER_NAP):
                some = [rng.choice(keys)] if rng.random() < 0.8 else rng.sample(keys, 3)
                t = now()
                try:
                    if len(some) == 1:
                        try:
                            got = [await cache.get(some[0])]
                        except ServerError as e:
                            if "WRONGTYPE" not in str(e):
                                raise
                            got = [LIST]
                    else:
                        got = await cache.mget(some)
                except ConnectionError:
                    failed += 1
                    continue
                api = "get" if len(some) == 1 else "mget"
                reads += [(k, t, api, v) for k, v in zip(some, got)]
            await asyncio.sleep(0.001)
        stats = cache.near_cache_stats() if spec.near_cache else None
        await cache.close()
        return {"reads": reads, "failed": failed, "stats": stats, "client": "async"}

    return asyncio.run(body())


# --- eviction -----------------------------------------------------------------------

VICTIMS = 10
EVICTION_BOUND = "1MB"
FILL_BATCH, FILL_VALUE, FILL_BATCHES = 100, 1000, 300


def victims() -> List[str]:
    return [f"victim:{i}" for i in range(VICTIMS)]


def _evict_write(spec: Spec, ctl: Any, slot: int, addr: str, limit_ns: int) -> Dict[str, Any]:
    """Set the victims; once the reader holds them, fill until a plain read finds each one gone."""
    from tiny_mp_cache import TinyCache

    cache = TinyCache(addr, timeout=5.0)
    events: Dict[str, List[Event]] = {k: [] for k in victims()}
    _wait_start(ctl, slot, limit_ns)
    for k in victims():
        v = k.encode() + b"=1" + b"." * 100
        cache.set(k, v)
        events[k].append((time.monotonic_ns(), v))
    ctl[PHASE] = 1  # the victims are set
    while ctl[PHASE] != 2:  # the reader has read each one twice
        if time.monotonic_ns() > limit_ns:
            raise TimeoutError("the reader never read the victims")
        time.sleep(0.001)
    left = set(victims())
    filler = b"f" * FILL_VALUE
    batches = 0
    while left and batches < FILL_BATCHES:
        fills = [f"fill:{batches}:{i}" for i in range(FILL_BATCH)]
        cache.mset(dict.fromkeys(fills, filler))
        # Read the fills too: SIEVE's hand then clears their marks and wraps around to the
        # oldest entries, the victims; fills never read would be evicted in their place forever.
        cache.mget(fills)
        batches += 1
        for k in sorted(left):
            # The eviction confirmed by a plain read (EXISTS: unlike GET it does not mark the key
            # visited, which would spare it from SIEVE): an event at its reply.
            if not cache.exists(k):
                events[k].append((time.monotonic_ns(), None))
                left.discard(k)
    ctl[PHASE] = 3
    cache.close()
    return {"events": events, "not_evicted": sorted(left), "fill_batches": batches}


def _evict_read(spec: Spec, ctl: Any, slot: int, addr: str, limit_ns: int) -> Dict[str, Any]:
    """Read the victims twice (the second time from the near cache), wait for their eviction, read them again."""
    cache = open_reader(addr, spec)
    reads: List[Read] = []
    _wait_start(ctl, slot, limit_ns)

    def wait_phase(n: int) -> None:
        while ctl[PHASE] < n:
            if time.monotonic_ns() > limit_ns:
                raise TimeoutError(f"eviction phase {n} never came")
            time.sleep(0.001)

    def read_all(api: str) -> None:
        if api == "get":
            for k in victims():
                t = time.monotonic_ns()
                reads.append((k, t, api, cache.get(k)))
        else:
            t = time.monotonic_ns()
            reads.extend((k, t, api, v) for k, v in zip(victims(), cache.mget(victims())))

    wait_phase(1)
    for api in ("get", "get", "mget"):
        read_all(api)
    ctl[PHASE] = 2
    wait_phase(3)
    for api in ("get", "mget", "get"):
        read_all(api)
    stats = cache.near_cache_stats() if spec.near_cache else None
    cache.close()
    return {"reads": reads, "failed": 0, "stats": stats}


# --- the parent ---------------------------------------------------------------------


class Server:
    """Our server on a unix socket, in a subprocess (fork+exec): start, SIGKILL, start again at the same path."""

    def __init__(self, path: str, *extra: str):
        from tiny_mp_cache._server import server_argv

        self.path = path
        self.argv = server_argv("--unix", path, *extra)
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start: {self.argv}")
            time.sleep(0.01)

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(self.path)
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(16) == b"+PONG\r\n"
        except OSError:
            return False

    def command(self, *args: bytes) -> bytes:
        """One command on a connection of its own; the raw reply."""
        req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.path)
            s.sendall(req)
            return s.recv(256)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _pause(ctl: Any, writers: List[int], procs: List[Any], limit: float) -> int:
    """Park every writer; return the gate to reopen."""
    gate = ctl[GATE] + 1
    ctl[GATE] = gate
    deadline = time.monotonic() + limit
    while any(ctl[CHILD + w] != gate for w in writers):
        if time.monotonic() > deadline or any(procs[w].exitcode is not None for w in writers):
            raise RuntimeError(f"a writer did not park in {limit:g} s")
        time.sleep(0.001)
    return gate


def _interrupt(ctl: Any, server: Server, writers: List[int], procs: List[Any], start: int, seconds: float,
               events: List[Tuple[str, int]]) -> None:
    """With the writers parked: FLUSHALL at 1/4 of the run, FLUSHDB at 1/2, SIGKILL and restart the server at 3/4."""
    for what, at in (("flushall", 1 / 4), ("flushdb", 1 / 2), ("restart", 3 / 4)):
        time.sleep(max(0.0, (start + at * seconds * 1e9 - time.monotonic_ns()) / 1e9))
        gate = _pause(ctl, writers, procs, 10)
        if what != "restart":
            reply = server.command(what.upper().encode())
            if reply != b"+OK\r\n":
                raise RuntimeError(f"{what.upper()} answered {reply!r}")
            events.append((what, time.monotonic_ns()))
        else:
            # A SIGKILLed server cannot tell anyone; the new one, once it answers, has fenced the old
            # table: from then on nothing from before may be served.
            server.stop(signal.SIGKILL)
            server.start()
            events.append((what, time.monotonic_ns()))
        ctl[GATE] = gate + 1


def run(spec: Spec) -> Dict[str, Any]:
    """Run one scenario, reap every child, check the histories: a JSON-able summary."""
    ctx = multiprocessing.get_context(spec.method)
    tmp = tempfile.mkdtemp(prefix="tmc-cc-", dir="/tmp")
    sock = os.path.join(tmp, "s.sock")
    server: Optional[Server] = None
    procs: List[Any] = []
    try:
        eviction = spec.scenario == "eviction"
        server = Server(sock, *(["--max-memory", EVICTION_BOUND] if eviction else []))
        readers = [_read] * (spec.readers - spec.async_readers) + [_read_async] * spec.async_readers
        roles = [(_evict_write, 0), (_evict_read, 1)] if eviction else (
            [(_write, w) for w in range(spec.writers)] + [(fn, spec.writers + r) for r, fn in enumerate(readers)])
        if spec.inherit:  # a near cache made, filled and so holding the Go library, before the fork
            global INHERITED
            INHERITED = open_reader(f"unix://{sock}", spec)
            INHERITED.mget(all_keys(spec))
            INHERITED.mget(all_keys(spec))
            assert INHERITED.near_cache_stats()["hits"] > 0 or not spec.near_cache, INHERITED.near_cache_stats()
        ctl = ctx.Array("q", CHILD + len(roles), lock=False)
        outs = [os.path.join(tmp, f"child{slot}.pickle") for _, slot in roles]
        procs = [ctx.Process(target=_child, args=(fn, spec, ctl, slot, f"unix://{sock}", out), daemon=True)
                 for (fn, slot), out in zip(roles, outs)]
        for p in procs:
            p.start()
        deadline = time.monotonic() + spec.timeout
        while not all(ctl[CHILD + slot] for _, slot in roles):
            if time.monotonic() > deadline or any(p.exitcode is not None for p in procs):
                raise RuntimeError("a child did not get ready")
            time.sleep(0.005)
        start = time.monotonic_ns() + 50_000_000
        ctl[END] = start + int(spec.timeout * 1e9)  # the mixed run: the parent sets the real end below
        ctl[START] = start
        events: List[Tuple[str, int]] = []  # (what, time ns): a flush or a restart, which leave every key None
        problems: List[str] = []
        if not eviction:
            try:
                _interrupt(ctl, server, list(range(spec.writers)), procs, start, spec.seconds, events)
                # However long the restart took, the run goes on for a while after it: reads to check.
                ctl[END] = max(start + int(spec.seconds * 1e9), time.monotonic_ns() + int(AFTER_LAST_EVENT_S * 1e9))
            except Exception as e:  # stop everyone, and report it with what the children say
                problems.append(f"parent: {type(e).__name__}: {e}")
                ctl[END] = time.monotonic_ns()
                ctl[GATE] += ctl[GATE] % 2
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
        hung = [i for i, p in enumerate(procs) if p.exitcode is None]
        if hung:
            raise RuntimeError(f"children {hung} did not finish in {spec.timeout} s")
        out = _summarize(spec, [_load(o) for o in outs], [p.exitcode for p in procs], events)
        out["errors"] = problems + out["errors"]
        return out
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join(timeout=5)
        if INHERITED is not None:
            INHERITED.close()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _load(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except OSError:
        return {"error": f"no result file {path}"}


def _summarize(spec: Spec, results: List[Dict[str, Any]], exitcodes: List[Optional[int]],
               parent_events: List[Tuple[str, int]]) -> Dict[str, Any]:
    errors = [f"child {i} (exit {code}): {r['error']}" for i, (r, code) in enumerate(zip(results, exitcodes))
              if r.get("error") or code != 0]
    events: Dict[str, List[Event]] = {}
    kinds: Dict[str, int] = {}
    for r in results:
        for key, evs in r.get("events", {}).items():
            events.setdefault(key, []).extend(evs)
        for kind, n in r.get("kinds", {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
    for what, t in parent_events:
        kinds[what] = kinds.get(what, 0) + 1
        for key in events:
            events[key].append((t, None))
    reads = [read for r in results for read in r.get("reads", [])]
    violations = check(events, reads)
    if os.environ.get("TMC_CONSISTENCY_DUMP"):  # for a person investigating: every history, as a pickle
        with open(os.environ["TMC_CONSISTENCY_DUMP"], "wb") as f:
            pickle.dump({"events": events, "reads": reads, "parent_events": parent_events}, f)
    after = {what: sum(1 for _, t, _, _ in reads if t > at) for what, at in parent_events}
    if spec.scenario == "eviction":
        ends = {k: max(t for t, _ in evs) for k, evs in events.items()}
        after["eviction"] = sum(1 for k, t, _, _ in reads if t > ends.get(k, 1 << 62))
    return {
        "spec": asdict(spec),
        "errors": errors,
        "reads": len(reads),
        "failed_reads": sum(r.get("failed", 0) for r in results),
        "writes": kinds,
        "reads_after": after,
        "stats": [r.get("stats") for r in results if "reads" in r],
        "clients": [r.get("client") for r in results if "reads" in r],  # the readers' TinyCache: go or pure
        "not_evicted": [k for r in results for k in r.get("not_evicted", [])],
        "fill_batches": sum(r.get("fill_batches", 0) for r in results),
        "parent_events": parent_events,
        "violations": len(violations),
        "examples": [str(v) for v in violations[:5]],
    }


def main(argv: List[str]) -> int:
    spec = Spec(**json.loads(argv[0]))
    print("RESULT " + json.dumps(run(spec)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
