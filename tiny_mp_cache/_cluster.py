"""The transport of "redis+cluster://HOST:PORT": TinyCache on a Redis Cluster.

redis-py's cluster client (redis.cluster.RedisCluster) keeps the cluster's
map: it discovers the masters from the address, hashes keys to slots
(hash tags included) and reloads the map when a master answers MOVED.
The commands themselves go over tiny-mp-cache's own connection to each
master (one TinyCache transport per master), so replies, errors and
deadlines are exactly those of a single server, and TinyCache's command
layer reads them unchanged.

Routing is a fact of each command, its Command's request and response
policies (Valkey's, see _commands.Command): a command goes to the master of
its first key's slot; KEYS, DBSIZE, FLUSHDB and SCAN go to every master and
their replies are merged; MGET, MSET, DEL, EXISTS and UNLINK are split by
slot, one command per master, and their replies merged. Commands without a
key (PING, INFO, CONFIG, ...) go to one master. A command whose keys span
slots (BLPOP a b) gets Redis's own CROSSSLOT error. execute_command's
commands are routed by their name's Command (_commands.facts_of).

redis-py is needed only for this scheme: pip install 'tiny-mp-cache[redis]'.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Protocol
from urllib.parse import quote, unquote, urlsplit

from ._commands import RAW, Command, facts, facts_of
from ._errors import ConnectionError, ServerError, TimeoutError
from ._resp import Arg, Reply

SCHEME = "redis+cluster://"

_REDIRECTS = 5  # MOVED/ASK replies followed for one command before giving up


class _Node(Protocol):
    """One master's connection: _resp.PureClient or _bindings.GoClient."""

    def run(self, command: Command[Any], args: list[Arg]) -> Reply: ...
    def pipeline(self, commands: list[list[Arg]], retry: bool = False) -> list[Reply]: ...
    def close(self) -> None: ...


def is_cluster(addr: str) -> bool:
    """Whether addr names a Redis Cluster ("redis+cluster://...")."""
    return addr.startswith(SCHEME)


class ClusterClient:
    """A TinyCache transport that spreads commands over a Redis Cluster's masters.

    open_node(addr, blocking) opens a connection to one master ("HOST:PORT"
    or "redis://:PW@HOST:PORT/0"); blocking ones are used for BLPOP's wait.
    """

    def __init__(self, addr: str, timeout: float, open_node: Callable[[str, bool], _Node]):
        try:
            from redis.cluster import RedisCluster
            from redis.exceptions import RedisClusterException, RedisError
        except ImportError:
            raise ImportError(
                f"{SCHEME} addresses need redis-py's cluster client: pip install 'tiny-mp-cache[redis]'"
            ) from None
        url = urlsplit(addr)
        try:
            port = url.port or 6379
        except ValueError as e:
            raise ValueError(f"invalid address {addr!r}: {e}") from None
        if not url.hostname or url.path.strip("/") not in ("", "0"):
            raise ValueError(f'invalid address {addr!r}: expected "{SCHEME}[:password@]HOST:PORT" (a cluster has database 0 only)')
        self._password = unquote(url.password or url.username or "")
        self._open_node = open_node
        self.pid = os.getpid()
        self._lock = threading.Lock()  # guards _nodes and _waiters
        self._nodes: dict[str, _Node] = {}
        self._waiters: dict[str, _Node] = {}
        try:
            self._map = RedisCluster(
                host=url.hostname,
                port=port,
                password=self._password or None,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                protocol=2,
            )
        except (RedisError, RedisClusterException) as e:
            raise ConnectionError(f"cannot reach the Redis Cluster at {url.hostname}:{port}: {e}") from None
        self._redis_error = (RedisError, RedisClusterException)

    # --- what TinyCache calls ---

    def run(self, command: Command[Any], args: list[Arg]) -> Reply:
        """Run one command of the command layer where its request policy says. A blocking one
        (BLPOP keys... timeout) waits on a connection of its own to its key's master."""
        return _REQUEST[facts(command, args).request](self, command, args)

    def pipeline(self, commands: list[list[Arg]], retry: bool = False) -> list[Reply]:
        """Keyed commands go in one pipeline per master; a command with a request policy of its own
        (KEYS, MGET, ...) or no key runs alone, after every command queued before it.

        retry: every command is safe to repeat (the masters' pipelines are resent once on a broken connection)."""
        if facts_of(commands[0]).request == "transaction":
            # MULTI ... EXEC: all of it on the master of its keys (a transaction's keys share a slot in a cluster).
            keys = [key for args in commands for key in facts_of(args).key_args(args)]
            return self._node(self._master_of(keys[0]) if keys else self._masters()[0]).pipeline(commands, retry)
        replies: list[Reply] = [None] * len(commands)
        batch: dict[str, list[int]] = {}

        def flush() -> None:
            for name, positions in batch.items():
                try:
                    sent = self._node(name).pipeline([commands[i] for i in positions], retry)
                except (ConnectionError, TimeoutError):
                    self._drop(name)
                    self._reload()
                    raise
                for i, reply in zip(positions, sent):
                    if isinstance(reply, ServerError) and _redirected(reply):
                        reply = self.run(RAW, commands[i])  # follows the redirect
                    replies[i] = reply
            batch.clear()

        for i, args in enumerate(commands):
            known = facts_of(args)
            keys = known.key_args(args)
            if known.request is not None or not keys:
                flush()
                replies[i] = self.run(RAW, args)
            else:
                batch.setdefault(self._master_of(keys[0]), []).append(i)
        flush()
        return replies

    def close(self) -> None:
        with self._lock:
            nodes = list(self._nodes.values()) + list(self._waiters.values())
            self._nodes.clear()
            self._waiters.clear()
        for node in nodes:
            node.close()
        self._map.close()

    # --- routing ---

    def _masters(self) -> list[str]:
        """The masters' "host:port" names, in a stable order."""
        return sorted(node.name for node in self._map.get_primaries())

    def _master_of(self, key: Arg) -> str:
        return self._map.get_node_from_key(bytes(key)).name

    def _node(self, name: str, waiter: bool = False) -> _Node:
        nodes = self._waiters if waiter else self._nodes
        with self._lock:
            node = nodes.get(name)
            if node is None:
                host, _, port = name.rpartition(":")
                host = f"[{host}]" if ":" in host else host
                addr = f"redis://:{quote(self._password, safe='')}@{host}:{port}/0" if self._password else f"{host}:{port}"
                node = nodes[name] = self._open_node(addr, waiter)
            return node

    def _drop(self, name: str) -> None:
        with self._lock:
            nodes = [n for n in (self._nodes.pop(name, None), self._waiters.pop(name, None)) if n is not None]
        for node in nodes:
            node.close()

    def _keyed(self, command: Command[Any], args: list[Arg]) -> Reply:
        """Run args on the master of args[1]'s slot, following MOVED and ASK redirects."""
        waiter = command.blocking
        name = self._master_of(args[1])
        asking = False
        for _ in range(_REDIRECTS):
            node = self._node(name, waiter)
            try:
                if asking:  # the slot is moving: this one command may run on the target
                    reply = node.pipeline([[b"ASKING"], args])[1]
                else:
                    reply = node.run(command, args)
            except (ConnectionError, TimeoutError):
                # The master may have failed over: read the map again for the next call.
                self._drop(name)
                self._reload()
                raise
            if not (isinstance(reply, ServerError) and _redirected(reply)):
                return reply
            kind, _, target = str(reply).split(" ", 2)
            if kind == "MOVED":
                self._reload()
            name, asking = target, kind == "ASK"
        return reply

    def _reload(self) -> None:
        try:
            self._map.nodes_manager.initialize()
        except self._redis_error as e:
            raise ConnectionError(f"cannot read the Redis Cluster's map: {e}") from None

    def _each_master(self, command: Command[Any], args: list[Arg]) -> list[Reply]:
        return [self._node(name).run(command, args) for name in self._masters()]

    def _split(self, args: list[Arg], step: int) -> list[tuple[list[int], Reply]]:
        """Send args' key groups (step 1: keys, 2: key-value pairs) to their slots' masters:
        [(the positions of the groups, reply)]. One command per slot, so each stays atomic."""
        groups: dict[int, list[int]] = {}
        for i in range(1, len(args), step):
            groups.setdefault(self._map.keyslot(bytes(args[i])), []).append(i)
        out = []
        for positions in groups.values():
            sub = [args[0]] + [a for i in positions for a in args[i : i + step]]
            out.append((positions, self._keyed(RAW, sub)))  # RAW: no fast path that takes fewer keys
        return out


def _redirected(reply: ServerError) -> bool:
    return str(reply).startswith(("MOVED ", "ASK "))


def _first_error(replies: list[Reply]) -> ServerError | None:
    return next((r for r in replies if isinstance(r, ServerError)), None)


def _one_master(client: ClusterClient, command: Command[Any], args: list[Arg]) -> Reply:
    return client._node(client._masters()[0]).run(command, args)


def _by_key(client: ClusterClient, command: Command[Any], args: list[Arg]) -> Reply:
    """No request policy: to the master of the first key, or any master when there is none."""
    if not facts(command, args).key_args(args):
        return _one_master(client, command, args)
    return client._keyed(command, args)


def _all_shards(client: ClusterClient, command: Command[Any], args: list[Arg]) -> Reply:
    replies = client._each_master(command, args)
    error = _first_error(replies)
    if error is not None:
        return error
    response = facts(command, args).response
    if response == "agg_sum":
        return sum(replies)  # type: ignore[arg-type]
    if response == "all_succeeded":
        return replies[0]
    return sorted(k for reply in replies for k in reply)  # type: ignore[union-attr]  # KEYS: the lists, joined


def _multi_shard(client: ClusterClient, command: Command[Any], args: list[Arg]) -> Reply:
    known = facts(command, args)
    step = known.keys[2]  # type: ignore[index]
    if (len(args) - 1) % step:
        name = bytes(args[0]).decode("utf-8", "replace").lower()
        return ServerError(f"ERR wrong number of arguments for '{name}' command")
    split = client._split(args, step)
    error = _first_error([reply for _, reply in split])
    if error is not None:
        return error
    if known.response == "agg_sum":
        return sum(reply for _, reply in split)  # type: ignore[misc]
    if known.response == "all_succeeded":
        return "OK"
    values: list[Any] = [None] * (len(args) - 1)  # MGET: the values in the order of the keys
    for positions, reply in split:
        for i, value in zip(positions, reply):  # type: ignore[arg-type]
            values[i - 1] = value
    return values


def _scan(client: ClusterClient, command: Command[Any], args: list[Arg]) -> Reply:
    """SCAN over every master in turn. The cursor is "master index:that master's cursor";
    "0" starts at the first master, and comes back once the last one is done."""
    cursor = bytes(args[1])
    index, _, node_cursor = cursor.partition(b":") if cursor != b"0" else (b"0", b"", b"0")
    masters = client._masters()
    try:
        i = int(index)
        name = masters[i]
    except (ValueError, IndexError):
        return ServerError("ERR invalid cursor")
    reply = client._node(name).run(command, [args[0], node_cursor, *args[2:]])
    if isinstance(reply, ServerError):
        return reply
    following, keys = reply  # type: ignore[misc]
    if following == b"0":
        i, following = i + 1, b"0"
        if i == len(masters):
            return [b"0", keys]
    return [b"%d:%s" % (i, following), keys]


# How a command reaches the cluster, by its request policy (a fact of its Command).
_REQUEST: dict[str | None, Callable[[ClusterClient, Command[Any], list[Arg]], Reply]] = {
    None: _by_key,
    "all_shards": _all_shards,
    "multi_shard": _multi_shard,
    "special": _scan,  # SCAN
    "transaction": _by_key,  # MULTI alone; a pipeline sends a whole transaction to one master
}
