import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LevelGate } from '../../lib/log/level-gate.js';
import { createLogger } from '../../lib/log/logger.js';

describe('LevelGate', () => {
  it("answers as winston's isLevelEnabled, and follows the logger's level (also through a child)", () => {
    const logger = createLogger({ level: 'warn' });
    const child = logger.child({ worker: 'w@host' });
    const info = new LevelGate(child, 'info');
    const warn = new LevelGate(child, 'warn');
    assert.equal(info.enabled, false);
    assert.equal(warn.enabled, true);
    logger.level = 'debug';
    assert.equal(info.enabled, true);
    assert.equal(info.enabled, child.isLevelEnabled('info'));
    logger.level = 'error';
    assert.equal(info.enabled, false);
    assert.equal(warn.enabled, false);
  });
});
