"""tiny-mp-cache: a small key/value cache and job queue for Python processes on one machine.

    from tiny_mp_cache import serve, TinyCache

    serve(5002)                        # in one process: blocks until Ctrl-C / SIGTERM
    cache = TinyCache("127.0.0.1:5002")  # in others
    cache.set("job:1", b"payload")
    cache.pop("job:1")                 # exactly one process gets it

The server and client live in a Go library that is loaded on first use,
never at import, so importing this package before fork() is safe.
"""

from ._client import TinyCache
from ._errors import ConnectionError, ProtocolError, ServerError, TimeoutError, TinyCacheError
from ._server import serve, serve_unix

__all__ = [
    "ConnectionError",
    "ProtocolError",
    "ServerError",
    "TimeoutError",
    "TinyCache",
    "TinyCacheError",
    "serve",
    "serve_unix",
]

__version__ = "0.1.0"
