"""A Python Celery app that shares its broker and result backend with celeriac.

Python workers serve the ``tasks.*`` tasks defined here; celeriac (Node) workers serve the
``node.*`` tasks, which are declared here as stubs so that Python code can call them like any
other task: ``node_add.delay(2, 3)``, ``node_add.s(1)``, ``chord(...)(node_add_all.s())``.

Everything comes from the environment, so the same module configures workers and producers:

    CELERY_BROKER_URL       amqp://guest:guest@127.0.0.1:5672
    CELERY_RESULT_BACKEND   redis://127.0.0.1:6379/0
    INTEROP_PY_QUEUE        the queue Python workers consume (tasks.*)
    INTEROP_NODE_QUEUE      the queue celeriac workers consume (node.*)
    INTEROP_SERIALIZER      json (default) or msgpack, for the task messages this side sends
    INTEROP_RESULT_BACKEND  overrides CELERY_RESULT_BACKEND (the rpc:// specs set it to rpc://)
    INTEROP_RESULT_EXPIRES  result_expires in seconds (also the x-expires of rpc:// reply queues)

Run a worker:  python3 -m celery -A tasks worker -Q "$INTEROP_PY_QUEUE" --pool=threads -c 2
"""
import os
import time
from datetime import datetime, timezone

from celery import Celery

PY_QUEUE = os.environ.get('INTEROP_PY_QUEUE', 'python')
if os.environ.get('INTEROP_RESULT_BACKEND'):
    # Celery reads $CELERY_RESULT_BACKEND before the app's own settings: replace the variable.
    os.environ['CELERY_RESULT_BACKEND'] = os.environ['INTEROP_RESULT_BACKEND']
NODE_QUEUE = os.environ.get('INTEROP_NODE_QUEUE', 'node')

app = Celery(
    'tasks',
    broker=os.environ.get('CELERY_BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672'),
    backend=os.environ.get('CELERY_RESULT_BACKEND', 'redis://127.0.0.1:6379/0'),
)
if os.environ.get('INTEROP_RESULT_EXPIRES'):
    app.conf.result_expires = float(os.environ['INTEROP_RESULT_EXPIRES'])
app.conf.update(
    task_serializer=os.environ.get('INTEROP_SERIALIZER', 'json'),
    accept_content=['json', 'msgpack'],
    # celeriac stores and reads results as JSON: keep Celery's default result serializer.
    result_serializer='json',
    result_accept_content=['json'],
    # One queue per language. Routes apply when *Python* sends a task; see docs/interop.md.
    task_routes={
        'tasks.*': {'queue': PY_QUEUE},
        'node.*': {'queue': NODE_QUEUE},
    },
    enable_utc=True,
    timezone='UTC',
)


# ---- tasks served by Python workers ---------------------------------------------------------

@app.task
def add(x, y):
    return x + y


@app.task
def multiply(x, y):
    return x * y


@app.task
def add_all(numbers):
    return sum(numbers)


@app.task
def fail(message):
    raise ValueError(message)


class InsufficientFunds(Exception):
    """A project-specific exception: celeriac sees exc_type 'InsufficientFunds', exc_module 'tasks'."""


@app.task
def fail_custom(account, missing):
    raise InsufficientFunds(f'account {account} is short by {missing}')


@app.task(bind=True)
def inspect(self, *args, **kwargs):
    """What the worker received: arguments, call options and lineage, as plain JSON."""
    request = self.request
    return {
        'args': list(args),
        'kwargs': kwargs,
        'id': request.id,
        'eta': request.eta,
        'expires': request.expires,
        'retries': request.retries,
        'priority': (request.delivery_info or {}).get('priority'),
        'content_type': (request.properties or {}).get('content_type'),
        'root_id': request.root_id,
        'parent_id': request.parent_id,
        'group': request.group,
        'started_at': datetime.now(timezone.utc).isoformat(),
    }


@app.task(bind=True, max_retries=5)
def flaky(self, succeed_on_try):
    """Retries itself (a new message with retries + 1) until its try number reaches succeed_on_try."""
    if self.request.retries + 1 < succeed_on_try:
        raise self.retry(countdown=0)
    return self.request.retries


@app.task(bind=True)
def add_last(self, x, y):
    """As add, but in a chord header it waits until every other header task has reported, so
    that this task completes the chord and this (Python) worker fires the body."""
    client, group = self.backend.client, self.request.group
    size = int(client.get(f'celery-taskset-meta-{group}.s'))
    deadline = time.monotonic() + 20
    while client.zcard(f'celery-taskset-meta-{group}.j') < size - 1:
        if time.monotonic() > deadline:
            raise TimeoutError('the other header tasks did not report')
        time.sleep(0.02)
    return x + y


# ---- tasks served by celeriac workers (stubs: Python only sends them) ----------------------

def node_task(name):
    """Declares a task that runs on celeriac workers, so Python can call it like a local one."""
    def never_runs_here(*args, **kwargs):
        raise NotImplementedError(f'{name} is served by celeriac workers')
    return app.task(name=name)(never_runs_here)


node_add = node_task('node.add')
node_multiply = node_task('node.multiply')
node_add_all = node_task('node.add_all')
node_fail = node_task('node.fail')
node_fail_custom = node_task('node.fail_custom')
node_inspect = node_task('node.inspect')
node_add_last = node_task('node.add_last')
node_retry_once = node_task('node.retry_once')
node_sleep = node_task('node.sleep')
