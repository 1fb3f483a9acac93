import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callOptionsToCelery, celeryOptionsToCall } from '../../lib/canvas/signature-options.js';
import { Signature } from '../../lib/canvas/signature.js';

describe('signature options ⇄ Celery options dict', () => {
  it('writes snake_case keys, seconds and ISO dates, and reads them back', () => {
    const eta = new Date('2026-11-27T10:00:00.000Z');
    const celery = callOptionsToCelery({
      taskId: 'id-1',
      routingKey: 'rk',
      ignoreResult: true,
      countdown: 1500,
      eta,
      deliveryMode: 'transient',
      queue: 'q',
    });
    assert.deepEqual(celery, {
      task_id: 'id-1',
      routing_key: 'rk',
      ignore_result: true,
      countdown: 1.5,
      eta: eta.toISOString(),
      delivery_mode: 'transient',
      queue: 'q',
    });
    assert.deepEqual(celeryOptionsToCall(celery), {
      taskId: 'id-1',
      routingKey: 'rk',
      ignoreResult: true,
      countdown: 1500,
      eta,
      deliveryMode: 'transient',
      queue: 'q',
    });
  });

  it("reads Celery's delivery_mode as kombu's names or AMQP's numbers", () => {
    assert.deepEqual(celeryOptionsToCall({ delivery_mode: 1 }), { deliveryMode: 'transient' });
    assert.deepEqual(celeryOptionsToCall({ delivery_mode: 2 }), { deliveryMode: 'persistent' });
    assert.deepEqual(celeryOptionsToCall({ delivery_mode: 'persistent' }), { deliveryMode: 'persistent' });
    assert.deepEqual(celeryOptionsToCall({ delivery_mode: 'sometimes' }), {});
  });

  it('a delivery mode read from a dict is a call option, so setting another replaces it', () => {
    const signature = Signature.fromDict({
      task: 'tasks.add',
      args: [1],
      kwargs: {},
      options: { delivery_mode: 1 },
      subtask_type: null,
      immutable: false,
    });
    assert.equal(signature.toDict().options.delivery_mode, 'transient');
    assert.equal(signature.set({ deliveryMode: 'persistent' }).toDict().options.delivery_mode, 'persistent');
  });
});
