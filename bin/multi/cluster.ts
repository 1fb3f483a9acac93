import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { readPid } from '../pidfile.js';
import { processAlive } from '../process-alive.js';
import { celeriacCommand } from '../self-command.js';
import type { MultiNode } from './node-list.js';

/** A node and the pid its pidfile named when it was signalled. */
export interface RunningNode {
  node: MultiNode;
  pid: number;
}

/** What the cluster operations report, as they happen (Celery's Cluster callbacks): the command prints them. */
export interface ClusterEvents {
  nodeStart(node: MultiNode): void;
  nodeRestart(node: MultiNode): void;
  childSpawn(node: MultiNode, command: readonly string[]): void;
  childSignalled(node: MultiNode, signal: string): void;
  childFailure(node: MultiNode, status: number): void;
  /** After a start: 0 when the node started. */
  nodeStatus(node: MultiNode, status: number): void;
  stoppingPreamble(nodes: readonly RunningNode[]): void;
  sendSignal(running: RunningNode, signal: string): void;
  /** Its pidfile names a process that is gone (killed, crashed). */
  nodeSignalDead(running: RunningNode): void;
  stillWaitingFor(nodes: readonly RunningNode[]): void;
  stillWaitingProgress(): void;
  stillWaitingEnd(): void;
  nodeShutdownOk(node: MultiNode): void;
  /** No pidfile, or its process is gone. */
  nodeDown(node: MultiNode): void;
  /** kill: about to send `signal`. */
  nodeSignal(running: RunningNode, signal: string): void;
}

/** How often stopwait and restart look whether a signalled worker has exited. */
const POLL_MS = 500;

/** The signal's name without SIG, as Celery prints it: TERM, KILL. */
export function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, number]) => number === signal);
  return entry ? entry[0].replace(/^SIG/, '') : String(signal);
}

/** The pid in the node's pidfile, or null when there is none (no file, or not a pid). */
export function pidOf(node: MultiNode): number | null {
  const pid = readPid(node.pidfile);
  return typeof pid === 'number' ? pid : null;
}

/**
 * Starts one node: `celeriac worker --detach ...` with this process's output, waited for. Its
 * pid and log directories are made first, as Celery's multi makes them. Returns its exit status
 * (0 once its pidfile is written; see detach.ts), or the number of the signal that ended it.
 */
export async function startNode(node: MultiNode, events: ClusterEvents): Promise<number> {
  for (const path of [node.pidfile, node.logfile]) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch {
      // The worker reports the file it cannot create, with the reason.
    }
  }
  const { command, args } = celeriacCommand(node.argv);
  events.childSpawn(node, [command, ...args]);
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.on('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    child.on('error', () => resolve([127, null]));
  });
  if (signal !== null) {
    events.childSignalled(node, signal.replace(/^SIG/, ''));
    return constants.signals[signal];
  }
  if (code !== 0) events.childFailure(node, code ?? 1);
  return code ?? 1;
}

/** Sends `signal` to the pid; false when that process is gone (or a zombie) and so cannot be signalled. */
function send(pid: number, signal: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Sends `signal` to every node whose pidfile names a pid (`onDown` for the others and for those
 * whose process is gone). With `wait`, then waits until each signalled process has exited,
 * calling `onDown` for each as it goes (restart starts it again there). Celery's _stop_nodes.
 */
export async function stopNodes(
  nodes: readonly MultiNode[],
  options: { signal: number; wait: boolean; onDown: (node: MultiNode) => void | Promise<void> },
  events: ClusterEvents,
): Promise<void> {
  const running: RunningNode[] = [];
  for (const node of nodes) {
    const pid = pidOf(node);
    if (pid === null) await options.onDown(node);
    else running.push({ node, pid });
  }
  if (running.length === 0) return;
  events.stoppingPreamble(running);
  const waiting: RunningNode[] = [];
  for (const entry of running) {
    events.sendSignal(entry, signalName(options.signal));
    if (send(entry.pid, options.signal)) {
      waiting.push(entry);
    } else {
      events.nodeSignalDead(entry);
      await options.onDown(entry.node);
    }
  }
  if (!options.wait || waiting.length === 0) return;
  events.stillWaitingFor(waiting);
  while (waiting.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    events.stillWaitingProgress();
    for (const entry of [...waiting]) {
      if (processAlive(entry.pid)) continue;
      waiting.splice(waiting.indexOf(entry), 1);
      events.nodeShutdownOk(entry.node);
      await options.onDown(entry.node);
      if (waiting.length > 0) events.stillWaitingFor(waiting);
    }
  }
  events.stillWaitingEnd();
}

/** SIGKILL to every node whose pidfile names a pid (Celery's kill: no waiting; the pidfiles stay, stale). */
export function killNodes(nodes: readonly MultiNode[], events: ClusterEvents): void {
  for (const node of nodes) {
    const pid = pidOf(node);
    if (pid === null) {
      events.nodeDown(node);
      continue;
    }
    events.nodeSignal({ node, pid }, 'KILL');
    if (!send(pid, constants.signals.SIGKILL)) events.nodeSignalDead({ node, pid });
  }
}
