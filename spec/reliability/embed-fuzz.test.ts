import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { takeMessages, uniqueName } from '../support/apps.js';
import { waitFor } from '../support/faults.js';
import { Workload } from '../support/loss-checker.js';
import { OUTCOME_APP } from '../support/outcome-app.js';

/** Fuzzed task messages, healthy tasks beside them. EMBED_FUZZ_SEED=<n> replays a run. */
const FUZZED = 2000;
const HEALTHY = 500;
/** The worker's resident memory must stay under this. */
const RSS_LIMIT_MB = 400;

/**
 * The embed fuzzer: task messages whose embed (callbacks, errbacks, chain, chord) and whose
 * signatures' fields have random shapes and types — wrong types for every field, missing
 * fields, deep and wide nesting, bad options — sent to a real `celeriac worker` process,
 * interleaved with healthy tasks. Afterwards: the worker is alive; every healthy task answered;
 * no task body ran more than once (`out.counted` INCRs a Redis key per task id); every fuzzed
 * message ended settled — a result in Redis, or a dead-letter with a reason — none left
 * unacked or requeued; the worker's RSS stayed under RSS_LIMIT_MB.
 */
describe('reliability: embed fuzzer', () => {
  const prefix = uniqueName('outcome-runs');
  const w = new Workload({ appModule: OUTCOME_APP });
  after(async () => {
    await deleteKeys(w, `*${prefix}*`).catch(() => undefined);
    await w.close();
  });

  it(
    `${FUZZED} fuzzed messages beside ${HEALTHY} healthy tasks: ` + 'each body runs at most once, each message settles, the worker lives',
    async (t) => {
      const seed = Number(process.env.EMBED_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
      t.diagnostic(`seed ${seed} (EMBED_FUZZ_SEED=${seed} replays this run)`);
      console.log(`embed fuzzer seed: ${seed}`);
      const fuzz = new Fuzz(seed, prefix, w.queue);
      const worker = await w.startWorker('fuzz', ['-c', '4'], { OUTCOME_RUNS_PREFIX: prefix });
      const pid = worker.child.pid!;
      let peakRssMb = 0;
      const sampler = setInterval(() => {
        peakRssMb = Math.max(peakRssMb, rssMb(pid));
      }, 250);
      const fuzzIds: string[] = [];
      try {
        const publishFuzzed = async (): Promise<void> => {
          let next = 0;
          const lane = async (): Promise<void> => {
            while (next < FUZZED) {
              const n = next++;
              const { id, headers, body } = fuzz.message(n);
              fuzzIds.push(id);
              await w.producer.transport.publish(
                { body, contentType: 'application/json', contentEncoding: 'utf-8', headers, correlationId: id },
                { exchange: '', routingKey: w.queue },
              );
            }
          };
          await Promise.all(Array.from({ length: 20 }, lane));
        };
        await Promise.all([publishFuzzed(), w.send(HEALTHY, 0)]);

        const report = await w.settle(90_000);
        t.diagnostic(`healthy: ${Workload.summary(report)}`);
        assert.deepEqual(report.lost, [], 'every healthy task answered');
        assert.equal(report.duplicated, 0);

        // Every fuzzed message settles: its outcome stored, or dead-lettered with a reason.
        const deadLetterQueue = `${w.queue}.dead-letter`;
        const reasons = new Map<string, string>();
        const outcomes = new Map<string, string>();
        await waitFor(
          async () => {
            const waiting = await w.producer.transport.messageCount(deadLetterQueue);
            if (waiting > 0) {
              for (const message of await takeMessages(w.producer.transport, deadLetterQueue, waiting, 30_000)) {
                const { id } = message.properties.headers;
                reasons.set(
                  typeof id === 'string' ? id : String(message.properties.correlationId),
                  String(message.properties.headers['x-celeriac-dead-letter-reason']),
                );
              }
            }
            const open = fuzzIds.filter((id) => !reasons.has(id) && !outcomes.has(id));
            for (let i = 0; i < open.length; i += 500) {
              const chunk = open.slice(i, i + 500);
              const values = await w.redis.mget(chunk.map((id) => `celery-task-meta-${id}`));
              values.forEach((value, j) => {
                const status = value ? (JSON.parse(value) as { status: string }).status : null;
                if (status && status !== 'PENDING' && status !== 'STARTED' && status !== 'RETRY') outcomes.set(chunk[j], status);
              });
            }
            return fuzzIds.every((id) => reasons.has(id) || outcomes.has(id));
          },
          'every fuzzed message settled',
          90_000,
          500,
        );
        const tally = new Map<string, number>();
        for (const id of fuzzIds) {
          const key = reasons.has(id) ? `dead-letter ${reasons.get(id)}` : outcomes.get(id)!;
          tally.set(key, (tally.get(key) ?? 0) + 1);
        }
        t.diagnostic(`fuzzed outcomes: ${JSON.stringify(Object.fromEntries([...tally].sort(([a], [b]) => a.localeCompare(b))))}`);
        for (const reason of reasons.values()) assert.ok(reason && reason !== 'undefined', 'every dead-letter carries a reason');

        // No body ran more than once: the per-id run counters, parents and the children they sent.
        const counts = await countersOf(w, `${prefix}:*`);
        const repeated = [...counts].filter(([, runs]) => runs > 1);
        t.diagnostic(`out.counted runs: ${counts.size} task ids ran, ${repeated.length} more than once`);
        for (const line of w.linesAbout(repeated.slice(0, 3).map(([key]) => key.slice(prefix.length + 1))))
          t.diagnostic(line.slice(0, 600));
        assert.deepEqual(repeated, [], 'no task body ran more than once');
        assert.equal(await w.producer.transport.messageCount(w.queue), 0, 'nothing left in the queue');
        assert.doesNotMatch(worker.output(), /message requeued|could not be dead-lettered/, 'nothing requeued');
        assert.equal(worker.child.exitCode, null, 'the worker is alive');
        assert.deepEqual(w.forbiddenLogLines(), []);
        t.diagnostic(`worker RSS: peak ${peakRssMb.toFixed(0)} MB (limit ${RSS_LIMIT_MB})`);
        assert.ok(peakRssMb > 0 && peakRssMb < RSS_LIMIT_MB, `worker RSS peaked at ${peakRssMb.toFixed(0)} MB`);
      } finally {
        clearInterval(sampler);
        await deleteKeys(w, 'celery-task-meta-*', fuzzIds);
      }
    },
  );
});

/** Random task messages of `out.counted` with fuzzed embeds, from one seed. */
class Fuzz {
  readonly #random: () => number;
  /** This message's signatures are well formed (only the exchange or task may not exist): they reach the send. */
  #clean = false;

  constructor(
    seed: number,
    readonly prefix: string,
    readonly queue: string,
  ) {
    this.#random = mulberry32(seed);
  }

  message(n: number): { id: string; headers: Record<string, unknown>; body: Buffer } {
    const id = this.uuid();
    this.#clean = this.chance(0.3);
    const headers: Record<string, unknown> = {
      lang: 'py',
      task: 'out.counted',
      id,
      retries: 0,
      timelimit: [null, null],
      root_id: id,
      parent_id: null,
    };
    if (this.chance(0.15)) {
      headers.group = this.pick([`${this.prefix}-g${n}`, `${this.prefix}-g${n}`, 7, null]);
      headers.group_index = this.pick([0, 1, null, -1]);
    }
    const embed: Record<string, unknown> = {};
    for (const key of ['callbacks', 'errbacks', 'chain']) if (this.chance(0.4)) embed[key] = this.bad(0.05) ? this.junk() : this.list(1);
    if (this.chance(0.3)) embed.chord = this.bad(0.05) ? this.junk() : this.signature(1);
    const args = [n, this.chance(0.25)]; // the second argument true: the task fails (errbacks run)
    const bodyValue = !this.bad(0.03) ? [args, {}, embed] : this.pick([[args, {}], [args, [], embed], { args }, [args, {}, 'embed']]);
    let text = JSON.stringify(bodyValue);
    if (this.bad(0.01)) text = `[${JSON.stringify(args)}, {}, {"callbacks": [${nested(this.pick([150, 3000]))}]}]`;
    return { id, headers, body: Buffer.from(text) };
  }

  list(depth: number): unknown[] {
    const length = this.chance(0.02) ? 200 : Math.floor(this.#random() * 3) + 1;
    return Array.from({ length }, () => (this.bad(0.03) ? this.junk() : this.signature(depth)));
  }

  signature(depth: number): unknown {
    const sig: Record<string, unknown> = {};
    const field = (name: string, valid: () => unknown, invalid: unknown[]): void => {
      const roll = this.#clean ? 0 : this.#random();
      if (roll < 0.9) sig[name] = valid();
      else if (roll < 0.96) sig[name] = this.pick(invalid);
      // else: missing
    };
    const deeper = depth < 4 && this.chance(0.5);
    const type = this.pick(
      this.#clean ? [null, null, null, 'chain', 'group'] : [null, null, null, null, 'chain', 'group', 'chord', 'xmap', 7],
    );
    // The worker's decoder already refuses a top-level signature without a task name; deeper ones are the admission check's.
    if (depth === 1 && this.chance(0.9)) sig.task = this.pick(['out.counted', 'out.counted', 'rel.nowhere']);
    else
      field('task', () => this.pick(['out.counted', 'out.counted', 'out.counted', 'rel.nowhere']), [
        '',
        42,
        null,
        { name: 'x' },
        'x'.repeat(5000),
      ]);
    field('args', () => this.pick([[], [1], [true], [1, false]]), ['args', 5, { a: 1 }, null]);
    field('immutable', () => this.pick([true, false]), ['yes', 1, [], null]);
    sig.subtask_type = type;
    if (type === 'chain' || type === 'group') {
      sig.kwargs = {
        tasks: deeper || (this.#clean && depth < 3) ? this.list(depth + 1) : this.pick([[], 'tasks', 7, null, [this.junk()]]),
      };
    } else if (type === 'chord') {
      const header = this.chance(0.8)
        ? {
            task: 'celery.group',
            subtask_type: 'group',
            kwargs: { tasks: deeper ? this.list(depth + 1) : [] },
            options: {},
            args: [],
            immutable: false,
          }
        : this.junk();
      sig.kwargs = this.chance(0.85)
        ? { header, body: deeper ? this.signature(depth + 1) : this.junk() }
        : this.pick([{ body: {} }, { header }, 'chord']);
    } else {
      field('kwargs', () => this.pick([{}, {}]), [[], 'kw', 3, null]);
    }
    field('options', () => this.options(depth), ['options', 4, [], null]);
    return sig;
  }

  options(depth: number): Record<string, unknown> {
    const options: Record<string, unknown> = {};
    const maybe = (name: string, values: unknown[], p = 0.12): void => {
      if (this.chance(p)) options[name] = this.pick(values);
    };
    options.task_id = this.bad(0.1) ? this.pick([42, null, 'x'.repeat(300)]) : this.uuid();
    if (this.#clean) {
      if (this.chance(0.3)) options.exchange = `spec.fuzz.missing.${this.prefix}`;
      if (depth < 3 && this.chance(0.2)) options.link = this.list(depth + 1);
      return options;
    }
    maybe('priority', [0, 3, 9, 255, 0, 3, 'high', -1, 300, 1.5]);
    maybe('countdown', [0, -1, 'soon', null]);
    maybe('eta', [new Date(Date.now() - 60_000).toISOString(), 'garbage', 12, null]);
    maybe('expires', [new Date(Date.now() - 60_000).toISOString(), 3600, 'never', -1]);
    maybe('serializer', ['json', 'msgpack', 'pickle', 5]);
    maybe('exchange', [`spec.fuzz.missing.${this.prefix}`, `spec.fuzz.missing.${this.prefix}`, '', 7, 'x'.repeat(300)], 0.25);
    maybe('queue', [this.queue, 5, ['q']]);
    maybe('routing_key', [this.queue, 3, 'x'.repeat(300)]);
    maybe('ignore_result', [true, false, 'no']);
    maybe('delivery_mode', [1, 2, 'bad']);
    maybe('reply_to', [7, 'x'.repeat(300)]);
    maybe('group_id', [`${this.prefix}-${this.uuid()}`, 7]);
    maybe('group_index', [0, -1, 'a']);
    maybe('chord_size', [1, 'x', -3]);
    if (depth < 4 && this.chance(0.2)) options.link = this.chance(0.9) ? this.list(depth + 1) : this.junk();
    if (depth < 4 && this.chance(0.2)) options.link_error = this.chance(0.9) ? this.list(depth + 1) : this.junk();
    if (depth < 4 && this.chance(0.1)) options.chord = this.chance(0.8) ? this.signature(depth + 1) : this.junk();
    return options;
  }

  junk(): unknown {
    return this.pick([null, 0, -7, 3.5, '', 'junk', true, [], [[]], {}, { task: 9 }, [1, 'two'], 'x'.repeat(2000)]);
  }

  /** An ill-formed choice, never made for a clean message. */
  bad(p: number): boolean {
    return !this.#clean && this.chance(p);
  }

  chance(p: number): boolean {
    return this.#random() < p;
  }

  pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.#random() * values.length)];
  }

  /** Task ids are fresh each run (not drawn from the seed), so a replay never meets an earlier run's results. */
  uuid(): string {
    return randomUUID();
  }
}

/** JSON text of a callback signature nested `depth` deep through `link`. */
function nested(depth: number): string {
  const link = (inner: string): string =>
    `{"task":"out.counted","args":[],"kwargs":{},"options":{"link":[${inner}]},"subtask_type":null,"immutable":true}`;
  let text = link('');
  for (let i = 0; i < depth; i++) text = link(text);
  return text;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same messages. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** VmRSS of a process, MB (0 once it is gone). */
function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The run counters under `pattern`: key → runs. */
async function countersOf(w: Workload, pattern: string): Promise<Map<string, number>> {
  const keys = await scan(w, pattern);
  const counts = new Map<string, number>();
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const values = await w.redis.mget(chunk);
    values.forEach((value, j) => counts.set(chunk[j], Number(value)));
  }
  return counts;
}

/** Deletes the keys matching `pattern` (or, given ids, `celery-task-meta-<id>` of each). */
async function deleteKeys(w: Workload, pattern: string, ids?: readonly string[]): Promise<void> {
  const keys = ids ? ids.map((id) => `celery-task-meta-${id}`) : await scan(w, pattern);
  for (let i = 0; i < keys.length; i += 500) await w.redis.del(...keys.slice(i, i + 500));
}

async function scan(w: Workload, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await w.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}
