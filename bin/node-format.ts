/**
 * Expands a --pidfile/--logfile pattern for the worker named `nodeName` (name@host), as Celery's
 * node_format: %p the full node name, %n its name part, %h its host, %d the host's domain,
 * %i the process index ("0": a celeriac worker is one process) and %I the same with a dash
 * prefix (empty for the main process), %% a literal percent sign. `overrides` replaces or adds
 * keys (celeriac multi's expansion, see multi/node-list.ts). An unknown %x is left as it is.
 */
export function nodeFormat(pattern: string, nodeName: string, overrides: Readonly<Record<string, string>> = {}): string {
  const at = nodeName.indexOf('@');
  const name = at === -1 ? 'celery' : nodeName.slice(0, at);
  const host = at === -1 ? nodeName : nodeName.slice(at + 1);
  const dot = host.indexOf('.');
  const keys: Record<string, string> = {
    p: nodeName,
    n: name,
    h: host,
    d: dot === -1 ? '' : host.slice(dot + 1),
    i: '0',
    I: '',
    '%': '%',
    ...overrides,
  };
  // One pass: an expansion is never expanded again (multi's %i stays "%i" for the worker).
  return pattern.replace(/%(.)/g, (whole, key: string) => keys[key] ?? whole);
}
