"""System adapters: one module per system, all with the interface of base.Adapter."""

from __future__ import annotations

import importlib

from .base import Adapter, Spec, Unsupported

__all__ = ["Adapter", "Spec", "Unsupported", "connect"]


def connect(spec: Spec) -> Adapter:
    """Open a client of the system that spec names (in this process)."""
    module = importlib.import_module(f"{__name__}.{spec.system}")
    return module.connect(spec)
