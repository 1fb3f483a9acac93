import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chain, chord, createApp, group } from '../../lib/index.js';
import { checkEmbed } from '../../lib/canvas/embed-check.js';
import { celeryOptionsToCall } from '../../lib/canvas/signature-options.js';
import {
  BackendError,
  BrokerConnectionError,
  ClosedError,
  ConfigError,
  InvalidMessageError,
  PublishError,
  SerializationError,
} from '../../lib/errors/errors.js';
import { decodeTaskMessage } from '../../lib/protocol/task-message.js';
import { isRetryableFault } from '../../lib/worker/fault-kind.js';
import { finalTasks } from '../../lib/canvas/continuation.js';
import { isRedisRefusal } from '../../lib/backends/redis/redis-backend.js';
import { UnsendableError } from '../../lib/errors/errors.js';
import { messageVectors, propertiesOf } from '../support/vectors.js';

describe('embed check and fault kinds', () => {
  it('accepts every embed Python Celery 5.2.6 sent in the captured vectors', () => {
    let checked = 0;
    for (const [name, captured] of Object.entries(messageVectors())) {
      for (const message of captured.messages) {
        const decoded = decodeTaskMessage(Buffer.from(message.body_base64, 'base64'), propertiesOf(message), ['json', 'msgpack']);
        assert.doesNotThrow(() => checkEmbed(decoded.embed), name);
        checked += 1;
      }
    }
    assert.ok(checked > 0);
  });

  it("accepts the embeds celeriac's own canvas builds (chains of chords, groups, links)", () => {
    const app = createApp({ broker: 'memory://embed-check', logLevel: 'silent' });
    const add = app.task('spec.add', (x: number, y: number) => x + y);
    const sum = app.task('spec.sum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const workflow = chain(
      add.s(1, 2).link(add.s(3)).onError(add.si(0, 0)),
      group(add.s(1), add.s(2)),
      sum.s(),
      chord([add.s(1), add.s(2)], sum.s()),
      add.s(4),
    ).freeze();
    const steps = workflow.toDict().kwargs.tasks as never[];
    assert.doesNotThrow(() => checkEmbed({ callbacks: [workflow.toDict()], errbacks: null, chain: [...steps].reverse(), chord: null }));
  });

  it('takes one signature where a list of them is expected (link, link_error), as Celery does', () => {
    const sig = (options: Record<string, unknown>) => ({ task: 't', args: [], kwargs: {}, options, subtask_type: null, immutable: false });
    assert.doesNotThrow(() =>
      checkEmbed({ callbacks: [sig({ link: sig({}), link_error: sig({}) })], errbacks: null, chain: null, chord: null }),
    );
    assert.throws(
      () => checkEmbed({ callbacks: [sig({ link: sig({ priority: 'high' }) })], errbacks: null, chain: null, chord: null }),
      /options\.link\[0\]\.options\.priority/,
    );
  });

  it("accepts an embed whose signature dates come in kombu's typed form (decoded to Date objects)", () => {
    const body = JSON.stringify([
      [],
      {},
      {
        callbacks: [
          {
            task: 't',
            args: [],
            kwargs: {},
            subtask_type: null,
            immutable: false,
            options: {
              eta: { __type__: 'datetime', __value__: '2030-01-01T00:00:00+00:00' },
              expires: { __type__: 'datetime', __value__: '2030-01-02T00:00:00+00:00' },
            },
          },
        ],
        errbacks: null,
        chain: null,
        chord: null,
      },
    ]);
    const headers = { lang: 'py', task: 'spec.parent', id: 'p1', root_id: 'p1', retries: 0, timelimit: [null, null] };
    const decoded = decodeTaskMessage(Buffer.from(body), { contentType: 'application/json', contentEncoding: 'utf-8', headers }, ['json']);
    assert.doesNotThrow(() => checkEmbed(decoded.embed));
    const options = celeryOptionsToCall((decoded.embed.callbacks![0] as { options: Record<string, unknown> }).options);
    assert.deepEqual(options.eta, new Date('2030-01-01T00:00:00Z'), 'the eta is kept, not dropped');
    assert.deepEqual(options.expires, new Date('2030-01-02T00:00:00Z'));
  });

  it('names the field at fault, and refuses nesting deeper than 100', () => {
    const sig = (options: Record<string, unknown>) => ({ task: 't', args: [], kwargs: {}, options, subtask_type: null, immutable: false });
    assert.throws(
      () => checkEmbed({ callbacks: [sig({ link: [sig({ priority: 'high' })] })], errbacks: null, chain: null, chord: null }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidMessageError);
        assert.equal(error.reason, 'embed');
        assert.match(error.message, /callbacks\[0\]\.options\.link\[0\]\.options\.priority: must be an integer 0\.\.255, got "high"/);
        return true;
      },
    );
    let deep = sig({});
    for (let i = 0; i < 100; i++) deep = sig({ link: [deep] });
    assert.throws(() => checkEmbed({ callbacks: [deep], errbacks: null, chain: null, chord: null }), /nested deeper than 100 levels/);
  });

  it('requeues only for an outage', () => {
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    const retryable = [
      new PublishError('closed', 'channel closed'),
      new PublishError('confirm-timeout', 'nothing confirmed'),
      new PublishError('nacked', 'nacked'),
      new BrokerConnectionError('amqp://x', 'unreachable'),
      new ClosedError('closing'),
      new BackendError('redis://x', 'connection lost'),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      Object.assign(new Error('Channel closed'), { name: 'IllegalOperationError' }),
      Object.assign(new Error('CONNECTION_FORCED'), { code: 320 }),
    ];
    const deterministic = [
      new PublishError('unroutable', "no exchange 'x'"),
      new BackendError('redis://x', 'WRONGTYPE', {
        cause: reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
        permanent: true,
      }),
      new ConfigError('priority', 'expected an integer 0..255'),
      new SerializationError('cannot encode'),
      new RangeError('header table over 64 KiB'),
      new TypeError('chord signature without header or body'),
      Object.assign(new Error('PRECONDITION_FAILED'), { code: 406 }),
    ];
    for (const error of retryable) assert.equal(isRetryableFault(error), true, error.message);
    for (const error of deterministic) assert.equal(isRetryableFault(error), false, error.message);
  });

  it('takes only the AMQP reply codes of a passing condition for an outage', () => {
    const closed = (code: number) => Object.assign(new Error(`Channel closed by server: ${code}`), { code });
    const retryable = [320, 504, 506, 541];
    const deterministic = [311, 312, 313, 402, 403, 404, 405, 406, 501, 502, 503, 505, 530, 540];
    for (const code of retryable) assert.equal(isRetryableFault(closed(code)), true, String(code));
    for (const code of deterministic) assert.equal(isRetryableFault(closed(code)), false, String(code));
    // A bug in a backend is not an outage either: it would fail the same way on every run.
    assert.equal(isRetryableFault(new TypeError("Cannot read properties of undefined (reading 'set')")), false);
  });

  it('takes a Redis reply that passes (auth, client table, fail-over, cluster) for an outage, WRONGTYPE for a refusal', () => {
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    const passing = [
      'NOAUTH Authentication required.',
      'WRONGPASS invalid username-password pair or user is disabled.',
      'ERR max number of clients reached',
      "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
      "READONLY You can't write against a read only replica.",
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'CLUSTERDOWN The cluster is down',
      'LOADING Redis is loading the dataset in memory',
    ];
    for (const message of passing) assert.equal(isRedisRefusal(reply(message)), false, message);
    assert.equal(isRedisRefusal(reply('WRONGTYPE Operation against a key holding the wrong kind of value')), true);
    assert.equal(isRedisRefusal(reply("ERR wrong number of arguments for 'set' command")), true);
    assert.equal(isRedisRefusal(new Error('Connection is closed.')), false);
  });

  it('finds the final tasks of a workflow part within the embed depth, and names a chord without a body', () => {
    const sig = (task: string) => ({ task, args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false });
    const chainOf = (...tasks: unknown[]) => ({
      task: 'celery.chain',
      args: [],
      kwargs: { tasks },
      options: {},
      subtask_type: 'chain',
      immutable: false,
    });
    assert.deepEqual(
      finalTasks(chainOf(sig('a'), sig('b')) as never).map((d) => d.task),
      ['b'],
    );
    assert.throws(
      () =>
        finalTasks({
          task: 'celery.chord',
          args: [],
          kwargs: { header: [sig('a')] },
          options: {},
          subtask_type: 'chord',
          immutable: false,
        }),
      (error: unknown) => {
        assert.ok(error instanceof UnsendableError, String(error));
        assert.match(error.message, /chord celery\.chord has no body/);
        return true;
      },
    );
    let deep: unknown = sig('leaf');
    for (let i = 0; i < 20_000; i++) deep = chainOf(deep);
    assert.throws(
      () => finalTasks(deep as never),
      (error: unknown) => {
        assert.ok(error instanceof UnsendableError, String(error));
        assert.match(error.message, /nested deeper than 100 levels/);
        return true;
      },
    );
  });
});
