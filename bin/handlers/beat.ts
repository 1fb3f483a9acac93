import type { ArgumentsCamelCase } from 'yargs';
import { expandHostname, logToFile } from '../../lib/index.js';
import { Beat } from '../../lib/beat/beat.js';
import type { BeatArgs } from '../commands/beat.js';
import { DETACHED_FILES } from '../commands/daemon-options.js';
import { applyDaemonOptions } from '../daemon.js';
import { detachCommand, reportDetachedStart } from '../detach.js';
import { loadAppForCommand } from '../load-app.js';
import { nodeFormat } from '../node-format.js';
import { createPidFile, PidFileLocked } from '../pidfile.js';

/** Runs the scheduler for the app of -A until SIGTERM/SIGINT. */
export async function runBeat(args: ArgumentsCamelCase<BeatArgs>): Promise<void> {
  applyDaemonOptions(args);
  // In --pidfile/--logfile patterns beat is the node beat@<host>: %n.pid is beat.pid.
  const nodeName = expandHostname('beat@%h');
  if (args.detach) {
    process.exitCode = await detachCommand(args, 'beat', nodeName, DETACHED_FILES);
    return;
  }
  const { app } = await loadAppForCommand(args.app, args.loglevel);
  const beat = new Beat(app, { lockTtl: args['lock-ttl'], grace: args.grace, ...(args.redis ? { redisUrl: args.redis } : {}) });
  if (args.logfile !== undefined) {
    const file = logToFile(app.logger, nodeFormat(args.logfile, nodeName));
    process.on('SIGHUP', () => {
      file.reopen();
      beat.logger.info('SIGHUP received: log file reopened');
    });
  }
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
  const stop = (signal: NodeJS.Signals): void => {
    beat.logger.info(`${signal} received: beat stopping`);
    void beat
      .stop()
      .then(() => app.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await beat.start();
}
