"""Subscriber and publisher processes for tests/test_pubsub.py.

Run as a script (python _pubsub_child.py subscribe|publish ADDR CHANNEL N),
or as multiprocessing targets (importable, for the spawn start method).
A subscriber takes N messages "0" .. "N-1" on CHANNEL and checks that each
came once and in order; every wait is bounded by DEADLINE.
"""

from __future__ import annotations

import sys
import time

from tiny_mp_cache import TinyCache

DEADLINE = 60.0  # seconds a subscriber waits for all its messages


def subscribe(addr: str, channel: str, n: int) -> str:
    """Take n messages on channel; "OK n" if they came in order, else what went wrong."""
    with TinyCache(addr, 10) as cache, cache.pubsub() as p:
        p.subscribe(channel)
        first = p.get_message(timeout=10)
        if not first or first["type"] != "subscribe":
            return f"no confirmation: {first!r}"
        deadline = time.monotonic() + DEADLINE
        for i in range(n):
            left = deadline - time.monotonic()
            m = p.get_message(timeout=max(left, 0))
            if m is None:
                return f"timed out after {i} messages"
            if m["type"] != "message" or m["channel"] != channel.encode() or m["data"] != str(i).encode():
                return f"message {i}: {m!r}"
        return f"OK {n}"


def spawned_subscriber(cache: TinyCache, channel: str, n: int, results) -> None:
    """A spawned child: a TinyCache pickled from its parent, a PubSub of its own."""
    with cache.pubsub() as p:
        p.subscribe(channel)
        got = [p.get_message(timeout=10)]
        while len(got) < n + 1:
            m = p.get_message(timeout=10)
            if m is None:
                break
            got.append(m)
    results.put([(m["type"], m["data"]) for m in got if m])


def publish(addr: str, channel: str, n: int) -> str:
    with TinyCache(addr, 10) as cache:
        for i in range(n):
            cache.publish(channel, str(i))
    return "OK"


if __name__ == "__main__":
    what, addr, channel, n = sys.argv[1:5]
    result = (subscribe if what == "subscribe" else publish)(addr, channel, int(n))
    print(result)
    sys.exit(0 if result.startswith("OK") else 1)
