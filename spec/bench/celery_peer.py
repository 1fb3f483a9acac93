"""Python Celery, the peer measured beside celeriac and the floor (npm run bench -- --peers).

The Celery app of the peer scenarios (a worker runs it with `celery -A celery_peer worker`),
and, run as `python3 celery_peer.py producer`, their producer. Driven by spec/bench/celery-peer.ts
over stdin and stdout, one line each way:

  producer -> READY          connected, warm-up done
  driver   -> go             the measured work starts
  producer -> REPORT {json}  startedAt, finishedAt (epoch ms), count, latencies (ms per task)
  driver   -> stop (or EOF)  the producer deletes the run's results and exits

The worker prints WORKER_READY once Celery says it is ready. Configuration comes as JSON in
the CELERY_PEER_CONFIG environment variable: amqpUrl, backendUrl, queue, prefetchMultiplier,
and for the producer n, warmup, mode ('roundtrip' or 'latency') and resultTimeoutMs.
"""
import ctypes
import json
import os
import signal
import sys
import time

from celery import Celery
from celery.signals import worker_ready

CONFIG = json.loads(os.environ["CELERY_PEER_CONFIG"])

# End with the driver (celery-peer.ts) even when it is killed outright: Linux sends SIGTERM
# to this process when its parent dies (prctl PR_SET_PDEATHSIG).
PR_SET_PDEATHSIG = 1
ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

app = Celery("bench", broker=CONFIG["amqpUrl"], backend=CONFIG["backendUrl"])
app.conf.update(
    task_default_queue=CONFIG["queue"],
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=CONFIG["prefetchMultiplier"],
    result_expires=3600,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(i):
    return i


@worker_ready.connect
def announce_ready(**_):
    # The worker sends what is printed to its log (worker_redirect_stdouts): write to the fd.
    os.write(1, b"WORKER_READY\n")


def now_ms():
    return time.time() * 1000


def produce():
    n = CONFIG["n"]
    timeout = CONFIG["resultTimeoutMs"] / 1000
    mode = CONFIG["mode"]
    ids = []

    def round_trip(i):
        result = noop.delay(i)
        ids.append(result.id)
        value = result.get(timeout=timeout)
        if value != i:
            raise RuntimeError("task %d returned %r" % (i, value))

    # Warm-up, as the other producers do: connections, the result subscription, the queue.
    if mode == "latency":
        for i in range(CONFIG["warmup"]):
            round_trip(-1 - i)
    else:
        warm = [noop.delay(-1 - i) for i in range(CONFIG["warmup"])]
        for result in warm:
            ids.append(result.id)
            result.get(timeout=timeout)
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "go":
        return

    latencies = []
    started = now_ms()
    if mode == "latency":
        for i in range(n):
            sent = now_ms()
            round_trip(i)
            latencies.append(now_ms() - sent)
    else:
        sent_at = []
        results = []
        for i in range(n):
            sent_at.append(now_ms())
            results.append(noop.delay(i))
        for i, result in enumerate(results):
            ids.append(result.id)
            value = result.get(timeout=timeout)
            if value != i:
                raise RuntimeError("task %d returned %r" % (i, value))
            latencies.append(now_ms() - sent_at[i])
    finished = now_ms()
    report = {"startedAt": started, "finishedAt": finished, "count": n, "latencies": latencies}
    print("REPORT " + json.dumps(report), flush=True)

    sys.stdin.readline()  # 'stop', or EOF
    # Not timed: the run's results go, so repeated runs do not pile up in Redis.
    client = app.backend.client
    for start in range(0, len(ids), 1000):
        client.delete(*[app.backend.get_key_for_task(task_id) for task_id in ids[start:start + 1000]])


if __name__ == "__main__" and sys.argv[1:] == ["producer"]:
    produce()
