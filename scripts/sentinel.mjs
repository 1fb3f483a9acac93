#!/usr/bin/env node
// A Redis Sentinel deployment on this machine, to try celeriac's sentinel:// backend by hand:
//   npm run sentinel:up     primary 127.0.0.1:6391, replica 6392, sentinels 26391-26393 (master name mymaster)
//   npm run sentinel:down   stops them (by the pids recorded at start) and deletes their dir
// The processes outlive this script; their configs, logs and pids are in $CELERIAC_SENTINEL_DIR
// (default <tmpdir>/celeriac-sentinel). CELERIAC_SENTINEL_PASSWORD sets a password on the data
// nodes, CELERIAC_SENTINEL_SENTINEL_PASSWORD one on the sentinels. `up` needs the build (npm run
// sentinel:up builds first); spec/support/redis-sentinel.ts is the deployment the specs use.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = process.env.CELERIAC_SENTINEL_DIR || join(tmpdir(), 'celeriac-sentinel');
const pidsFile = join(dir, 'pids');

function recordedPids() {
  if (!existsSync(pidsFile)) return [];
  return readFileSync(pidsFile, 'utf8').split('\n').filter(Boolean).map(Number);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function up() {
  const running = recordedPids().filter(alive);
  if (running.length > 0) {
    console.error(`sentinel: already up (pids ${running.join(', ')} in ${dir}); run npm run sentinel:down first`);
    process.exit(1);
  }
  rmSync(dir, { recursive: true, force: true });
  // The compiled harness, by URL (so lint's type program does not pull the build in).
  const { SentinelDeployment } = await import(new URL('../dist/spec/support/redis-sentinel.js', import.meta.url).href);
  const deployment = new SentinelDeployment({
    dir,
    detached: true,
    password: process.env.CELERIAC_SENTINEL_PASSWORD || undefined,
    sentinelPassword: process.env.CELERIAC_SENTINEL_SENTINEL_PASSWORD || undefined,
  });
  try {
    await deployment.start();
  } catch (error) {
    console.error(`sentinel: ${error.message}; logs in ${dir}`);
    down();
    process.exit(1);
  }
  console.log(`sentinel: up (pids ${recordedPids().join(', ')}; configs and logs in ${dir})`);
  console.log(`CELERIAC_RESULT_BACKEND='${deployment.url()}'`);
  if (deployment.sentinelPassword) console.log("and resultBackendTransportOptions: { sentinelPassword: '...' } (the sentinels' password)");
}

function down() {
  const pids = recordedPids();
  const stopped = pids.filter((pid) => {
    try {
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false; // already gone
    }
  });
  rmSync(dir, { recursive: true, force: true });
  console.log(stopped.length ? `sentinel: stopped pids ${stopped.join(', ')}` : 'sentinel: nothing was running');
}

const command = process.argv[2];
if (command === 'up') await up();
else if (command === 'down') down();
else {
  console.error('usage: node scripts/sentinel.mjs up|down');
  process.exit(2);
}
