"""One call, written once (_resp.call): its deadline, redial, retry and error mapping, as every driver sees them.

call() does no I/O: it yields requests (dial, send, read, drop) and is sent
their results, or thrown what they raised, as PureClient, AsyncTinyCache and
the near cache's handover do over real sockets. Here a script plays the
server's part, so each rule can be read off the requests the call makes.
"""

from __future__ import annotations

import builtins
from typing import Any

import pytest
from tiny_mp_cache import ConnectionError, ProtocolError, TimeoutError
from tiny_mp_cache._resp import DIAL, DROP, READ, SEND, call, parse_address

ADDRESS = parse_address("unix:///tmp/nowhere.sock")


def run(conn: Any, script: dict[str, list[Any]], idempotent: bool = True, timeout: float | None = 1.0,
        address: Any = ADDRESS) -> tuple[Any, list[tuple[Any, ...]]]:
    """Drive a GET; script[kind] is what each request of that kind gets in turn (an exception is raised)."""
    seen: list[tuple[Any, ...]] = []

    def perform(request: tuple[Any, ...]) -> Any:
        seen.append(request)
        outcome = script.get(request[0], [None]).pop(0) if script.get(request[0]) else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    steps = call(address, conn, [b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"], 1, "GET", idempotent, timeout, 1.0, 1 << 20)
    try:  # the drivers' loop: do each request, send back its result or throw in what it raised
        request = next(steps)
        while True:
            try:
                result = perform(request)
            except BaseException as e:
                request = steps.throw(e)
            else:
                request = steps.send(result)
    except StopIteration as done:
        return done.value, seen
    except BaseException as e:
        return e, seen


def kinds(seen: list[tuple[Any, ...]]) -> list[str]:
    return [r[0] for r in seen]


def test_a_call_sends_then_reads_on_the_connection_it_is_given():
    result, seen = run("old", {READ: [[b"v"]]})
    assert result == ([b"v"], "old")
    assert kinds(seen) == [SEND, READ]


def test_an_idempotent_call_on_a_stale_connection_is_resent_once_on_a_new_one_within_one_deadline():
    result, seen = run("old", {SEND: [BrokenPipeError(32, "Broken pipe")], DIAL: ["new"], READ: [[b"v"]]})
    assert result == ([b"v"], "new")
    assert kinds(seen) == [SEND, DROP, DIAL, SEND, READ]
    assert seen[1][1] == "old" and seen[3][1] == "new"
    deadlines = [r[-1] for r in seen if r[0] in (SEND, READ)]
    assert len(set(deadlines)) == 1  # fixed once for the call, retry included
    assert abs(seen[2][1] - deadlines[0]) < 0.05  # the redial's deadline is the call's


def test_a_call_that_is_not_idempotent_is_never_resent():
    result, seen = run("old", {READ: [EOFError("connection closed by the server")]}, idempotent=False)
    assert isinstance(result, ConnectionError) and "GET: connection lost" in str(result)
    assert kinds(seen) == [SEND, READ, DROP]


def test_a_call_on_a_fresh_connection_is_not_resent_either():
    """A connection dialled for this very call cannot have gone stale: its loss is the server's doing."""
    result, seen = run(None, {DIAL: ["new"], READ: [ConnectionResetError(104, "reset")]})
    assert isinstance(result, ConnectionError)
    assert kinds(seen) == [DIAL, SEND, READ, DROP]


@pytest.mark.parametrize("raised, expected", [
    (builtins.TimeoutError("timed out"), TimeoutError),
    (MemoryError(), ProtocolError),
    (ProtocolError("bad integer"), ProtocolError),
    (KeyboardInterrupt(), KeyboardInterrupt),
])
def test_every_other_failure_drops_the_connection_and_is_mapped_once(raised, expected):
    result, seen = run("old", {READ: [raised]})
    assert type(result) is expected
    assert kinds(seen) == [SEND, READ, DROP]  # never retried: what was left on the wire is unknown


def test_a_dial_that_fails_says_it_could_not_connect():
    result, seen = run(None, {DIAL: [FileNotFoundError(2, "No such file or directory")]})
    assert isinstance(result, ConnectionError) and "cannot connect to /tmp/nowhere.sock" in str(result)
    result, seen = run(None, {DIAL: [builtins.TimeoutError()]})
    assert isinstance(result, TimeoutError) and "cannot connect" in str(result)


def test_a_new_connection_logs_in_first_and_a_refusal_drops_it():
    address = parse_address("unix://:pw@/tmp/nowhere.sock")
    result, seen = run(None, {DIAL: ["new"], READ: [["OK"], [b"v"]]}, address=address)
    assert result == ([b"v"], "new")
    assert kinds(seen) == [DIAL, SEND, READ, SEND, READ]
    assert b"AUTH" in seen[1][2][0]
    from tiny_mp_cache import ServerError

    result, seen = run(None, {DIAL: ["new"], READ: [[ServerError("WRONGPASS")]]}, address=address)
    assert isinstance(result, ServerError)
    assert kinds(seen) == [DIAL, SEND, READ, DROP]


def test_no_deadline_for_a_blocking_wait_but_the_dial_has_one():
    result, seen = run(None, {DIAL: ["new"], READ: [[None]]}, timeout=None)
    assert result == ([None], "new")
    assert seen[0][1] is not None and seen[1][-1] is None and seen[2][-1] is None
