import { spawnSync } from 'node:child_process';

/**
 * The interpreter that has Python Celery, the real peer of the interop specs and of the bench's
 * peer scenarios (python3-celery is a Debian package: /usr/bin/python3 has it even when another
 * python3 comes first on PATH). $CELERIAC_SPEC_PYTHON wins. Throws, naming what to install,
 * when none has it.
 */
export function findPython(): string {
  const candidates = [process.env.CELERIAC_SPEC_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import celery, redis, msgpack'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  throw new Error(
    `no python3 with celery, redis and msgpack among ${candidates.join(', ')}: ` +
      'apt-get install -y python3-celery python3-redis python3-msgpack',
  );
}
