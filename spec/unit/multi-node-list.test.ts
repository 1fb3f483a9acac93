import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../lib/index.js';
import { parseNamespacedOptions, signalArgument } from '../../bin/multi/namespaced-options.js';
import { multiExpand, nodeList, type MultiNode } from '../../bin/multi/node-list.js';

const HOST = 'box.example.com';

function nodes(line: string): MultiNode[] {
  return nodeList(parseNamespacedOptions(line.split(' ')), HOST);
}

/** Each node's worker command line, after `worker --detach`, as one string. */
function commands(line: string): string[] {
  return nodes(line).map((node) => {
    assert.deepEqual(node.argv.slice(0, 2), ['worker', '--detach']);
    return node.argv.slice(2).join(' ');
  });
}

// The expected lines are those of Celery 5.2.6's `celery multi show` for the same arguments
// (celery/bin/multi.py's examples), less its --executable.
describe('celeriac multi: the node list (Celery’s MultiParser)', () => {
  it('a count names celery1..N on this host; --range-prefix renames them', () => {
    assert.deepEqual(
      nodes('3 -c 3').map((node) => node.name),
      ['celery1@box.example.com', 'celery2@box.example.com', 'celery3@box.example.com'],
    );
    assert.deepEqual(
      nodes('2 --range-prefix=worker -c 3').map((node) => node.name),
      ['worker1@box.example.com', 'worker2@box.example.com'],
    );
    assert.deepEqual(nodes('0'), []);
  });

  it('names, --hostname, and full names with %h expanded', () => {
    assert.deepEqual(
      nodes('image video data -c 3').map((node) => node.name),
      ['image@box.example.com', 'video@box.example.com', 'data@box.example.com'],
    );
    assert.deepEqual(
      nodes('2 --hostname=worker.example.com -c 3').map((node) => node.name),
      ['celery1@worker.example.com', 'celery2@worker.example.com'],
    );
    assert.deepEqual(
      nodes('foo@worker.example.com bar@worker.example.com').map((node) => node.name),
      ['foo@worker.example.com', 'bar@worker.example.com'],
    );
    const own = nodes('foo@%h')[0].name;
    assert.match(own, /^foo@[^%]+$/, 'the machine’s own name');
  });

  it('every node gets -n and Celery’s default pid and log files, after the given options', () => {
    assert.deepEqual(commands('w1 w2 -c 4'), [
      '-c 4 -n w1@box.example.com --pidfile=w1.pid --logfile=w1%I.log',
      '-c 4 -n w2@box.example.com --pidfile=w2.pid --logfile=w2%I.log',
    ]);
    assert.deepEqual(commands('w1 -f /var/log/%n.log'), ['-f /var/log/w1.log -n w1@box.example.com --pidfile=w1.pid']);
  });

  it('per-node options by name, index, list and range', () => {
    assert.deepEqual(commands('3 -c 3 -c:1 10'), [
      '-c 10 -n celery1@box.example.com --pidfile=celery1.pid --logfile=celery1%I.log',
      '-c 3 -n celery2@box.example.com --pidfile=celery2.pid --logfile=celery2%I.log',
      '-c 3 -n celery3@box.example.com --pidfile=celery3.pid --logfile=celery3%I.log',
    ]);
    assert.deepEqual(commands('image video data -c 3 -c:image 10'), [
      '-c 10 -n image@box.example.com --pidfile=image.pid --logfile=image%I.log',
      '-c 3 -n video@box.example.com --pidfile=video.pid --logfile=video%I.log',
      '-c 3 -n data@box.example.com --pidfile=data.pid --logfile=data%I.log',
    ]);
    assert.deepEqual(
      commands('5 -c 3 -c:1-3 10').map((line) => line.split(' -n')[0]),
      ['-c 10', '-c 10', '-c 10', '-c 3', '-c 3'],
    );
    assert.deepEqual(
      commands('foo bar baz xuzzy -c 3 -c:foo,bar,baz 10').map((line) => line.split(' -n')[0]),
      ['-c 10', '-c 10', '-c 10', '-c 3'],
    );
    assert.deepEqual(
      commands('image video -c 3 -c:2 7').map((line) => line.split(' -n')[0]),
      ['-c 3', '-c 7'],
      'an index names the node at that place',
    );
    assert.deepEqual(
      commands('w1 w2 -c 3 -c:w2@box.example.com 5').map((line) => line.split(' -n')[0]),
      ['-c 3', '-c 5'],
      'the full node name is a namespace too',
    );
    assert.deepEqual(
      commands('10 -l INFO -Q:1-3 images,video -Q:4,5 data -Q default -l:4,5 DEBUG').map((line) => line.split(' -n')[0]),
      [
        ...Array<string>(3).fill('-l INFO -Q images,video'),
        ...Array<string>(2).fill('-l DEBUG -Q data'),
        ...Array<string>(5).fill('-l INFO -Q default'),
      ],
    );
  });

  it('long options take values with "=" only, short ones the next token unless it is an option', () => {
    const parsed = parseNamespacedOptions(['w1', '--purge', '-E', '-c', '2', '--loglevel=INFO', 'w2', '-c:w1', '4']);
    assert.deepEqual(parsed.values, ['w1', 'w2']);
    assert.deepEqual(
      [...parsed.options],
      [
        ['--purge', null],
        ['-E', null],
        ['-c', '2'],
        ['--loglevel', 'INFO'],
      ],
    );
    assert.deepEqual([...parsed.namespaces.get('w1')!], [['-c', '4']]);
    assert.deepEqual(commands('w1 --purge -E -c 2')[0], '--purge -E -c 2 -n w1@box.example.com --pidfile=w1.pid --logfile=w1%I.log');
    // Celery's rule, which its users know: a long option's value after a space is a node name.
    assert.deepEqual(
      nodes('w1 --loglevel INFO').map((node) => node.name),
      ['w1@box.example.com', 'INFO@box.example.com'],
    );
  });

  it('"--" and what follows go to every worker as they are; --append after them', () => {
    assert.deepEqual(commands('w1 -c 2 -- x=1 -y')[0], '-c 2 -n w1@box.example.com --pidfile=w1.pid --logfile=w1%I.log -- x=1 -y');
    assert.deepEqual(commands('w1 --append=--purge')[0], '-n w1@box.example.com --pidfile=w1.pid --logfile=w1%I.log --purge');
  });

  it('--prefix and --suffix build the node names', () => {
    assert.deepEqual(
      nodes('a b --prefix=x- --suffix=y.example.com').map((node) => node.name),
      ['x-a@y.example.com', 'x-b@y.example.com'],
    );
  });

  it('expansion: %n/%N the name, %h/%p the node name, %d its host, %i/%I kept for the worker', () => {
    assert.equal(
      multiExpand('%n %N %h %p %d %i %I %%', 'w1@box.example.com'),
      'w1 w1 w1@box.example.com w1@box.example.com box.example.com %i %I %',
    );
    // As Celery's `celery multi expand %n-%h-%d-%I.log w1 w2@x.example.com` prints them.
    assert.deepEqual(
      nodes('w1 w2@x.example.com').map((node) => node.expand('%n-%h-%d-%I.log')),
      ['w1-w1@box.example.com-box.example.com-%I.log', 'w2-w2@x.example.com-x.example.com-%I.log'],
    );
  });

  it('the pid and log files as the worker writes them: expanded and absolute, in --workdir when given', () => {
    const [node] = nodes('w1 --pidfile=/run/celeriac/%n.pid --logfile=/var/log/celeriac/%n%I.log');
    assert.equal(node.pidfile, '/run/celeriac/w1.pid');
    assert.equal(node.logfile, '/var/log/celeriac/w1.log');
    assert.ok(node.argv.includes('--logfile=/var/log/celeriac/w1%I.log'), 'the worker expands %I itself');
    assert.equal(nodes('w1')[0].pidfile, resolve('w1.pid'));
    assert.equal(nodes('w1 --workdir=/srv/%n')[0].pidfile, '/srv/w1/w1.pid');
  });

  it('a bad namespace or --cmd is a ConfigError', () => {
    assert.throws(
      () => nodes('w1 w2 -c:3 1'),
      (error: unknown) => error instanceof ConfigError && /no node at index 3/.test(error.message),
    );
    assert.throws(
      () => nodes('w1 -c:0 1'),
      (error: unknown) => error instanceof ConfigError && /start at 1/.test(error.message),
    );
    assert.throws(() => nodes('w1 -c:a:b 1'), ConfigError);
    assert.throws(
      () => nodes('w1 --cmd=beat'),
      (error: unknown) => error instanceof ConfigError && error.message.includes('--cmd'),
    );
  });

  it('the signal of stop/stopwait/restart: the last -N or -NAME after the node names, else TERM', () => {
    const signal = (line: string): number =>
      signalArgument(parseNamespacedOptions(line.split(' ')), constants.signals.SIGTERM, constants.signals);
    assert.equal(signal('w1 w2'), constants.signals.SIGTERM);
    assert.equal(signal('w1 -KILL'), constants.signals.SIGKILL);
    assert.equal(signal('w1 --pidfile=x.pid -SIGINT'), constants.signals.SIGINT);
    assert.equal(signal('w1 -9'), 9);
    assert.equal(signal('w1 -HUP -INT'), constants.signals.SIGINT);
    assert.equal(signal('w1 -c'), constants.signals.SIGTERM, 'an option is not a signal');
  });
});
