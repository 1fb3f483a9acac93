"""Python producers for celeriac's interop specs: each subcommand sends work, waits with
Celery's own ``AsyncResult.get()`` and prints the outcome as one line of JSON.

    python3 producer.py call node.add '{"args": [2, 3]}'
    python3 producer.py chord '{"size": 10}'

Configured like tasks.py (CELERY_BROKER_URL, CELERY_RESULT_BACKEND, INTEROP_* queues and
INTEROP_SERIALIZER).
"""
import json
import sys

from celery import chain, chord, group

from tasks import (add, add_all, add_last, app, multiply, node_add, node_add_all, node_add_last,
                   node_fail, node_multiply, PY_QUEUE)

TIMEOUT = 30


def outcome(result):
    """The value of a result, or the exception Celery raises for it, as JSON-friendly data."""
    try:
        value = result.get(timeout=TIMEOUT)
        return {'id': result.id, 'state': result.state, 'result': value}
    except Exception as exc:  # what a Python caller of a failed/revoked task sees
        return {
            'id': result.id,
            'state': result.state,
            'error': {'type': type(exc).__name__, 'module': type(exc).__module__, 'message': str(exc)},
            'traceback': result.traceback,
        }


def call(name, request='{}'):
    """Any task by name, with args, kwargs and apply_async options (countdown, expires, ...)."""
    request = json.loads(request)
    task = app.tasks[name]
    result = task.apply_async(request.get('args', []), request.get('kwargs', {}), **request.get('options', {}))
    return outcome(result)


def delay_add():
    """The simplest call of a task that only celeriac serves."""
    return outcome(node_add.delay(2, 3))


def apply_async_kwargs():
    """Positional and keyword arguments and a countdown, to a celeriac task."""
    return outcome(node_add.apply_async((1,), {'y': 2}, countdown=1))


def node_chain():
    """(2 * 2) + 10, both steps on celeriac workers."""
    result = chain(node_multiply.s(2, 2), node_add.s(10)).apply_async()
    return {**outcome(result), 'parent_id': result.parent.id}


def node_group(size='5'):
    result = group(node_add.s(i, i) for i in range(int(size))).apply_async()
    return {'id': result.id, 'result': result.get(timeout=TIMEOUT), 'children': [r.id for r in result.results]}


def node_chord(size='5'):
    """A chord whose header and body run on celeriac workers: Celery's Redis chord counter."""
    result = chord(node_add.s(i, i) for i in range(int(size)))(node_add_all.s())
    return {**outcome(result), 'group_id': result.parent.id, 'header': [r.id for r in result.parent.results]}


def node_chord_failing():
    """A header task fails on celeriac: the body is not run (it is recorded FAILURE, ChordError)."""
    result = chord([node_add.s(1, 1), node_fail.s('header boom')])(node_add_all.s())
    return {**outcome(result), 'group_id': result.parent.id, 'header': [r.id for r in result.parent.results]}


def mixed_chain():
    """((2 + 3) * 4 + 10) * 2, alternating Python (add) and celeriac (node.multiply) steps.

    A step that a celeriac worker sends (here the second add) needs its queue in the
    signature: task_routes only apply where Python sends."""
    result = chain(
        add.s(2, 3),
        node_multiply.s(4),
        add.s(10).set(queue=PY_QUEUE),
        node_multiply.s(2),
    ).apply_async()
    ids = []
    node = result
    while node is not None:
        ids.insert(0, node.id)
        node = node.parent
    return {**outcome(result), 'steps': ids}


def mixed_chain_routed():
    """As mixed_chain, without .set(queue=...): the celeriac worker routes tasks.* itself (taskRoutes)."""
    result = chain(add.s(2, 3), node_multiply.s(4), add.s(10), node_multiply.s(2)).apply_async()
    return outcome(result)


def mixed_chord(fires='python'):
    """A header of Python and celeriac tasks; one of its tasks waits for the others, so the
    worker named by `fires` completes the chord and sends the body (a celeriac task)."""
    last = add_last.s(100, 100) if fires == 'python' else node_add_last.s(100, 100)
    header = [add.s(1, 1), node_add.s(2, 2), multiply.s(3, 3), node_multiply.s(4, 4), last]
    result = chord(header)(node_add_all.s())
    return {**outcome(result), 'group_id': result.parent.id, 'header': [r.id for r in result.parent.results]}


def python_chord_body():
    """A header on celeriac workers and a Python body, routed explicitly (a celeriac worker sends it)."""
    result = chord(node_add.s(i, i) for i in range(4))(add_all.s().set(queue=PY_QUEUE))
    return outcome(result)


def node_chain_through_chord():
    """(2 * 2), then a chord over (4 + 1, 4 + 2) summed, then + 10 = 21, every step on celeriac
    workers. Celery 5.2 writes the chord in the first message's chain embed with its header as
    the list of its tasks, not a group."""
    result = chain(node_multiply.s(2, 2), chord([node_add.s(1), node_add.s(2)], node_add_all.s()), node_add.s(10)).apply_async()
    return outcome(result)


def rebuild_exceptions(infos):
    """How Celery turns stored {exc_type, exc_message, exc_module} back into exceptions."""
    rebuilt = []
    for info in json.loads(infos):
        exc = app.backend.exception_to_python(info)
        rebuilt.append({'type': type(exc).__name__, 'module': type(exc).__module__, 'message': str(exc)})
    return rebuilt


if __name__ == '__main__':
    command, *arguments = sys.argv[1:]
    print(json.dumps(globals()[command](*arguments)))
