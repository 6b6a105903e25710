"""The common interface of every system adapter, and the spec that names one.

A Spec is small and picklable: scenarios send it to spawned worker processes,
which call connect(spec) to get their own Adapter. An Adapter has set, get,
pop, mget, mset, close and prepare (a no-op but for the echo floor); keys,
push and bpop where the system has them (otherwise they raise Unsupported). Adapters bind the client's own methods
where they can, so that the harness adds no Python frame of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional


class Unsupported(Exception):
    """The system has no such operation (the message says why, or what stands in)."""


@dataclass(frozen=True)
class Spec:
    system: str  # adapter module: tmc, redis_py, memcached, manager, diskcache_, raw, echo
    label: str  # how tables name it, e.g. "tiny-mp-cache go"
    transport: str  # tcp, unix or local
    params: Dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.label} [{self.transport}]"


class Adapter:
    # op -> how the adapter does it when the system has no native operation
    notes: Dict[str, str] = {}

    def prepare(self, op: str, key: str, value: Optional[bytes]) -> None:
        """Called untimed before a run of op ("set", "get" or "pop") on keys as long as key, with value
        (sent by set; expected back from get and pop, None for a miss). Only the echo floor needs it."""

    def set(self, key: str, value: bytes) -> Any:
        raise NotImplementedError

    def get(self, key: str) -> Optional[bytes]:
        raise NotImplementedError

    def pop(self, key: str) -> Optional[bytes]:
        raise NotImplementedError

    def mget(self, keys: List[str]) -> List[Optional[bytes]]:
        raise NotImplementedError

    def mset(self, mapping: Mapping[str, bytes]) -> Any:
        raise NotImplementedError

    def keys(self, pattern: str) -> List[str]:
        raise Unsupported("no key listing")

    def push(self, key: str, value: bytes) -> Any:
        raise Unsupported("no lists")

    def bpop(self, key: str, timeout: float) -> Optional[bytes]:
        raise Unsupported("no blocking pop")

    def flush(self) -> None:
        """Remove every key (between scenarios)."""

    def close(self) -> None:
        pass
