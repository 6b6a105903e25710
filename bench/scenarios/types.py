"""Latency of HSET, HGET, SADD, ZADD and PUBLISH -> receive from one client: our server against Redis.

The same client against both servers, so that the comparison is server
against server: redis-py to Redis and redis-py to our server; our own
client (TinyCache's hset, hget, sadd, zadd, publish and pubsub()) to our
server is a second row, a raw socket (systems/raw.py) to each server a
third. The floor is measured in the same run: for the commands the echo
(the exact request bytes to bench/echo_server.py, answered with the bytes
Redis sends), for pub/sub the relay (bench/pubsub_echo.py: the PUBLISH
bytes in, the message out to the subscriber and the reply to the
publisher, from one thread with blocking recv and sendall).

A command's time is that of one call. PUBLISH -> receive is the time from
just before the publisher's publish() to the moment one subscriber, in
another process, has the message (its get_message() returned; both read
the same monotonic clock); the publisher waits for the subscriber's
acknowledgement, untimed, before the next message. The subscriber uses
the publisher's client library (redis-py's pubsub(), TinyCache's pubsub(),
or a raw socket reading the exact bytes of the message); one process holds
every system's subscriber connection.

Placements and rounds are those of the latency scenario: everything on one
CPU, then the clients (this process and the subscriber) on one CPU and the
servers on the other; within a placement the systems take turns in rounds,
each round starting one system later, and each run of one kind of request
comes after one untimed request of the same kind. Every call uses keys
never used before (a hash, a set and a sorted set of one 100 B field or
member each, then the hashes read back).
"""

from __future__ import annotations

import contextlib
import time
from array import array
from typing import Any, Dict, List, Optional, Tuple

from .. import lab as L
from ..procs import placed
from ..pubsub_echo import PUBSUB_CONTROL, confirmation, message
from ..stats import summarize_ns
from .latency import placements

NAME = "types"
TITLE = "Latency of hashes, sets, sorted sets and pub/sub (one client, us)"
COMMANDS = ("hset", "hget", "sadd", "zadd")
OPS = COMMANDS + ("publish",)
SIZE = 100
FIELD = b"f"
WAIT_S = 10.0  # the longest a message or an acknowledgement may take

SYSTEMS = [
    (L.REDIS, "tcp"), (L.REDIS, "unix"),
    (L.REDIS_TMC, "tcp"), (L.REDIS_TMC, "unix"),
    (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"),
    (L.RAW_TMC, "tcp"), (L.RAW_TMC, "unix"),
    (L.RAW_REDIS, "tcp"), (L.RAW_REDIS, "unix"),
    (L.ECHO, "tcp"), (L.ECHO, "unix"),
]


def _value() -> bytes:
    return bytes(range(SIZE))


def _calls(client: Any, value: bytes) -> Dict[str, Tuple[Any, tuple]]:
    """op -> (bound method, the arguments after the key): every client takes redis-py's signatures."""
    return {"hset": (client.hset, (FIELD, value)), "hget": (client.hget, (FIELD,)), "sadd": (client.sadd, (value,)),
            "zadd": (client.zadd, ({value: 1},))}


def _request(op: str, key: str, value: bytes) -> Tuple[bytes, bytes]:
    """The bytes op sends on key and what Redis answers, for the echo floor (fresh keys: 1 added)."""
    from ..systems.raw import command

    k = key.encode()
    args = {"hset": (b"HSET", k, FIELD, value), "hget": (b"HGET", k, FIELD), "sadd": (b"SADD", k, value),
            "zadd": (b"ZADD", k, b"1", value)}[op]
    answer = b"$%d\r\n%s\r\n" % (len(value), value) if op == "hget" else b":1\r\n"
    return command(*args), answer


class _System:
    """One row: the client of the commands, and the publisher and the subscriber's name of pub/sub."""

    def __init__(self, key: str, spec: Any, adapter: Any, publisher: Any, channel: bytes, sub_kind: str,
                 sub_addr: Any):
        self.key, self.spec, self.adapter = key, spec, adapter
        # redis-py's Redis, TinyCache (never tested for truth: it has a len()), or the raw socket itself
        self.client = adapter.r if hasattr(adapter, "r") else adapter.cache if hasattr(adapter, "cache") else adapter
        self.publisher, self.channel, self.sub_kind, self.sub_addr = publisher, channel, sub_kind, sub_addr
        self.subscribed = False

    def close(self) -> None:
        self.adapter.close()
        if self.key == L.ECHO and self.publisher is not None:
            self.publisher.close()


def _open(lab: Any, key: str, spec: Any, index: int, relays: List[Any]) -> _System:
    """Connect one system's client (and for the echo floor, a publisher to the relay) and check its answers."""
    from ..systems import connect

    adapter = connect(spec)
    channel = b"bench:ch:%02d" % index  # one length: the floor's message is told in advance
    addr = spec.params["addr"]
    if key == L.ECHO:
        relay = lab.servers.pubsub_echo(spec.transport)
        relays.append(relay)
        # its publisher connects once the subscriber has (the relay takes its first connection for the subscriber)
        return _System(key, spec, adapter, None, channel, "raw", relay.addr(spec.transport))
    kind = {L.TMC_GO: "tmc", L.RAW_TMC: "raw", L.RAW_REDIS: "raw"}.get(key, "redis-py")
    system = _System(key, spec, adapter, None, channel, kind, addr)
    system.publisher = system.client
    adapter.flush()
    value, c = _value(), system.client
    got = (c.hset("types:check", FIELD, value), c.hget("types:check", FIELD), c.sadd("types:check:s", value),
           c.zadd("types:check:z", {value: 1}))
    if got != (1, value, 1, 1):
        raise RuntimeError(f"hset, hget, sadd, zadd answered {got!r:.200}")
    return system


# --- the subscriber process ------------------------------------------------------


def _subscribe(kind: str, addr: Any, channel: bytes) -> Any:
    """A subscription to channel: a function that waits for the next message and returns its data."""
    if kind == "raw":
        import socket

        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(WAIT_S)
        s.connect(addr)
        if family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel))
        want = confirmation(channel)
        if _read(s, len(want)) != want:
            raise RuntimeError("the subscription was not confirmed")
        size = len(message(channel, _value()))
        return lambda: _read(s, size)[-SIZE - 2:-2]  # the data, from the exact bytes of the message
    if kind == "tmc":
        from tiny_mp_cache import TinyCache

        p = TinyCache(addr, timeout=WAIT_S).pubsub()
    else:
        import redis

        r = redis.Redis(unix_socket_path=addr) if isinstance(addr, str) else redis.Redis(host=addr[0], port=addr[1])
        p = r.pubsub()
    p.subscribe(channel)
    first = p.get_message(timeout=WAIT_S)
    if not first or first["type"] != "subscribe":
        raise RuntimeError(f"the subscription was not confirmed: {first!r}")
    get = p.get_message

    def receive() -> bytes:
        m = get(timeout=WAIT_S)
        if m is None:
            raise TimeoutError(f"no message within {WAIT_S}s")
        return m["data"]

    receive.owner = p if kind == "tmc" else r  # a Redis that is collected closes its pool: the subscription's too
    return receive


def _read(s: Any, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = s.recv_into(view[got:])
        if not k:
            raise ConnectionError("the server closed the connection")
        got += k
    return bytes(buf)


def subscriber(conn: Any, wanted: List[Tuple[str, str, Any, bytes]]) -> None:
    """The subscriber process: subscribe as wanted ((name, kind, address, channel)), then on ("run", name, n)
    receive n messages of name's channel, acknowledging each at once, and send back when each came."""
    subs, errors = {}, {}
    for name, kind, addr, channel in wanted:
        try:
            subs[name] = _subscribe(kind, addr, channel)
        except Exception as e:
            errors[name] = f"{type(e).__name__}: {e}"
    conn.send(("ready", errors))
    now, ack = time.perf_counter_ns, conn.send_bytes
    while True:
        order = conn.recv()
        if order[0] != "run":
            return
        _, name, n, expected = order
        receive, times = subs[name], array("q")
        try:
            for _ in range(n):
                data = receive()
                times.append(now())
                ack(b"" if data == expected else b"x")
        except Exception as e:
            conn.send(("error", f"{type(e).__name__}: {e}"))
            continue
        conn.send(("times", times.tobytes()))


def _resync(sub: Any) -> None:
    """After a failed run of messages: read what the subscriber still sends, up to its report of that run."""
    import pickle

    while sub.poll(WAIT_S + 1):
        try:
            if isinstance(pickle.loads(sub.recv_bytes()), tuple):
                return
        except Exception:
            continue  # an acknowledgement (not a pickle)


# --- the measurement -------------------------------------------------------------


def _commands(system: _System, prefix: str, n: int, value: bytes) -> Dict[str, List[int]]:
    """Each command on n fresh keys (hget on the keys hset made), after one untimed call of its kind."""
    out: Dict[str, List[int]] = {}
    now = time.perf_counter_ns
    calls = _calls(system.client, value)
    for op in COMMANDS:
        stem = prefix + ("h" if op in ("hset", "hget") else op[0])  # one length for every key
        keys = [f"{stem}:{i:06d}" for i in range(n)]
        if system.key == L.ECHO:
            system.adapter.expect(*_request(op, keys[0], value))
        fn, rest = calls[op]
        fn(f"{stem}:warmup", *rest)
        ns: List[int] = []
        append = ns.append
        for k in keys:
            t0 = now()
            fn(k, *rest)
            append(now() - t0)
        out[op] = ns
    return out


def _publish(system: _System, sub: Any, n: int, value: bytes) -> List[int]:
    """n messages from publish() to the subscriber's receipt, after one untimed message."""
    if system.key == L.ECHO:
        from ..systems.raw import command

        push, answer = message(system.channel, value), b":1\r\n"
        sent = command(b"PUBLISH", system.channel, value)
        system.publisher.sock.sendall(b"\x00" + PUBSUB_CONTROL.pack(len(sent), len(push), len(answer)) + push + answer)
        if system.publisher.sock.recv(1) != b"\x00":
            raise ConnectionError("the pub/sub echo server did not acknowledge")
    publish = system.publisher.publish
    sub.send(("run", system.spec.name, n + 1, value))
    now, poll, recv = time.perf_counter_ns, sub.poll, sub.recv_bytes
    sent_at = array("q")
    for _ in range(n + 1):
        sent_at.append(now())
        got = publish(system.channel, value)
        if got != 1:
            raise RuntimeError(f"publish reached {got!r} subscribers, not 1")
        if not poll(WAIT_S):
            raise TimeoutError(f"the subscriber did not acknowledge within {WAIT_S}s")
        if recv() != b"":
            raise RuntimeError("the subscriber got another message than the one published")
    if not poll(WAIT_S):
        raise TimeoutError("the subscriber did not send its times")
    kind, body = sub.recv()
    if kind != "times":
        raise RuntimeError(f"the subscriber: {body}")
    came = array("q")
    came.frombytes(body)
    return [c - s for c, s in zip(came[1:], sent_at[1:])]


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    specs = lab.specs(SYSTEMS)
    where = placements(lab.pin)
    results: Dict[str, Any] = {"placements": {}, "errors": [], "size": SIZE, "ops": profile.types_ops,
                               "rounds": profile.types_rounds}
    systems: Dict[str, _System] = {}
    relays: List[Any] = []  # the pub/sub floor's servers, stopped at the end
    for i, (key, spec) in enumerate(specs):
        try:
            systems[spec.name] = _open(lab, key, spec, i, relays)
        except Exception as e:
            results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
    sub, proc = _start_subscriber(lab, systems, results["errors"])
    progress.scenario(TITLE, len(where) * profile.types_rounds)
    try:
        for name, cpus in where:
            results["placements"][name] = _placement(systems, sub, proc, cpus, results["errors"], profile, progress,
                                                      name)
    finally:
        for s in systems.values():
            s.close()
        if sub is not None:
            sub.send(("stop",))
            proc.join(WAIT_S)
            lab.reaper.stop(proc)
        for relay in relays:
            lab.servers.stop(relay)
    return results


def _start_subscriber(lab: Any, systems: Dict[str, _System], errors: List[Dict[str, str]]) -> Tuple[Any, Any]:
    """The subscriber process, subscribed for every system (those it could not subscribe for do no pub/sub)."""
    if not systems:
        return None, None
    ours, theirs = lab.ctx.Pipe()
    wanted = [(name, s.sub_kind, s.sub_addr, s.channel) for name, s in systems.items()]
    proc = lab.reaper.process(lab.ctx.Process(target=subscriber, args=(theirs, wanted), daemon=True))
    proc.start()
    theirs.close()
    if not ours.poll(60):
        lab.reaper.stop(proc)
        errors.append({"system": "subscriber", "key": "", "error": "the subscriber process did not start in 60s"})
        return None, None
    _, failed = ours.recv()
    from ..systems.echo import EchoAdapter

    for name, s in systems.items():
        if name in failed:
            errors.append({"system": name, "key": s.key, "op": "publish", "error": failed[name]})
            continue
        if s.key == L.ECHO:
            s.publisher = EchoAdapter(s.sub_addr)
        s.subscribed = True
    return ours, proc


def _placement(systems: Dict[str, _System], sub: Any, proc: Any, cpus: Optional[Tuple[int, int]],
               errors: List[Dict[str, str]], profile: Any, progress: Any, where: str) -> Dict[str, Any]:
    order = list(systems)
    index = {name: i for i, name in enumerate(order)}
    live = {name: set(OPS if s.subscribed else COMMANDS) for name, s in systems.items()}
    pooled = {n: {op: array("q") for op in OPS} for n in order}
    rounds: Dict[str, Dict[str, List[Dict[str, float]]]] = {n: {op: [] for op in OPS} for n in order}
    value = _value()

    def turn(name: str, r: int, n: int) -> Dict[str, List[int]]:
        s, got = systems[name], {}
        prefix = f"t{index[name]:02d}{where[0]}{r:03d}"
        if live[name] & set(COMMANDS):
            try:
                got.update(_commands(s, prefix, n, value))
            except Exception as e:
                errors.append({"system": name, "key": s.key, "placement": where, "error": f"{type(e).__name__}: {e}"})
                live[name] -= set(COMMANDS)
        if "publish" in live[name]:
            try:
                got["publish"] = _publish(s, sub, n, value)
            except Exception as e:
                errors.append({"system": name, "key": s.key, "placement": where, "op": "publish",
                               "error": f"{type(e).__name__}: {e}"})
                live[name].discard("publish")
                _resync(sub)
        return got

    with placed(*cpus) if cpus else contextlib.nullcontext():
        if cpus and proc is not None:
            placed._pin(proc.pid, {cpus[0]})  # the subscriber is a client: with the publisher
        for name in order:  # warm up in this placement
            turn(name, 999, profile.types_warmup)
        for r in range(profile.types_rounds):
            shift = r % len(order) if order else 0
            for name in order[shift:] + order[:shift]:
                for op, ns in turn(name, r, profile.types_ops).items():
                    if op in live[name]:
                        pooled[name][op].extend(ns)
                        rounds[name][op].append(summarize_ns(ns))
            progress.step(f"{where} round {r + 1}/{profile.types_rounds}", "")
    out = {}
    for name in order:
        stats = {op: summarize_ns(pooled[name][op]) for op in OPS if pooled[name][op]}
        if stats:
            s = systems[name]
            out[name] = {"key": s.key, "transport": s.spec.transport, "label": s.spec.label, "ops": stats,
                         "rounds": rounds[name]}
    return {"cpus": None if cpus is None else {"client": cpus[0], "server": cpus[1]}, "systems": out}
