"""One producer process: enqueue tasks first..first+count-1 and, for Celery, wait for each result.

    python produce.py rq|celery FIRST COUNT

Prints one JSON line: the results read back (Celery) or the job ids (RQ).
"""

from __future__ import annotations

import json
import os
import sys

queue_kind, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
numbers = range(first, first + count)

if queue_kind == "rq":
    from redis import Redis
    from rq import Queue, Retry

    import tasks

    q = Queue(connection=Redis.from_url(os.environ["JOBS_URL"]))
    jobs = [q.enqueue(tasks.work, i, retry=Retry(max=2)) for i in numbers]
    print(json.dumps({"enqueued": len(jobs)}))
else:
    import celery_app

    pending = [(i, celery_app.work.delay(i)) for i in numbers]
    # Each result arrives through the result backend (a pub/sub channel per task on Redis).
    results = {i: r.get(timeout=120) for i, r in pending}
    wrong = {i: v for i, v in results.items() if v != i * i}
    print(json.dumps({"results": len(results), "wrong": wrong}))
