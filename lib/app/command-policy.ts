/**
 * Which remote-control commands a worker obeys (the app option `controlCommands`, the worker
 * flag `--control-commands`). Anyone who can publish to `celery.pidbox` reaches every worker
 * (docs/reliability.md, "Who may control a worker"); this narrows what such a message can do.
 *
 * - 'all': every command, as Python Celery does (the default: Celery's tools expect it);
 * - 'safe': the read-only inspect commands (conf among them: its secrets are hidden; memsample
 *   and memdump keep and clear only a bounded list of readings) and revoke without terminate —
 *   what cannot stop, slow or reroute a worker, nor end a running task, nor change its pool,
 *   time limits or events;
 * - a list of command names, where 'safe' stands for the commands above and 'terminate' lets
 *   revoke end running tasks (Celery's own `terminate` command is revoke with terminate).
 *
 * A leaf module (no imports), so the app config can validate the option without loading the
 * control plane.
 */

/**
 * Every command a worker answers, with its class: 'safe' (reads, or revokes without terminating:
 * what 'safe' allows) or 'acts' (stops, slows, reroutes or resizes a worker, ends a task, changes
 * limits or events). One record, so a command cannot be added without being classed.
 */
const COMMAND_CLASSES = {
  ping: 'safe',
  active: 'safe',
  reserved: 'safe',
  scheduled: 'safe',
  registered: 'safe',
  revoked: 'safe',
  stats: 'safe',
  active_queues: 'safe',
  revoke: 'safe',
  terminate: 'acts',
  rate_limit: 'acts',
  add_consumer: 'acts',
  cancel_consumer: 'acts',
  shutdown: 'acts',
  conf: 'safe',
  query_task: 'safe',
  clock: 'safe',
  hello: 'safe',
  report: 'safe',
  dump_active: 'safe',
  dump_reserved: 'safe',
  dump_schedule: 'safe',
  dump_revoked: 'safe',
  dump_tasks: 'safe',
  dump_conf: 'safe',
  memsample: 'safe',
  memdump: 'safe',
  objgraph: 'safe',
  pool_grow: 'acts',
  pool_shrink: 'acts',
  autoscale: 'acts',
  pool_restart: 'acts',
  time_limit: 'acts',
  enable_events: 'acts',
  disable_events: 'acts',
  heartbeat: 'acts',
  election: 'acts',
} as const satisfies Record<string, 'safe' | 'acts'>;

export type ControlCommand = keyof typeof COMMAND_CLASSES;

export const CONTROL_COMMANDS: readonly ControlCommand[] = Object.keys(COMMAND_CLASSES) as ControlCommand[];

/** What 'safe' allows. */
export const SAFE_CONTROL_COMMANDS: readonly ControlCommand[] = CONTROL_COMMANDS.filter((c) => COMMAND_CLASSES[c] === 'safe');

/** The option as given: 'all', 'safe', or a list of command names (which may include 'safe'). */
export type ControlCommandsOption = 'all' | 'safe' | readonly string[];

/** The option resolved: 'all', or the set of commands allowed. */
export type ControlPolicy = 'all' | ReadonlySet<ControlCommand>;

/**
 * Resolves the option; throws `fail(reason)` (the caller's error, naming its option) for
 * anything else, listing what is accepted.
 */
export function resolveControlPolicy(value: unknown, fail: (reason: string) => Error): ControlPolicy {
  if (value === 'all') return 'all';
  if (value === 'safe') return new Set(SAFE_CONTROL_COMMANDS);
  const accepted =
    `'all', 'safe', or a list of command names ('safe' among them stands for ${SAFE_CONTROL_COMMANDS.join(', ')}); ` +
    `known commands: ${CONTROL_COMMANDS.join(', ')}`;
  if (!Array.isArray(value)) throw fail(`expected ${accepted}; got ${JSON.stringify(value)}`);
  const allowed = new Set<ControlCommand>();
  for (const name of value as unknown[]) {
    if (name === 'safe') SAFE_CONTROL_COMMANDS.forEach((command) => allowed.add(command));
    else if (typeof name === 'string' && (CONTROL_COMMANDS as readonly string[]).includes(name)) allowed.add(name as ControlCommand);
    else throw fail(`unknown control command ${JSON.stringify(name)}; expected ${accepted}`);
  }
  return allowed;
}

/** Parses the worker flag's text: 'all', 'safe', or comma-separated names. */
export function parseControlPolicyFlag(text: string, fail: (reason: string) => Error): ControlPolicy {
  const trimmed = text.trim();
  if (trimmed === 'all' || trimmed === 'safe') return resolveControlPolicy(trimmed, fail);
  return resolveControlPolicy(
    trimmed
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    fail,
  );
}

/**
 * Why `policy` refuses `method` with `args`, or null when it allows it. Unknown methods are
 * not refused here: they are answered as unknown. revoke with a `terminate` that may ask for it
 * (anything but absent, null, false or 0: Flower sends 1) needs 'terminate'.
 */
export function refusalOf(policy: ControlPolicy, method: string, args: Record<string, unknown>): string | null {
  if (policy === 'all') return null;
  if (!(CONTROL_COMMANDS as readonly string[]).includes(method)) return null;
  if (!policy.has(method as ControlCommand)) return `control command ${method} is not allowed on this worker (controlCommands)`;
  const terminate = args.terminate;
  const mayTerminate = terminate !== undefined && terminate !== null && terminate !== false && terminate !== 0;
  if (method === 'revoke' && mayTerminate && !policy.has('terminate')) {
    return 'revoke with terminate is not allowed on this worker (controlCommands does not include terminate)';
  }
  return null;
}

/** The policy as text, for the worker's banner and docs. */
export function describeControlPolicy(policy: ControlPolicy): string {
  return policy === 'all' ? 'all' : [...policy].join(',') || 'none';
}
