import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { createApp } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { findPython } from '../support/python.js';
import { deleteQueues } from './python-peer.js';

/**
 * A Celery 5.2.6 producer declaring the queue as celeriac's quorum default does (x-queue-type:
 * quorum on the queue, its direct exchange and binding), sending one task at once and one with a
 * countdown (Celery sends an ETA straight to the queue; the celeriac worker puts it through the
 * quorum delay tiers), both read back with Celery's AsyncResult.get().
 */
const PRODUCER = `
import json, sys
from celery import Celery
from kombu import Exchange, Queue
queue = sys.argv[1]
app = Celery('quorum_spot', broker=sys.argv[2], backend=sys.argv[3])
app.conf.task_queues = [Queue(queue, Exchange(queue), routing_key=queue, queue_arguments={'x-queue-type': 'quorum'})]
now = app.send_task('spec.interop.quorum.add', args=[2, 3], queue=queue)
later = app.send_task('spec.interop.quorum.add', args=[4, 5], queue=queue, countdown=1.5)
print(json.dumps([now.get(timeout=30), later.get(timeout=30)]))
`;

function runPython(args: string[]): Promise<string> {
  const child = spawn(findPython(), ['-c', PRODUCER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(stdout.trim()) : reject(new Error(`python exited with ${code}:\n${stderr}`)))),
  );
}

describe('interop: a Celery 5.2.6 producer and a celeriac worker on a quorum default queue', { timeout: 120_000 }, () => {
  const queue = uniqueName('interop-quorum');
  const app = createApp({ broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queue, defaultQueueType: 'quorum', logLevel: 'silent' });
  const worker = app.worker({ concurrency: 2 });
  after(async () => {
    await worker.stop();
    await app.close();
    await deleteQueues([queue]);
  });

  it('both declare the queue alike; the task and its countdown twin run on celeriac', async () => {
    app.task('spec.interop.quorum.add', (x: number, y: number) => x + y);
    await worker.start();
    assert.deepEqual(JSON.parse(await runPython([queue, AMQP_URL, REDIS_URL])), [5, 9]);
  });
});
