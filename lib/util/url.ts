/**
 * The URL with any password replaced by `***`, safe for logs and error messages. A `;`-separated
 * list of URLs (Celery's broker list) has each entry's password hidden.
 */
export function redactUrl(url: string): string {
  if (url.includes(';')) return url.split(';').map(redactOne).join(';');
  return redactOne(url);
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
