import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chain, chord, createApp, group } from '../../lib/index.js';
import { checkEmbed } from '../../lib/canvas/embed-check.js';
import { celeryOptionsToCall } from '../../lib/canvas/signature-options.js';
import { BackendError, BrokerConnectionError, ClosedError, ConfigError, InvalidMessageError, PublishError, SerializationError } from '../../lib/errors/errors.js';
import { decodeTaskMessage } from '../../lib/protocol/task-message.js';
import { isRetryableFault } from '../../lib/worker/fault-kind.js';
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
    const workflow = chain(add.s(1, 2).link(add.s(3)).onError(add.si(0, 0)), group(add.s(1), add.s(2)), sum.s(), chord([add.s(1), add.s(2)], sum.s()), add.s(4)).freeze();
    const steps = workflow.toDict().kwargs.tasks as never[];
    assert.doesNotThrow(() => checkEmbed({ callbacks: [workflow.toDict()], errbacks: null, chain: [...steps].reverse(), chord: null }));
  });

  it('takes one signature where a list of them is expected (link, link_error), as Celery does', () => {
    const sig = (options: Record<string, unknown>) => ({ task: 't', args: [], kwargs: {}, options, subtask_type: null, immutable: false });
    assert.doesNotThrow(() => checkEmbed({ callbacks: [sig({ link: sig({}), link_error: sig({}) })], errbacks: null, chain: null, chord: null }));
    assert.throws(() => checkEmbed({ callbacks: [sig({ link: sig({ priority: 'high' }) })], errbacks: null, chain: null, chord: null }), /options\.link\[0\]\.options\.priority/);
  });

  it("accepts an embed whose signature dates come in kombu's typed form (decoded to Date objects)", () => {
    const body = JSON.stringify([[], {}, { callbacks: [{ task: 't', args: [], kwargs: {}, subtask_type: null, immutable: false, options: { eta: { __type__: 'datetime', __value__: '2030-01-01T00:00:00+00:00' }, expires: { __type__: 'datetime', __value__: '2030-01-02T00:00:00+00:00' } } }], errbacks: null, chain: null, chord: null }]);
    const headers = { lang: 'py', task: 'spec.parent', id: 'p1', root_id: 'p1', retries: 0, timelimit: [null, null] };
    const decoded = decodeTaskMessage(Buffer.from(body), { contentType: 'application/json', contentEncoding: 'utf-8', headers }, ['json']);
    assert.doesNotThrow(() => checkEmbed(decoded.embed));
    const options = celeryOptionsToCall((decoded.embed.callbacks![0] as { options: Record<string, unknown> }).options);
    assert.deepEqual(options.eta, new Date('2030-01-01T00:00:00Z'), 'the eta is kept, not dropped');
    assert.deepEqual(options.expires, new Date('2030-01-02T00:00:00Z'));
  });

  it('names the field at fault, and refuses nesting deeper than 100', () => {
    const sig = (options: Record<string, unknown>) => ({ task: 't', args: [], kwargs: {}, options, subtask_type: null, immutable: false });
    assert.throws(() => checkEmbed({ callbacks: [sig({ link: [sig({ priority: 'high' })] })], errbacks: null, chain: null, chord: null }), (error: unknown) => {
      assert.ok(error instanceof InvalidMessageError);
      assert.equal(error.reason, 'embed');
      assert.match(error.message, /callbacks\[0\]\.options\.link\[0\]\.options\.priority: must be an integer 0\.\.255, got "high"/);
      return true;
    });
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
      new BackendError('redis://x', 'WRONGTYPE', { cause: reply('WRONGTYPE Operation against a key holding the wrong kind of value'), permanent: true }),
      new ConfigError('priority', 'expected an integer 0..255'),
      new SerializationError('cannot encode'),
      new RangeError('header table over 64 KiB'),
      new TypeError('chord signature without header or body'),
      Object.assign(new Error('PRECONDITION_FAILED'), { code: 406 }),
    ];
    for (const error of retryable) assert.equal(isRetryableFault(error), true, error.message);
    for (const error of deterministic) assert.equal(isRetryableFault(error), false, error.message);
  });
});
