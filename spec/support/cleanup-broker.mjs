#!/usr/bin/env node
// Deletes queues and exchanges that spec and bench runs left on the local RabbitMQ (names
// starting with "spec." or "bench."). .ci/run calls it before the tests, when nothing else runs:
// thousands of leftover queues slow the broker down (stop_app in the fault specs, above all).
// Usage: node spec/support/cleanup-broker.mjs [amqp-url]
import { execFileSync } from 'node:child_process';
import amqp from 'amqplib';

const url = process.argv[2] ?? process.env.CELERIAC_SPEC_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const list = (what) =>
  execFileSync('rabbitmqctl', [`list_${what}`, 'name', '--silent'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim())
    .filter((name) => /^(spec|bench)\./.test(name));

const queues = list('queues');
const exchanges = list('exchanges');
const connection = await amqp.connect(url);
let channel = await connection.createChannel();
let failed = 0;
for (const [kind, names] of [
  ['queue', queues],
  ['exchange', exchanges],
]) {
  for (const name of names) {
    try {
      if (kind === 'queue') await channel.deleteQueue(name);
      else await channel.deleteExchange(name);
    } catch {
      failed += 1;
      channel = await connection.createChannel();
    }
  }
}
await connection.close();
console.log(
  `removed ${queues.length} leftover spec/bench queues and ${exchanges.length} exchanges${failed ? ` (${failed} already gone)` : ''}`,
);
