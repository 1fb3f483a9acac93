import { ConfigError } from '../errors/errors.js';

/** Where a task goes. Unset fields fall back to the task's options, then the app's defaults. */
export interface Route {
  /** Target queue (declared as needed; with `exchange` it is bound to it by `routingKey`). */
  queue?: string;
  /** Exchange to publish to; default '' (the default exchange, routing key = queue). */
  exchange?: string;
  exchangeType?: 'direct' | 'topic' | 'fanout';
  routingKey?: string;
  /** Default priority of the task's messages. */
  priority?: number;
}

/** A function route: returns a Route for the names it handles, undefined for the others. */
export type RouteFunction = (taskName: string) => Route | null | undefined;

/**
 * `taskRoutes`: a map from task name or glob ('*' matches any run of characters, dots
 * included; '?' one character) to a Route, a function, or a list of those. The first match
 * wins, in list order and, within a map, in the map's key order.
 */
export type TaskRoutes = Record<string, Route> | RouteFunction | Array<Record<string, Route> | RouteFunction>;

type RouteEntry = { match: (name: string) => boolean; route: Route } | RouteFunction;

const ROUTE_KEYS = ['queue', 'exchange', 'exchangeType', 'routingKey', 'priority'];

/** Resolves task names to routes. Construction validates every route (ConfigError names the bad one). */
export class Router {
  readonly #entries: RouteEntry[];

  constructor(routes: TaskRoutes | undefined) {
    const list = routes === undefined ? [] : Array.isArray(routes) ? routes : [routes];
    this.#entries = list.flatMap((entry): RouteEntry[] => {
      if (typeof entry === 'function') return [entry];
      if (typeof entry !== 'object' || entry === null)
        throw new ConfigError('taskRoutes', 'expected a map of name/glob to route, a function, or a list of those');
      return Object.entries(entry).map(([pattern, route]) => {
        checkRoute(pattern, route);
        return { match: globMatcher(pattern), route };
      });
    });
  }

  /** The first route matching `taskName`, or undefined. */
  route(taskName: string): Route | undefined {
    for (const entry of this.#entries) {
      if (typeof entry === 'function') {
        const route = entry(taskName);
        if (route) {
          checkRoute(`function route for ${taskName}`, route);
          return route;
        }
      } else if (entry.match(taskName)) {
        return entry.route;
      }
    }
    return undefined;
  }
}

function checkRoute(where: string, route: unknown): asserts route is Route {
  if (typeof route !== 'object' || route === null) throw new ConfigError('taskRoutes', `${where}: expected a route object`);
  for (const key of Object.keys(route)) {
    if (!ROUTE_KEYS.includes(key))
      throw new ConfigError('taskRoutes', `${where}: unknown route key ${key}; known: ${ROUTE_KEYS.join(', ')}`);
  }
  const { exchangeType, priority } = route as Route;
  if (exchangeType !== undefined && !['direct', 'topic', 'fanout'].includes(exchangeType)) {
    throw new ConfigError('taskRoutes', `${where}: exchangeType must be direct, topic or fanout`);
  }
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 255)) {
    throw new ConfigError('taskRoutes', `${where}: priority must be an integer 0..255`);
  }
}

function globMatcher(pattern: string): (name: string) => boolean {
  if (!/[*?]/.test(pattern)) return (name) => name === pattern;
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  const regex = new RegExp(`^${source}$`);
  return (name) => regex.test(name);
}
