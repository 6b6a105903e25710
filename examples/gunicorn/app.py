"""A WSGI app whose workers share one tiny-mp-cache server (run it with gunicorn.conf.py).

GET /?key=K&value=V&n=N stores V under K, reads it back, adds N to a
counter of its own, pops K, and answers with what each step returned.
GET /info says which server the workers share.
"""

import json
import os
import threading
from urllib.parse import parse_qs

from tiny_mp_cache import TinyCache

_cache = None
_lock = threading.Lock()  # guards _cache (gthread workers run requests in threads)


def cache() -> TinyCache:
    """This worker's TinyCache, opened on first use: in the worker, after gunicorn's fork."""
    global _cache
    with _lock:
        if _cache is None:
            _cache = TinyCache(os.environ["TINY_MP_CACHE_ADDR"])
        return _cache


def app(environ, start_response):
    if environ["PATH_INFO"] == "/info":
        reply = {"addr": os.environ["TINY_MP_CACHE_ADDR"], "server_pid": int(os.environ["TINY_MP_CACHE_SERVER_PID"])}
    else:
        query = parse_qs(environ["QUERY_STRING"])
        key, value, n = query["key"][0], query["value"][0].encode(), int(query["n"][0])
        c = cache()
        c.set(key, value)
        got = c.get(key)
        count = c.incr(key + ":count", n)
        popped = c.pop(key)
        c.delete(key + ":count")
        c.incr("requests")
        reply = {"key": key, "got": got.decode(), "count": count, "popped": popped.decode(), "pid": os.getpid()}
    body = json.dumps(reply).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
