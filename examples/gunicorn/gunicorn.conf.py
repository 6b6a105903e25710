"""gunicorn settings: one tiny-mp-cache server, started by the master, shared by every worker.

    gunicorn -c gunicorn.conf.py --preload -w 4 app:app
    gunicorn -c gunicorn.conf.py --preload -w 2 -k gthread --threads 8 app:app
    gunicorn -c gunicorn.conf.py -w 2 -k uvicorn.workers.UvicornWorker asgi_app:app

The master runs start_server() before it forks any worker. The server is a
child process of its own, so the master never loads the Go library (a Go
runtime does not survive fork()); each worker opens its TinyCache on first
use, after the fork (see app.py). The master stops the server when it exits.
"""

import os

from tiny_mp_cache import start_server

_server = None


def on_starting(arbiter):
    global _server
    _server = start_server(max_memory="256MB")  # a free loopback port, chosen by the server
    os.environ["TINY_MP_CACHE_ADDR"] = _server.addr  # the workers inherit it
    os.environ["TINY_MP_CACHE_SERVER_PID"] = str(_server.pid)


def on_exit(arbiter):
    if _server is not None:
        _server.stop()
