/** Clean-up the bench producers share: the results a run stored are removed after it (not timed). */
import { Redis } from 'ioredis';

/**
 * Removes the Celery result keys of `taskIds` from the run's Redis, so repeated runs do not pile
 * up keys; a backend that is not Redis has nothing to remove.
 */
export async function deleteResults(backendUrl: string, taskIds: string[]): Promise<void> {
  if (!/^rediss?:/.test(backendUrl) || taskIds.length === 0) return;
  const redis = new Redis(backendUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (let i = 0; i < taskIds.length; i += 1000) {
      await redis.unlink(...taskIds.slice(i, i + 1000).map((id) => `celery-task-meta-${id}`));
    }
  } finally {
    redis.disconnect();
  }
}
