import type { ArgumentsCamelCase } from 'yargs';
import { ConfigError, createApp, parseBrokerList, redactUrl } from '../../lib/index.js';
import type { ListBindingsArgs } from '../commands/list.js';
import { loadApp } from '../load-app.js';

/** One binding as RabbitMQ's management API returns it (GET /api/bindings/<vhost>). */
interface ManagementBinding {
  source: string;
  destination: string;
  destination_type: string;
  routing_key: string;
}

/**
 * Lists the bindings of the broker's vhost through RabbitMQ's management API, as Celery's
 * `celery list bindings` does through kombu's pyamqp manager: `Queue  Exchange  Routing Key`,
 * one line per binding. The API is at --management-url, else http://<broker host>:15672; its
 * credentials are those of that URL, else the broker URL's, else guest/guest (kombu's defaults).
 * Of a broker list (the nodes of one cluster, which share their bindings), the first node is asked.
 */
export async function runListBindings(args: ArgumentsCamelCase<ListBindingsArgs>): Promise<void> {
  const broker = parseBrokerList(await brokerUrl(args), '--broker')[0];
  if (!/^amqps?:/i.test(broker)) {
    throw new ConfigError(
      '--broker',
      `${redactUrl(broker)} cannot list bindings: only RabbitMQ (amqp://) has a management API` +
        (broker.startsWith('memory:') ? '; the memory broker lives inside one process, out of reach of another command' : ''),
    );
  }
  const parsed = new URL(broker);
  const vhost = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '/';
  const api = new URL(args.managementUrl ?? `http://${parsed.hostname}:15672`);
  const user = decodeURIComponent(api.username || parsed.username || 'guest');
  const password = decodeURIComponent(api.password || parsed.password || 'guest');
  api.username = '';
  api.password = '';
  const endpoint = new URL(`${api.pathname.replace(/\/$/, '')}/api/bindings/${encodeURIComponent(vhost)}`, api);
  const shown = redactUrl(args.managementUrl ?? api.toString());
  let response: Response;
  try {
    response = await fetch(endpoint, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, accept: 'application/json' },
      signal: AbortSignal.timeout(args.timeout * 1000),
    });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    throw new ConfigError(
      '--management-url',
      `RabbitMQ management API not reachable at ${shown} (${cause?.code ?? cause?.message ?? (error as Error).message}); ` +
        'enable it on the broker with `rabbitmq-plugins enable rabbitmq_management`, or name it with --management-url',
    );
  }
  if (!response.ok) {
    const why =
      response.status === 401
        ? `user "${user}" was refused (give the credentials in --management-url)`
        : response.status === 404
          ? `no vhost "${vhost}" or no management API there`
          : `HTTP ${response.status} ${response.statusText}`;
    throw new ConfigError('--management-url', `RabbitMQ management API at ${shown}: ${why}`);
  }
  const bindings = (await response.json()) as ManagementBinding[];
  const line = (queue: string, exchange: string, key: string) => `${queue.padEnd(28)} ${exchange.padEnd(28)} ${key}`.trimEnd();
  const out = [line('Queue', 'Exchange', 'Routing Key'), line('-'.repeat(16), '-'.repeat(16), '-'.repeat(16))];
  for (const b of bindings) out.push(line(b.destination, b.source, b.routing_key));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The broker URL: --broker, else the app's (-A, else $CELERIAC_APP), else the environment's. */
async function brokerUrl(args: ListBindingsArgs): Promise<string> {
  if (args.broker) return args.broker;
  const module = args.app ?? process.env.CELERIAC_APP;
  const app = module ? await loadApp(module) : createApp({ name: 'celeriac-list', backend: null, logLevel: 'error' });
  try {
    return app.config.broker;
  } finally {
    await app.close();
  }
}
