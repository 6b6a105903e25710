"""The floor: a bare Python socket server that reads a request and writes a reply.

Framing: an 8-byte header (request length, reply length; two little-endian
uint32), then the request bytes. The server reads the request and answers
with reply-length bytes from a preallocated buffer. No parsing, no storage:
no cache can answer a Python client faster than this over the same socket.

    python -m bench.echo_server --port 7000 --unix /tmp/echo.sock
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import sys
import threading

HEADER = struct.Struct("<II")
_REPLY = memoryview(b"x" * (1 << 24))


def _recv_exact(conn: socket.socket, view: memoryview, n: int) -> bool:
    got = 0
    while got < n:
        k = conn.recv_into(view[got:n], n - got)
        if not k:
            return False
        got += k
    return True


def _serve_conn(conn: socket.socket) -> None:
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    hdr = bytearray(HEADER.size)
    hview = memoryview(hdr)
    try:
        while True:
            if not _recv_exact(conn, hview, HEADER.size):
                return
            req, rep = HEADER.unpack(hdr)
            if req > len(buf):
                buf = bytearray(req)
                view = memoryview(buf)
            if not _recv_exact(conn, view, req):
                return
            conn.sendall(_REPLY[:rep])
    except OSError:
        pass
    finally:
        conn.close()


def _accept_loop(listener: socket.socket, tcp: bool) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        if tcp:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve_conn, args=(conn,), daemon=True).start()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--unix", required=True)
    args = ap.parse_args(argv)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", args.port))
    tcp.listen(512)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(args.unix)
    unix.listen(512)
    threading.Thread(target=_accept_loop, args=(tcp, True), daemon=True).start()
    threading.Thread(target=_accept_loop, args=(unix, False), daemon=True).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    tcp.close()
    unix.close()
    try:
        os.unlink(args.unix)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
