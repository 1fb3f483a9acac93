/**
 * The two peers most interop specs set up: a celeriac app on the Redis backend whose worker
 * serves node.* (node-tasks.ts) on `queues.node`, and a Python Celery worker on `queues.py`;
 * both started together, both stopped and the queues deleted afterwards.
 */
import { Redis } from 'ioredis';
import { createApp, type App, type AppOptions, type Worker } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL } from '../support/apps.js';
import type { RunningProcess } from '../support/processes.js';
import { defineNodeTasks } from './node-tasks.js';
import { deleteQueues, startPythonWorker, stopPythonWorker, type InteropQueues } from './python-peer.js';

export interface MixedPeers {
  app: App;
  /** The client node-tasks.ts's tasks use; disconnected by stopMixedPeers. */
  redis: Redis;
  node: ReturnType<typeof defineNodeTasks>;
  worker: Worker;
  python: RunningProcess;
}

export interface MixedPeersOptions {
  /** The app's name and any options beyond broker, backend, default queue (queues.node) and log level (silent). */
  app: { name: string } & Omit<AppOptions, 'broker' | 'backend' | 'defaultQueue'>;
  /** The celeriac worker's concurrency and hostname. */
  worker: { concurrency: number; hostname: string };
  /** What the Python side sends; default json. */
  pythonSerializer?: 'json' | 'msgpack';
  /** Called with the worker before it starts (to listen to its events). */
  watch?: (worker: Worker) => void;
}

/** Starts both peers; resolves once the celeriac worker consumes and the Python worker said "ready.". */
export async function startMixedPeers(queues: InteropQueues, options: MixedPeersOptions): Promise<MixedPeers> {
  const app = createApp({ broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queues.node, logLevel: 'silent', ...options.app });
  const redis = new Redis(REDIS_URL);
  const node = defineNodeTasks(app, queues.node, redis);
  const worker = app.worker({ ...options.worker, queues: [queues.node], shutdownTimeout: '5s' });
  options.watch?.(worker);
  const [python, started] = await Promise.allSettled([startPythonWorker(queues, options.pythonSerializer), worker.start()]);
  if (python.status === 'rejected' || started.status === 'rejected') {
    // Nothing is left running for a spec whose before() failed.
    await stopPythonWorker(python.status === 'fulfilled' ? python.value : undefined);
    await worker.stop();
    await app.close();
    redis.disconnect();
    throw python.status === 'rejected' ? python.reason : (started as PromiseRejectedResult).reason;
  }
  return { app, redis, node, worker, python: python.value };
}

/** Stops what startMixedPeers started (nothing, if it never resolved) and deletes both queues. */
export async function stopMixedPeers(peers: MixedPeers | undefined, queues: InteropQueues): Promise<void> {
  if (peers) {
    await stopPythonWorker(peers.python);
    await peers.worker.stop();
    await peers.app.close();
    peers.redis.disconnect();
  }
  await deleteQueues([queues.py, queues.node]);
}
