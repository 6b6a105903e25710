#!/usr/bin/env python3
"""Run other projects' cache test suites against our server and fail on a regression.

    python .ci/framework_suites.py                 # against tiny-mp-cache
    python .ci/framework_suites.py --server redis  # the same against redis-server
    python .ci/framework_suites.py --record        # rewrite the expected results

The suites are Django's RedisCacheTests (its sdist ships tests/, run with
runtests.py and a settings module whose CACHES point at the server),
cachelib's test_redis_cache.py (the backend behind Flask-Caching), and
redis-py's own tests of the commands the server implements (its sdist ships
tests/; run with its conftest's --redis-url, once in RESP2 and once in RESP3).
All use redis-py; Django's set_many is a MULTI/EXEC transaction.

Our server is started as `<this python> -m tiny_mp_cache serve` (through
tiny_mp_cache._server.server_argv, whatever the current directory), so run the
script with an interpreter that imports tiny_mp_cache with its Go library
(the CI venv, or PYTHONPATH=<repo> after building the library in place).
The suites and their dependencies go into a venv of their own under --work
(created once, then reused); the sdists are downloaded there and unpacked
afresh on each run. Nothing downloaded is kept in the repository.

The run fails if a test that .ci/framework_suites_expected.json expects to
pass does not, or if a suite runs a different number of tests. Tests that
now pass although expected not to are reported, not failed: --record then
updates the file.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "framework_suites_expected.json")

# Pinned, so that a new release of a suite cannot turn CI red by itself.
DJANGO = "Django==5.2.19"
CACHELIB = "cachelib==0.17.0"
REDIS_PY = "redis==8.2.0"  # the client every suite uses, and whose own tests are a suite too
SUITE_DEPS = [DJANGO, CACHELIB, REDIS_PY, "pytest>=7", "pytest-xprocess>=0.18", "pytest-timeout", "packaging"]
SUITE_TIMEOUT = 900  # seconds, each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Server:
    """Our server or redis-server on a loopback port, in a child process that is always reaped."""

    def __init__(self, kind: str):
        self.port = free_port()
        if kind == "ours":
            # `python -m tiny_mp_cache serve`, importing the package this script
            # imports even from the repository root (whose source tree has no library).
            from tiny_mp_cache._server import server_argv

            argv = server_argv("--port", str(self.port))
        else:
            argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not answers_ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"error: {argv} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(argv, timeout=SUITE_TIMEOUT, **kwargs)


def suite_venv(work: str) -> str:
    """The python of a venv holding the suites' dependencies (created once)."""
    venv = os.path.join(work, "venv")
    py = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, "deps.json")
    want = json.dumps(SUITE_DEPS)
    if not (os.path.exists(stamp) and open(stamp).read() == want):
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", venv], check=True)
        run([py, "-m", "pip", "install", "-q", *SUITE_DEPS], check=True)
        with open(stamp, "w") as f:
            f.write(want)
    return py


def unpack_sdist(py: str, work: str, requirement: str) -> str:
    """Download requirement's sdist (once) and unpack it afresh; returns the unpacked directory."""
    downloads = os.path.join(work, "downloads")
    os.makedirs(downloads, exist_ok=True)
    name, version = requirement.split("==")
    pattern = re.compile(rf"{name}-{re.escape(version)}\.tar\.gz$", re.IGNORECASE)
    found = [f for f in os.listdir(downloads) if pattern.match(f)]
    if not found:
        run([py, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", requirement, "-d", downloads], check=True)
        found = [f for f in os.listdir(downloads) if pattern.match(f)]
    src = os.path.join(work, "src")
    with tarfile.open(os.path.join(downloads, found[0])) as tar:
        top = tar.getnames()[0].split("/")[0]
        shutil.rmtree(os.path.join(src, top), ignore_errors=True)
        tar.extractall(src)
    return os.path.join(src, top)


def run_django(py: str, work: str, port: int) -> dict[str, str]:
    """Django's RedisCacheTests: {test name: "passed" | "failed" | "skipped"}."""
    tests = os.path.join(unpack_sdist(py, work, DJANGO), "tests")
    with open(os.path.join(tests, "tmc_settings.py"), "w") as f:
        f.write(
            "from test_sqlite import *  # noqa: F401,F403\n\n"
            "CACHES = {\n"
            '    "default": {\n'
            '        "BACKEND": "django.core.cache.backends.redis.RedisCache",\n'
            f'        "LOCATION": "redis://127.0.0.1:{port}",\n'
            "    },\n"
            "}\n"
        )
    proc = run(
        [py, "runtests.py", "cache.tests.RedisCacheTests", "--settings=tmc_settings", "--parallel=1", "-v", "2"],
        cwd=tests, capture_output=True, text=True,
    )  # fmt: skip
    with open(os.path.join(work, "django.log"), "w") as f:
        f.write(proc.stderr)  # for a look after a failure
    # "name (cache.tests.RedisCacheTests.name) ... ok", perhaps with a
    # docstring line before the " ... ", or with subtests on lines of their
    # own, indented, after a bare " ... ". A test fails if any line does.
    results: dict[str, str] = {}
    line = re.compile(r"^\s*(test\w*) \(cache\.tests\.RedisCacheTests\.\1\)(?: \(.*?\))?(?:\n[^\n]*?)? \.\.\. (\w*)", re.M)
    for m in line.finditer(proc.stderr):
        outcome = {"ok": "passed", "skipped": "skipped", "": "passed"}.get(m.group(2), "failed")
        if results.get(m.group(1)) != "failed":
            results[m.group(1)] = outcome
    if not results:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    return results


def run_cachelib(py: str, work: str, port: int) -> dict[str, str]:
    """cachelib's test_redis_cache.py: {test id: "passed" | "failed" | "skipped"}."""
    tests = os.path.join(unpack_sdist(py, work, CACHELIB), "tests")
    path = os.path.join(tests, "test_redis_cache.py")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("6360", str(port)))  # its fixed port
    junit = os.path.join(work, "cachelib.xml")
    env = dict(os.environ, CI="true")  # CI=true: the suite uses the server it finds instead of starting one
    proc = run(
        [py, "-m", "pytest", "-q", "test_redis_cache.py", "-o", f"cache_dir={work}/pytest-cache", f"--junitxml={junit}"],
        cwd=tests, env=env, capture_output=True, text=True,
    )  # fmt: skip
    with open(os.path.join(work, "cachelib.log"), "w") as f:
        f.write(proc.stdout + proc.stderr)  # for a look after a failure
    return junit_results(junit)


def junit_results(junit: str) -> dict[str, str]:
    """pytest's JUnit XML as {"Class::test": "passed" | "failed" | "skipped"}; the file is removed."""
    results = {}
    if not os.path.exists(junit):
        return results
    for case in ET.parse(junit).iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        results[f"{case.get('classname').split('.')[-1]}::{case.get('name')}"] = outcome
    os.remove(junit)
    return results


# redis-py's own tests of the commands the server implements. A test in
# test_commands.py is named after the command it tests (test_hset,
# test_zadd_nx, ...); the families below name those commands, the rest of the
# file being other types (streams, geo, bitmaps, HyperLogLog, Redis 8's new
# commands) and server administration (ACL, CLIENT, CONFIG, cluster, ...).
#
# Those that do not pass against tiny-mp-cache (the expected file lists each):
# - test_hscan_iter_novalues: HSCAN NOVALUES through scan_iter (test_hscan_novalues passes);
# - XTRIM MAXLEN ~ trims exactly (Redis drops whole nodes of 100 entries
#   only): test_xtrim_minlen_and_length_args;
# - test_copy_to_another_database: multiple databases;
# - test_eval_msgpack*: no cmsgpack in scripts (nor struct);
# - skipped by redis-py itself, as against redis-server 7.0: Redis 8's
#   options (SET IFEQ/IFNE/IFDEQ, ...), and in RESP2 a test of RESP3 pushes.
REDIS_PY_COMMANDS = {
    "keys": r"command_on_invalid_key_type|delete\w*|delitem|unlink\w*|exists\w*|p?expire\w*|p?ttl\w*"
    r"|type|keys|scan|scan_type|scan_iter|rename|renamenx|randomkey|copy\w*",
    "strings": r"append|decr|decrby|get_and_set|getdel|getex\w*|getitem\w*|getrange|getset|incr|incrby"
    r"|incrbyfloat|mget|mset|msetnx|psetex\w*|set_(?!member)\w+|setex|setnx|setrange|strlen|substr|lcs",
    "lists": r"b?lpop\w*|b?rpop\w*|b?lmove|b?lmpop|brpoplpush\w*|rpoplpush|lindex|linsert|llen|lpos"
    r"|lpush\w*|rpush\w*|lrange|lrem|lset|ltrim|lists_with\w*",
    "hashes": r"hget_and_hset\w*|hset_\w+|hdel|hexists|hgetall|hincrby|hincrbyfloat|hkeys|hlen|hmget"
    r"|hmset|hsetnx|hvals|hstrlen|hrandfield|hscan\w*",
    "sets": r"sadd|scard|sdiff|sdiffstore|sinter|sintercard|sinterstore|sismember|smembers|smismember"
    r"|smove|spop\w*|srandmember\w*|srem|sunion|sunionstore|sscan\w*",
    "sorted sets": r"zadd\w*|zcard|zcount|zdiff\w*|zincrby|zlexcount|zaggregate\w*|zinter\w*"
    r"|b?zpop(?:min|max)|b?zmpop|zrandemember|zrange\w*|zrangebylex|zrevrangebylex|zrank\w*"
    r"|zset_scores\w*|zrem\w*|zrevrange\w*|zrevrank\w*|zscore|zunion\w*|zmscore|zscan\w*",
    # streams as job queues use them: no consumer groups (XGROUP, XREADGROUP, XACK...)
    "streams": r"xadd\w*|xdel|xlen|xrange|xrevrange|xtrim\w*|xread",
}
REDIS_PY_SELECT = "|".join(
    [
        rf"tests/test_commands\.py::TestRedisCommands::test_(?:{'|'.join(REDIS_PY_COMMANDS.values())})",
        r"tests/test_commands\.py::TestBinarySave::.*",  # binary-safe strings, lists, sorted sets
        r"tests/test_scripting\.py::.*",  # EVAL, EVALSHA, SCRIPT, redis-py's Script
        # pub/sub, without the tests of sharded pub/sub in a cluster (one
        # dials a cluster on port 16379), client-side metrics, and a server
        # down (it dials port 6390)
        r"tests/test_pubsub\.py::TestPubSub(?!Metrics|RedisDown)\w*::test_(?!\w*(?:shard|ssubscribe))\w*",
    ]
)
# A pytest plugin, written into the unpacked sdist, that keeps the tests whose
# id (without its parameters) REDIS_PY_SELECT matches.
REDIS_PY_PLUGIN = """\
import os
import re


def pytest_collection_modifyitems(config, items):
    wanted = re.compile(os.environ["TMC_SELECT"])
    keep = [item for item in items if wanted.fullmatch(item.nodeid.split("[")[0])]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
"""


def run_redis_py(py: str, work: str, port: int, protocol: int) -> dict[str, str]:
    """redis-py's tests of the families above, in RESP2 or RESP3: {"Class::test": outcome}."""
    root = unpack_sdist(py, work, REDIS_PY)
    with open(os.path.join(root, "tmc_select.py"), "w") as f:
        f.write(REDIS_PY_PLUGIN)
    junit = os.path.join(work, f"redis-py-resp{protocol}.xml")
    url = f"redis://127.0.0.1:{port}"
    proc = run(
        [py, "-m", "pytest", "-q", "-p", "tmc_select", "-m", "not onlycluster",
         "tests/test_commands.py", "tests/test_pubsub.py", "tests/test_scripting.py",
         f"--redis-url={url}", f"--redis-mod-url={url}", f"--protocol={protocol}",
         "--tb=line",  # a full traceback costs pytest a second of CPU in this 10,000-line file
         "-o", f"cache_dir={work}/pytest-cache", f"--junitxml={junit}"],
        cwd=root, env=dict(os.environ, TMC_SELECT=REDIS_PY_SELECT, PYTHONPATH=root), capture_output=True, text=True,
    )  # fmt: skip
    with open(os.path.join(work, f"redis-py-resp{protocol}.log"), "w") as f:
        f.write(proc.stdout + proc.stderr)  # for a look after a failure
    return junit_results(junit)


SUITES = {
    "django": run_django,
    "cachelib": run_cachelib,
    "redis-py-resp2": functools.partial(run_redis_py, protocol=2),
    "redis-py-resp3": functools.partial(run_redis_py, protocol=3),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["ours", "redis"], default="ours")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tmc-framework-suites"))
    parser.add_argument("--record", action="store_true", help=f"write the results to {os.path.relpath(EXPECTED)}")
    parser.add_argument("--suite", choices=list(SUITES), action="append", help="run only this suite (repeatable)")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    started = time.monotonic()
    py = suite_venv(args.work)
    expected = json.load(open(EXPECTED)) if os.path.exists(EXPECTED) else {}
    recorded, problems = {}, []
    for name in args.suite or list(SUITES):
        server = Server(args.server)
        try:
            t0 = time.monotonic()
            results = SUITES[name](py, args.work, server.port)
        finally:
            server.stop()
        passed = sorted(t for t, r in results.items() if r == "passed")
        not_passing = sorted(t for t, r in results.items() if r != "passed")
        print(f"{name}: {len(passed)} of {len(results)} passed against {args.server} ({time.monotonic() - t0:.0f}s)")
        for t in not_passing:
            print(f"  {results[t]}: {t}")
        recorded[name] = {"total": len(results), "not_passing": not_passing}
        want = expected.get(name)
        if want is None:
            if not args.record:
                problems.append(f"{name}: no expected results recorded")
            continue
        if len(results) != want["total"]:
            problems.append(f"{name}: ran {len(results)} tests, expected {want['total']}")
        regressed = sorted(set(not_passing) - set(want["not_passing"]))
        if regressed:
            problems.append(f"{name}: {len(regressed)} regressed: {', '.join(regressed)}")
        fixed = sorted(set(want["not_passing"]) - set(not_passing))
        if fixed:
            print(f"  now passing (run --record to expect it): {', '.join(fixed)}")
    if args.record:
        with open(EXPECTED, "w") as f:
            json.dump({**expected, **recorded}, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"recorded {os.path.relpath(EXPECTED)}")
    print(f"framework suites took {time.monotonic() - started:.0f}s")
    for p in problems:
        print("error:", p, file=sys.stderr)
    return 1 if problems and not args.record else 0


if __name__ == "__main__":
    sys.exit(main())
