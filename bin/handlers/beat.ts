import type { ArgumentsCamelCase } from 'yargs';
import { Beat } from '../../lib/beat/beat.js';
import { ConfigError, expandHostname, logToFile } from '../../lib/index.js';
import type { BeatArgs } from '../commands/beat.js';
import { DETACHED_FILES } from '../commands/daemon-options.js';
import { applyDaemonOptions } from '../daemon.js';
import { detachCommand, reportDetachedStart } from '../detach.js';
import { loadAppForCommand } from '../load-app.js';
import { nodeFormat } from '../node-format.js';
import { createPidFile, PidFileLocked } from '../pidfile.js';

/** Exit status after SIGHUP without -f: beat stopped (its lock released) to be started again by its supervisor. */
const EXIT_RESTART = 75;

/** Runs the scheduler for the app of -A until SIGTERM/SIGINT (or SIGHUP without -f). */
export async function runBeat(args: ArgumentsCamelCase<BeatArgs>): Promise<void> {
  const maxInterval = args['max-interval'];
  if (maxInterval !== undefined && !(Number.isFinite(maxInterval) && maxInterval > 0)) {
    throw new ConfigError('--max-interval', `expected seconds above 0, got ${String(maxInterval)}`);
  }
  applyDaemonOptions(args);
  // In --pidfile/--logfile patterns beat is the node beat@<host>: %n.pid is beat.pid.
  const nodeName = expandHostname('beat@%h');
  if (args.detach) {
    process.exitCode = await detachCommand(args, 'beat', nodeName, DETACHED_FILES);
    return;
  }
  const { app } = await loadAppForCommand(args.app, args.loglevel);
  const file = args.logfile === undefined ? null : logToFile(app.logger, nodeFormat(args.logfile, nodeName));
  if (args.pidfile !== undefined) {
    try {
      process.on('exit', createPidFile(nodeFormat(args.pidfile, nodeName)));
      reportDetachedStart();
    } catch (error) {
      if (!(error instanceof PidFileLocked)) throw error;
      process.stderr.write(`${error.message}\n`);
      process.exit(73);
    }
  }
  const beat = new Beat(app, {
    lockTtl: args['lock-ttl'],
    grace: args.grace,
    ...(args.redis ? { redisUrl: args.redis } : {}),
    ...(maxInterval !== undefined ? { maxInterval: Math.round(maxInterval * 1000) } : {}),
  });
  if (args.schedule !== undefined) {
    beat.logger.info(`-s ${args.schedule}: not used: the schedule state is kept in the result backend (Redis), shared by every beat`);
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals, status = 0): void => {
    if (stopping) return;
    stopping = true;
    beat.logger.info(`${signal} received: beat stopping${status === 0 ? '' : `, exit status ${status} for its supervisor to restart it`}`);
    void beat
      .stop()
      .then(() => app.close())
      .then(
        () => process.exit(status),
        () => process.exit(1),
      );
  };
  // Not `stop` itself: a signal listener gets the signal's number as its second argument.
  process.once('SIGTERM', (signal) => stop(signal));
  process.once('SIGINT', (signal) => stop(signal));
  process.on('SIGHUP', () => {
    if (!file) return stop('SIGHUP', EXIT_RESTART);
    // logrotate renames the file, then sends SIGHUP: new lines go to a new file at the path.
    file.reopen();
    beat.logger.info('SIGHUP received: log file reopened');
  });
  await beat.start();
}
