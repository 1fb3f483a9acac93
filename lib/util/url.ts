import { splitUrlList } from './url-list.js';

/**
 * The URL with any password replaced by `***`, safe for logs and error messages. A list of URLs
 * joined by `;` (Celery's broker list, a Sentinel backend: `sentinel://:pw@h1/0;sentinel://h2/0`)
 * is redacted URL by URL, split as every list is (url-list.ts): a `;` in a password stays in it.
 */
export function redactUrl(url: string): string {
  const list = splitUrlList(url);
  return list.length > 1 ? list.map(redactOne).join(';') : redactOne(url);
}

function redactOne(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

/** The scheme of a URL without the colon, lower-cased ('amqp', 'redis', 'memory'). */
export function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return match ? match[1].toLowerCase() : '';
}
