import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as errors from '../../lib/errors/errors.js';

describe('errors', () => {
  it('every code is documented in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of errors.ERROR_CODES) assert.ok(doc.includes(`\`${code}\``), `${code} missing from docs/errors.md`);
  });
  it('every error class carries its code, and instanceof follows the class chain', () => {
    const e = new errors.PublishError('unroutable', 'no route');
    assert.equal(e.code, 'CELERIAC_PUBLISH_FAILED');
    assert.ok(e instanceof errors.PublishError);
    assert.ok(e instanceof errors.CeleriacError);
    assert.ok(e instanceof Error);
    assert.ok(!(e instanceof errors.ConfigError));
    assert.equal(e.name, 'PublishError');
  });
  it('instanceof recognises errors made by another copy of the module (Symbol.for markers)', () => {
    // What an error thrown by a second copy of celeriac (e.g. a nested node_modules) looks like.
    const foreign = Object.assign(new Error('bad'), {
      [Symbol.for('celeriac.error.code')]: 'CELERIAC_CONFIG',
      [Symbol.for('celeriac.error.codes')]: ['CELERIAC_CONFIG'],
    });
    assert.ok(foreign instanceof errors.ConfigError);
    assert.ok(foreign instanceof errors.CeleriacError);
    assert.ok(!(foreign instanceof errors.PublishError));
    assert.ok(!({ code: 'CELERIAC_CONFIG' } instanceof errors.ConfigError));
  });
  it('each exported error class has a code listed in ERROR_CODES', () => {
    const classes = (Object.values(errors) as unknown[]).filter(
      (value): value is { name: string; prototype: { code?: string } } =>
        typeof value === 'function' && value.prototype instanceof Error && value !== errors.CeleriacError,
    );
    assert.ok(classes.length >= 10);
    for (const cls of classes) {
      const code = cls.prototype.code;
      assert.ok(code && (errors.ERROR_CODES as readonly string[]).includes(code), `${cls.name} has code ${code}`);
    }
  });
});
