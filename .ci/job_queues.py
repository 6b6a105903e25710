#!/usr/bin/env python3
"""Real job queues on our server, side by side with redis-server: RQ and Celery.

    python .ci/job_queues.py                   # both queues, on our server and on redis-server
    python .ci/job_queues.py --servers ours    # ours only (no comparison)

For each queue and each server, in one run: a worker is SIGKILLed in the
middle of a task; 4 producer processes enqueue 200 tasks (one in 20 fails on
its first attempt and is retried by the queue); 2 workers run them. The
tasks log what ran to a file outside the server (.ci/jobqueues/tasks.py).
The run fails unless every task ran to completion exactly once, each failing
one failed exactly once first, the producers read every Celery result back
through the result backend, and what happened to the killed task is the same
on our server as on redis-server (Celery redelivers it: acks_late; RQ leaves
it to its registry of abandoned jobs).

RQ uses sets, hashes, sorted sets, pipelines with WATCH/MULTI and pub/sub;
Celery (kombu's Redis transport, the Redis result backend) uses lists,
sorted sets, hashes, sets and pub/sub. The queues and redis-py go into a venv
of their own under --work, pinned, so that a release cannot turn CI red.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS_DIR = os.path.join(HERE, "jobqueues")
DEPS = ["rq==3.0.0", "celery==5.7.0", "kombu==5.7.0", "redis==8.2.0", "packaging"]  # kombu imports packaging without requiring it
TASKS = 200
PRODUCERS = 4
RUN_TIMEOUT = 240  # seconds for one queue on one server to finish its tasks


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


def spawn(argv: list[str], env: dict[str, str], log: str) -> subprocess.Popen:
    """A child in a process group of its own (so a kill reaches its children), output to log."""
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def kill(p: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 20) -> None:
    """Signal p's process group and reap p; SIGKILL if it outlives timeout."""
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
    try:  # what the group leader's children left behind
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def start_server(kind: str, log: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "ours":
        from tiny_mp_cache._server import server_argv

        argv = server_argv("--port", str(port))
    else:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    p = spawn(argv, dict(os.environ), log)
    deadline = time.monotonic() + 20
    while not answers_ping(port):
        if p.poll() is not None or time.monotonic() > deadline:
            kill(p)
            sys.exit(f"job_queues: the {kind} server did not start; see {log}")
        time.sleep(0.05)
    return p, port


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def log_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split("\n")[:-1]
    except FileNotFoundError:
        return []


class Run:
    """One queue on one server: the child processes and the files they write."""

    def __init__(self, python: str, queue: str, server: str, work: str):
        self.python, self.queue, self.server = python, queue, server
        self.dir = tempfile.mkdtemp(prefix=f"{queue}-{server}-", dir=work)
        self.log = os.path.join(self.dir, "tasks.log")
        self.children: list[subprocess.Popen] = []

    def env(self, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(JOBS_LOG=self.log, JOBS_DIR=self.dir, JOBS_URL=f"redis://127.0.0.1:{port}", PYTHONPATH=TASKS_DIR)
        return env

    def worker(self, env: dict[str, str], name: str, burst: bool = False) -> subprocess.Popen:
        bindir = os.path.dirname(self.python)
        if self.queue == "rq":
            argv = [os.path.join(bindir, "rq"), "worker", "--url", env["JOBS_URL"], "--path", TASKS_DIR, "-n", name]
            argv += ["--burst"] if burst else []
        else:
            argv = [os.path.join(bindir, "celery"), "-A", "celery_app", "worker", "--pool=solo", "-n", name + "@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]  # fmt: skip
        p = spawn(argv, env, os.path.join(self.dir, f"worker-{name}.log"))
        self.children.append(p)
        return p

    def produce(self, env: dict[str, str], first: int, count: int) -> subprocess.Popen:
        out = os.path.join(self.dir, f"producer-{first}.out")
        with open(out, "wb") as f:
            p = subprocess.Popen([self.python, os.path.join(TASKS_DIR, "produce.py"), self.queue, str(first), str(count)],
                                 env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.children.append(p)
        return p

    def enqueue_stall(self, env: dict[str, str]) -> None:
        code = ("from redis import Redis; from rq import Queue; import tasks, os; "
                "Queue(connection=Redis.from_url(os.environ['JOBS_URL'])).enqueue(tasks.stall, 0)"
                if self.queue == "rq" else "import celery_app; celery_app.stall.delay(0)")  # fmt: skip
        subprocess.run([self.python, "-c", code], env=env, check=True, timeout=60)

    def run(self) -> dict:
        server, port = start_server(self.server, os.path.join(self.dir, "server.log"))
        try:
            env = self.env(port)
            # A worker killed in the middle of a task, with its children.
            first = self.worker(env, "killed")
            self.enqueue_stall(env)
            wait_for(lambda: "start 0" in log_lines(self.log), 60, "the stalling task to start")
            kill(first)
            producers = [self.produce(env, 1 + k * (TASKS // PRODUCERS), TASKS // PRODUCERS) for k in range(PRODUCERS)]
            workers = [self.worker(env, f"w{k}", burst=True) for k in range(2)]
            done = lambda: sum(line.startswith("done ") for line in log_lines(self.log)) >= TASKS + (self.queue == "celery")
            wait_for(done, RUN_TIMEOUT, f"{TASKS} tasks to complete")
            for p in producers:
                p.wait(RUN_TIMEOUT)
            time.sleep(1)  # anything that would run a task twice has had its chance
            outputs = [self.read_output(p) for p in producers]
        finally:
            for p in self.children:
                kill(p, signal.SIGTERM)
            kill(server, signal.SIGTERM)
        return self.summary(outputs)

    def read_output(self, p: subprocess.Popen) -> dict:
        path = os.path.join(self.dir, f"producer-{p.args[3]}.out")
        with open(path) as f:
            text = f.read()
        if p.returncode != 0:
            raise RuntimeError(f"a producer failed ({p.returncode}):\n{text[-3000:]}")
        return json.loads(text.strip().splitlines()[-1])

    def summary(self, outputs: list[dict]) -> dict:
        counts = collections.Counter(log_lines(self.log))
        problems = []
        for i in range(1, TASKS + 1):
            if counts[f"done {i}"] != 1:
                problems.append(f"task {i} completed {counts[f'done {i}']} times")
            failed = counts[f"fail {i}"]
            if failed != (i % 20 == 7):
                problems.append(f"task {i} failed {failed} times")
        if self.queue == "celery":
            if sum(o["results"] for o in outputs) != TASKS or any(o["wrong"] for o in outputs):
                problems.append(f"results read back: {outputs}")
        return {"problems": problems, "killed task": {"start": counts["start 0"], "done": counts["done 0"]}}


def job_venv(work: str) -> str:
    venv = os.path.join(work, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *DEPS], check=True)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="ours,redis", help="comma-separated: ours, redis")
    parser.add_argument("--queues", default="rq,celery", help="comma-separated: rq, celery")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tmc-job-queues"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    python = job_venv(args.work)
    servers, failed = args.servers.split(","), False
    for queue in args.queues.split(","):
        seen = {}
        for server in servers:
            start = time.monotonic()
            run = Run(python, queue, server, args.work)
            try:
                seen[server] = run.run()
            except (TimeoutError, RuntimeError, subprocess.SubprocessError) as e:
                seen[server] = {"problems": [str(e)], "killed task": None}
            took = time.monotonic() - start
            problems = seen[server]["problems"]
            print(f"job_queues: {queue} on {server}: {TASKS} tasks, {len(problems)} problems, "
                  f"killed task {seen[server]['killed task']}, {took:.0f} s ({run.dir})")  # fmt: skip
            for p in problems[:20]:
                print(f"  {p}")
            failed |= bool(problems)
        outcomes = {json.dumps(s["killed task"]) for s in seen.values()}
        if len(outcomes) > 1:
            print(f"job_queues: {queue}: the killed task ended differently: {seen}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
