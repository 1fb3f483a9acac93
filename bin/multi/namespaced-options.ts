import { ConfigError } from '../../lib/index.js';

/** Options by name in the order first given ('-c' → '4', '--pidfile' → '/run/%n.pid'); null for a flag with no value. */
export type OptionMap = Map<string, string | null>;

/**
 * A `celeriac multi` command line after the command name, as Celery's NamespacedOptionParser
 * (celery/apps/multi.py) reads it.
 */
export interface NamespacedOptions {
  /** Every non-empty token, in order. */
  args: string[];
  /** The tokens that are neither options nor option values: node names, or one node count. */
  values: string[];
  /** The options for every node. */
  options: OptionMap;
  /** Options for some nodes (`-c:w1 2`): namespace (a name, an index, a list or range) → options. */
  namespaces: Map<string, OptionMap>;
  /** `--` and everything after it, handed to every worker as it is. */
  passthrough: string[];
}

/**
 * Reads a multi command line with Celery's rules, which its users' scripts rely on:
 * - a long option takes a value only as `--name=value` (`--name value` makes `value` a node name);
 * - a short option takes the next token as its value unless that starts with `-` (`-c 4`, `-E`);
 * - `-opt:ns value` / `--opt:ns=value` sets the option for the nodes of namespace `ns` only;
 * - `--` ends the options: it and the rest go to every worker unchanged;
 * - the last value given for an option wins, at the place where it was first given.
 */
export function parseNamespacedOptions(argv: readonly string[]): NamespacedOptions {
  const parsed: NamespacedOptions = {
    args: argv.filter((arg) => arg !== ''),
    values: [],
    options: new Map(),
    namespaces: new Map(),
    passthrough: [],
  };
  const tokens = parsed.args;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === '--') {
      parsed.passthrough = tokens.slice(i);
      break;
    }
    if (token.startsWith('--')) {
      const equals = token.indexOf('=');
      if (equals === -1) addOption(parsed, '--', token.slice(2), null);
      else addOption(parsed, '--', token.slice(2, equals), token.slice(equals + 1));
    } else if (token.startsWith('-') && token.length > 1) {
      const next = tokens[i + 1];
      const value = next !== undefined && !next.startsWith('-') ? next : null;
      if (value !== null) i += 1;
      addOption(parsed, '-', token.slice(1), value);
    } else {
      parsed.values.push(token);
    }
  }
  return parsed;
}

function addOption(parsed: NamespacedOptions, prefix: string, spec: string, value: string | null): void {
  const parts = spec.split(':');
  if (parts.length > 2) throw new ConfigError(`${prefix}${spec}`, 'expected one ":" between the option and the nodes it is for');
  const [name, namespace] = parts as [string, string | undefined];
  let target = parsed.options;
  if (namespace !== undefined) {
    target = parsed.namespaces.get(namespace) ?? new Map();
    parsed.namespaces.set(namespace, target);
  }
  target.set(prefix + name, value);
}

/**
 * The signal a stop, stopwait or restart command line asks for (Celery's _find_sig_argument):
 * the last `-N` (one digit) or `-NAME` (upper case, with or without SIG: -KILL, -SIGINT) among
 * the tokens from the n-th on, n being the number of node values; else `fallback`.
 */
export function signalArgument(parsed: NamespacedOptions, fallback: number, signals: Readonly<Record<string, number>>): number {
  for (const arg of parsed.args.slice(parsed.values.length).reverse()) {
    if (/^-\d$/.test(arg)) return Number(arg.slice(1));
    const name = /^-([A-Z][A-Z0-9]*)$/.exec(arg)?.[1];
    if (name === undefined) continue;
    const number = signals[name.startsWith('SIG') ? name : `SIG${name}`];
    if (number !== undefined) return number;
  }
  return fallback;
}
