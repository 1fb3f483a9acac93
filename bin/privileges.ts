import { execFileSync } from 'node:child_process';
import { ConfigError } from '../lib/index.js';

/** A user or group as typed: a number is an id, anything else a name (Node takes a string for a name). */
function id(text: string): number | string {
  return /^\d+$/.test(text) ? Number(text) : text;
}

/** The group ids of `user` (name or id) in the system's user database (NSS), as `id` reads them: its primary group first. */
function groupsOf(user: string): { primary: number; all: number[] } {
  const ask = (flag: string): number[] =>
    execFileSync('id', [flag, '--', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split(/\s+/)
      .map(Number);
  try {
    return { primary: ask('-g')[0], all: ask('-G') };
  } catch {
    throw new ConfigError('--uid', `no such user: ${user}`);
  }
}

/**
 * Changes this process's user and group, as Celery's maybe_drop_privileges: --uid alone also
 * takes the user's primary group, and the user's supplementary groups (initgroups) either way;
 * --gid alone changes the group only. The groups change first: a process that is no longer root
 * cannot change them. Only root may change either; a refusal is a ConfigError naming the option.
 * A --uid process still root afterwards is refused (Celery's "Still root uid after drop privileges!").
 */
export function dropPrivileges(uid: string | undefined, gid: string | undefined): void {
  if (uid === undefined && gid === undefined) return;
  const option = uid === undefined ? '--gid' : '--uid';
  if (!process.setuid || !process.setgid || !process.setgroups) throw new ConfigError(option, 'is not supported on this platform');
  const user = uid === undefined ? undefined : groupsOf(uid);
  const group = gid === undefined ? user!.primary : id(gid);
  try {
    if (user) process.setgroups([...new Set([...user.all, group])]);
    process.setgid(group);
  } catch (error) {
    throw new ConfigError(gid === undefined ? '--uid' : '--gid', `cannot change to group ${group}: ${(error as Error).message}`);
  }
  if (uid === undefined) return;
  try {
    process.setuid(id(uid));
  } catch (error) {
    throw new ConfigError('--uid', `cannot change to user ${uid}: ${(error as Error).message}`);
  }
  if (process.getuid?.() === 0 && id(uid) !== 0 && uid !== 'root') throw new ConfigError('--uid', 'still root after changing user');
}
