import type { ExceptionInfo } from './task-meta.js';
import { MAX_ERROR_MESSAGE_CHARS, MAX_TRACEBACK_CHARS, truncateText } from '../util/truncate.js';

/**
 * Error ⇄ Celery's exception encoding `{exc_type, exc_message, exc_module}`.
 *
 * A Node error is stored with its type name as exc_type and `[message]` as exc_message (Python
 * stores the exception's args). The type name is the error's `name`, or — for a class that
 * extends Error without setting `name` — the class's name, so `class QuotaExceeded extends
 * Error {}` is stored as "QuotaExceeded", not "Error".
 *
 * exc_module decides what a Python caller gets from `AsyncResult.get()`: Celery looks the type
 * up in that module and re-raises an instance. Names that are Python built-in exceptions
 * (TypeError, ValueError, TimeoutError, AssertionError, ...) use module "builtins", so Python
 * raises its own class; names of Celery's exceptions (TimeLimitExceeded, ChordError, ...) use
 * "celery.exceptions"; everything else uses module "celeriac", for which Celery creates a
 * stand-in Exception subclass of that name. Built-ins that would stop a Python process or
 * that cannot be built from one message (SystemExit, KeyboardInterrupt, GeneratorExit,
 * StopIteration, the Unicode*Error family) are deliberately not mapped.
 * spec/interop/exception-info.test.ts checks every name here against a real Python.
 */
export const PYTHON_BUILTIN_EXCEPTIONS: ReadonlySet<string> = new Set([
  'ArithmeticError',
  'AssertionError',
  'AttributeError',
  'BlockingIOError',
  'BrokenPipeError',
  'BufferError',
  'ChildProcessError',
  'ConnectionAbortedError',
  'ConnectionError',
  'ConnectionRefusedError',
  'ConnectionResetError',
  'EOFError',
  'Exception',
  'FileExistsError',
  'FileNotFoundError',
  'FloatingPointError',
  'ImportError',
  'IndexError',
  'InterruptedError',
  'IsADirectoryError',
  'KeyError',
  'LookupError',
  'MemoryError',
  'ModuleNotFoundError',
  'NameError',
  'NotADirectoryError',
  'NotImplementedError',
  'OSError',
  'OverflowError',
  'PermissionError',
  'ProcessLookupError',
  'RecursionError',
  'ReferenceError',
  'RuntimeError',
  'SyntaxError',
  'SystemError',
  'TimeoutError',
  'TypeError',
  'UnboundLocalError',
  'ValueError',
  'ZeroDivisionError',
]);

/**
 * Names of Celery's own exceptions (module "celery.exceptions"), which celeriac raises or
 * records under the same names (time limits, retries, revocation, chords): Python re-raises
 * Celery's real class.
 */
export const CELERY_EXCEPTIONS: ReadonlySet<string> = new Set([
  'ChordError',
  'Ignore',
  'InvalidTaskError',
  'MaxRetriesExceededError',
  'NotRegistered',
  'Reject',
  'Retry',
  'SoftTimeLimitExceeded',
  'TaskRevokedError',
  'Terminated',
  'TimeLimitExceeded',
  'WorkerLostError',
]);

/** The module a celeriac error's type is stored under when Python has no class of that name. */
export const CELERIAC_EXCEPTION_MODULE = 'celeriac';

/** The message is cut to MAX_ERROR_MESSAGE_CHARS, with a marker (util/truncate.ts). */
export function errorToExceptionInfo(error: unknown): ExceptionInfo {
  if (error instanceof Error) {
    const type = typeNameOf(error);
    return {
      exc_type: type,
      exc_message: [truncateText(String(error.message), MAX_ERROR_MESSAGE_CHARS)],
      exc_module: pythonModuleOf(type),
    };
  }
  return { exc_type: 'Error', exc_message: [truncateText(String(error), MAX_ERROR_MESSAGE_CHARS)], exc_module: CELERIAC_EXCEPTION_MODULE };
}

/** The Python module Celery should look `type` up in. */
export function pythonModuleOf(type: string): string {
  if (PYTHON_BUILTIN_EXCEPTIONS.has(type)) return 'builtins';
  if (CELERY_EXCEPTIONS.has(type)) return 'celery.exceptions';
  return CELERIAC_EXCEPTION_MODULE;
}

/** `name` when it says more than "Error"; otherwise the class name (subclasses that kept name "Error"). */
function typeNameOf(error: Error): string {
  const name = typeof error.name === 'string' ? error.name : '';
  if (name && name !== 'Error') return name;
  const className = error.constructor?.name;
  return className || name || 'Error';
}

/** The message of an ExceptionInfo as one string (Python's args joined as str(exc) would). */
export function exceptionMessage(info: ExceptionInfo): string {
  const message = info.exc_message;
  if (typeof message === 'string') return message;
  if (Array.isArray(message)) {
    return message.length === 1 ? String(message[0]) : message.map((part) => String(part)).join(', ');
  }
  return String(message);
}

export function isExceptionInfo(value: unknown): value is ExceptionInfo {
  return typeof value === 'object' && value !== null && typeof (value as ExceptionInfo).exc_type === 'string';
}

/**
 * The traceback text stored beside a failure: the JS stack (which starts with "Name: message"),
 * cut to MAX_TRACEBACK_CHARS with a marker.
 */
export function tracebackOf(error: unknown): string | null {
  return error instanceof Error && typeof error.stack === 'string' ? truncateText(error.stack, MAX_TRACEBACK_CHARS) : null;
}
