"""The echo floor's server: one thread, blocking recv and sendall, nothing else.

It listens on one address (a TCP port on 127.0.0.1, or a unix socket) and
serves one connection at a time: accept, serve until the client closes,
accept the next. No framing and no parsing: for each request it reads what
arrives (one recv, as requests are small) and sends back the reply it was
told, byte for byte what our server or Redis sends for that request. No
cache server can answer the same request over the same socket with less
work than this.

What to answer is set by the client between runs of requests (untimed): a
control message, a zero byte then CONTROL (the request's length, the
reply's length) then the reply, acknowledged with one zero byte. A RESP
request never starts with a zero byte. The request length makes a request
that arrived in two pieces read whole (and a request of the wrong length
close the connection) rather than get two replies.

    python -m bench.echo_server --unix /tmp/echo.sock   (or --port 7000)
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

CONTROL = struct.Struct("<II")  # request length, reply length
ACK = b"\x00"


def _fill(conn: socket.socket, buf: bytearray, got: int, want: int) -> int:
    """Read until buf holds want bytes (got already there); 0 if the peer closed."""
    view = memoryview(buf)
    while got < want:
        n = conn.recv_into(view[got:want])
        if not n:
            return 0
        got += n
    return got


def serve(conn: socket.socket) -> None:
    """Answer requests on conn until the client closes it (or sends a request of the wrong length)."""
    buf = bytearray(1 << 16)
    view = memoryview(buf)
    need, reply = 0, b""
    recv_into, sendall = conn.recv_into, conn.sendall
    while True:
        got = recv_into(view)
        if not got:
            return
        if buf[0] == 0:  # control: what the next requests look like and what to answer
            if not _fill(conn, buf, got, 1 + CONTROL.size):
                return
            need, size = CONTROL.unpack_from(buf, 1)
            if max(need, 1 + CONTROL.size + size) > len(buf):
                bigger = bytearray(max(need, 1 + CONTROL.size + size))
                bigger[:len(buf)] = buf
                buf, view = bigger, memoryview(bigger)
            if not _fill(conn, buf, max(got, 1 + CONTROL.size), 1 + CONTROL.size + size):
                return
            reply = bytes(view[1 + CONTROL.size:1 + CONTROL.size + size])
            sendall(ACK)
            continue
        if got < need:
            got = _fill(conn, buf, got, need)
        if got != need:
            return
        sendall(reply)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT")
    where.add_argument("--unix", help="listen on this unix socket path")
    args = ap.parse_args(argv)
    if args.unix:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(args.unix)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    while True:  # until SIGTERM (its default action ends the process)
        conn, _ = listener.accept()
        try:
            if not args.unix:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            serve(conn)
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    sys.exit(main())
