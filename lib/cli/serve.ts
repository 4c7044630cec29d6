/**
 * `token-broker serve [--config F] [--port N] [--host H] [--events F] [--access-log]`: the
 * HTTP API (docs/design.md) on this machine (127.0.0.1:8787 by default), running the Lambda
 * handlers unchanged. Logs are JSON lines on stderr (a token request: its audit line; with
 * `--access-log` also one access line per request); stdout gets the listening URL. On SIGINT/SIGTERM it stops
 * accepting, lets requests in flight finish for at most 5 s, then returns.
 */
import { loadConfig } from '../config/index.ts';
import { setupLocalEvents } from '../events/setup.ts';
import { createBatchedWriter } from '../observability/batched-writer.ts';
import { createJsonLogger } from '../observability/json-logger.ts';
import { DEFAULT_HOST, DEFAULT_PORT, SHUTDOWN_GRACE_MS, startServer } from '../server/index.ts';
import { isLoopback } from '../server/caller.ts';
import { noMetrics } from '../types.ts';
import { defineCommand, parseCliArgs } from './args.ts';
import { EXIT_OK, UsageError, type CliIo } from './io.ts';

/** Parses `--port`: an integer 0..65535 (0 picks a free port). */
export function parsePort(value: string | undefined, fallback: number, flag = '--port'): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new UsageError(`${flag} must be a port number from 0 to 65535, got "${value}"`);
  return port;
}

/** Resolves when the process receives SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** `token-broker serve`: usage, flags and example (`--help`); its flags are the parser's options. */
export const SERVE_COMMAND = defineCommand({
  name: 'serve',
  usage: 'serve [--config F] [--port N] [--host H] [--events F] [--access-log]',
  description:
    'Serves the HTTP API (POST /token, /health, the consent routes) on this machine until Ctrl-C.\nCallers: loopback as `local`, else server.apiKeys or server.sigv4 of the config.',
  flags: {
    config: {
      type: 'string',
      value: 'F',
      help: 'the profiles file (default: $TOKEN_BROKER_CONFIG, else ./token-broker.yaml)',
    },
    port: { type: 'string', value: 'N', help: 'the port to listen on (default 8787; 0 picks a free one)' },
    host: { type: 'string', value: 'H', help: 'the address to listen on (default 127.0.0.1)' },
    events: {
      type: 'string',
      value: 'F',
      help: "append the profiles' events to F as JSON lines, - for stderr (default: $TOKEN_BROKER_EVENTS_FILE)",
    },
    'access-log': {
      type: 'boolean',
      help: 'also log one access line per request (method, route, status, caller, ms); without it a token request logs its audit line only',
    },
  },
  example: 'npx token-broker serve --config token-broker.yaml --port 8787 --events events.jsonl',
});

/**
 * Runs the local server until SIGINT/SIGTERM.
 * @throws UsageError for bad flags; ConfigError ERR_CONFIG_NOT_FOUND, ERR_CONFIG
 */
export async function serve(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: args } = parseCliArgs(argv, SERVE_COMMAND.flags, { positionals: false });
  const port = parsePort(args.port, DEFAULT_PORT);
  const host = args.host ?? DEFAULT_HOST;
  const config = await loadConfig({ path: args.config, env: io.env, cwd: io.cwd });
  const logLines = createBatchedWriter(io.stderr);
  const logger = createJsonLogger({ write: logLines.write });
  if (
    !isLoopback(host) &&
    host !== 'localhost' &&
    Object.keys(config.server.apiKeys).length === 0 &&
    !config.server.sigv4
  ) {
    io.stderr(
      `token-broker: listening on ${host} without server.apiKeys: only loopback callers are served; add API keys to accept others\n`,
    );
  }
  const events = setupLocalEvents(
    args.events ?? io.env['TOKEN_BROKER_EVENTS_FILE'],
    { cwd: io.cwd, stderr: io.stderr },
    { config, logger, metrics: noMetrics },
  );
  const server = await startServer({
    config,
    port,
    host,
    env: io.env,
    logger,
    events,
    accessLog: args['access-log'] === true,
  });
  io.stdout(
    `token-broker: serving ${Object.keys(config.profiles).length} profile(s) from ${config.source}\n`,
  );
  io.stdout(`token-broker: listening on ${server.url}\n`);
  const signal = await untilSignal();
  const cut = await server.shutdown(SHUTDOWN_GRACE_MS);
  if (cut > 0) logger.warn('requests cut off at shutdown', { count: cut, graceMs: SHUTDOWN_GRACE_MS });
  logLines.flush();
  io.stdout(`token-broker: stopped (${signal})\n`);
  return EXIT_OK;
}
