"""The exception hierarchy of tiny_mp_cache.

Every error raised by a cache call is a TinyCacheError. The transport errors
also subclass the matching builtins, so code that already catches
builtins.ConnectionError or builtins.TimeoutError keeps working.
"""

import builtins


class TinyCacheError(Exception):
    """Base class of every error raised by tiny_mp_cache."""


class ConnectionError(TinyCacheError, builtins.ConnectionError):
    """The server could not be reached, or the connection was lost."""


class TimeoutError(TinyCacheError, builtins.TimeoutError):
    """The call did not complete within the client's timeout."""


class ProtocolError(TinyCacheError):
    """The server sent a reply that is not valid RESP2, or not the one expected."""


class ServerError(TinyCacheError):
    """The server answered with an error reply (``-ERR ...``)."""


for _cls in (TinyCacheError, ConnectionError, TimeoutError, ProtocolError, ServerError):
    _cls.__module__ = "tiny_mp_cache"
del _cls
