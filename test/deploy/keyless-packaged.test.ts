/**
 * A keyless Entra-style profile answered by the PACKAGED token function (its zip, on the
 * runtime's Node, as Lambda runs it) under IAM enforced from the template: the function's
 * role asks the loopback STS (behind the IAM gateway) for its web identity JWT, and the
 * development authorization server's federated credential accepts it as the client
 * assertion. STS calls, token requests and IAM decisions are counted.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { apiEvent } from '../functions/events.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import { packageService, ROOT, type PackagedService } from '../support/osls-package.ts';
import { startPackagedStack, type PackagedStack } from '../support/packaged-stack.ts';
import { DEFAULT_ROLE_ARN, startStsServer, type StsServer } from '../support/sts-server.ts';

const PROFILES = 'test/fixtures/deploy/keyless-packaged-profiles.yaml';
const PLACEHOLDER_TOKEN_URI = 'http://127.0.0.1:1/token';
const APP = '11111111-2222-3333-4444-555555555555';
const CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/app/session';
const TITLE = 'a keyless Entra-style profile from the packaged token function, IAM enforced';

type Answer = { statusCode: number; body: string };

if (!skipWithoutLambdaNode(TITLE))
  describe(TITLE, () => {
    let packaged: PackagedService;
    let stack: PackagedStack;
    let sts: StsServer;
    let auth: AuthorizationServer;

    beforeAll(async () => {
      packaged = await packageService(PROFILES, 'ci');
      expect(packaged.code, packaged.output).toBe(0);
      sts = await startStsServer();
      auth = await startAuthorizationServer({
        clients: [],
        federation: {
          trusts: [
            {
              issuer: sts.issuer,
              subject: DEFAULT_ROLE_ARN,
              audiences: ['api://AzureADTokenExchange'],
              clientId: APP,
            },
          ],
          allowHttpIssuer: true,
        },
      });
      stack = await startPackagedStack({ packaged, stackName: 'token-broker-ci', sts: sts.endpoint });
      // The shared table's seal key, the one secret the stack itself reads.
      stack.secrets.put('token-broker/ci/cache-key', { text: randomBytes(32).toString('base64') });
      // The packaged profiles file, pointed at this run's authorization server (nothing else changes).
      const path = join(packaged.unpack('token'), PROFILES);
      const packagedYaml = readFileSync(path, 'utf8');
      expect(packagedYaml).toBe(readFileSync(join(ROOT, PROFILES), 'utf8'));
      writeFileSync(path, packagedYaml.replaceAll(`POST ${PLACEHOLDER_TOKEN_URI}`, `POST ${auth.tokenUrl}`));
    }, 300_000);

    afterAll(async () => {
      await stack?.close();
      await auth?.close();
      await sts?.close();
      packaged?.remove();
    });

    it('answers a token: one STS call allowed by the role, one federated token request, then cache hits', async () => {
      const token = await stack.container('token');
      const ask = async (): Promise<Answer> => {
        const result = await token.invoke(
          apiEvent({ body: JSON.stringify({ profile: 'graph' }), userArn: CALLER_ARN }),
        );
        if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
        return result.payload as Answer;
      };
      const first = await ask();
      expect(first.statusCode, first.body).toBe(200);
      const body = JSON.parse(first.body) as { access_token: string; token_type: string; scope: string };
      expect(body).toMatchObject({ token_type: 'Bearer', scope: 'https://graph.microsoft.com/.default' });
      expect(auth.introspect(body.access_token)).toMatchObject({ clientId: APP, subject: DEFAULT_ROLE_ARN });
      expect(sts.calls).toEqual([
        {
          audience: ['api://AzureADTokenExchange'],
          signingAlgorithm: 'RS256',
          durationSeconds: 300,
          tags: {},
          principal: DEFAULT_ROLE_ARN,
        },
      ]);
      expect(auth.requests.map((r) => [r.grant, r.clientId, r.trust, r.status])).toEqual([
        ['client_credentials', APP, sts.issuer, 200],
      ]);
      const stsDecisions = stack.iam.authority.decisions.filter(
        (d) => d.action === 'sts:GetWebIdentityToken',
      );
      expect(stsDecisions.map((d) => [d.function, d.allowed])).toEqual([['token', true]]);

      const second = await ask();
      expect(second.statusCode, second.body).toBe(200);
      expect(JSON.parse(second.body)).toMatchObject({ access_token: body.access_token });
      expect([sts.calls.length, auth.requestCount()]).toEqual([1, 1]);
      // The JWT appears nowhere in what the function wrote.
      expect(stack.output()).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);
      expect(stack.iam.authority.decisions.filter((d) => !d.allowed)).toEqual([]);
    }, 120_000);
  });
