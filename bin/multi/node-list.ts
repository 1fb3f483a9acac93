import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, expandHostname } from '../../lib/index.js';
import { DETACHED_FILES } from '../commands/daemon-options.js';
import { nodeFormat } from '../node-format.js';
import type { NamespacedOptions, OptionMap } from './namespaced-options.js';

/** One worker of a `celeriac multi` command line. */
export interface MultiNode {
  /** Its node name, name@host (the worker's -n). */
  name: string;
  /** Its options, merged: every node's, then its namespace's; -n, --pidfile and --logfile set. */
  options: OptionMap;
  /** The command line that starts it, after the program: `worker --detach -n name@host ...`, expanded. */
  argv: string[];
  /** Expands a template as multi does for this node (see multiExpand). */
  expand(template: string): string;
  /** The pid and log files as its worker writes them: absolute, every %-key expanded. */
  pidfile: string;
  logfile: string;
}

/** Global options of multi itself (Celery's), taken out before the rest go to every worker. */
interface Naming {
  hostname: string;
  prefix: string;
  suffix: string;
  rangePrefix: string;
  append: string[];
}

/**
 * The nodes a parsed `celeriac multi` command line names, as Celery's MultiParser and Node
 * (celery/apps/multi.py) build them:
 * - one value that is a number N names N nodes, <range-prefix>1..N (`3` → celery1@host..celery3@host);
 *   anything else names the nodes: `w1` → w1@<--hostname, default this host>, `w1@%h` as given
 *   (%h, %n, %d of this host expanded);
 * - `-opt:ns value` applies to the nodes `ns` names: a node name (short or full), a 1-based index,
 *   a comma list of either, or with a count a range (`-c:1-3 10`);
 * - every node gets -n <name>, --pidfile (default %n.pid) and --logfile (default %n%I.log), in
 *   the working directory, or --workdir when its options give one.
 * `host` is this machine's name (for the specs). A bad namespace is a ConfigError.
 */
export function nodeList(parsed: NamespacedOptions, host: string = osHostname()): MultiNode[] {
  const options: OptionMap = new Map(parsed.options);
  if (options.has('--cmd')) throw new ConfigError('--cmd', 'is not supported: celeriac multi runs `celeriac worker` nodes');
  const take = (name: string): string | null | undefined => {
    const value = options.get(name);
    options.delete(name);
    return value;
  };
  const shortHostname = take('-n');
  const hostname = take('--hostname') ?? shortHostname ?? host;
  const suffix = take('--suffix') || hostname;
  const naming: Naming = {
    hostname,
    prefix: take('--prefix') || '',
    suffix: suffix === '""' || suffix === "''" ? '' : suffix,
    rangePrefix: take('--range-prefix') || 'celery',
    append: (take('--append') || '').split(/\s+/).filter((part) => part !== ''),
  };
  const namespaces = new Map([...parsed.namespaces].map(([ns, opts]) => [ns, new Map(opts)]));
  let names = parsed.values;
  let prefix = naming.prefix;
  const ranges = names.length === 1;
  if (ranges && /^[+-]?\d+$/.test(names[0])) {
    names = Array.from({ length: Math.max(0, Number(names[0])) }, (_, i) => String(i + 1));
    prefix = naming.rangePrefix;
  }
  applyIndexNamespaces(namespaces, names);
  applyListNamespaces(namespaces, ranges);
  return names.map((value) => {
    let name: string;
    let namespace: string;
    if (value.includes('@')) {
      name = expandHostname(value);
      namespace = name.slice(0, name.indexOf('@'));
    } else {
      name = expandHostname(`${prefix}${value}@${naming.suffix}`);
      namespace = value;
    }
    if (namespaces.has(name)) namespace = name;
    const merged: OptionMap = new Map([...options, ...(namespaces.get(namespace) ?? [])]);
    return makeNode(name, merged, parsed.passthrough, naming.append);
  });
}

/** `-c:2 10`: the options of index namespaces also go to the namespace of the node at that index (1-based). */
function applyIndexNamespaces(namespaces: Map<string, OptionMap>, names: readonly string[]): void {
  for (const [ns, opts] of [...namespaces]) {
    if (!/^\d+$/.test(ns)) continue;
    const index = Number(ns) - 1;
    if (index < 0) throw new ConfigError(`:${ns}`, `node indexes start at 1, got ${ns}`);
    const name = names[index];
    if (name === undefined) throw new ConfigError(`:${ns}`, `no node at index ${ns} (${names.length} named)`);
    mergeInto(namespaces, name, opts);
  }
}

/** `-c:w1,w2 10`, and with a count `-c:1-3 10`: a list or range namespace is replaced by one namespace per member. */
function applyListNamespaces(namespaces: Map<string, OptionMap>, ranges: boolean): void {
  for (const [ns, opts] of [...namespaces]) {
    if (!(ns.includes(',') || (ranges && ns.includes('-')))) continue;
    for (const member of ns.split(',')) {
      const range = ranges ? /^(\d+)-(\d+)$/.exec(member) : null;
      if (range) {
        for (let n = Number(range[1]); n <= Number(range[2]); n++) mergeInto(namespaces, String(n), opts);
      } else {
        mergeInto(namespaces, member, opts);
      }
    }
    namespaces.delete(ns);
  }
}

function mergeInto(namespaces: Map<string, OptionMap>, ns: string, opts: OptionMap): void {
  const target = namespaces.get(ns) ?? new Map();
  for (const [key, value] of opts) target.set(key, value);
  namespaces.set(ns, target);
}

/**
 * multi's expansion of a template for node `name` (Celery's build_expander): %n and %N the
 * name part, %h and %p the full node name, %d the host part, %% a percent sign; %i and %I are
 * left for the worker (the process index).
 */
export function multiExpand(template: string, name: string): string {
  const at = name.indexOf('@');
  const short = name.slice(0, at);
  return nodeFormat(template, name, { N: short, h: name, d: name.slice(at + 1), i: '%i', I: '%I' });
}

function makeNode(name: string, options: OptionMap, passthrough: readonly string[], append: readonly string[]): MultiNode {
  options.set('-n', name);
  if (!options.has('--pidfile')) options.set('--pidfile', DETACHED_FILES.pidfile);
  if (!options.has('--logfile') && !options.has('-f')) options.set('--logfile', DETACHED_FILES.logfile);
  const expand = (template: string): string => multiExpand(template, name);
  const argv = ['worker', '--detach'];
  for (const [option, value] of options) {
    if (!value) argv.push(option);
    else if (option.startsWith('--')) argv.push(`${option}=${expand(value)}`);
    else argv.push(option, expand(value));
  }
  argv.push(...passthrough, ...append.map(expand));
  // Where the worker writes them: it expands what multi left (%i, %I) and resolves them in --workdir.
  const workdir = options.get('--workdir');
  const where = (pattern: string): string => resolve(workdir ? expand(workdir) : '.', nodeFormat(expand(pattern), name));
  return {
    name,
    options,
    argv,
    expand,
    pidfile: where(options.get('--pidfile') ?? DETACHED_FILES.pidfile),
    logfile: where(options.get('--logfile') ?? options.get('-f') ?? DETACHED_FILES.logfile),
  };
}
