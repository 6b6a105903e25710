"""The floor: a raw socket client of bench/echo_server.py over the same transport.

Each call sends one framed request with the key and value bytes and receives
a reply of the size a cache would send (+OK for a write, the value with its
RESP header for a read), using sendall and recv_into. It stores nothing: it
only remembers value sizes so that a read gets a reply of the right size.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Dict, List, Mapping, Optional

from .base import Adapter, Spec

_HEADER = struct.Struct("<II")
_OK = 5  # len(b"+OK\r\n")
_NIL = 5  # len(b"$-1\r\n")


def spec(addr: Any, transport: str) -> Spec:
    return Spec("echo", "echo floor (raw socket)", transport, {"addr": addr})


def _bulk(n: int) -> int:
    return len(b"$%d\r\n" % n) + n + 2


class EchoAdapter(Adapter):
    def __init__(self, addr: Any):
        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.sock = s = socket.socket(family, socket.SOCK_STREAM)
        s.connect(addr)
        if family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sizes: Dict[str, int] = {}
        self.buf = bytearray(1 << 22)
        self.view = memoryview(self.buf)

    def _call(self, payload: bytes, reply: int) -> bytes:
        self.sock.sendall(_HEADER.pack(len(payload), reply) + payload)
        got, view, recv_into = 0, self.view, self.sock.recv_into
        while got < reply:
            n = recv_into(view[got:reply])
            if not n:
                raise ConnectionError("echo server closed the connection")
            got += n
        return bytes(view[:reply])

    def set(self, key: str, value: bytes) -> Any:
        k = key.encode()
        self.sizes[key] = len(value)
        self._call(k + value, _OK)

    def get(self, key: str) -> Optional[bytes]:
        n = self.sizes.get(key)
        return self._call(key.encode(), _NIL if n is None else _bulk(n))

    def pop(self, key: str) -> Optional[bytes]:
        n = self.sizes.pop(key, None)
        return self._call(key.encode(), _NIL if n is None else _bulk(n))

    def mget(self, keys: List[str]) -> List[Optional[bytes]]:
        sizes = self.sizes
        reply = len(b"*%d\r\n" % len(keys)) + sum(_NIL if sizes.get(k) is None else _bulk(sizes[k]) for k in keys)
        self._call(b"".join(k.encode() for k in keys), reply)
        return []

    def mset(self, mapping: Mapping[str, bytes]) -> Any:
        parts = []
        for k, v in mapping.items():
            self.sizes[k] = len(v)
            parts.append(k.encode())
            parts.append(v)
        self._call(b"".join(parts), _OK)

    def flush(self) -> None:
        self.sizes.clear()

    def close(self) -> None:
        self.sock.close()


def connect(s: Spec) -> Adapter:
    return EchoAdapter(s.params["addr"])
