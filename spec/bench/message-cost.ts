/**
 * CPU per message of each step a Celery task message takes through a process, in process and
 * without I/O, so a busy machine moves it far less than the bench's timed scenarios:
 *
 *   npm run build --silent && node dist/spec/bench/message-cost.js [--amqplib DIR] [--iterations N]
 *
 * Producer: celeriac builds the message (Producer.build), encodes it (body, publish options),
 * then amqplib encodes the publish method and the content header (properties and the header
 * table). Worker: amqplib decodes the content header, celeriac reads the properties and decodes
 * and validates the message; the result meta is encoded (worker) and parsed (producer). Each
 * step is also measured with a bare message (no headers), the floor's other extreme, and
 * amqplib's encode with a new headers object per message, as a producer's publishes have, given
 * to amqplib as it is or through ReusedHeaderTable (the publisher's way).
 *
 * `--amqplib DIR` loads amqplib's codec from another copy (a patched one, for comparison); the
 * celeriac steps always use the installed one. Figures: CPU ns per message (process.cpuUsage
 * over N iterations, best of 7 rounds).
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../../lib/index.js';
import { encodeTaskMessage, decodeTaskMessage } from '../../lib/protocol/task-message.js';
import { fromAmqpProperties, toPublishOptions } from '../../lib/broker/amqp/properties.js';
import { decodeMeta, encodeMeta } from '../../lib/backends/celery-meta.js';
import { ReusedHeaderTable } from '../../lib/broker/amqp/reused-header-table.js';

const { values } = parseArgs({
  options: {
    amqplib: { type: 'string' },
    iterations: { type: 'string', default: '200000' },
  },
});
const iterations = Number(values.iterations);
const require = createRequire(import.meta.url);
const amqplibDir = values.amqplib ? resolve(values.amqplib) : resolve(require.resolve('amqplib'), '..');

interface AmqpDefs {
  BasicPublish: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: object): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: object): Buffer;
  decode(id: number, buffer: Buffer): Record<string, unknown>;
}
interface AmqpArgs {
  publish(exchange: string, routingKey: string, options: object): object;
}
const defs = require(`${amqplibDir}/lib/defs.js`) as AmqpDefs;
const args = require(`${amqplibDir}/lib/api_args.js`) as AmqpArgs;

/** CPU ns per call of `fn`, best of 7 rounds of `iterations` calls (a warm-up round first). */
function cpuNsPer(fn: (i: number) => unknown): number {
  let best = Infinity;
  let sink: unknown;
  for (let round = 0; round < 8; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < iterations; i++) sink = fn(i);
    const used = process.cpuUsage(start);
    if (round > 0) best = Math.min(best, ((used.user + used.system) * 1000) / iterations);
  }
  if (sink === Symbol.for('never')) console.log(sink);
  return best;
}

const app = createApp({ broker: 'amqp://127.0.0.1', backend: 'redis://127.0.0.1', defaultQueue: 'bench' });
const producer = app.producer;
const build = (i: number) => producer.build('bench.noop', [i], {}, {});
const message = build(1);
const outgoing = encodeTaskMessage(message, 'json');
const publishOptions = toPublishOptions(outgoing, true, null);
const bareOptions = { ...publishOptions, headers: undefined };

/** The content header frame amqplib writes for `options` (frame header and end octet stripped: what decode reads). */
function propertiesPayload(options: object): Buffer {
  const frame = defs.encodeProperties(defs.BasicProperties, 1, outgoing.body.length, args.publish('', 'bench', options));
  return frame.subarray(7, frame.length - 1);
}
const celeryHeaderFrame = propertiesPayload(publishOptions);
const bareHeaderFrame = propertiesPayload(bareOptions);
/** What decode reads of a content header: class and weight, then body size and properties. */
const decodeProperties = (payload: Buffer) => defs.decode(defs.BasicProperties, payload.subarray(12));
const decodedProperties = decodeProperties(celeryHeaderFrame);

const meta = { status: 'SUCCESS' as const, result: 1, traceback: null, children: [], date_done: null, task_id: message.headers.id };
const storedMeta = encodeMeta(meta);

const encodeWithAmqplib = (options: object) => () => {
  const fields = args.publish('', 'bench', options);
  defs.encodeMethod(defs.BasicPublish, 1, fields);
  return defs.encodeProperties(defs.BasicProperties, 1, outgoing.body.length, fields);
};

/** Every publish's headers are a new object (as each message's are): amqplib makes each a prototype. */
const headerTable = new ReusedHeaderTable();
const encodeFresh = (reused: boolean) => () => {
  const headers = { ...message.headers };
  encodeWithAmqplib({ ...publishOptions, headers: reused ? headerTable.fill(headers) : headers })();
};

const steps: Array<[string, (i: number) => unknown]> = [
  ['producer: celeriac build (Producer.build)', build],
  ['producer: celeriac encode (body, publish options)', () => toPublishOptions(encodeTaskMessage(message, 'json'), true, null)],
  ['producer: amqplib encode, Celery headers', encodeWithAmqplib(publishOptions)],
  ['producer: amqplib encode, no headers', encodeWithAmqplib(bareOptions)],
  ['producer: amqplib encode, new headers object per message', encodeFresh(false)],
  ['producer: amqplib encode, new headers per message through ReusedHeaderTable', encodeFresh(true)],
  ['worker: amqplib decode, Celery headers', () => decodeProperties(celeryHeaderFrame)],
  ['worker: amqplib decode, no headers', () => decodeProperties(bareHeaderFrame)],
  [
    'worker: celeriac decode + validate',
    () => decodeTaskMessage(outgoing.body, fromAmqpProperties({ ...decodedProperties } as never), ['json', 'msgpack']),
  ],
  ['worker: celeriac encode result meta', () => encodeMeta(meta)],
  ['producer: celeriac parse result meta', () => decodeMeta(meta.task_id, storedMeta)],
];

console.log(`amqplib codec from ${amqplibDir}; ${iterations} iterations, best of 7; header frame ${celeryHeaderFrame.length} bytes`);
for (const [name, fn] of steps) console.log(`${cpuNsPer(fn).toFixed(0).padStart(7)} ns  ${name}`);
