import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBrokerList } from '../../lib/broker/broker-list.js';
import { parseSentinelUrl } from '../../lib/backends/redis/sentinel-url.js';
import { ConfigError } from '../../lib/errors/errors.js';
import { redactUrl } from '../../lib/util/url.js';
import { checkUrlList, splitUrlList } from '../../lib/util/url-list.js';

/** A ConfigError naming `option` whose message matches `pattern` and shows no password. */
const configError =
  (option: string, pattern: RegExp) =>
  (error: unknown): boolean => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.option, option);
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /secret|pa;ss/);
    return true;
  };

describe('URL lists: one splitter for broker lists, Sentinel lists and redaction', () => {
  it('one URL is one entry, trimmed', () => {
    assert.deepEqual(splitUrlList('amqp://u:p@mq1:5672'), ['amqp://u:p@mq1:5672']);
    assert.deepEqual(splitUrlList('  amqp://mq1 \n'), ['amqp://mq1']);
    assert.deepEqual(splitUrlList('memory://demo'), ['memory://demo']);
  });

  it('splits before each next scheme://, with white space around the ; allowed', () => {
    assert.deepEqual(splitUrlList('amqp://mq1;amqps://mq2:5671/vh'), ['amqp://mq1', 'amqps://mq2:5671/vh']);
    assert.deepEqual(splitUrlList(' amqp://mq1 ;\tamqp://mq2 ; amqp://mq3'), ['amqp://mq1', 'amqp://mq2', 'amqp://mq3']);
    assert.deepEqual(splitUrlList('sentinel://:pw@h1/0;sentinel://h2/0'), ['sentinel://:pw@h1/0', 'sentinel://h2/0']);
  });

  it('a ; inside a password, path or query stays in its URL', () => {
    assert.deepEqual(splitUrlList('amqp://app:pa;ss@mq1:5672;amqp://app:pa;ss@mq2:5672'), [
      'amqp://app:pa;ss@mq1:5672',
      'amqp://app:pa;ss@mq2:5672',
    ]);
    // Ending in ;, or in a run of them, before the @.
    assert.deepEqual(splitUrlList('amqp://app:p;;@mq1;amqp://mq2'), ['amqp://app:p;;@mq1', 'amqp://mq2']);
    assert.deepEqual(splitUrlList('redis://:pw@h:6379/0?x=1;y=2'), ['redis://:pw@h:6379/0?x=1;y=2']);
    assert.deepEqual(splitUrlList('amqp://mq1/a;b;amqp://mq2'), ['amqp://mq1/a;b', 'amqp://mq2']);
  });

  it('empty entries are kept as such: doubled ;, a trailing ;, a ; with only white space after it', () => {
    assert.deepEqual(splitUrlList('amqp://a;;amqp://b'), ['amqp://a', '', 'amqp://b']);
    assert.deepEqual(splitUrlList('amqp://a; ;amqp://b'), ['amqp://a', '', 'amqp://b']);
    assert.deepEqual(splitUrlList('amqp://a;'), ['amqp://a', '']);
    assert.deepEqual(splitUrlList('amqp://a; '), ['amqp://a', '']);
    assert.deepEqual(splitUrlList(';amqp://a'), ['', 'amqp://a']);
    assert.deepEqual(splitUrlList(''), ['']);
  });

  it('checkUrlList refuses an empty entry and an entry without its scheme, naming the option', () => {
    const check = (list: string): void => checkUrlList(splitUrlList(list), 'broker', 'broker list', redactUrl);
    assert.throws(
      () => check('amqp://u:secret@a;;amqp://b'),
      configError('broker', /^broker: empty entry \(entry 2 of the broker list amqp:\/\/u:\*\*\*@a;;amqp:\/\/b\)$/),
    );
    assert.throws(() => check('amqp://a;'), configError('broker', /empty entry \(entry 2 of/));
    assert.throws(() => check(' '), configError('broker', /expected a non-empty string, got ""/));
    assert.throws(
      () => check('amqp://u:secret@mq1;mq2:5672'),
      configError('broker', /a ';' in the host part of amqp:\/\/u:\*\*\*@mq1;mq2:5672: each entry of a broker list is a whole URL/),
    );
    assert.doesNotThrow(() => check('amqp://u:pa;ss@mq1;amqp://mq2'));
  });

  it("checkUrlList applies a list's own rule and names the first bad entry, whatever breaks it", () => {
    const amqpOnly = (entry: string): string | undefined => (entry.startsWith('amqp://') ? undefined : `not amqp: ${redactUrl(entry)}`);
    const check = (list: string): void => checkUrlList(splitUrlList(list), 'broker', 'broker list', redactUrl, amqpOnly);
    assert.throws(
      () => check('amqp://a;redis://:secret@r;;amqp://b'),
      configError(
        'broker',
        /^broker: not amqp: redis:\/\/:\*\*\*@r \(entry 2 of the broker list amqp:\/\/a;redis:\/\/:\*\*\*@r;;amqp:\/\/b\)$/,
      ),
    );
    assert.throws(() => check('amqp://a;;redis://r'), configError('broker', /^broker: empty entry \(entry 2 of/));
    assert.throws(() => check('redis://r'), configError('broker', /^broker: not amqp: redis:\/\/r$/));
    assert.doesNotThrow(() => check('amqp://a;amqp://u:pa;ss@b'));
  });

  it('the broker list, the Sentinel list and redactUrl split alike', () => {
    const list = 'amqp://app:pa;ss@mq1:5672; amqps://app:pa;ss@mq2:5671';
    assert.deepEqual(parseBrokerList(list), ['amqp://app:pa;ss@mq1:5672', 'amqps://app:pa;ss@mq2:5671']);
    assert.equal(redactUrl(list), 'amqp://app:***@mq1:5672;amqps://app:***@mq2:5671');
    assert.equal(redactUrl('amqp://app:pa;ss@mq1:5672'), 'amqp://app:***@mq1:5672');
    const target = parseSentinelUrl('sentinel://:pa;ss@h1:26380/0?master_name=m ; sentinel://h2/0');
    assert.deepEqual(target.sentinels, [
      { host: 'h1', port: 26380 },
      { host: 'h2', port: 26379 },
    ]);
    assert.equal(target.password, 'pa;ss');
    for (const bad of ['amqp://a;;amqp://b', 'amqp://a;']) assert.throws(() => parseBrokerList(bad), configError('broker', /empty entry/));
    for (const bad of ['sentinel://:secret@h1/0?master_name=m;;sentinel://h2/0', 'sentinel://:secret@h1/0?master_name=m;']) {
      assert.throws(
        () => parseSentinelUrl(bad),
        configError('backend', /empty entry \(entry \d of the Sentinel list sentinel:\/\/:\*\*\*@h1/),
      );
    }
    assert.throws(
      () => parseSentinelUrl('sentinel://:secret@h1;h2/0?master_name=m'),
      configError('backend', /host part of sentinel:\/\/:\*\*\*@h1;h2/),
    );
  });
});
