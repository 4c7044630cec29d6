/**
 * The packaged refresh function puts the profiles' events on the stack's bus as deployed:
 * Node.js 22 (the functions' runtime), the loopback EventBridge behind the IAM gateway,
 * its role from the template. A provider that refuses every scheduled refresh is reported
 * once at the profile's `notify.refreshFailures`, its recovery once; without the role's
 * PutEvents statement the refresh still obtains its token and says so in one warning.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectFingerprint } from '../../lib/events/schema.ts';
import { SCHEDULED_EVENT } from '../functions/events.ts';
import { startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { ARTEFACT_PLACE } from '../support/iam-stack.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import type { InvocationResult } from '../support/lambda-runtime.ts';
import { packageService, ROOT, type PackagedService } from '../support/osls-package.ts';
import { startPackagedStack, type PackagedStack, type StackContainer } from '../support/packaged-stack.ts';

const PROFILES = 'test/fixtures/deploy/events-profiles.yaml';
const DEFAULT_BUS = `arn:aws:events:${ARTEFACT_PLACE.region}:${ARTEFACT_PLACE.account}:event-bus/default`;

type Mode = 'refuse' | 'ok';

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** The `iss` of the assertion in a token request's form body. */
function issuerOf(body: string): string {
  const assertion = new URLSearchParams(body).get('assertion') ?? '';
  const payload = assertion.split('.')[1] ?? '';
  return String((JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown }).iss);
}

/** The run's summary, or the invocation's error as a failure. */
function summaryOf(result: InvocationResult): { refreshed: number; failed: Record<string, number> } {
  if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
  return result.payload as { refreshed: number; failed: Record<string, number> };
}

const TITLE = 'events of the packaged refresh function under its role';

if (!skipWithoutLambdaNode(TITLE))
  describe(TITLE, () => {
    let packaged: PackagedService;
    let stack: PackagedStack;
    let provider: FaultServer;
    let refresh: StackContainer;
    const modes = new Map<string, Mode>();
    const issued: string[] = [];

    beforeAll(async () => {
      packaged = await packageService(PROFILES, 'ci');
      expect(packaged.code, packaged.output).toBe(0);
      stack = await startPackagedStack({ packaged, stackName: 'token-broker-ci' });
      stack.secrets.put('token-broker/ci/cache-key', { text: randomBytes(32).toString('base64') });
      provider = await startFaultServer([
        (_, res, body) => {
          const issuer = issuerOf(body);
          if (modes.get(issuer) === 'refuse')
            return json(res, 400, { error: 'invalid_grant', error_description: 'user account locked' });
          const token = `at-${issuer}-${randomBytes(16).toString('hex')}`;
          issued.push(token);
          return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
        },
      ]);
      // The packaged profiles, pointed at the stand-in provider.
      const text = readFileSync(join(ROOT, PROFILES), 'utf8');
      writeFileSync(
        join(packaged.unpack('refresh'), PROFILES),
        text.replaceAll('https://login.example.com/oauth/token', provider.url),
      );
      refresh = await stack.container('refresh');
    }, 300_000);

    afterAll(async () => {
      await stack?.close();
      await provider?.close();
      packaged?.remove();
    });

    const run = async () => summaryOf(await refresh.invoke(SCHEDULED_EVENT));
    const sent = (type: string, profile?: string) =>
      stack.eventBridge.events.filter(
        (e) => e.DetailType === type && (profile === undefined || e.Detail['profile'] === profile),
      );
    const putDecisions = () =>
      stack.iam.authority.decisions.filter(
        (d) => d.accessKeyId === refresh.accessKeyId && d.action === 'events:PutEvents',
      );

    it('puts Token Refresh Failed once at the 2nd refused run of each profile, then Recovered once, on the default bus', async () => {
      modes.set('nightly-client', 'refuse');
      modes.set('weekly-client', 'refuse');
      expect((await run()).failed).toEqual({ ERR_UPSTREAM_REJECTED: 2 });
      expect(stack.eventBridge.events).toEqual([]);
      expect((await run()).failed).toEqual({ ERR_UPSTREAM_REJECTED: 2 });
      expect(sent('Token Refresh Failed').map((e) => e.Detail['profile'])).toEqual(
        expect.arrayContaining(['nightly', 'weekly']),
      );
      expect(sent('Token Refresh Failed')).toHaveLength(2);
      expect(sent('Token Refresh Failed', 'nightly')[0]).toMatchObject({
        Source: 'token-broker',
        EventBusName: 'default',
        Detail: {
          schemaVersion: '1',
          profile: 'nightly',
          subject: 'alice@example.com',
          code: 'ERR_UPSTREAM_REJECTED',
          error: 'invalid_grant',
          failures: 2,
        },
      });
      // notify.subject: fingerprint names the subject by its fingerprint only.
      const weekly = sent('Token Refresh Failed', 'weekly')[0]!.Detail;
      expect(weekly['subjectFingerprint']).toBe(subjectFingerprint('bob@example.com'));
      expect(JSON.stringify(weekly)).not.toContain('bob@example.com');

      // A third refused run repeats nothing; nightly's next success is reported once.
      modes.set('nightly-client', 'ok');
      const third = await run();
      expect(third).toMatchObject({ refreshed: 1, failed: { ERR_UPSTREAM_REJECTED: 1 } });
      await run();
      expect(sent('Token Refresh Failed')).toHaveLength(2);
      expect(sent('Token Refresh Recovered')).toHaveLength(1);
      expect(sent('Token Refresh Recovered', 'nightly')[0]!.Detail).toMatchObject({
        schemaVersion: '1',
        profile: 'nightly',
        subject: 'alice@example.com',
      });

      // Every put was an IAM decision on the stack's default bus, and allowed.
      const decisions = putDecisions();
      expect(decisions).toHaveLength(stack.eventBridge.events.length);
      for (const d of decisions) expect([d.resource, d.allowed]).toEqual([DEFAULT_BUS, true]);
      expect(decisions[0]!.context['events:source']).toEqual(['token-broker']);

      // Nothing secret went out: no token, no assertion, no keystore password.
      const text = JSON.stringify(stack.eventBridge.events);
      for (const token of issued) expect(text).not.toContain(token);
      for (const body of provider.bodies)
        expect(text).not.toContain(new URLSearchParams(body).get('assertion'));
      expect(text).not.toContain(
        readFileSync(join(ROOT, 'examples/local/demo-keystore.password'), 'utf8').trim(),
      );
    }, 120_000);

    it('without the PutEvents statement the refresh still obtains its token and logs one warning', async () => {
      const before = stack.eventBridge.requests();
      const warnings = () => refresh.output().split('event not sent').length - 1;
      const warned = warnings();
      const restore = stack.iam.authority.dropStatements('refresh', (s) => s['Sid'] === 'PutProfileEvents');
      try {
        modes.set('weekly-client', 'ok');
        const summary = await run();
        expect(summary).toMatchObject({ refreshed: 1, failed: {} });
      } finally {
        restore();
      }
      // The provider answered a token; the recovery could not be put: denied by IAM, one warning.
      expect(issued.filter((t) => t.startsWith('at-weekly-client-'))).toHaveLength(1);
      expect(stack.eventBridge.requests()).toBe(before);
      expect(sent('Token Refresh Recovered', 'weekly')).toEqual([]);
      const denied = putDecisions().filter((d) => !d.allowed);
      expect(denied.map((d) => d.resource)).toEqual([DEFAULT_BUS]);
      expect(warnings() - warned).toBe(1);
      expect(refresh.output()).toMatch(/"message":"event not sent".*AccessDeniedException/);
    }, 60_000);
  });
