import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp, ConfigError } from '../../lib/index.js';
import {
  globMatches,
  isAddressedTo,
  matchPcre,
  MAX_PATTERN_LENGTH,
  PcreBudget,
  PcreBudgetSpentError,
} from '../../lib/control/addressing.js';
import { CappedLog } from '../../lib/control/capped-log.js';
import { parseControlPolicyFlag, refusalOf, resolveControlPolicy, SAFE_CONTROL_COMMANDS } from '../../lib/app/command-policy.js';
import { parseControlRequest } from '../../lib/control/control-request.js';
import type { Logger } from 'winston';

describe('remote control: checking a request', () => {
  it('accepts what kombu sends and refuses whole what cannot be addressed or answered', () => {
    const good = parseControlRequest({
      method: 'ping',
      arguments: {},
      destination: ['a@h'],
      pattern: null,
      matcher: null,
      ticket: 't',
      reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'k' },
    });
    assert.ok(good.ok);
    assert.equal(good.problem, null);
    assert.deepEqual(good.request.destination, ['a@h']);
    for (const body of [
      null,
      [1],
      'ping',
      { method: 'ping', destination: { length: 1 } },
      { method: 'ping', destination: 5 },
      { method: 'ping', destination: ['a', 1] },
      { method: 'ping', destination: Array(1001).fill('a') },
      { method: 'ping', pattern: 5, matcher: 'glob' },
      { method: 'ping', pattern: 'a', matcher: 'regex' },
      { method: 'ping', ticket: 5 },
      { method: 'ping', reply_to: { exchange: 'x' } },
      { method: 'ping', reply_to: { exchange: 'x', routing_key: 'é'.repeat(128) } },
    ]) {
      const parsed = parseControlRequest(body);
      assert.equal(parsed.ok, false, JSON.stringify(body).slice(0, 80));
    }
  });

  it('keeps a request with a bad method or arguments answerable, with the problem', () => {
    for (const [body, problem] of [
      [{ method: ['ping'] }, /^method is a list of 1/],
      [{ method: 'no spaces please' }, /^method is "no spaces please"/],
      [{ method: 'ping', arguments: 7 }, /^arguments is number 7/],
    ] as const) {
      const parsed = parseControlRequest(body);
      assert.ok(parsed.ok);
      assert.match(parsed.problem ?? '', problem);
    }
  });
});

describe('remote control: addressing', () => {
  it('glob matches as fnmatch does (cases checked against Python)', () => {
    const cases: [string, string, boolean][] = [
      ['celeriac@*', 'celeriac@host', true],
      ['*@host', 'a@host', true],
      ['a?c', 'abc', true],
      ['a?c', 'ac', false],
      ['[ab]x', 'bx', true],
      ['[!ab]x', 'bx', false],
      ['[a-c]*', 'b@h', true],
      ['x[', 'x[', true],
      ['*a*b*c*', 'zzazzbzzczz', true],
      ['*a*b*c*', 'zzazzczzbzz', false],
      ['[]a]', 'a', true],
      ['[]a]', ']', true],
      ['*', '', true],
      ['**x', 'ax', true],
      ['a*', 'b', false],
    ];
    for (const [pattern, name, expected] of cases) assert.equal(globMatches(pattern, name), expected, `${pattern} ~ ${name}`);
  });

  it('a glob of many stars against a long name is matched without backtracking blow-up', () => {
    // As a RegExp (^.*a.*a...$) this takes exponential time; the walk takes |pattern| × |name| at most.
    assert.equal(globMatches(`${'*a'.repeat(100)}*b`, 'a'.repeat(255)), false);
  });

  it('pcre matches at the start of the name (re.match), and refuses patterns that would pin the worker', () => {
    assert.equal(matchPcre('cel', 'celeriac@h'), true);
    assert.equal(matchPcre('h$', 'celeriac@h'), false);
    assert.equal(matchPcre('.*h$', 'celeriac@h'), true);
    assert.throws(() => matchPcre('(.*.*)*!', 'celeriac@some-long-host-name-0123456789'), /nested quantifiers/);
    assert.throws(() => matchPcre('(a+)+$', 'a'.repeat(40)), /nested quantifiers/);
    assert.throws(() => matchPcre('x'.repeat(MAX_PATTERN_LENGTH + 1), 'x'), /longer than/);
    assert.throws(() => matchPcre('(', 'x'), /invalid pcre pattern/);
    // Exponential without nested quantifiers: the static check lets it through, the timed match stops it.
    assert.throws(() => matchPcre('(a|a)*b', 'a'.repeat(40)), /took over/);
    // Remembered: refused again without running.
    assert.throws(() => matchPcre('(a|a)*b', 'a'.repeat(40)), /took over/);
  });

  it('a glob pattern is held to the same length cap as a pcre one', () => {
    assert.equal(isAddressedTo({ destination: null, pattern: '*'.repeat(MAX_PATTERN_LENGTH), matcher: 'glob' }, 'a@h'), true);
    assert.throws(
      () => isAddressedTo({ destination: null, pattern: '*'.repeat(MAX_PATTERN_LENGTH + 1), matcher: 'glob' }, 'a@h'),
      /glob pattern longer than 256 characters/,
    );
  });

  it('a flood of distinct slow pcre patterns spends the budget, then is refused unjudged until it renews', () => {
    let now = 0;
    const budget = new PcreBudget(100, () => now);
    const host = `flood@${'h'.repeat(60)}`;
    // Passes the static check (one quantifier, no nesting) and backtracks exponentially: each costs a match timeout.
    const slow = (i: number): string => `(.|.)*!${i}-${Math.random()}`;
    let judged = 0;
    let unjudged = 0;
    const patterns = Array.from({ length: 60 }, (_, i) => slow(i));
    for (const pattern of patterns) {
      try {
        isAddressedTo({ destination: null, pattern, matcher: 'pcre' }, host, budget);
      } catch (error) {
        if (error instanceof PcreBudgetSpentError) unjudged++;
        else if (/took over/.test((error as Error).message)) judged++;
        else throw error;
      }
    }
    // 100 ms at ~20 ms a match: about 5 judged (one may overrun), the rest refused at once.
    assert.ok(judged >= 1 && judged <= 7, `${judged} judged`);
    assert.equal(judged + unjudged, patterns.length);
    assert.throws(() => matchPcre(patterns[0], host, budget), /took over/, 'a verdict already reached is still given');
    assert.throws(() => matchPcre('flood', host, budget), PcreBudgetSpentError, 'a new pattern, cheap or not, waits for the next second');
    now += 1000;
    assert.equal(matchPcre('flood', host, budget), true, 'the budget renews each second');
  });

  it('a destination list wins over a pattern; neither means every node', () => {
    assert.equal(isAddressedTo({ destination: ['b@h'], pattern: 'a*', matcher: 'glob' }, 'a@h'), false);
    assert.equal(isAddressedTo({ destination: [], pattern: 'a*', matcher: 'glob' }, 'a@h'), true);
    assert.equal(isAddressedTo({ destination: null, pattern: null, matcher: null }, 'a@h'), true);
  });
});

describe('remote control: the command policy', () => {
  const fail = (reason: string): Error => new ConfigError('controlCommands', reason);

  it("'safe' allows inspect commands and revoke without terminate", () => {
    const safe = resolveControlPolicy('safe', fail);
    for (const method of SAFE_CONTROL_COMMANDS) assert.equal(refusalOf(safe, method, {}), null, method);
    for (const method of ['shutdown', 'add_consumer', 'cancel_consumer', 'rate_limit', 'terminate'])
      assert.match(refusalOf(safe, method, {}) ?? '', /not allowed/, method);
    assert.match(refusalOf(safe, 'revoke', { task_id: 'x', terminate: true }) ?? '', /terminate/);
    assert.equal(refusalOf(safe, 'no_such_command', {}), null, 'unknown commands are answered as unknown');
    assert.equal(refusalOf('all', 'shutdown', {}), null);
  });

  it('a list may name safe and more; the flag takes the same, comma-separated', () => {
    const policy = parseControlPolicyFlag('safe, terminate,rate_limit', fail);
    assert.equal(refusalOf(policy, 'revoke', { terminate: true }), null);
    assert.equal(refusalOf(policy, 'rate_limit', {}), null);
    assert.match(refusalOf(policy, 'shutdown', {}) ?? '', /not allowed/);
    assert.equal(parseControlPolicyFlag('all', fail), 'all');
  });

  it('the app option is validated with the option named', () => {
    assert.equal(createApp({ broker: 'memory://policy', logLevel: 'silent' }).config.controlCommands, 'all');
    assert.deepEqual(
      [...(createApp({ broker: 'memory://policy', controlCommands: ['ping'], logLevel: 'silent' }).config.controlCommands as Set<string>)],
      ['ping'],
    );
    for (const bad of ['some', ['ping', 'reboot'], 5, [{}]]) {
      assert.throws(
        () => createApp({ broker: 'memory://policy', controlCommands: bad as 'all', logLevel: 'silent' }),
        (error: unknown) => error instanceof ConfigError && /controlCommands/.test(error.message) && /known commands/.test(error.message),
      );
    }
  });
});

describe('remote control: capped log', () => {
  it('cuts long lines and writes at most a burst per window, then how many it left out', () => {
    const lines: string[] = [];
    const logger = { warn: (line: string) => lines.push(line), error: (line: string) => lines.push(line) } as unknown as Logger;
    let now = 0;
    const log = new CappedLog(logger, 3, 1000, () => now);
    for (let i = 0; i < 10; i++) log.warn(`line ${i} ${'x'.repeat(1000)}`);
    assert.equal(lines.length, 3);
    assert.ok(lines.every((line) => line.length <= 300));
    assert.match(lines[0], /^line 0 x+… \[\d+ more characters truncated\]$/, 'cut as every bounded text is (truncateText)');
    now = 1000;
    log.warn('next window');
    assert.match(lines[3], /7 more warnings/);
    assert.equal(lines[4], 'next window');
  });
});
