import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CELERY_EXCEPTIONS, errorToExceptionInfo, PYTHON_BUILTIN_EXCEPTIONS } from '../../lib/protocol/exception-info.js';
import { pythonProducer } from './python-peer.js';

/**
 * How a Node error's {exc_type, exc_message, exc_module} reads in Python: every name celeriac
 * maps to module "builtins" must come back from Celery's exception_to_python as that built-in
 * class, and everything else as a stand-in class of the same name (never a real class that
 * could stop the Python process).
 */
describe('interop: Node errors as Python exceptions (Celery exception_to_python)', () => {
  const named = (name: string, message: string): Error => Object.assign(new Error(message), { name });
  // No queues are used: rebuild_exceptions only decodes.
  const rebuild = (errors: Error[]) =>
    pythonProducer<{ type: string; module: string; message: string }[]>({ py: 'unused', node: 'unused' }, 'rebuild_exceptions', [
      errors.map(errorToExceptionInfo),
    ]);

  it('every name mapped to builtins is a Python built-in exception, rebuilt with its message', async () => {
    const names = [...PYTHON_BUILTIN_EXCEPTIONS];
    const rebuilt = await rebuild(names.map((name) => named(name, `a ${name}`)));
    assert.deepEqual(
      rebuilt.map((r) => `${r.module}.${r.type}`),
      names.map((name) => `builtins.${name}`),
    );
    // KeyError's str() is the repr of its argument, as in Python.
    assert.deepEqual(
      rebuilt.map((r) => r.message),
      names.map((name) => (name === 'KeyError' ? `'a ${name}'` : `a ${name}`)),
    );
  });

  it("names of Celery's exceptions are rebuilt as Celery's real classes", async () => {
    const names = [...CELERY_EXCEPTIONS];
    const rebuilt = await rebuild(names.map((name) => named(name, `a ${name}`)));
    // TimeLimitExceeded and WorkerLostError live in billiard; celery.exceptions re-exports them.
    const homes: Record<string, string> = {
      TimeLimitExceeded: 'billiard.exceptions',
      WorkerLostError: 'billiard.exceptions',
      SoftTimeLimitExceeded: 'billiard.exceptions',
      Terminated: 'billiard.exceptions',
    };
    assert.deepEqual(
      rebuilt.map((r) => `${r.module}.${r.type}`),
      names.map((name) => `${homes[name] ?? 'celery.exceptions'}.${name}`),
    );
  });

  it("JavaScript's own errors: TypeError and SyntaxError are Python's; RangeError is a stand-in of that name", async () => {
    const errors = [new TypeError('t'), new SyntaxError('s'), new RangeError('r'), new Error('plain')];
    assert.deepEqual(await rebuild(errors), [
      { type: 'TypeError', module: 'builtins', message: 't' },
      { type: 'SyntaxError', module: 'builtins', message: 's' },
      { type: 'RangeError', module: 'celery.exceptions', message: 'r' },
      { type: 'Error', module: 'celery.exceptions', message: 'plain' },
    ]);
  });

  it('a class extending Error without setting name is stored under its class name', async () => {
    class PaymentDeclined extends Error {}
    assert.deepEqual(errorToExceptionInfo(new PaymentDeclined('card 42')), {
      exc_type: 'PaymentDeclined',
      exc_message: ['card 42'],
      exc_module: 'celeriac',
    });
    assert.deepEqual(await rebuild([new PaymentDeclined('card 42')]), [
      { type: 'PaymentDeclined', module: 'celery.exceptions', message: 'card 42' },
    ]);
  });

  it('names of Python exceptions that would stop the interpreter stay stand-ins', async () => {
    const dangerous = ['SystemExit', 'KeyboardInterrupt', 'GeneratorExit', 'StopIteration'];
    const rebuilt = await rebuild(dangerous.map((name) => named(name, 'no')));
    assert.deepEqual(
      rebuilt.map((r) => `${r.module}.${r.type}`),
      dangerous.map((name) => `celery.exceptions.${name}`),
    );
  });
});
