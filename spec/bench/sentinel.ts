/**
 * The Redis backend through Redis Sentinel, in the same run: celeriac-roundtrip (N × delay(i),
 * then every get()) with its backend a sentinel:// list, on a deployment the scenario starts for
 * itself (spec/support/redis-sentinel.ts: primary 6391, replica 6392, sentinels 26391-26393) and
 * stops after; not timed.
 *
 * - celeriac-sentinel: a write is done when the primary answered.
 * - celeriac-sentinel-wait: resultBackendWaitForReplicas { replicas: 1, timeout: '1s' }:
 *   every write also waits for the replica's acknowledgement (one WAIT for the writes answered
 *   since the last one).
 * Opt-in (they start five redis-server processes): npm run bench -- -s celeriac-sentinel
 * -s celeriac-sentinel-wait. The redis CPU column stays empty: with more than one
 * redis-server on the machine, broker-cpu.ts reads none.
 */
import { PRIMARY_PORT, SentinelDeployment } from '../support/redis-sentinel.js';
import { runCeleriac, type Variant } from './celeriac-roundtrip.js';
import type { BenchOptions, Scenario, ScenarioResult } from './scenario.js';

async function withSentinel(scenario: string, variant: Omit<Variant, 'backendUrl'>, options: BenchOptions): Promise<ScenarioResult> {
  const deployment = new SentinelDeployment();
  try {
    options.onProgress(scenario, 'starting a Sentinel deployment (primary, replica, 3 sentinels)');
    await deployment.start();
    const result = await runCeleriac(scenario, { ...variant, backendUrl: deployment.url() }, options);
    const wait = variant.waitForReplicas;
    result.notes.push(
      `backend ${deployment.url()}` +
        (wait ? `; every write acknowledged by ${wait.replicas} replica (WAIT, timeout ${String(wait.timeout)})` : '; no WAIT'),
    );
    if (wait) result.notes.push(await waitsPerWrite(deployment));
    return result;
  } finally {
    await deployment.stop();
  }
}

/** How many WAITs the primary served for how many script calls (each result store is one): the sharing of one WAIT by many writes. */
async function waitsPerWrite(deployment: SentinelDeployment): Promise<string> {
  const client = deployment.dataClient(PRIMARY_PORT);
  try {
    await client.connect();
    const stats = await client.info('commandstats');
    const calls = (command: string): number => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    const scripts = calls('evalsha') + calls('eval');
    return `the primary served ${calls('wait')} WAITs for ${scripts} script calls (stores, chord joins) and ${calls('exec')} MULTIs`;
  } finally {
    client.disconnect();
  }
}

export const sentinelScenarios: Scenario[] = [
  {
    name: 'celeriac-sentinel',
    description: 'celeriac-roundtrip with backend sentinel:// (primary found through 3 sentinels; starts its own)',
    floor: 'floor-roundtrip',
    optIn: true,
    run: (options) => withSentinel('celeriac-sentinel', { mode: 'roundtrip' }, options),
  },
  {
    name: 'celeriac-sentinel-wait',
    description: 'celeriac-sentinel with resultBackendWaitForReplicas { replicas: 1 }: each write waits for the replica',
    floor: 'floor-roundtrip',
    optIn: true,
    run: (options) =>
      withSentinel('celeriac-sentinel-wait', { mode: 'roundtrip', waitForReplicas: { replicas: 1, timeout: '1s' } }, options),
  },
];
