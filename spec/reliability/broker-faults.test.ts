import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { PublishError } from '../../lib/index.js';
import { AMQP_URL } from '../support/apps.js';
import { closeAllConnections, restoreServices, setWatermark, startBroker, stopBroker, waitFor } from '../support/faults.js';
import { Workload } from '../support/loss-checker.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * Connections cut, stalled and closed, the broker restarted and its memory alarm raised, under
 * load: `celeriac worker` processes and a producer, checked by the loss checker. Faults that act
 * on the shared node (close_all_connections, stop_app, the watermark) are undone in `finally`
 * and again in `after`.
 */
describe('reliability: broker and connection faults', () => {
  let workload: Workload | undefined;
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await workload?.close();
    workload = undefined;
    await proxy?.close();
    proxy = undefined;
  });
  after(restoreServices);

  it('connections reset by a proxy three times under load, producer and workers: reconnected, nothing lost, no double acks', async (t) => {
    proxy = await startTcpProxy();
    const url = proxy.urlFor(AMQP_URL);
    const w = (workload = new Workload({ producerBroker: url, workerBroker: url, heartbeatSeconds: 2 }));
    await w.startWorker('c1', ['-c', '4']);
    await w.startWorker('c2', ['-c', '4']);
    const sending = w.send(400, 30);
    const cuts: number[] = [];
    for (const threshold of [60, 160, 260]) {
      await waitFor(() => w.executions().length >= threshold, `${threshold} runs`, 60_000, 20);
      proxy.cut();
      cuts.push(Date.now());
    }
    await sending;
    const report = await w.settle(60_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(`resume after each cut (first redelivered task started): ${cuts.map((at) => `${w.resumeMs(at, true)} ms`).join(', ')}`);
    for (const line of w.linesAbout(report.lost)) t.diagnostic(line);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.ok(report.redeliveredRuns > 0, 'the cuts hit unacked deliveries, which ran again');
    assert.ok(proxy.accepted >= 2 + 2 * 3, `clients reconnected through the proxy (${proxy.accepted} connections)`);
    for (const worker of w.workers) assert.equal(worker.child.exitCode, null);
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('a stall beyond the heartbeat (socket open, no bytes): heartbeats detect it, clients reconnect, nothing lost', async (t) => {
    proxy = await startTcpProxy();
    const url = proxy.urlFor(AMQP_URL);
    const w = (workload = new Workload({ producerBroker: url, workerBroker: url, heartbeatSeconds: 1 }));
    const worker = await w.startWorker('h1', ['-c', '4']);
    const sending = w.send(200, 50);
    await waitFor(() => w.executions().length >= 40, '40 runs', 60_000, 20);
    proxy.stall();
    const stalledAt = Date.now();
    try {
      await worker.waitFor(/connection lost .*reconnecting/, 20_000);
    } finally {
      proxy.resume();
    }
    const resumedAt = Date.now();
    t.diagnostic(`heartbeat noticed the stall after ${resumedAt - stalledAt} ms`);
    await sending;
    const report = await w.settle(60_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(`first redelivered task started ${w.resumeMs(resumedAt, true)} ms after the stall ended`);
    for (const line of w.linesAbout(report.lost)) t.diagnostic(line);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.equal(worker.child.exitCode, null);
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('rabbitmqctl close_all_connections under load: everyone reconnects, nothing lost', async (t) => {
    const w = (workload = new Workload());
    await w.startWorker('a1', ['-c', '4']);
    await w.startWorker('a2', ['-c', '4']);
    const sending = w.send(300, 30);
    await waitFor(() => w.executions().length >= 80, '80 runs', 60_000, 20);
    await closeAllConnections('spec/reliability: close_all_connections');
    const closedAt = Date.now();
    await sending;
    const report = await w.settle(60_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(`first redelivered task started ${w.resumeMs(closedAt, true)} ms after the close`);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    for (const worker of w.workers) {
      assert.equal(worker.child.exitCode, null);
      assert.match(worker.output(), /connection lost/);
    }
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('broker restart (stop_app / start_app) under load: durable queue and persistent messages survive, clients resume', async (t) => {
    const w = (workload = new Workload({ producerOptions: { confirmTimeout: '20s' } }));
    await w.startWorker('r1', ['-c', '4']);
    await w.startWorker('r2', ['-c', '4']);
    await w.send(150, 30);
    const sending = w.send(150, 30, 5);
    await waitFor(() => w.executions().length >= 60, '60 runs', 60_000, 20);
    let startedAt = 0;
    try {
      await stopBroker();
      await new Promise((resolve) => setTimeout(resolve, 2000));
    } finally {
      await startBroker();
      startedAt = Date.now();
    }
    await sending;
    // Work sent after the restart: the producer and the workers must have reconnected to run it
    // (what was sent before may all have finished before stop_app took effect).
    await w.send(30, 10);
    const report = await w.settle(90_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(`first task started ${w.resumeMs(startedAt)} ms after start_app returned`);
    for (const line of w.linesAbout(report.lost)) t.diagnostic(line);
    for (const [id, error] of [...w.failed].slice(0, 3)) t.diagnostic(`failed send ${id}: ${error}`);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.ok(
      w.executions().some((r) => r.started > startedAt),
      'work resumed after the restart',
    );
    for (const worker of w.workers) assert.equal(worker.child.exitCode, null);
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('memory alarm: delay() fails with a clear confirm timeout while consumers keep working; sends succeed after it clears', async (t) => {
    const w = (workload = new Workload({ producerOptions: { confirmTimeout: '2s' } }));
    await w.startWorker('m1', ['-c', '4']);
    // 12 s of work at -c 4: the worker is still busy when the alarm lands, however long
    // rabbitmqctl takes to start on a loaded machine (it took over 3 s in one CI run).
    await w.send(480, 100);
    let alarmAt = 0;
    let blockedSend: unknown;
    let ranDuringAlarm = 0;
    try {
      await setWatermark(0);
      alarmAt = Date.now();
      const blockedId = crypto.randomUUID();
      w.attempted.set(blockedId, -2);
      blockedSend = await w.producer.sendTask('rel.work', [-2, 0], {}, { taskId: blockedId }).then(
        () => null,
        (error: unknown) => error,
      );
      if (blockedSend) w.failed.set(blockedId, (blockedSend as Error).message);
      ranDuringAlarm = w.executions().filter((r) => r.started > alarmAt).length;
    } finally {
      await setWatermark(0.4);
    }
    const clearedAt = Date.now();
    t.diagnostic(
      `during the ${clearedAt - alarmAt} ms alarm: ${ranDuringAlarm} tasks started; the blocked send: ${(blockedSend as Error)?.message}`,
    );
    assert.ok(blockedSend instanceof PublishError, 'delay() rejected with a PublishError');
    assert.equal(blockedSend.reason, 'confirm-timeout');
    assert.match(blockedSend.message, /confirm/);
    assert.ok(ranDuringAlarm > 0, 'consumers kept working during the alarm');
    await w.send(20, 0);
    const report = await w.settle(60_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(
      `first send after the alarm confirmed; first task after it started ${w.resumeMs(clearedAt)} ms after the watermark was restored`,
    );
    assert.equal(report.failed, 1, 'only the send made during the alarm failed');
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(w.forbiddenLogLines(), []);
  });
});
