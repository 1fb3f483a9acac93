import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CanvasHost } from '../../lib/canvas/canvas-node.js';
import { continueWorkflow } from '../../lib/canvas/continuation.js';
import { UnsendableError } from '../../lib/errors/errors.js';
import type { SignatureDict, TaskMessage } from '../../lib/protocol/task-message.js';

const sig = (task: string, options: Record<string, unknown> = {}): SignatureDict => ({
  task,
  args: [],
  kwargs: {},
  options: { task_id: `id-${task}`, ...options },
  subtask_type: null,
  immutable: false,
});

/** A host with no result backend whose sends all fail with `refusal`, recording what was sent. */
function refusingHost(refusal: Error): CanvasHost & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    sendTask: async (name: string) => {
      sent.push(name);
      throw refusal;
    },
    publishTask: async () => {},
    asyncResult: () => {
      throw new Error('not used');
    },
    get backend(): never {
      throw new Error('no backend');
    },
    hasBackend: false,
    oid: 'spec-app',
    tasks: new Map(),
  };
}

function messageWith(embed: Partial<TaskMessage['embed']>): TaskMessage {
  const headers = {
    lang: 'js',
    task: 'spec.parent',
    id: 'p1',
    root_id: 'p1',
    parent_id: null,
    group: null,
    group_index: null,
    shadow: null,
    eta: null,
    expires: null,
    retries: 0,
    timelimit: [null, null],
    argsrepr: '',
    kwargsrepr: '',
    origin: 'spec',
  };
  return {
    headers: headers as unknown as TaskMessage['headers'],
    args: [],
    kwargs: {},
    embed: { callbacks: null, errbacks: null, chain: null, chord: null, ...embed },
  };
}

describe('workflow continuation', () => {
  it('asks the caller whether a failed send is an outage: then it rejects (the message is requeued)', async () => {
    const outage = new Error('broker away');
    const host = refusingHost(outage);
    await assert.rejects(
      continueWorkflow(host, messageWith({ callbacks: [sig('cb')] }), 'SUCCESS', 1, null, (error) => error === outage),
      (error: unknown) => error === outage,
    );
    assert.deepEqual(host.sent, ['cb']);
  });

  it('otherwise every part is tried and the unsendable ones are returned', async () => {
    const host = refusingHost(new Error('no such exchange'));
    const unsendable = await continueWorkflow(
      host,
      messageWith({ callbacks: [sig('cb1'), sig('cb2')], chain: [sig('step2'), sig('step1')] }),
      'SUCCESS',
      1,
      null,
      () => false,
    );
    assert.deepEqual(host.sent, ['cb1', 'cb2', 'step1']);
    assert.deepEqual(
      unsendable.map((u) => [u.part, u.task]),
      [
        ['callback', 'cb1'],
        ['callback', 'cb2'],
        ['chain', 'step1'],
      ],
    );
    assert.ok(unsendable.every((u) => u instanceof UnsendableError));
    assert.match(unsendable[0].message, /callback cb1\[id-cb1\] of spec\.parent\[p1\] cannot be sent: Error: no such exchange/);
  });

  it('on FAILURE sends the errbacks of the task, with its id', async () => {
    const host = refusingHost(new Error('refused'));
    const unsendable = await continueWorkflow(
      host,
      messageWith({ errbacks: [sig('eb')], callbacks: [sig('cb')] }),
      'FAILURE',
      { exc_type: 'Boom', exc_message: ['x'], exc_module: null },
      null,
      () => false,
    );
    assert.deepEqual(host.sent, ['eb'], 'callbacks do not run on failure');
    assert.deepEqual(
      unsendable.map((u) => u.part),
      ['errback'],
    );
  });
});
