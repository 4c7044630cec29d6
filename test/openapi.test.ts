/**
 * openapi.yaml against the code it describes: the `POST /token` request schema against
 * the handler's zod schema, every error code's real response body against the documented
 * response for its status, and real 200 bodies of the token and health handlers against
 * their documented schemas. Bodies are checked with zod built from the document's own
 * JSON Schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHealthHandler } from '../functions/health.ts';
import { createTokenHandler } from '../functions/token.ts';
import {
  BrokerError,
  ConsentRequired,
  DpopNonceRequired,
  UpstreamRejected,
  type ErrorCode,
} from '../lib/errors.ts';
import { errorResult } from '../lib/http/error-response.ts';
import { HTTP_ERRORS } from '../lib/http/error-table.ts';
import { tokenRequestSchema } from '../lib/http/token-request.ts';
import { silentLogger, type Broker, type IssuedToken } from '../lib/types.ts';
import { apiEvent, lambdaContext } from './functions/events.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const document = parse(readFileSync(resolve(import.meta.dirname, '../openapi.yaml'), 'utf8')) as JsonObject;

/** The document with every local `$ref` replaced by its target. */
function deref(node: Json, seen: readonly string[] = []): Json {
  if (Array.isArray(node)) return node.map((n) => deref(n, seen));
  if (node === null || typeof node !== 'object') return node;
  const ref = node['$ref'];
  if (typeof ref === 'string') {
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are expected, got ${ref}`);
    if (seen.includes(ref)) throw new Error(`recursive $ref ${ref}`);
    let target: Json = document;
    for (const part of ref.slice(2).split('/')) {
      if (target === null || typeof target !== 'object' || Array.isArray(target) || !(part in target))
        throw new Error(`unresolved $ref ${ref}`);
      target = target[part]!;
    }
    return deref(target, [...seen, ref]);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(v, seen)]));
}

const api = deref(document) as any;
const operation = (path: string, method: string) => api.paths?.[path]?.[method];
const jsonSchemaOf = (response: any) => response?.content?.['application/json']?.schema;

/** Keeps only the JSON Schema keywords that constrain a token request. */
function constraints(schema: any): unknown {
  const keep = [
    'type',
    'minLength',
    'maxLength',
    'minimum',
    'maximum',
    'exclusiveMinimum',
    'exclusiveMaximum',
    'pattern',
    'format',
    'enum',
    'const',
  ];
  return {
    type: schema.type,
    required: [...(schema.required ?? [])].sort(),
    additionalProperties: schema.additionalProperties ?? true,
    properties: Object.fromEntries(
      Object.entries(schema.properties ?? {}).map(([name, p]: [string, any]) => [
        name,
        Object.fromEntries(keep.filter((k) => p[k] !== undefined).map((k) => [k, p[k]])),
      ]),
    ),
  };
}

/** A realistic error for each code, as the broker raises it. */
function sampleError(code: ErrorCode): BrokerError {
  if (code === 'ERR_CONSENT_REQUIRED')
    return new ConsentRequired({
      profile: 'docusign',
      subject: 'jsmith@example.com',
      consentUrl: 'https://broker.example.com/consent/docusign?subject=jsmith%40example.com',
    });
  if (code === 'ERR_UPSTREAM_REJECTED')
    return new UpstreamRejected({
      status: 400,
      error: 'invalid_grant',
      errorDescription: 'no_valid_keys_or_signatures',
    });
  if (code === 'ERR_USE_DPOP_NONCE')
    return new DpopNonceRequired('eyJ7S_zG.eyJH0-Z.HX4w-7v', {
      details: { error_description: 'nonce required' },
    });
  if (code === 'ERR_DPOP_PROOF')
    return new BrokerError(code, 'DPoP proof refused: its "htu" must be the profile\'s token endpoint', {
      details: { dpop_htm: 'POST', dpop_htu: 'https://idp.example.com/token' },
    });
  return new BrokerError(code, `a ${code} message`);
}

describe('openapi.yaml', () => {
  it('is OpenAPI 3.1 with every route of the HTTP API', () => {
    expect(api.openapi).toMatch(/^3\.1\.\d+$/);
    expect(Object.keys(api.paths).sort()).toEqual([
      '/consent/callback',
      '/consent/{profile}',
      '/health',
      '/token',
    ]);
    expect(operation('/token', 'post')).toBeDefined();
    expect(operation('/consent/{profile}', 'get').responses['302']).toBeDefined();
    expect(operation('/consent/callback', 'get').parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['code', 'state']),
    );
    expect(operation('/health', 'get').responses['200']).toBeDefined();
  });

  it('requires SigV4 for execute-api everywhere but the browser-facing consent routes', () => {
    expect(api.components.securitySchemes.sigv4).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
    });
    expect(api.components.securitySchemes.sigv4.description).toMatch(/Signature Version 4.*execute-api/s);
    expect(api.security).toEqual([{ sigv4: [] }]);
    expect(operation('/token', 'post').security).toBeUndefined();
    expect(operation('/health', 'get').security).toBeUndefined();
    expect(operation('/consent/{profile}', 'get').security).toEqual([]);
    expect(operation('/consent/callback', 'get').security).toEqual([]);
  });

  it("describes the POST /token body exactly as the handler's zod schema", () => {
    const documented = operation('/token', 'post').requestBody.content['application/json'].schema;
    expect(constraints(documented)).toEqual(constraints(z.toJSONSchema(tokenRequestSchema, { io: 'input' })));
  });

  it('lists exactly the error values of the error table', () => {
    const table = [...new Set(Object.values(HTTP_ERRORS).map((m) => m.error))].sort();
    expect([...api.components.schemas.ErrorCode.enum].sort()).toEqual(table);
  });

  it.each(Object.keys(HTTP_ERRORS) as ErrorCode[])(
    'documents the POST /token answer to %s (status and body)',
    (code) => {
      const result = errorResult(sampleError(code));
      expect(result.statusCode).toBe(HTTP_ERRORS[code].status);
      const response = operation('/token', 'post').responses[String(result.statusCode)];
      expect(response, `openapi.yaml: POST /token has no ${result.statusCode} response`).toBeDefined();
      const schema = z.fromJSONSchema(jsonSchemaOf(response));
      const body = JSON.parse(result.body ?? '') as unknown;
      expect(schema.safeParse(body).error?.issues ?? []).toEqual([]);
    },
  );

  it('names every code that key_unavailable carries, in openapi.yaml and docs/service.md', () => {
    const codes = (Object.keys(HTTP_ERRORS) as ErrorCode[]).filter(
      (code) => HTTP_ERRORS[code].error === 'key_unavailable',
    );
    expect(codes).toContain('ERR_WEB_IDENTITY_DENIED');
    const described = String(api.components.responses.Internal.description);
    const service = readFileSync(resolve(import.meta.dirname, '../docs/service.md'), 'utf8');
    const row = service.split('\n').find((line) => line.includes('| `key_unavailable` |')) ?? '';
    expect(codes.filter((code) => !described.includes(`\`${code}\``))).toEqual([]);
    expect(codes.filter((code) => !row.includes(`\`${code}\``))).toEqual([]);
  });

  it('documents the consent and provider fields the error bodies carry', () => {
    const consent = JSON.parse(errorResult(sampleError('ERR_CONSENT_REQUIRED')).body ?? '');
    const rejected = JSON.parse(errorResult(sampleError('ERR_UPSTREAM_REJECTED')).body ?? '');
    const consentSchema = api.components.schemas.ConsentRequiredError.allOf[1].properties;
    const rejectedSchema = api.components.schemas.UpstreamRejectedError.allOf[1].properties;
    expect(Object.keys(consent).filter((k) => !['error', 'message'].includes(k))).toEqual(['consent_url']);
    expect(Object.keys(consentSchema)).toEqual(expect.arrayContaining(['consent_url']));
    expect(
      Object.keys(rejected)
        .filter((k) => !['error', 'message'].includes(k))
        .sort(),
    ).toEqual(['error_description', 'provider_error']);
    expect(Object.keys(rejectedSchema)).toEqual(
      expect.arrayContaining(['provider_error', 'error_description']),
    );
  });

  it('documents the DPoP header, the DPoP-Nonce answer header and the DPoP fields of 400 bodies', () => {
    const op = operation('/token', 'post');
    const header = op.parameters.find((p: any) => p.in === 'header' && p.name === 'DPoP');
    expect(header).toMatchObject({ required: false, schema: { type: 'string', maxLength: 8192 } });
    const nonce = errorResult(sampleError('ERR_USE_DPOP_NONCE'));
    expect(nonce.headers['DPoP-Nonce']).toBe('eyJ7S_zG.eyJH0-Z.HX4w-7v');
    expect(
      new RegExp(op.responses['400'].headers['DPoP-Nonce'].schema.pattern).test('eyJ7S_zG.eyJH0-Z.HX4w-7v'),
    ).toBe(true);
    const proof = JSON.parse(errorResult(sampleError('ERR_DPOP_PROOF')).body ?? '');
    const fields = api.components.schemas.InvalidRequestError.allOf[1].properties;
    expect(Object.keys(proof).filter((k) => !['error', 'message'].includes(k))).toEqual([
      'dpop_htm',
      'dpop_htu',
    ]);
    expect(Object.keys(fields)).toEqual(expect.arrayContaining(['dpop_htm', 'dpop_htu']));
  });

  it.each([
    { scope: 'signature impersonation', expires_in: 3599 },
    { scope: undefined, expires_in: 60 },
  ])('documents the POST /token 200 body the handler sends (scope $scope)', async ({ scope, expires_in }) => {
    const issued: IssuedToken = {
      access_token: 'at-1',
      token_type: 'Bearer',
      expires_in,
      expires_at: 1_893_456_000 + expires_in,
      scope,
      cached: false,
    };
    const broker: Broker = { issue: async () => issued };
    const handler = createTokenHandler({ broker, logger: silentLogger });
    const result = await handler(
      apiEvent({
        body: JSON.stringify({ profile: 'docusign' }),
        userArn: 'arn:aws:iam::123456789012:role/billing-batch',
      }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(200);
    const schema = z.fromJSONSchema(jsonSchemaOf(operation('/token', 'post').responses['200']));
    const body = JSON.parse(result.body ?? '') as Record<string, unknown>;
    expect(schema.safeParse(body).error?.issues ?? []).toEqual([]);
    // Every field the handler sends is described, and no more is required than it sends.
    const documented = api.components.schemas.TokenResponse;
    expect(Object.keys(body).every((k) => k in documented.properties)).toBe(true);
    expect(documented.required.every((k: string) => k in body)).toBe(true);
    const headers = Object.fromEntries(
      Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    expect(headers['cache-control']).toBe(
      operation('/token', 'post').responses['200'].headers['Cache-Control'].schema.const,
    );
  });

  it('documents the GET /health 200 body the handler sends', async () => {
    const handler = createHealthHandler({ profiles: ['salesforce', 'docusign'], logger: silentLogger });
    const result = await handler(
      apiEvent({ routeKey: 'GET /health', userArn: 'arn:aws:iam::123456789012:role/billing-batch' }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(200);
    const schema = z.fromJSONSchema(jsonSchemaOf(operation('/health', 'get').responses['200']));
    expect(schema.safeParse(JSON.parse(result.body ?? '')).error?.issues ?? []).toEqual([]);
  });

  it('has examples that satisfy their own schemas', () => {
    const checked: string[] = [];
    for (const [path, item] of Object.entries<any>(api.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const request = op.requestBody?.content?.['application/json'];
        if (request?.example !== undefined) {
          expect(z.fromJSONSchema(request.schema).safeParse(request.example).success).toBe(true);
          checked.push(`${method} ${path} request`);
        }
        for (const [status, response] of Object.entries<any>(op.responses ?? {})) {
          const media = response.content?.['application/json'];
          if (media?.example === undefined) continue;
          const parsed = z.fromJSONSchema(media.schema).safeParse(media.example);
          expect(parsed.error?.issues ?? [], `${method} ${path} ${status} example`).toEqual([]);
          checked.push(`${method} ${path} ${status}`);
        }
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(8);
  });
});
