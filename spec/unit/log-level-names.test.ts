import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { createApp } from '../../lib/index.js';
import { parseLogLevel } from '../../lib/log/level-names.js';
import { CLI } from '../support/processes.js';

describe('log levels as Celery spells them', () => {
  it('reads DEBUG, INFO, WARNING, ERROR, CRITICAL, FATAL and the short names, in any case', () => {
    const cases: Array<[string, string]> = [
      ['DEBUG', 'debug'],
      ['info', 'info'],
      ['INFO', 'info'],
      ['Warning', 'warn'],
      ['WARNING', 'warn'],
      ['warn', 'warn'],
      ['ERROR', 'error'],
      ['critical', 'error'],
      ['CRITICAL', 'error'],
      ['FATAL', 'error'],
      ['silent', 'silent'],
      [' info ', 'info'],
    ];
    for (const [given, level] of cases) assert.equal(parseLogLevel(given, '--loglevel'), level, given);
  });

  it('refuses anything else, naming the option and what it takes', () => {
    for (const bad of ['loud', '', 'NOTSET', 10, null]) {
      assert.throws(
        () => parseLogLevel(bad, '--loglevel'),
        /^ConfigError: --loglevel: unknown log level .*expected one of DEBUG, INFO, WARNING/,
      );
    }
  });

  it('the app option logLevel takes the same spellings', () => {
    assert.equal(createApp({ broker: 'memory://log-level-names', logLevel: 'WARNING' as never }).config.logLevel, 'warn');
  });

  it('celeriac worker -l WARNING is accepted (it goes on to load the app); -l loud fails naming --loglevel', async () => {
    const run = (level: string) =>
      promisify(execFile)(process.execPath, [CLI, 'worker', '-A', '/nonexistent/celeriac-spec-app.js', '-l', level]).then(
        () => '',
        (error: { stderr: string }) => error.stderr,
      );
    for (const level of ['WARNING', 'INFO', 'critical']) {
      const stderr = await run(level);
      assert.match(stderr, /--app: cannot load/, level);
      assert.doesNotMatch(stderr, /loglevel/, level);
    }
    assert.match(await run('loud'), /--loglevel: unknown log level "loud"/);
  });
});
