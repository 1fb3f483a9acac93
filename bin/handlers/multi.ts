import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { killNodes, startNode, stopNodes, type ClusterEvents, type RunningNode } from '../multi/cluster.js';
import { parseNamespacedOptions, signalArgument } from '../multi/namespaced-options.js';
import { nodeList, type MultiNode } from '../multi/node-list.js';
import { celeriacCommand } from '../self-command.js';

const USAGE = `\
usage: celeriac multi start <node1 node2 nodeN|range> [worker options]
       celeriac multi stop <n1 n2 nN|range> [-SIG (default: -TERM)]
       celeriac multi stopwait <n1 n2 nN|range> [-SIG (default: -TERM)]
       celeriac multi restart <n1 n2 nN|range> [-SIG] [worker options]
       celeriac multi kill <n1 n2 nN|range>

       celeriac multi show <n1 n2 nN|range> [worker options]
       celeriac multi get hostname <n1 n2 nN|range> [-qv] [worker options]
       celeriac multi names <n1 n2 nN|range>
       celeriac multi expand template <n1 n2 nN|range>
       celeriac multi help

additional options (must appear after command name):

    * --nosplash:   Don't display program info.
    * --quiet:      Don't show as much output.
    * --verbose:    Show more output.
    * --no-color:   Don't display colors.
`;

const HELP = `\
Start multiple worker instances in the background, and stop them (Celery's celery multi).

  # Two workers; pid and log files in the current directory unless --pidfile/--logfile say
  # otherwise (%n is the node's name, %I is empty). Long options take values with "=".
  $ celeriac multi start w1 w2 -A ./dist/tasks.js -c 4 --pidfile=/run/celeriac/%n.pid --logfile=/var/log/celeriac/%n%I.log

  # stop and restart need the same --pidfile (nothing is stored elsewhere); restart the same options.
  $ celeriac multi stop w1 w2 --pidfile=/run/celeriac/%n.pid       # SIGTERM (warm shutdown), no waiting
  $ celeriac multi stopwait w1 w2 --pidfile=/run/celeriac/%n.pid   # SIGTERM, then wait until they have exited
  $ celeriac multi restart w1 w2 -A ./dist/tasks.js -c 4 --pidfile=/run/celeriac/%n.pid --logfile=/var/log/celeriac/%n%I.log
  $ celeriac multi kill w1 w2 --pidfile=/run/celeriac/%n.pid       # SIGKILL
  $ celeriac multi stop w1 -INT                                    # another signal

  # 3 workers named celery1..3 (--range-prefix=worker: worker1..3), with 3 tasks at once each.
  $ celeriac multi start 3 -c 3
  # Named nodes, on another host name, or fully qualified.
  $ celeriac multi start image video data -c 3
  $ celeriac multi start 2 --hostname=worker.example.com
  $ celeriac multi start foo@%h bar@%h

  # Options for some nodes: by name, 1-based index, list, or (with a count) range.
  $ celeriac multi show 3 -c 3 -c:1 10             # celery1 runs 10, the others 3
  $ celeriac multi show image video data -c 3 -c:image 10
  $ celeriac multi show 5 -c 3 -c:1-3 10
  $ celeriac multi show 10 -l INFO -Q:1-3 images,video -Q:4,5 data -Q default -l:4,5 DEBUG

  $ celeriac multi show w1 w2 -c 4     # the commands it runs
  $ celeriac multi names 3             # celery1@host ...
  $ celeriac multi get w1@host w1 w2   # the command of one node
  $ celeriac multi expand %n.pid w1 w2 # a template for each node: %n name, %h node name, %d host

Exit status: 0, or 1 when a node failed to start (start, restart), an unknown command, or get
found no such node; 2 for a bad option.
`;

/** Celery multi's own options, taken out wherever they stand. */
const RESERVED = { '--nosplash': 'nosplash', '--quiet': 'quiet', '-q': 'quiet', '--verbose': 'verbose', '--no-color': 'noColor' } as const;

/** Celery's TermLogger: what multi prints and how. */
class Terminal {
  nosplash = false;
  quiet = false;
  verbose = false;
  noColor = false;
  /** Whether the last thing printed ended its line (the progress dots do not). */
  #atLineStart = true;

  /** Celery colours its lines; here only on a terminal (and never with NO_COLOR or --no-color). */
  get #colored(): boolean {
    return !this.noColor && process.env.NO_COLOR === undefined && process.stdout.isTTY;
  }

  paint(code: string, text: string): string {
    return this.#colored ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  say(text: string, newline = true): void {
    process.stdout.write(newline ? `${text}\n` : text);
    if (newline || text !== '') this.#atLineStart = newline;
  }

  /** Ends the current line, if something is on it. */
  endLine(): void {
    if (!this.#atLineStart) this.note('');
  }

  carp(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  note(text: string, newline = true): void {
    if (!this.quiet) this.say(text, newline);
  }

  info(text: string): void {
    if (this.verbose) this.note(text);
  }

  splash(): void {
    if (!this.nosplash) this.note(this.paint('1;36', `celeriac multi v${version()}`));
  }

  usage(): void {
    this.splash();
    this.say(USAGE);
  }

  get ok(): string {
    return this.paint('1;32', 'OK');
  }

  get failed(): string {
    return this.paint('1;31', 'FAILED');
  }

  get down(): string {
    return this.paint('1;35', 'DOWN');
  }
}

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** A word of a command line as a shell reads it back (for show, get and --verbose). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** The lines Celery's MultiTool prints for each event. */
function reporter(t: Terminal): ClusterEvents {
  const pids = (nodes: readonly RunningNode[]): string => nodes.map((entry) => entry.pid).join(', ');
  return {
    nodeStart: (node) => t.note(`\t> ${node.name}: `, false),
    nodeRestart: (node) => t.note(t.paint('1;34', `> Restarting node ${node.name}: `), false),
    childSpawn: (_node, command) => t.info(`  ${command.map(shellWord).join(' ')}`),
    childSignalled: (_node, signal) => t.note(`* Child was terminated by signal ${signal}`),
    childFailure: (_node, status) => t.note(`* Child terminated with exit code ${status}`),
    nodeStatus: (_node, status) => t.note(status === 0 ? t.ok : t.failed),
    stoppingPreamble: () => t.note(t.paint('1;34', '> Stopping nodes...')),
    sendSignal: ({ node, pid }, signal) => t.note(`\t> ${node.name}: ${signal} -> ${pid}`),
    nodeSignalDead: ({ node, pid }) => t.note(`Could not signal ${node.name} (${pid}): No such process`),
    stillWaitingFor: (nodes) =>
      t.note(t.paint('1;34', `> Waiting for ${nodes.length} ${nodes.length === 1 ? 'node' : 'nodes'} -> ${pids(nodes)}...`), false),
    stillWaitingProgress: () => t.note('.', false),
    stillWaitingEnd: () => t.endLine(),
    nodeShutdownOk: (node) => t.note(`\n\t> ${node.name}: ${t.ok}`),
    nodeDown: (node) => t.note(`> ${node.name}: ${t.down}`),
    nodeSignal: ({ node, pid }, signal) => t.note(`Sending ${signal} to node ${node.name} (${pid})`),
  };
}

/**
 * `celeriac multi <command> ...`: Celery's MultiTool on celeriac workers. `argv` is everything
 * after `multi`. Returns the exit status.
 */
export async function runMulti(argv: readonly string[]): Promise<number> {
  const t = new Terminal();
  const rest = [...argv];
  for (const [flag, field] of Object.entries(RESERVED)) {
    const at = rest.indexOf(flag);
    if (at === -1) continue;
    rest.splice(at, 1);
    t[field] = true;
  }
  const [command, ...args] = rest;
  if (command === '--help' || command === '-h') {
    t.say(HELP);
    return 0;
  }
  if (command === undefined || command.startsWith('-')) {
    t.usage();
    return 1;
  }
  const events = reporter(t);
  const cluster = (tokens: readonly string[]): MultiNode[] => nodeList(parseNamespacedOptions(tokens));
  const stopSignal = (): number => signalArgument(parseNamespacedOptions(args), constants.signals.SIGTERM, constants.signals);
  switch (command) {
    case 'start': {
      const nodes = cluster(args);
      t.splash();
      t.note('> Starting nodes...');
      let failed = false;
      for (const node of nodes) {
        events.nodeStart(node);
        const status = await startNode(node, events);
        events.nodeStatus(node, status);
        failed ||= status !== 0;
      }
      return failed ? 1 : 0;
    }
    case 'stop':
    case 'stopwait':
    case 'stop_verify': {
      const nodes = cluster(args);
      t.splash();
      await stopNodes(nodes, { signal: stopSignal(), wait: command !== 'stop', onDown: (node) => events.nodeDown(node) }, events);
      return 0;
    }
    case 'restart': {
      const nodes = cluster(args);
      t.splash();
      let failed = false;
      const restart = async (node: MultiNode): Promise<void> => {
        events.nodeRestart(node);
        const status = await startNode(node, events);
        events.nodeStatus(node, status);
        failed ||= status !== 0;
      };
      await stopNodes(nodes, { signal: stopSignal(), wait: true, onDown: restart }, events);
      return failed ? 1 : 0;
    }
    case 'kill': {
      const nodes = cluster(args);
      t.splash();
      killNodes(nodes, events);
      return 0;
    }
    case 'names':
      t.say(
        cluster(args)
          .map((node) => node.name)
          .join('\n'),
      );
      return 0;
    case 'show':
      t.say(
        cluster(args)
          .map((node) => {
            const { command: program, args: words } = celeriacCommand(node.argv);
            return [program, ...words].map(shellWord).join(' ');
          })
          .join('\n'),
      );
      return 0;
    case 'get': {
      const [wanted, ...tokens] = args;
      const node = cluster(tokens).find((candidate) => candidate.name === wanted);
      if (!node) return 1;
      t.say(node.argv.map(shellWord).join(' '));
      return 0;
    }
    case 'expand': {
      const [template = '', ...tokens] = args;
      t.say(
        cluster(tokens)
          .map((node) => node.expand(template))
          .join('\n'),
      );
      return 0;
    }
    case 'help':
      t.say(HELP);
      return 0;
    default:
      t.carp(`Invalid command: ${command}`);
      t.usage();
      return 1;
  }
}
