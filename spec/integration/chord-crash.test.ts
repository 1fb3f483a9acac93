import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { chord } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { createChordCrashApp, type ChordCrashConfig, type ChordCrashEvent } from '../support/chord-crash-tasks.js';
import { readJsonLines } from '../support/json-lines.js';
import { startCli, type RunningProcess } from '../support/processes.js';

/**
 * Chords survive a worker crash: real `celeriac worker` processes (spec/support/chord-crash-tasks.ts)
 * run the header; one of them is SIGKILLed — while it holds header tasks, or right after it
 * claimed the completed header and before it sent the body. RabbitMQ redelivers what it held to
 * the other worker, and the body runs exactly once, with every header result in header order.
 * Body runs are counted in a file the body task appends to, not in the result backend.
 */
const TASKS_MODULE = new URL('../support/chord-crash-tasks.js', import.meta.url).pathname;
const WAIT_MS = 30_000;

for (const backend of [REDIS_URL, 'rpc://']) {
  describe(`chord across a worker crash (${backend.replace(/:.*/, '://')})`, () => {
    let dir: string;
    const workers: RunningProcess[] = [];

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'celeriac-chord-crash-'));
    });

    after(async () => {
      for (const worker of workers) {
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
        await worker.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    });

    function setup(name: string): ChordCrashConfig {
      return { broker: AMQP_URL, backend, queue: uniqueName(`chord-crash.${name}`), log: join(dir, `${name}.log`), dieOnClaim: false };
    }

    async function startWorker(config: ChordCrashConfig, name: string, env: NodeJS.ProcessEnv = {}): Promise<RunningProcess> {
      const worker = startCli(
        ['worker', '-A', TASKS_MODULE, '-c', '2', '-Q', config.queue, '-n', `${name}@%h`, '-l', 'info', '--no-control'],
        {
          CHORD_CRASH_BROKER: config.broker,
          CHORD_CRASH_BACKEND: config.backend,
          CHORD_CRASH_QUEUE: config.queue,
          CHORD_CRASH_LOG: config.log,
          ...env,
        },
      );
      workers.push(worker);
      await worker.waitFor(/ready/, WAIT_MS);
      return worker;
    }

    function events(config: ChordCrashConfig): ChordCrashEvent[] {
      return readJsonLines<ChordCrashEvent>(config.log);
    }

    async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    /**
     * Waits until nothing of the chord is left: the queue holds no ready message and the worker
     * has finished every task it started (seen on several polls in a row, so a redelivered
     * duplicate in flight is seen too); then stops it gracefully and checks the queue is empty.
     */
    async function drainAndStop(config: ChordCrashConfig, worker: RunningProcess): Promise<void> {
      const connection = await amqp.connect(AMQP_URL);
      try {
        const channel = await connection.createChannel();
        let quietPolls = 0;
        await until('the surviving worker is idle and the queue empty', async () => {
          const { messageCount } = await channel.checkQueue(config.queue);
          const mine = events(config).filter((e) => e.pid === worker.child.pid && e.event !== 'body');
          const idle = mine.filter((e) => e.event === 'start').length === mine.filter((e) => e.event === 'end').length;
          quietPolls = messageCount === 0 && idle ? quietPolls + 1 : 0;
          return quietPolls >= 5;
        });
        worker.child.kill('SIGTERM');
        await worker.exited;
        assert.equal((await channel.checkQueue(config.queue)).messageCount, 0, 'no header task left unprocessed');
        await channel.deleteQueue(config.queue);
        await channel.close();
      } finally {
        await connection.close();
      }
    }

    it(
      'a worker SIGKILLed while it holds header tasks: ' + 'the other worker finishes them; the body runs once, results in header order',
      async () => {
        const config = setup('holding');
        const [victim, survivor] = [await startWorker(config, 'victim'), await startWorker(config, 'survivor')];
        const { app, slow, collect } = createChordCrashApp(config);
        try {
          const size = 16;
          const result = await chord(
            Array.from({ length: size }, (_, i) => slow.s(i, 250)),
            collect.s(),
          ).applyAsync();

          // Kill it once it has finished some header tasks and is running others.
          const byVictim = () => events(config).filter((e) => e.pid === victim.child.pid);
          await until('the victim has finished two header tasks and is running another', () => {
            const mine = byVictim();
            const ended = new Set(mine.filter((e) => e.event === 'end').map((e) => e.taskId));
            return ended.size >= 2 && mine.some((e) => e.event === 'start' && !ended.has(e.taskId));
          });
          victim.child.kill('SIGKILL');
          assert.equal(await victim.exited, 'SIGKILL');

          assert.equal(await result.get({ timeout: WAIT_MS }), 10 * ((size * (size - 1)) / 2));
          await drainAndStop(config, survivor);

          const log = events(config);
          const bodies = log.filter((e) => e.event === 'body');
          assert.equal(bodies.length, 1, `the body ran once: ${JSON.stringify(bodies)}`);
          assert.deepEqual(
            bodies[0].results,
            Array.from({ length: size }, (_, i) => i * 10),
          );
          // The crash did cut header work short: a task the victim started and never finished was
          // run again, to the end, by the survivor.
          const victimEnded = new Set(log.filter((e) => e.pid === victim.child.pid && e.event === 'end').map((e) => e.taskId));
          const interrupted = log
            .filter((e) => e.pid === victim.child.pid && e.event === 'start' && !victimEnded.has(e.taskId))
            .map((e) => e.taskId);
          assert.ok(interrupted.length > 0);
          for (const taskId of interrupted) {
            assert.ok(
              log.some((e) => e.pid === survivor.child.pid && e.event === 'end' && e.taskId === taskId),
              `task ${taskId} was finished by the survivor`,
            );
          }
        } finally {
          await app.close();
        }
      },
    );

    it(
      'the worker that completes the header dies right after claiming it, before sending the body: ' +
        'the redelivered task sends it, once',
      async () => {
        const config = setup('claimer');
        // Alone, the claimer runs the whole header, so it is the one that completes (and claims) it.
        const claimer = await startWorker(config, 'claimer', { CHORD_CRASH_DIE_ON_CLAIM: '1' });
        const { app, slow, collect } = createChordCrashApp(config);
        try {
          const size = 6;
          const result = await chord(
            Array.from({ length: size }, (_, i) => slow.s(i, 20)),
            collect.s(),
          ).applyAsync();
          assert.equal(await claimer.exited, 'SIGKILL', 'the claimer killed itself on claiming');
          const ended = new Set(
            events(config)
              .filter((e) => e.event === 'end')
              .map((e) => e.taskId),
          );
          assert.equal(ended.size, size, 'every header task had finished');
          assert.equal(events(config).filter((e) => e.event === 'body').length, 0, 'the body was not sent');

          const survivor = await startWorker(config, 'survivor');
          assert.equal(await result.get({ timeout: WAIT_MS }), 10 * ((size * (size - 1)) / 2));
          await drainAndStop(config, survivor);

          const log = events(config);
          const bodies = log.filter((e) => e.event === 'body');
          assert.equal(bodies.length, 1, `the body ran once: ${JSON.stringify(bodies)}`);
          assert.equal(bodies[0].pid, survivor.child.pid);
          assert.deepEqual(
            bodies[0].results,
            Array.from({ length: size }, (_, i) => i * 10),
          );
          // The survivor got the claimer's redelivered header task (and ran it again) — nothing else.
          const rerun = log.filter((e) => e.pid === survivor.child.pid && e.event === 'start');
          assert.ok(rerun.length >= 1 && rerun.every((e) => ended.has(e.taskId)), `re-run by the survivor: ${JSON.stringify(rerun)}`);
        } finally {
          await app.close();
        }
      },
    );
  });
}
