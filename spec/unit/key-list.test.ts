import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyList } from '../../lib/util/key-list.js';
import { CALL_OPTION_KEYS } from '../../lib/canvas/call-options.js';

interface Sample {
  required: string;
  optional?: number;
}

describe('keyList', () => {
  it('lists the keys of the record, in its order', () => {
    assert.deepEqual(keyList<Sample>({ optional: true, required: true }), ['optional', 'required']);
    assert.ok(Object.isFrozen(keyList<Sample>({ optional: true, required: true })));
  });

  it('fails to compile when the list and the interface differ (this file only builds while they do)', () => {
    // @ts-expect-error a key of the interface (optional) is missing
    keyList<Sample>({ required: true });
    // @ts-expect-error a key the interface does not have
    keyList<Sample>({ required: true, optional: true, extra: true });
  });

  it('the call-option list is built from its interface', () => {
    assert.ok(CALL_OPTION_KEYS.includes('priority') && CALL_OPTION_KEYS.includes('linkError'));
  });
});
