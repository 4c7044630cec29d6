/**
 * Isolation: a token never crosses a profile, subject, scope or caller boundary, and
 * authorization is deny-by-default. Checked against the development authorization server,
 * which says what each token it issued stands for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import type { TokenBroker } from '../../lib/broker/index.ts';
import type { AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { HTTP_ERRORS } from '../../lib/http/error-table.ts';
import type { Caller } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { harnessBroker, harnessConfig, startDevServer } from './harness.ts';
import { capturingLogger, rejection, reportTally } from './support.ts';

const ROLE_A = 'arn:aws:iam::123456789012:role/team-a';
const ROLE_B = 'arn:aws:iam::123456789012:role/team-b';
const PROFILES = ['one', 'two'] as const;
const SUBJECTS = ['alice@example.com', 'bob@example.com'] as const;
const SCOPES = ['read', 'write'] as const;
const CALLERS: readonly Caller[] = [
  { id: ROLE_A, kind: 'iam' },
  { id: ROLE_B, kind: 'iam' },
];

let auth: AuthorizationServer;
let broker: TokenBroker;
let checks = 0;

beforeAll(async () => {
  auth = await startDevServer([{ clientId: 'client-one' }, { clientId: 'client-two' }]);
  const common = {
    tokenUrl: auth.tokenUrl,
    subject: SUBJECTS[0],
    subjects: [...SUBJECTS],
    scope: 'read write',
  };
  const config = harnessConfig({
    one: { ...common, issuer: 'client-one', callers: [ROLE_A, ROLE_B] },
    two: { ...common, issuer: 'client-two', callers: [ROLE_A, ROLE_B] },
    onlyA: { ...common, issuer: 'client-one', callers: [ROLE_A] },
    nobody: { ...common, issuer: 'client-one' },
    wildcard: { ...common, issuer: 'client-one', callers: ['arn:aws:iam::123456789012:role/team-a*'] },
  });
  broker = harnessBroker(config);
});
afterAll(async () => {
  await auth.close();
  reportTally('isolation', { badInputs: checks, fuzzCases: 0, faults: 0 });
});

describe('isolation', () => {
  it('gives each profile × subject × scope combination its own token, whoever of two callers asks', async () => {
    const tokens = new Map<string, string>();
    for (const profile of PROFILES)
      for (const subject of SUBJECTS)
        for (const scope of SCOPES) {
          const combination = `${profile} ${subject} ${scope}`;
          for (const caller of CALLERS) {
            const issued = await broker.issue({ profile, subject, scope, caller });
            // The authorization server confirms what the token stands for.
            expect(auth.introspect(issued.access_token)).toMatchObject({
              clientId: `client-${profile}`,
              subject,
              scope,
            });
            const first = tokens.get(combination);
            if (first === undefined) tokens.set(combination, issued.access_token);
            else expect(issued.access_token).toBe(first); // both callers may share what both may have
            checks += 1;
          }
        }
    expect(new Set(tokens.values()).size).toBe(PROFILES.length * SUBJECTS.length * SCOPES.length);
    expect(auth.requestCount()).toBe(8);
  });

  it('never hands a caller a token of a profile it is not allowed, even one already cached', async () => {
    const forA = await broker.issue({ profile: 'onlyA', caller: CALLERS[0]! });
    expect(forA.access_token).toBeTruthy();
    const err = await rejection(() => broker.issue({ profile: 'onlyA', caller: CALLERS[1]! }));
    expect(err.code).toBe('ERR_FORBIDDEN');
    expect(HTTP_ERRORS[err.code].status).toBe(403);
    expect(err.message).toBe(
      `caller "${ROLE_B}" may not use profile "onlyA"; add it to the profile's callers`,
    );
    checks += 2;
  });

  it('denies by default: a profile without callers serves nobody, trusted-looking ids included', async () => {
    for (const caller of [
      ...CALLERS,
      { id: 'local', kind: 'local' },
      { id: 'schedule', kind: 'schedule' },
    ] as Caller[]) {
      const err = await rejection(() => broker.issue({ profile: 'nobody', caller }));
      expect(err.code).toBe('ERR_FORBIDDEN');
      expect(err.message).toMatch(
        /^caller ".+" may not use profile "nobody"; add it to the profile's callers$/,
      );
      checks += 1;
    }
  });

  it('matches caller patterns exactly: a wildcard does not reach other accounts or an empty id', async () => {
    const allowed = await broker.issue({ profile: 'wildcard', caller: { id: `${ROLE_A}-ops`, kind: 'iam' } });
    expect(allowed.access_token).toBeTruthy();
    for (const id of [
      'arn:aws:iam::999999999999:role/team-a',
      'arn:aws:iam::123456789012:role/TEAM-A',
      'arn:aws:iam::123456789012:user/team-a',
      '',
    ]) {
      const err = await rejection(() => broker.issue({ profile: 'wildcard', caller: { id, kind: 'iam' } }));
      expect(err.code).toBe('ERR_FORBIDDEN');
      checks += 1;
    }
  });

  it('turns a malformed ARN or a missing identity into 403 ERR_UNAUTHENTICATED before any token work', async () => {
    const logger = capturingLogger();
    let calls = 0;
    const handler = createTokenHandler({
      broker: {
        issue: (request) => {
          calls += 1;
          return broker.issue(request);
        },
      },
      logger,
    });
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /^the request carries no caller identity/],
      ['arn:aws:iam::12345:role/team-a', /^the caller is not an IAM user or role/],
      ['arn:aws:sts::123456789012:assumed-role/team-a', /^the caller is not an IAM user or role/],
      ['team-a', /^the caller is not an IAM user or role/],
    ];
    for (const [userArn, message] of cases) {
      const result = await handler(apiEvent({ body: '{"profile":"one"}', userArn }), lambdaContext());
      expect(result.statusCode).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'forbidden' });
      expect(JSON.parse(result.body).message).toMatch(message);
      expect(logger.lines.at(-1)?.fields['code']).toBe('ERR_UNAUTHENTICATED');
      checks += 1;
    }
    expect(calls).toBe(0);
    // An assumed-role session of an allowed role is that role.
    const ok = await handler(
      apiEvent({
        body: '{"profile":"onlyA"}',
        userArn: 'arn:aws:sts::123456789012:assumed-role/team-a/session-1',
      }),
      lambdaContext(),
    );
    expect(ok.statusCode).toBe(200);
  });
});
