import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker } from '../../lib/broker/index.ts';
import { parseConfig } from '../../lib/config/index.ts';
import {
  createEmfMetrics,
  MAX_METRICS_PER_DOCUMENT,
  MAX_VALUES_PER_METRIC,
} from '../../lib/observability/emf.ts';
import { createPowertoolsLogger, createPowertoolsMetrics } from '../../lib/observability/powertools.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { MetricName } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { closedPort, EXAMPLES, startHarness, testConfigText, type Harness } from '../functions/harness.ts';

type Emf = Record<string, unknown> & {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
};

const captured: string[] = [];
function captureStdout(): void {
  captured.length = 0;
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    captured.push(String(chunk));
    return true;
  });
}
afterEach(() => vi.restoreAllMocks());

/** Every stdout line written since `from` (an index into `captured`). */
const linesSince = (from = 0): string[] =>
  captured
    .slice(from)
    .join('')
    .split('\n')
    .filter((line) => line !== '');

/** The EMF documents among `lines`, each checked against EMF's structure and limits. */
function emfDocuments(lines: string[]): Emf[] {
  const docs = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => '_aws' in r);
  for (const doc of docs as Emf[]) {
    expect(doc._aws.Timestamp).toEqual(expect.any(Number));
    let metrics = 0;
    for (const directive of doc._aws.CloudWatchMetrics) {
      expect(directive.Namespace).toBe('TokenBroker');
      metrics += directive.Metrics.length;
      for (const set of directive.Dimensions) {
        // EMF allows 30 dimensions per set; ours name `service` and at most one more.
        expect(set.length).toBeLessThanOrEqual(2);
        for (const name of set) expect(typeof doc[name]).toBe('string');
      }
      for (const { Name } of directive.Metrics) {
        const value = doc[Name];
        if (Array.isArray(value)) expect(value.length).toBeLessThanOrEqual(MAX_VALUES_PER_METRIC);
        else expect(typeof value).toBe('number');
      }
    }
    expect(metrics).toBeLessThanOrEqual(MAX_METRICS_PER_DOCUMENT);
  }
  return docs as Emf[];
}

/**
 * What CloudWatch extracts from `docs`: per metric and dimension set (with its values,
 * e.g. `TokensIssued service=token-broker,profile=a`), the sum and the number of samples.
 */
function extracted(docs: Emf[]): Record<string, { sum: number; samples: number }> {
  const out: Record<string, { sum: number; samples: number }> = {};
  for (const doc of docs) {
    for (const directive of doc._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        const dimensions = set.map((name) => `${name}=${String(doc[name])}`).join(',');
        for (const { Name } of directive.Metrics) {
          const values = ([] as number[]).concat(doc[Name] as number | number[]);
          const entry = (out[`${Name} ${dimensions}`] ??= { sum: 0, samples: 0 });
          entry.sum += values.reduce((a, b) => a + b, 0);
          entry.samples += values.length;
        }
      }
    }
  }
  return out;
}

const sums = (docs: Emf[]): Record<string, number> =>
  Object.fromEntries(Object.entries(extracted(docs)).map(([key, { sum }]) => [key, sum]));

describe('EMF counts through the token handler, one flush per request as under Lambda', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(() => harness.close());

  it('7 hits on profile a, 3 on b and their 2 misses: one EMF line per request, and every count per profile and in the service set', async () => {
    const tokenUrl = harness.authorization.tokenUrl;
    const config = parseConfig(
      testConfigText(
        tokenUrl,
        `http://127.0.0.1:${await closedPort()}/token`,
        `  reports:
    issuer: demo-client
    subject: ops@example.com
    tokenUri: ${tokenUrl}
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: file:demo-keystore.password
    certAlias: demo
    audience: token-broker-demo
    callers: [arn:aws:iam::123456789012:user/alice]`,
      ),
      `${EXAMPLES}test.yaml`,
    );
    captureStdout();
    const logger = createPowertoolsLogger({ serviceName: 'token-broker' });
    const metrics = createPowertoolsMetrics();
    const broker = createBroker({
      config,
      secrets: createSecretResolver({ env: {}, cwd: EXAMPLES }),
      logger,
      metrics,
      exchange: { sleep: async () => undefined, attemptTimeoutMs: 2000 },
    });
    const handler = createTokenHandler({ broker, logger, metrics });
    const upstream = harness.authorization.requestCount();
    // Profile a ('billing'): a miss, then 7 hits; profile b ('reports'): a miss, then 3 hits.
    const requests = [...Array<string>(8).fill('billing'), ...Array<string>(4).fill('reports')];
    const perRequest: string[][] = [];
    for (const profile of requests) {
      const from = captured.length;
      const res = await handler(
        apiEvent({ body: JSON.stringify({ profile }), userArn: 'arn:aws:iam::123456789012:user/alice' }),
        lambdaContext(),
      );
      expect(res.statusCode, res.body).toBe(200);
      perRequest.push(linesSince(from));
    }
    expect(harness.authorization.requestCount() - upstream).toBe(2);

    // Each request: its audit line and one EMF document, nothing more.
    expect(perRequest.map((lines) => emfDocuments(lines).length)).toEqual(Array(12).fill(1));
    expect(perRequest.map((lines) => lines.length)).toEqual(Array(12).fill(2));
    const docs = emfDocuments(linesSince());
    expect(sums(docs)).toEqual({
      'TokensIssued service=token-broker': 12,
      'TokensIssued service=token-broker,profile=billing': 8,
      'TokensIssued service=token-broker,profile=reports': 4,
      'CacheHits service=token-broker': 10,
      'CacheMisses service=token-broker': 2,
      'UpstreamLatency service=token-broker': expect.any(Number),
    });
    expect(extracted(docs)['UpstreamLatency service=token-broker']!.samples).toBe(2);
  });
});

describe('EMF documents of one flush', () => {
  const SERVICE = 'service=token-broker';
  const write = (lines: string[]) => (line: string) => void lines.push(line.slice(0, -1));

  it('holds 7 hits on a, 3 on b and 2 misses in one document per profile, the sums per dimension set exact', () => {
    const lines: string[] = [];
    const metrics = createPowertoolsMetrics({ write: write(lines), clock: () => 1_700_000_000_000 });
    const hit = (profile: string): void => {
      metrics.count('TokensIssued', 1, { profile });
      metrics.count('CacheHits');
    };
    for (let i = 0; i < 7; i++) hit('a');
    for (let i = 0; i < 3; i++) hit('b');
    for (const latency of [120, 80]) {
      metrics.timing('UpstreamLatency', latency);
      metrics.count('TokensIssued', 1, { profile: 'a' });
      metrics.count('CacheMisses');
    }
    metrics.count('UpstreamErrors', 1, { profile: 'b', code: 'ERR_UPSTREAM_TIMEOUT' });
    expect(lines).toEqual([]);
    metrics.flush!();

    const docs = emfDocuments(lines);
    // A document's root holds one value per dimension name: profiles a and b need two.
    expect(docs).toHaveLength(2);
    expect(docs.map((d) => d['profile'])).toEqual(['a', 'b']);
    expect(docs.every((d) => d._aws.Timestamp === 1_700_000_000_000)).toBe(true);
    expect(sums(docs)).toEqual({
      [`TokensIssued ${SERVICE}`]: 12,
      [`TokensIssued ${SERVICE},profile=a`]: 9,
      [`TokensIssued ${SERVICE},profile=b`]: 3,
      [`CacheHits ${SERVICE}`]: 10,
      [`CacheMisses ${SERVICE}`]: 2,
      [`UpstreamLatency ${SERVICE}`]: 200,
      [`UpstreamErrors ${SERVICE}`]: 1,
      [`UpstreamErrors ${SERVICE},profile=b`]: 1,
      [`UpstreamErrors ${SERVICE},code=ERR_UPSTREAM_TIMEOUT`]: 1,
    });
    expect(docs[0]!._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'TokenBroker',
        Dimensions: [['service'], ['service', 'profile']],
        Metrics: [{ Name: 'TokensIssued', Unit: 'Count' }],
      },
      {
        Namespace: 'TokenBroker',
        Dimensions: [['service']],
        Metrics: [
          { Name: 'CacheHits', Unit: 'Count' },
          { Name: 'UpstreamLatency', Unit: 'Milliseconds' },
          { Name: 'CacheMisses', Unit: 'Count' },
        ],
      },
    ]);
    expect(docs[0]!['UpstreamLatency']).toEqual([120, 80]);

    metrics.flush!();
    expect(lines).toHaveLength(2);
    metrics.count('CacheHits');
    metrics.flush!();
    expect(sums(emfDocuments(lines.slice(2)))).toEqual({ [`CacheHits ${SERVICE}`]: 1 });
  });

  it('keeps each profile its own CertificateDaysLeft, so the Minimum the alarm reads over the service set is the smallest', () => {
    const lines: string[] = [];
    const metrics = createPowertoolsMetrics({ write: write(lines) });
    metrics.count('CertificateDaysLeft', 40, { profile: 'a' });
    metrics.count('CertificateDaysLeft', 12, { profile: 'b' });
    metrics.count('RefreshFailures', 1, { profile: 'b', code: 'ERR_UPSTREAM_REJECTED' });
    metrics.flush!();
    const docs = emfDocuments(lines);
    expect(docs).toHaveLength(2);
    const service = docs.map((d) => d['CertificateDaysLeft']);
    expect(Math.min(...(service as number[]))).toBe(12);
    expect(sums(docs)).toMatchObject({
      [`CertificateDaysLeft ${SERVICE},profile=a`]: 40,
      [`CertificateDaysLeft ${SERVICE},profile=b`]: 12,
      [`RefreshFailures ${SERVICE}`]: 1,
      [`RefreshFailures ${SERVICE},code=ERR_UPSTREAM_REJECTED`]: 1,
    });
  });

  it('splits at 100 values per metric and 100 metrics per document, and loses no count', () => {
    const lines: string[] = [];
    const metrics = createEmfMetrics({
      namespace: 'TokenBroker',
      service: 'token-broker',
      write: write(lines),
    });
    for (let i = 1; i <= 250; i++) metrics.timing('UpstreamLatency', i);
    for (let i = 0; i < 150; i++) metrics.count(`Metric${i}` as MetricName, i + 1);
    metrics.flush!();
    const docs = emfDocuments(lines);
    expect(docs.map((d) => (Array.isArray(d['UpstreamLatency']) ? d['UpstreamLatency'].length : 0))).toEqual([
      100, 100, 50,
    ]);
    expect(docs.map((d) => d._aws.CloudWatchMetrics.reduce((n, m) => n + m.Metrics.length, 0))).toEqual([
      100, 52, 1,
    ]);
    const all = extracted(docs);
    expect(all[`UpstreamLatency ${SERVICE}`]).toEqual({ sum: (250 * 251) / 2, samples: 250 });
    for (let i = 0; i < 150; i++) expect(all[`Metric${i} ${SERVICE}`]).toEqual({ sum: i + 1, samples: 1 });
  });

  it('writes nothing without counts, leaves out an empty dimension value and refuses a reserved dimension name', () => {
    const lines: string[] = [];
    const metrics = createPowertoolsMetrics({ write: write(lines) });
    metrics.flush!();
    expect(lines).toEqual([]);
    expect(() => metrics.count('TokensIssued', 1, { service: 'x' })).toThrow(
      new TypeError('metric dimension name "service" is reserved'),
    );
    metrics.count('UpstreamErrors', 1, { profile: 'a', code: '' });
    metrics.flush!();
    expect(sums(emfDocuments(lines))).toEqual({
      [`UpstreamErrors ${SERVICE}`]: 1,
      [`UpstreamErrors ${SERVICE},profile=a`]: 1,
    });
  });
});
