"""tiny-mp-cache: a small key/value cache and job queue for Python processes on one machine.

    from tiny_mp_cache import serve, TinyCache

    serve(5002)                        # in one process: blocks until Ctrl-C / SIGTERM
    cache = TinyCache("127.0.0.1:5002")  # in others
    cache.set("job:1", b"payload")
    cache.pop("job:1")                 # exactly one process gets it
    cache.set("page", b"<html>", ttl=30)   # expires in 30 seconds
    cache.push("jobs", b"task")        # a queue: workers wait in cache.bpop("jobs", timeout=0)

The server speaks RESP2/RESP3 (redis-py and redis-cli work against it), and
TinyCache works against a real Redis server too ("redis://HOST:PORT/0").

The server and client live in a Go library that is loaded on first use,
never at import, so importing this package before fork() is safe.
"""

from ._async import AsyncPipeline, AsyncPubSub, AsyncTinyCache
from ._client import Pipeline, TinyCache
from ._errors import ConnectionError, ProtocolError, ServerError, TimeoutError, TinyCacheError
from ._pubsub import PubSub
from ._server import serve, serve_unix
from ._start import ServerProcess, start_server

__all__ = [
    "AsyncPipeline",
    "AsyncPubSub",
    "AsyncTinyCache",
    "ConnectionError",
    "Pipeline",
    "ProtocolError",
    "PubSub",
    "ServerError",
    "ServerProcess",
    "TimeoutError",
    "TinyCache",
    "TinyCacheError",
    "serve",
    "serve_unix",
    "start_server",
]

__version__ = "0.2.0"
