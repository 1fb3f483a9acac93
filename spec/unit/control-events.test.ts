import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { receiveEvents } from '../../lib/events/receiver.js';
import type { CeleryEvent } from '../../lib/events/dispatcher.js';
import { WorkerEventSender } from '../../lib/events/worker-events.js';
import { ControlClient } from '../../lib/control/control-client.js';
import { ControlServer } from '../../lib/control/control-server.js';
import { memoryApp } from '../support/apps.js';

/** enable_events / disable_events / heartbeat acting on a worker's real event sender (`-E`). */
describe('remote control: events (memory://)', () => {
  const app = memoryApp();
  const add = app.task('spec.control-events.add', (x: number, y: number) => x + y);
  const hostname = 'control-ev@spec';
  const worker = app.worker({ hostname, shutdownTimeout: '1s' });
  const sender = new WorkerEventSender(worker);
  const server = new ControlServer(worker, { events: sender });
  after(async () => {
    await worker.stop();
    await server.stop();
    await sender.stop();
    await app.close();
  });

  it('disable_events stops task events, enable_events resumes them; heartbeat sends a worker-heartbeat at once', async () => {
    const events: CeleryEvent[] = [];
    const receiver = await receiveEvents(app, (e) => events.push(e));
    await server.start();
    await sender.start();
    await worker.start();
    const client = new ControlClient(app);
    const call = async (method: string): Promise<unknown> =>
      (await client.broadcast(method, {}, { destination: [hostname], timeout: '5s' }))[0]?.[hostname];

    const asked = Date.now();
    assert.deepEqual(await call('heartbeat'), { ok: 'heartbeat sent' });
    while (!events.some((e) => e.type === 'worker-heartbeat')) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(Date.now() - asked < 1500, 'the heartbeat came from the command, not the 2 s timer');

    assert.deepEqual(await call('disable_events'), { ok: 'task events disabled' });
    const quiet = await add.delay(1, 1);
    assert.equal(await quiet.get({ timeout: '5s' }), 2);
    assert.deepEqual(await call('enable_events'), { ok: 'task events enabled' });
    const loud = await add.delay(2, 2);
    assert.equal(await loud.get({ timeout: '5s' }), 4);
    while (!events.some((e) => e.type === 'task-succeeded' && e.uuid === loud.id)) await new Promise((resolve) => setTimeout(resolve, 10));
    await receiver.close();
    assert.deepEqual(
      events.filter((e) => e.uuid === quiet.id),
      [],
    );
  });
});
