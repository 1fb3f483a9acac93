import type { ExceptionInfo } from '../backends/result-backend.js';

/**
 * Error ⇄ Celery's exception encoding `{exc_type, exc_message, exc_module}`.
 *
 * A Node error is stored with its `name` as exc_type and `[message]` as exc_message (Python
 * stores the exception's args). JavaScript's built-in errors that Python also has keep their
 * name and use module "builtins", so Python re-raises them as its own TypeError etc.;
 * everything else uses module "celeriac" (Python then builds a stand-in class of that name).
 */
const PYTHON_BUILTIN_NAMES: ReadonlySet<string> = new Set(['TypeError', 'ValueError', 'KeyError', 'RuntimeError']);

export function errorToExceptionInfo(error: unknown): ExceptionInfo {
  if (error instanceof Error) {
    const type = error.name || error.constructor?.name || 'Error';
    return {
      exc_type: type,
      exc_message: [error.message],
      exc_module: PYTHON_BUILTIN_NAMES.has(type) ? 'builtins' : 'celeriac',
    };
  }
  return { exc_type: 'Error', exc_message: [String(error)], exc_module: 'celeriac' };
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

/** The traceback text stored beside a failure: the JS stack (which starts with "Name: message"). */
export function tracebackOf(error: unknown): string | null {
  return error instanceof Error && typeof error.stack === 'string' ? error.stack : null;
}
