/** Celery's daemonization options, as `celeriac worker` and `celeriac beat` take them. */
export interface DaemonArgs {
  detach: boolean;
  workdir?: string;
  uid?: string;
  gid?: string;
  umask?: string;
}

/**
 * A detached process's pid and log files when none is given: Celery's, in the working directory.
 * For beat the node name in these patterns is beat@<host>: beat.pid, beat.log.
 */
export const DETACHED_FILES = { pidfile: '%n.pid', logfile: '%n%I.log' };

/**
 * -D/--detach, --workdir, --uid, --gid and --umask, for `.options()` of a command (worker,
 * beat); ../daemon.ts and ../detach.ts apply them.
 */
export const DAEMON_OPTIONS = {
  detach: {
    alias: 'D',
    type: 'boolean',
    default: false,
    describe:
      'Run in the background: start again detached (own session, output to the log file) and exit 0 once the ' +
      `pidfile is written, or with the child's status and its error if it fails first. ` +
      `Default --pidfile ${DETACHED_FILES.pidfile}, --logfile ${DETACHED_FILES.logfile}`,
  },
  workdir: { type: 'string', describe: 'Change to this directory first (-A, --pidfile and --logfile are relative to it)' },
  uid: {
    type: 'string',
    describe: "Run as this user (name or id; needs root), in the user's primary group unless --gid, before -A is loaded",
  },
  gid: { type: 'string', describe: 'Run in this group (name or id; needs root)' },
  umask: {
    type: 'string',
    describe: "umask of the process and the files it creates: octal with a leading 0 (0027), else decimal (Celery's rule)",
  },
} as const;
