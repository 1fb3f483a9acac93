import { ConfigError } from '../errors/errors.js';

/**
 * Celery's URL lists, one URL after another joined by `;`: a broker list
 * (`amqp://mq1;amqp://mq2`), a Sentinel backend (`sentinel://:pw@h1/0;sentinel://h2/0`).
 *
 * The one rule, for every list: a `;` separates two entries when what follows it (after any
 * white space and further `;`) is the next URL's `scheme://`, or the end of the text. Any other
 * `;` belongs to the URL it stands in — inside a password (`amqp://app:pa;ss@mq1`), a path or a
 * query (`?a=1;b=2`). A run of separators with nothing between them stands for empty entries
 * (`amqp://a;;amqp://b`, a trailing `;`), which `checkUrlList` refuses. What cannot be told
 * apart: a `;` directly followed by `scheme://` always separates, and a `;` at the very end of the
 * text is a trailing separator, so such a password or query must percent-encode it (`%3B`), as
 * Celery requires of every `;`.
 */
const SEPARATOR = /;(?=[\s;]*(?:[a-z][a-z0-9+.-]*:\/\/|$))/i;

/** The entries of a `;`-separated URL list, each trimmed; empty entries kept as ''. Never throws. */
export function splitUrlList(list: string): string[] {
  return list.split(SEPARATOR).map((entry) => entry.trim());
}

/**
 * A further rule a list's entries must keep, beside checkUrlList's own: for an entry that breaks
 * it, the reason (the error message without the entry's place, which checkUrlList adds); for one
 * that keeps it, undefined.
 */
export type UrlListRule = (entry: string) => string | undefined;

/**
 * Refuses what cannot be a list of URLs, with a ConfigError naming `option` and the first bad
 * entry; `what` names the list in the message ('broker list'), `show` hides passwords. Refused:
 * an empty entry, an entry whose host part holds a `;` (a list whose next entry lacks its scheme:
 * `amqp://mq1;mq2`), since no host has one, and an entry breaking `rule` if given. In a list of
 * more than one entry the message ends with the entry's place: `(entry 2 of the broker list …)`.
 * `entries` are splitUrlList's (of one list, or of several concatenated).
 */
export function checkUrlList(
  entries: readonly string[],
  option: string,
  what: string,
  show: (url: string) => string,
  rule?: UrlListRule,
): void {
  const where = (index: number): string => (entries.length > 1 ? ` (entry ${index + 1} of the ${what} ${show(entries.join(';'))})` : '');
  entries.forEach((entry, index) => {
    if (entry === '')
      throw new ConfigError(option, entries.length > 1 ? `empty entry${where(index)}` : 'expected a non-empty string, got ""');
    if (authorityOf(entry).includes(';')) {
      throw new ConfigError(
        option,
        `a ';' in the host part of ${show(entry)}${where(index)}: each entry of a ${what} is a whole URL (scheme://host)`,
      );
    }
    const broken = rule?.(entry);
    if (broken !== undefined) throw new ConfigError(option, `${broken}${where(index)}`);
  });
}

/** The host and port of a URL (`//user:pw@host:port/...`: after the last `@` of the authority); '' without `//`. */
function authorityOf(url: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url);
  if (!match) return '';
  return match[1].slice(match[1].lastIndexOf('@') + 1);
}
