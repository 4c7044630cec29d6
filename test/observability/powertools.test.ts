import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createJsonLogger } from '../../lib/observability/json-logger.ts';
import { createPowertoolsLogger, createPowertoolsMetrics } from '../../lib/observability/powertools.ts';

const captured: string[] = [];
function captureStdout(): void {
  captured.length = 0;
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    captured.push(String(chunk));
    return true;
  });
}
afterEach(() => vi.restoreAllMocks());

const records = (): Record<string, any>[] =>
  captured
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);

describe('Powertools metrics adapter', () => {
  it('writes EMF in namespace TokenBroker on flush only: counters, latency and the profile and code sets in one line', () => {
    captureStdout();
    const metrics = createPowertoolsMetrics();
    metrics.count('TokensIssued');
    metrics.count('CacheHits');
    metrics.timing('UpstreamLatency', 42);
    metrics.count('UpstreamErrors', 1, { profile: 'docusign', code: 'ERR_UPSTREAM_TIMEOUT' });
    expect(records()).toEqual([]);
    metrics.flush!();
    const all = records();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      service: 'token-broker',
      profile: 'docusign',
      code: 'ERR_UPSTREAM_TIMEOUT',
      TokensIssued: 1,
      CacheHits: 1,
      UpstreamLatency: 42,
      UpstreamErrors: 1,
    });
    expect(all[0]!['_aws'].CloudWatchMetrics).toEqual([
      {
        Namespace: 'TokenBroker',
        Dimensions: [['service']],
        Metrics: [
          { Name: 'TokensIssued', Unit: 'Count' },
          { Name: 'CacheHits', Unit: 'Count' },
          { Name: 'UpstreamLatency', Unit: 'Milliseconds' },
        ],
      },
      {
        Namespace: 'TokenBroker',
        Dimensions: [['service'], ['service', 'profile'], ['service', 'code']],
        Metrics: [{ Name: 'UpstreamErrors', Unit: 'Count' }],
      },
    ]);
    metrics.flush!();
    expect(records()).toHaveLength(1);
  });
});

describe('loggers', () => {
  it('Powertools logger writes one structured JSON line with the fields', () => {
    captureStdout();
    createPowertoolsLogger({ serviceName: 'token-broker-test' }).info('token issued', {
      profile: 'billing',
      cached: true,
    });
    expect(records()[0]).toMatchObject({
      level: 'INFO',
      message: 'token issued',
      service: 'token-broker-test',
      profile: 'billing',
      cached: true,
    });
  });

  it('JSON logger writes through the injected function, honours the level, and keeps its base keys', () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ write: (l) => lines.push(l), level: 'WARN', clock: () => 0 });
    logger.info('dropped');
    logger.warn('kept', { message: 'spoofed', level: 'DEBUG', profile: 'p' });
    expect(lines).toEqual([
      '{"message":"kept","level":"WARN","profile":"p","service":"token-broker","timestamp":"1970-01-01T00:00:00.000Z"}\n',
    ]);
  });
});

describe('fields Powertools reserves', () => {
  it('are logged under another name instead of being dropped, and Powertools warns about none', () => {
    captureStdout();
    createPowertoolsLogger({ serviceName: 'token-broker-test' }).info('scheduled refresh could not start', {
      code: 'ERR_CONFIG',
      message: 'profiles file not found',
      level: 'x',
      timestamp: 't',
      service: 's',
      sampling_rate: 2,
      reason: 'kept',
    });
    const lines = records();
    expect(lines.map((l) => l['message'])).toEqual(['scheduled refresh could not start']);
    expect(lines[0]).toMatchObject({
      code: 'ERR_CONFIG',
      reason: 'kept',
      reason_: 'profiles file not found',
      fieldLevel: 'x',
      fieldTimestamp: 't',
      fieldService: 's',
      fieldSamplingRate: 2,
      level: 'INFO',
      service: 'token-broker-test',
    });
  });

  it('are never passed by the broker: no log call in lib/ or functions/ names one', () => {
    const root = new URL('../../', import.meta.url);
    const files = ['lib', 'functions'].flatMap((dir) =>
      readdirSync(new URL(dir, root), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => readFileSync(new URL(`${dir}/${f}`, root), 'utf8')),
    );
    const calls: string[] = [];
    for (const text of files) {
      for (const match of text.matchAll(/\blogger\.(debug|info|warn|error)\(/g)) {
        // The call's argument text, up to its closing parenthesis.
        let depth = 1;
        let at = match.index + match[0].length;
        while (depth > 0 && at < text.length) {
          if (text[at] === '(') depth++;
          if (text[at] === ')') depth--;
          at++;
        }
        calls.push(text.slice(match.index, at));
      }
    }
    expect(calls.length).toBeGreaterThan(20);
    const offending = calls.filter((call) =>
      /[{,]\s*(message|level|timestamp|service|sampling_rate)\s*[:,}]/.test(call),
    );
    expect(offending).toEqual([]);
  });
});

describe('POWERTOOLS_LOG_LEVEL', () => {
  it.each([
    ['DEBUG', ['debug line', 'info line', 'warn line']],
    ['WARN', ['warn line']],
  ])('is honoured by the functions logger when set to %s', (level, expected) => {
    captureStdout();
    // Powertools writes warnings and errors to stderr.
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      captured.push(String(chunk));
      return true;
    });
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', level);
    try {
      const logger = createPowertoolsLogger({ serviceName: 'token-broker-test' });
      logger.debug('debug line');
      logger.info('info line');
      logger.warn('warn line');
    } finally {
      vi.unstubAllEnvs();
    }
    expect(records().map((r) => r['message'])).toEqual(expected);
  });
});
