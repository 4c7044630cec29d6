/**
 * The local server's route table: DESIGN.md's HTTP API, each route bound to the same
 * handler the Lambda function runs. Matching follows API Gateway: a literal segment wins
 * over a `{param}`.
 */
import type { HttpHandler } from '../http/stack.ts';

/** One route: `METHOD /path/{param}` and its handler. */
export interface Route {
  /** API Gateway route key, e.g. `POST /token`, `GET /consent/{profile}`. */
  readonly key: string;
  readonly handler: HttpHandler;
}

/** A matched route with its path parameters. */
export interface RouteMatch {
  readonly route: Route;
  readonly pathParameters: Record<string, string> | undefined;
}

function split(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function specificity(route: Route): number {
  return split(route.key.split(' ')[1] ?? '').filter((s) => !s.startsWith('{')).length;
}

/** A route split once: its method and path segments, most literal routes first. */
interface CompiledRoute {
  readonly route: Route;
  readonly method: string;
  readonly pattern: readonly string[];
}

/**
 * Route lists split and ordered once per list: a server builds its list at start and
 * never changes it, so a request does not sort and split the table again.
 */
const compiled = new WeakMap<readonly Route[], readonly CompiledRoute[]>();

function compile(routes: readonly Route[]): readonly CompiledRoute[] {
  let table = compiled.get(routes);
  if (table === undefined) {
    table = [...routes]
      .sort((a, b) => specificity(b) - specificity(a))
      .map((route) => {
        const [method = '', path = ''] = route.key.split(' ');
        return { route, method, pattern: split(path) };
      });
    if (Object.isFrozen(routes)) compiled.set(routes, table);
  }
  return table;
}

/**
 * The route for `method path`, preferring the most literal match; undefined if none.
 * A frozen `routes` list is split and ordered once.
 */
export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch | undefined {
  const segments = split(path);
  const upper = method.toUpperCase();
  for (const { route, method: routeMethod, pattern } of compile(routes)) {
    if (routeMethod !== upper) continue;
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (const [i, part] of pattern.entries()) {
      const segment = segments[i] ?? '';
      if (part.startsWith('{') && part.endsWith('}')) {
        try {
          params[part.slice(1, -1)] = decodeURIComponent(segment);
        } catch {
          ok = false;
        }
      } else if (part !== segment) ok = false;
      if (!ok) break;
    }
    if (ok) return { route, pathParameters: Object.keys(params).length > 0 ? params : undefined };
  }
  return undefined;
}
