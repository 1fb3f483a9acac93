import { createApp } from '../../lib/index.js';

/**
 * The app of the beat fail-over spec: one entry every second, sent to $BEAT_SPEC_QUEUE. The
 * app name (the lock's namespace) comes from $BEAT_SPEC_NAME so concurrent runs never meet.
 */
export const app = createApp({
  name: process.env.BEAT_SPEC_NAME ?? 'beat-spec',
  defaultQueue: process.env.BEAT_SPEC_QUEUE ?? 'beat-spec',
  brokerConnectionMaxRetries: 3,
  beatSchedule: { tick: { task: 'spec.beat.tick', every: '1s', args: [1] } },
});
export default app;
