"""The ASGI twin of app.py, on AsyncTinyCache, for uvicorn workers under gunicorn.conf.py."""

import json
import os
from urllib.parse import parse_qs

from tiny_mp_cache import AsyncTinyCache

_cache = None


def cache() -> AsyncTinyCache:
    """This worker's AsyncTinyCache, opened on first use, in the worker's event loop."""
    global _cache
    if _cache is None:
        _cache = AsyncTinyCache(os.environ["TINY_MP_CACHE_ADDR"])
    return _cache


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _cache is not None:
                    await _cache.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/info":
        reply = {"addr": os.environ["TINY_MP_CACHE_ADDR"], "server_pid": int(os.environ["TINY_MP_CACHE_SERVER_PID"])}
    else:
        query = parse_qs(scope["query_string"].decode())
        key, value, n = query["key"][0], query["value"][0].encode(), int(query["n"][0])
        c = cache()
        await c.set(key, value)
        got = await c.get(key)
        count = await c.incr(key + ":count", n)
        popped = await c.pop(key)
        await c.delete(key + ":count")
        await c.incr("requests")
        reply = {"key": key, "got": got.decode(), "count": count, "popped": popped.decode(), "pid": os.getpid()}
    body = json.dumps(reply).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
