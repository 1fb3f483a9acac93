import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AMQP_URL, REDIS_URL, realApp, uniqueName } from '../support/apps.js';
import { assertOneIdPerDueNoGap, beatSends } from '../support/beat-sends.js';
import { startCli, type RunningProcess } from '../support/processes.js';

const BEAT_APP = new URL('../support/beat-app.js', import.meta.url).pathname;

/** Two `celeriac beat` processes: one leads; killing it hands over with no duplicate and no gap. */
describe('beat fail-over (Redis lock)', () => {
  const queue = uniqueName('beat');
  const env = {
    CELERIAC_BROKER_URL: AMQP_URL,
    CELERIAC_RESULT_BACKEND: REDIS_URL,
    BEAT_SPEC_QUEUE: queue,
    BEAT_SPEC_NAME: uniqueName('beat-app'),
  };
  const beats: RunningProcess[] = [];
  after(async () => {
    for (const beat of beats) if (beat.child.exitCode === null && beat.child.signalCode === null) beat.child.kill('SIGKILL');
    const app = realApp();
    await app.transport.deleteQueue(queue).catch(() => undefined);
    await app.close();
  });

  it('exactly one leads; after the leader is killed the other takes over and every due second is sent, under one task id', async (t) => {
    const start = (): RunningProcess => startCli(['beat', '-A', BEAT_APP, '--lock-ttl', '1500ms', '-l', 'info'], env);
    beats.push(start(), start());
    const [first, second] = beats as [RunningProcess, RunningProcess];
    const leaderMatch = await Promise.race([
      first.waitFor(/is the leader/).then(() => first),
      second.waitFor(/is the leader/).then(() => second),
    ]);
    const leader = leaderMatch;
    const follower = leader === first ? second : first;
    await leader.waitFor(/Sending due task[^\n]*\n[^]*Sending due task/, 15_000);
    assert.doesNotMatch(follower.output(), /is the leader/);
    leader.child.kill('SIGKILL');
    await leader.exited;
    await follower.waitFor(/is the leader/, 15_000);
    await follower.waitFor(/Sending due task[^\n]*\n[^]*Sending due task[^\n]*\n[^]*Sending due task/, 15_000);
    follower.child.kill('SIGTERM');
    await follower.exited;

    const sent = beatSends('tick', 'spec.beat.tick', leader.output(), follower.output());
    // A run re-sent across the hand-over (a leader killed between confirm and record, or
    // stalled past the 1.5 s lock TTL on a loaded machine) must carry the same task id.
    const { resent } = assertOneIdPerDueNoGap(sent);
    if (resent > 0) t.diagnostic(`${resent} run(s) re-sent across the hand-over, each with its own task id again`);
    const app = realApp();
    try {
      assert.equal(await app.transport.messageCount(queue), sent.length);
    } finally {
      await app.close();
    }
  });
});
