"""Progress lines on stderr while the run goes on: elapsed time, scenario, step."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, quiet: bool = False) -> None:
        self._t0 = time.monotonic()
        self._quiet = quiet
        self._scenario = ""
        self._total = 0
        self._done = 0

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def scenario(self, name: str, steps: int) -> None:
        self._scenario, self._total, self._done = name, steps, 0
        self._print(f"== {name} ({steps} steps)")

    def step(self, what: str, result: str = "") -> None:
        self._done += 1
        width = len(str(self._total))
        tail = f"  {result}" if result else ""
        self._print(f"   [{self._done:>{width}}/{self._total}] {what}{tail}")

    def note(self, text: str) -> None:
        self._print(f"   {text}")

    def _print(self, text: str) -> None:
        if self._quiet:
            return
        m, s = divmod(int(self.elapsed()), 60)
        print(f"[{m:02d}:{s:02d}] {text}", file=sys.stderr, flush=True)
