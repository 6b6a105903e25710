"""The echo floor: the raw socket client (raw.py) against bench/echo_server.py.

The client sends the same RESP bytes as to a real server, and the echo
server answers with the bytes a real server would, without parsing or
storing anything, from one thread doing blocking recv and sendall. prepare(),
called untimed before each run of one kind of request, tells the echo
server the request length and the reply (echo_server.py has the control
message). It stores nothing: get and pop answer what prepare() said.
"""

from __future__ import annotations

from typing import Any, Optional

from ..echo_server import ACK, CONTROL
from .base import Adapter, Spec
from .raw import RawAdapter, reply, request


def spec(addr: Any, transport: str) -> Spec:
    return Spec("echo", "echo floor", transport, {"addr": addr})


class EchoAdapter(RawAdapter):
    notes = {}

    def prepare(self, op: str, key: str, value: Optional[bytes]) -> None:
        self.expect(request(op, key, value), reply(op, value))

    def expect(self, sent: bytes, answer: bytes) -> None:
        """Tell the echo server that the next requests are as long as sent, and to answer each with answer."""
        self._sendall(b"\x00" + CONTROL.pack(len(sent), len(answer)) + answer)
        if self.sock.recv(1) != ACK:
            raise ConnectionError("the echo server did not acknowledge")

    def flush(self) -> None:
        pass


def connect(s: Spec) -> Adapter:
    return EchoAdapter(s.params["addr"])
