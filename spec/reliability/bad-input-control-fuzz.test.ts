import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { after, describe, it } from 'node:test';
import { Workload } from '../support/loss-checker.js';
import { NodeMailbox, rssOf } from '../support/control-mailbox.js';

/**
 * The mailbox fuzzer: a few thousand control messages of random shape — every field of every
 * type, valid methods with wrong arguments, huge strings, deep nesting, bad reply_to, costly
 * patterns, bodies that are not JSON — written into a real worker's mailbox queue while it runs
 * a healthy workload. Seeded: CONTROL_FUZZ_SEED=<seed> replays a run (the seed is printed);
 * CONTROL_FUZZ_LOG=<file> keeps the worker's output.
 */
const SEED = Number(process.env.CONTROL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MESSAGES = Number(process.env.CONTROL_FUZZ_MESSAGES ?? 3000);
/** Generous: the worker's RSS may grow this much over its level before the run, at the peak. */
const RSS_GROWTH_BOUND = 256 * 1024 * 1024;

/** mulberry32: small, seedable, good enough to pick shapes. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Shapes {
  readonly next: () => number;
  constructor(
    seed: number,
    readonly node: string,
    readonly mailbox: NodeMailbox,
    readonly fuzzQueues: string[],
  ) {
    this.next = random(seed);
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  string(): string {
    const roll = this.next();
    if (roll < 0.02) return 'x'.repeat(64 * 1024 + this.int(1024 * 1024)); // huge
    if (roll < 0.1) return '\u{1F600}\u0000\ud800é'.repeat(1 + this.int(100)); // odd characters, a lone surrogate
    if (roll < 0.2) return 'q'.repeat(250 + this.int(20)); // around the 255-byte limit
    return Math.abs(this.int(2 ** 31))
      .toString(36)
      .repeat(1 + this.int(3));
  }

  value(depth = 0): unknown {
    const roll = this.next();
    if (roll < 0.1) return null;
    if (roll < 0.2) return this.chance(0.5);
    if (roll < 0.3) return this.pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 42]);
    if (roll < 0.55) return this.string();
    if (roll < 0.6) return this.deep();
    if (depth > 3) return [];
    if (roll < 0.8) return Array.from({ length: this.int(6) }, () => this.value(depth + 1));
    return Object.fromEntries(
      Array.from({ length: this.int(6) }, () => [
        this.pick(['length', 'queue', 'task_id', '__proto__', 'constructor', 'exchange', this.string().slice(0, 20)]),
        this.value(depth + 1),
      ]),
    );
  }

  /** Lists or mappings nested up to ~1600 deep (deeper, and JSON.stringify here runs out of stack). */
  deep(): unknown {
    let value: unknown = 1;
    for (let i = 0, n = 100 + this.int(1500); i < n; i++) value = this.chance(0.5) ? [value] : { a: value };
    return value;
  }

  method(): unknown {
    if (this.chance(0.8)) {
      return this.pick([
        'ping',
        'active',
        'reserved',
        'scheduled',
        'registered',
        'revoked',
        'stats',
        'active_queues',
        'revoke',
        'terminate',
        'rate_limit',
        'add_consumer',
        'cancel_consumer',
        'shutdown',
        'reboot',
        'toString',
        '__proto__',
        'hasOwnProperty',
      ]);
    }
    return this.value();
  }

  arguments(): unknown {
    if (this.chance(0.2)) return this.value();
    const args: Record<string, unknown> = {};
    const some = (): unknown => (this.chance(0.5) ? this.value() : undefined);
    args.queue = this.chance(0.3) ? this.pick(this.fuzzQueues) : this.chance(0.5) ? this.pick(['', 'amq.fuzz', 'q'.repeat(300)]) : some();
    args.task_id = this.chance(0.4) ? (this.chance(0.5) ? randomUUID() : [randomUUID(), randomUUID()]) : some();
    args.terminate = this.chance(0.5) ? this.chance(0.5) : some();
    args.signal = this.chance(0.5) ? this.pick(['SIGTERM', 'SIGKILL', 'TERM']) : some();
    // Never rel.work: a rate limit on the healthy task would only slow the workload.
    args.task_name = this.chance(0.4) ? this.pick(['rel.picky', 'rel.nowhere']) : some();
    args.rate_limit = this.chance(0.4) ? this.pick(['10/s', '1/h', '0', 5, 'fast', '']) : some();
    return args;
  }

  destination(): unknown {
    const roll = this.next();
    if (roll < 0.4) return null;
    if (roll < 0.6) return [this.node];
    if (roll < 0.7) return ['someone-else@nowhere', this.node];
    return this.value();
  }

  addressing(): Record<string, unknown> {
    const roll = this.next();
    if (roll < 0.6) return {};
    if (roll < 0.7) return { pattern: this.pick([`${this.node.slice(0, 8)}*`, '*', '[a-z]*@*', '*nomatch*']), matcher: 'glob' };
    if (roll < 0.8)
      return {
        pattern: this.pick(['(.*.*)*!', '(a|a|b)*!', '(\\w+\\s?)+$', '.*', this.node.slice(0, 5), '[', '(?<x>a)\\k<x>']),
        matcher: 'pcre',
      };
    return { pattern: this.value(), matcher: this.chance(0.5) ? this.pick(['glob', 'pcre', 'sql']) : this.value() };
  }

  replyTo(): unknown {
    const roll = this.next();
    if (roll < 0.5) return this.mailbox.replyTo;
    if (roll < 0.65) return { exchange: `spec.fuzz.no-such-exchange.${this.int(3)}`, routing_key: 'nobody' };
    if (roll < 0.7) return { exchange: 'amq.fuzz-reserved', routing_key: 'x' };
    if (roll < 0.75) return { exchange: 'reply.celery.pidbox', routing_key: 'r'.repeat(300) };
    return this.value();
  }

  /** One message: [body bytes, content type, headers]. */
  message(): [Buffer, string, Record<string, unknown>] {
    const odd = [null, 'soon', -5, 1e308, [1], { a: 1 }, true, Date.now() / 1000 - 60];
    const headers = this.chance(0.9) ? { clock: this.int(1000), expires: 0 } : { clock: this.pick(odd), expires: this.pick(odd) };
    const roll = this.next();
    if (roll < 0.03)
      return [
        Buffer.from(Array.from({ length: this.int(200) }, () => this.int(256))),
        this.pick(['application/json', 'application/x-msgpack', 'application/x-python-serialize', '']),
        headers,
      ];
    if (roll < 0.06) return [Buffer.from(JSON.stringify(this.value()) ?? 'null'), 'application/json', headers];
    const body: Record<string, unknown> = {
      method: this.method(),
      arguments: this.arguments(),
      destination: this.destination(),
      ...this.addressing(),
      ticket: this.chance(0.8) ? randomUUID() : this.value(),
      reply_to: this.replyTo(),
    };
    for (const key of Object.keys(body)) if (this.chance(0.05)) delete body[key];
    return [Buffer.from(JSON.stringify(body)), 'application/json', headers];
  }
}

describe('reliability: control mailbox fuzzer', () => {
  const w = new Workload();
  let mailbox: NodeMailbox | undefined;
  const fuzzQueues = [0, 1, 2].map((k) => `${w.queue}.fuzz.${k}`);
  after(async () => {
    await mailbox?.close();
    for (const queue of fuzzQueues) await w.producer.transport.deleteQueue(queue).catch(() => undefined);
    await w.close();
  });

  it(
    `survives ${MESSAGES} random control messages beside a healthy workload: ` + `alive, every task once, RSS bounded (seed ${SEED})`,
    async (t) => {
      t.diagnostic(`seed ${SEED} (replay: CONTROL_FUZZ_SEED=${SEED})`);
      const name = `ctl-fuzz-${randomUUID()}`;
      const worker = await w.startWorker(name, ['-c', '4', '--control-commands', 'safe,terminate,rate_limit,add_consumer,cancel_consumer']);
      mailbox = new NodeMailbox(w.producer, `${name}@${hostname()}`);
      await mailbox.open();
      const pid = worker.child.pid!;
      const baseline = rssOf(pid);
      let peak = baseline;
      const sampler = setInterval(() => {
        if (worker.child.exitCode === null) peak = Math.max(peak, rssOf(pid));
      }, 100);
      const shapes = new Shapes(SEED, mailbox.node, mailbox, fuzzQueues);
      const healthy = w.send(600, 2, 10);
      let published = 0;
      try {
        for (let i = 0; i < MESSAGES; i++) {
          const [body, contentType, headers] = shapes.message();
          await mailbox.sendRaw(body, contentType, headers);
          published++;
          if (worker.child.exitCode !== null) break;
        }
        await healthy;
        const ping = await mailbox.send({ method: 'ping' });
        assert.deepEqual(
          await mailbox.reply(ping, 30_000),
          { [mailbox.node]: { ok: 'pong' } },
          `seed ${SEED}: the worker answers a ping afterwards`,
        );
        const report = await w.settle(30_000);
        assert.deepEqual(report.lost, [], `seed ${SEED}: lost healthy tasks`);
        assert.equal(report.duplicated, 0, `seed ${SEED}: healthy tasks ran more than once`);
        assert.deepEqual(report.unexpected, [], `seed ${SEED}`);
        assert.equal(report.completed, report.confirmed, `seed ${SEED}`);
        peak = Math.max(peak, rssOf(pid));
      } finally {
        clearInterval(sampler);
        if (process.env.CONTROL_FUZZ_LOG) writeFileSync(process.env.CONTROL_FUZZ_LOG, worker.output());
      }
      assert.equal(worker.child.exitCode, null, `seed ${SEED}: the worker is running`);
      assert.deepEqual(w.forbiddenLogLines(), [], `seed ${SEED}`);
      const longLines = worker
        .output()
        .split('\n')
        .filter((line) => line.length > 2000);
      assert.deepEqual(
        longLines.map((line) => line.slice(0, 200)),
        [],
        `seed ${SEED}: no huge log lines`,
      );
      const growth = peak - baseline;
      assert.ok(
        growth < RSS_GROWTH_BOUND,
        `seed ${SEED}: RSS grew ${(growth / 2 ** 20).toFixed(0)} MB (bound ${RSS_GROWTH_BOUND / 2 ** 20} MB)`,
      );
      t.diagnostic(
        `${published} control messages, ${mailbox.replies.size} replies; 600 healthy tasks each ran once; ` +
          `RSS ${(baseline / 2 ** 20).toFixed(0)} MB before, peak ${(peak / 2 ** 20).toFixed(0)} MB; ${
            worker
              .output()
              .split('\n')
              .filter((l) => l.includes('remote control:')).length
          } remote-control log lines`,
      );
    },
  );
});
