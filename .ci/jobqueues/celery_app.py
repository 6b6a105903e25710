"""A Celery app on the server under test: kombu's Redis transport as the broker, the Redis result backend.

JOBS_URL is the server's redis:// URL. Tasks are acknowledged late, so a
task whose worker is killed is delivered again once the visibility timeout
has passed (as it would be on Redis).
"""

from __future__ import annotations

import os

from celery import Celery

import tasks

url = os.environ["JOBS_URL"]
app = Celery("jobqueues", broker=url, backend=url)  # one database: tiny-mp-cache serves only database 0
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=False,  # a lost worker's task stays unacked: redelivered, not failed
    worker_prefetch_multiplier=1,
    # Redeliver a lost worker's task 8 s on, swept for every 2 s (kombu's defaults: an hour, ~100 s).
    broker_transport_options={"visibility_timeout": 8, "unacked_restore_interval": 2, "unacked_restore_throttle": 1},
    broker_connection_retry_on_startup=True,
    result_expires=600,
)


@app.task(bind=True, max_retries=2)
def work(self, i: int) -> int:
    try:
        return tasks.work(i)
    except RuntimeError as exc:
        raise self.retry(exc=exc, countdown=0)


@app.task
def stall(i: int) -> int:
    return tasks.stall(i)
