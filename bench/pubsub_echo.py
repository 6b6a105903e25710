"""The pub/sub floor's server: PUBLISH -> message relayed with one thread, blocking recv and sendall.

It listens on one address (a TCP port on 127.0.0.1, or a unix socket) and
serves one subscriber and one publisher at a time. The first connection is
the subscriber: its first request (a SUBSCRIBE of one channel) is answered
with the confirmation Redis sends. The second is the publisher: for each
request it reads (one recv, of the length it was told) it sends the
subscriber the message it was told, then the publisher the reply it was
told, byte for byte what Redis sends (first the message, then the reply,
as Redis does). No parsing and no channel table: no pub/sub server can
carry a message from one socket to another with less work than this. When
the publisher closes, the subscriber is closed too and the next pair is
accepted.

What to send is set by the publisher between runs (untimed), as in
echo_server.py: a zero byte, then PUBSUB_CONTROL (the request's length, the
message's length, the reply's length), the message and the reply; the
server acknowledges with one zero byte.

    python -m bench.pubsub_echo --unix /tmp/relay.sock   (or --port 7000)
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

from .echo_server import ACK, _fill

PUBSUB_CONTROL = struct.Struct("<III")  # request length, message length, reply length


def confirmation(channel: bytes) -> bytes:
    """What Redis answers (RESP2) to a first SUBSCRIBE of channel."""
    return b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(channel), channel)


def message(channel: bytes, data: bytes) -> bytes:
    """What Redis sends a subscriber of channel (RESP2) when data is published to it."""
    return b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(data), data)


def _subscribe(sub: socket.socket) -> bool:
    """Read the subscriber's SUBSCRIBE (one channel) and confirm it; False if it closed."""
    request = b""
    while request.count(b"\r\n") < 5:  # *2, $9, SUBSCRIBE, $n, the channel
        got = sub.recv(4096)
        if not got:
            return False
        request += got
    sub.sendall(confirmation(request.split(b"\r\n")[4]))
    return True


def relay(sub: socket.socket, pub: socket.socket) -> None:
    """Relay each of pub's requests to sub as the message it was told, until pub closes."""
    head = 1 + PUBSUB_CONTROL.size
    buf = bytearray(1 << 16)
    view = memoryview(buf)
    need, push, reply = 0, b"", b""
    recv_into, to_pub, to_sub = pub.recv_into, pub.sendall, sub.sendall
    while True:
        got = recv_into(view)
        if not got:
            return
        if buf[0] == 0:  # control: the request's length, the message and the reply
            if not _fill(pub, buf, got, head):
                return
            need, n_push, n_reply = PUBSUB_CONTROL.unpack_from(buf, 1)
            if max(need, head + n_push + n_reply) > len(buf):
                bigger = bytearray(max(need, head + n_push + n_reply))
                bigger[:len(buf)] = buf
                buf, view = bigger, memoryview(bigger)
            if not _fill(pub, buf, max(got, head), head + n_push + n_reply):
                return
            push, reply = bytes(view[head:head + n_push]), bytes(view[head + n_push:head + n_push + n_reply])
            to_pub(ACK)
            continue
        if got < need:
            got = _fill(pub, buf, got, need)
        if got != need:
            return
        to_sub(push)
        to_pub(reply)


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
        conns = []
        try:
            for _ in range(2):
                conn, _ = listener.accept()
                conns.append(conn)
                if not args.unix:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if len(conns) == 1 and not _subscribe(conn):
                    break
            if len(conns) == 2:
                relay(*conns)
        except OSError:
            pass
        finally:
            for conn in conns:
                conn.close()


if __name__ == "__main__":
    sys.exit(main())
