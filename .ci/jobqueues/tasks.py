"""The work both job queues run: each task leaves a line in a log file that is the ground truth.

A task's completion is written to JOBS_LOG (one O_APPEND write per line, so
lines from concurrent workers never interleave), outside the server under
test: what the server says about its jobs is checked against what ran.

    work(i)    appends "done i"; for i % 20 == 7 the first attempt fails
               (after appending "fail i"), so the queue's retry must run it.
    stall(i)   the task a worker is killed in: its first attempt appends
               "start i" and sleeps; a later attempt appends "done i".
"""

from __future__ import annotations

import os
import time

RETRIED = 7  # i % 20 == RETRIED fails on its first attempt
STALL_SECONDS = 120  # far longer than the run: the worker is killed first


def _log(line: str) -> None:
    fd = os.open(os.environ["JOBS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _first_attempt(kind: str, i: int) -> bool:
    """True once per (kind, i): an O_EXCL marker file says an attempt was made."""
    path = os.path.join(os.environ["JOBS_DIR"], f"{kind}-{i}.attempt")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def work(i: int) -> int:
    if i % 20 == RETRIED and _first_attempt("work", i):
        _log(f"fail {i}")
        raise RuntimeError(f"task {i} fails on its first attempt")
    _log(f"done {i}")
    return i * i


def stall(i: int) -> int:
    if _first_attempt("stall", i):
        _log(f"start {i}")
        time.sleep(STALL_SECONDS)
    _log(f"done {i}")
    return i
