import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../lib/index.js';
import { parseUmask } from '../../bin/daemon.js';
import { detachedChildArgv } from '../../bin/detach-argv.js';
import { nodeFormat } from '../../bin/node-format.js';

describe('--detach: the child’s command line', () => {
  it('drops -D/--detach and the options the parent applies, keeps the rest in order', () => {
    assert.deepEqual(
      detachedChildArgv(
        ['worker', '-A', './t.js', '-D', '-c', '2', '--workdir', '/srv', '--uid=app', '--gid', 'app', '--umask=0027', '-E'],
        {},
      ),
      ['worker', '-A', './t.js', '-c', '2', '-E'],
    );
    assert.deepEqual(detachedChildArgv(['beat', '--detach', '--detach=true', '--no-detach'], {}), ['beat']);
  });

  it('takes only the D out of a group of short flags', () => {
    assert.deepEqual(detachedChildArgv(['worker', '-DE', '-ED', '-D'], {}), ['worker', '-E', '-E']);
  });

  it('adds the default pid and log files before "--", and leaves what follows it alone', () => {
    assert.deepEqual(detachedChildArgv(['worker', '-D', '--', '-D', '--uid=x'], { pidfile: '%n.pid', logfile: '%n%I.log' }), [
      'worker',
      '--pidfile=%n.pid',
      '--logfile=%n%I.log',
      '--',
      '-D',
      '--uid=x',
    ]);
  });
});

describe('--umask (Celery’s rule)', () => {
  it('is octal with a leading zero, decimal otherwise', () => {
    assert.equal(parseUmask('0027'), 0o027);
    assert.equal(parseUmask('022'), 0o022);
    assert.equal(parseUmask('0'), 0);
    assert.equal(parseUmask('18'), 18);
  });

  it('refuses anything else with a ConfigError naming --umask', () => {
    for (const bad of ['08', 'abc', '-1', '1000', '0o22', '']) {
      assert.throws(
        () => parseUmask(bad),
        (error: unknown) => error instanceof ConfigError && error.message.includes('--umask'),
        bad,
      );
    }
  });
});

describe('node-format (Celery’s node_format)', () => {
  it('expands %p %n %h %d %i %I %% for a worker', () => {
    assert.equal(nodeFormat('%p|%n|%h|%d|%i|%I|%%|%x', 'w1@box.example.com'), 'w1@box.example.com|w1|box.example.com|example.com|0||%|%x');
  });

  it('takes overrides, expanding once', () => {
    assert.equal(nodeFormat('%h %i', 'w1@box', { h: 'w1@box', i: '%i' }), 'w1@box %i');
  });
});
