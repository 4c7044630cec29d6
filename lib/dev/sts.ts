/**
 * A loopback AWS STS for `GetWebIdentityToken` (outbound identity federation) speaking the
 * service's query protocol as `@aws-sdk/client-sts` sends and parses it: a form body
 * (`Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.1=…`), an XML answer, and
 * errors as `<ErrorResponse>` with the HTTP status and `Code` the SDK maps to its exception
 * classes. Beside it runs the account's token issuer: OIDC discovery and a JWKS of the keys
 * that sign the JWTs (RS256 with RSA 2048, ES384 with P-384).
 *
 * The JWT carries the claims AWS documents: `iss`, `sub` (the caller's role ARN), `aud` (a
 * string for one audience, an array for several), `iat`, `exp` (= `iat` + duration), `jti`, and
 * under the `https://sts.amazonaws.com/` namespace `aws_account`, `source_region` and
 * `request_tags`.
 *
 * A development peer, like the authorization server: `npm run rehearse` puts it behind the
 * IAM gateway of the packaged stack, with the role of each function's credentials as `sub`
 * ({@link StsServerOptions.principalOf}); the tests use it directly.
 *
 * @see https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_token_claims.html
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface StsServerOptions {
  /** Role ARN per SigV4 access key id; default: any key id → DEFAULT_ROLE_ARN. */
  readonly principals?: Readonly<Record<string, string>>;
  /**
   * The role ARN a SigV4 access key id signs as, where a table cannot be written ahead (a
   * packaged stack's functions get their credentials when they start); before `principals`.
   */
  readonly principalOf?: (accessKeyId: string) => string | undefined;
  readonly clock?: () => number; // ms, default Date.now
  /** Replaces each answer before it is sent (a token or `Expiration` STS should never give). */
  readonly answer?: (issued: { token: string; expiration: Date }) => { token: string; expiration: Date };
}

export const DEFAULT_ROLE_ARN = 'arn:aws:iam::123456789012:role/token-broker-test';

/** One well-formed `GetWebIdentityToken` request, whether it answered a token or an injected fault. */
export interface WebIdentityCall {
  readonly audience: readonly string[];
  readonly signingAlgorithm: string;
  readonly durationSeconds: number | undefined;
  readonly tags: Readonly<Record<string, string>>;
  readonly principal: string; // the role ARN the request was signed as
}

export type StsFault =
  | 'OutboundWebIdentityFederationDisabled'
  | 'AccessDenied'
  | 'Throttling'
  | 'RegionDisabled'
  | 'JWTPayloadSizeExceeded'
  | 'SessionDurationEscalation'
  | 'InternalFailure';

export interface StsServer {
  readonly endpoint: string; // http://127.0.0.1:<port> — STS query protocol (POST /, form body)
  readonly issuer: string; // http://127.0.0.1:<port2> — OIDC discovery + JWKS of the signing keys
  readonly calls: WebIdentityCall[];
  /** Every later GetWebIdentityToken fails with `fault` (`times` of them, default all); undefined clears. */
  fail(fault: StsFault | undefined, times?: number): void;
  /** Rotates the issuer's signing keys (new kid; the JWKS serves old and new). */
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}

/** The claims namespace AWS nests its own claims under. */
export const AWS_CLAIMS_NAMESPACE = 'https://sts.amazonaws.com/';

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ALGORITHMS = ['RS256', 'ES384'] as const;
type Algorithm = (typeof ALGORITHMS)[number];

/** Code and status per fault, as the SDK model's `awsQueryError` traits name them. */
const FAULTS: Record<
  StsFault,
  { code: string; status: number; type: 'Sender' | 'Receiver'; message: string }
> = {
  OutboundWebIdentityFederationDisabled: {
    code: 'OutboundWebIdentityFederationDisabledException',
    status: 403,
    type: 'Sender',
    message: 'Outbound web identity federation is disabled for this account.',
  },
  AccessDenied: {
    code: 'AccessDenied',
    status: 403,
    type: 'Sender',
    message: 'User is not authorized to perform: sts:GetWebIdentityToken',
  },
  Throttling: { code: 'Throttling', status: 400, type: 'Sender', message: 'Rate exceeded' },
  RegionDisabled: {
    code: 'RegionDisabledException',
    status: 403,
    type: 'Sender',
    message:
      'STS is not activated in this region for account. Your account administrator can activate STS in this region using the IAM Console.',
  },
  JWTPayloadSizeExceeded: {
    code: 'JWTPayloadSizeExceededException',
    status: 400,
    type: 'Sender',
    message: 'The JWT payload exceeds the maximum size.',
  },
  SessionDurationEscalation: {
    code: 'SessionDurationEscalationException',
    status: 403,
    type: 'Sender',
    message: 'The requested token duration exceeds the remaining duration of the caller session.',
  },
  InternalFailure: {
    code: 'InternalFailure',
    status: 500,
    type: 'Receiver',
    message: 'The request processing has failed because of an unknown error.',
  },
};

class QueryError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

interface SigningKey {
  readonly alg: Algorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function newKey(alg: Algorithm): Promise<SigningKey> {
  const pair = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048 } : {});
  const publicJwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { alg, kid, privateKey: pair.privateKey, jwk: { ...publicJwk, kid, alg, use: 'sig' } };
}

const escapeXml = (s: string): string =>
  s.replace(/[<>&'"]/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[c]};`);

/** The access key id and region of a SigV4 `Authorization` header, else undefined. */
function credentialOf(req: IncomingMessage): { accessKeyId: string; region: string } | undefined {
  const match = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\/sts\/aws4_request/.exec(
    String(req.headers.authorization ?? ''),
  );
  return match ? { accessKeyId: match[1]!, region: match[2]! } : undefined;
}

const invalid = (message: string): QueryError => new QueryError('ValidationError', 400, message);

/** The `Name.member.N` list of a query body, in order of N. */
function members(form: URLSearchParams, name: string): string[] {
  const out: string[] = [];
  for (let n = 1; form.has(`${name}.member.${n}`); n++) out.push(form.get(`${name}.member.${n}`)!);
  return out;
}

/** Validates the request parameters with the constraints of the API reference. */
function parseRequest(form: URLSearchParams): Omit<WebIdentityCall, 'principal'> {
  const audience = members(form, 'Audience');
  if (audience.length === 0)
    throw invalid(
      "1 validation error detected: Value null at 'audience' failed to satisfy constraint: Member must not be null",
    );
  if (audience.length > 10)
    throw invalid(
      "1 validation error detected: Value at 'audience' failed to satisfy constraint: Member must have length less than or equal to 10",
    );
  if (audience.some((a) => a.length < 1 || a.length > 1000))
    throw invalid(
      "1 validation error detected: Value at 'audience' failed to satisfy constraint: Member must satisfy constraint: [Member must have length between 1 and 1000]",
    );
  const signingAlgorithm = form.get('SigningAlgorithm');
  if (signingAlgorithm === null)
    throw invalid(
      "1 validation error detected: Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null",
    );
  if (!(ALGORITHMS as readonly string[]).includes(signingAlgorithm))
    throw invalid(`Invalid signing algorithm: ${signingAlgorithm}. Valid values are RS256, ES384.`);
  const rawDuration = form.get('DurationSeconds');
  const durationSeconds = rawDuration === null ? undefined : Number(rawDuration);
  if (
    durationSeconds !== undefined &&
    !(Number.isInteger(durationSeconds) && durationSeconds >= 60 && durationSeconds <= 3600)
  )
    throw invalid(
      `1 validation error detected: Value '${rawDuration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 60 and 3600`,
    );
  const tags: Record<string, string> = {};
  for (let n = 1; form.has(`Tags.member.${n}.Key`); n++) {
    const key = form.get(`Tags.member.${n}.Key`)!;
    const value = form.get(`Tags.member.${n}.Value`);
    if (value === null)
      throw invalid(
        `1 validation error detected: Value null at 'tags.${n}.member.value' failed to satisfy constraint: Member must not be null`,
      );
    if (key.length < 1 || key.length > 128 || value.length > 256)
      throw invalid(
        `1 validation error detected: Value at 'tags.${n}.member' failed to satisfy constraint: Member must have length within limits`,
      );
    if (Object.hasOwn(tags, key)) throw invalid(`Duplicate tag keys found: ${key}`);
    tags[key] = value;
  }
  if (Object.keys(tags).length > 50)
    throw invalid(
      "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50",
    );
  return { audience, signingAlgorithm, durationSeconds, tags };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function stop(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the loopback STS and its token issuer, each on its own 127.0.0.1 port. */
export async function startStsServer(options: StsServerOptions = {}): Promise<StsServer> {
  const clock = options.clock ?? Date.now;
  const calls: WebIdentityCall[] = [];
  const retired: SigningKey[] = [];
  let current = { RS256: await newKey('RS256'), ES384: await newKey('ES384') };
  let fault: { fault: StsFault; left: number } | undefined;

  const issuerServer = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
      res.end(JSON.stringify(value));
    };
    if (req.method !== 'GET') return json(405, { message: 'Method Not Allowed' });
    if (path === '/.well-known/openid-configuration')
      return json(200, {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: [...ALGORITHMS],
        claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti', AWS_CLAIMS_NAMESPACE],
      });
    if (path === '/.well-known/jwks.json')
      return json(200, { keys: [current.RS256, current.ES384, ...retired].map((k) => k.jwk) });
    return json(404, { message: 'Not Found' });
  });
  const issuer = await listen(issuerServer);

  async function issue(call: WebIdentityCall, region: string): Promise<{ token: string; expiration: Date }> {
    const key = current[call.signingAlgorithm as Algorithm];
    const iat = Math.floor(clock() / 1000);
    const exp = iat + (call.durationSeconds ?? 300);
    const account = /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):/.exec(call.principal)?.[1];
    const token = await new SignJWT({
      [AWS_CLAIMS_NAMESPACE]: {
        ...(account && { aws_account: account }),
        source_region: region,
        ...(Object.keys(call.tags).length > 0 && { request_tags: call.tags }),
      },
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(call.principal)
      .setAudience(call.audience.length === 1 ? call.audience[0]! : [...call.audience])
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiration: new Date(exp * 1000) };
  }

  async function handle(req: IncomingMessage): Promise<string> {
    if (req.method !== 'POST')
      throw new QueryError('InvalidAction', 400, 'Only POST is supported by this endpoint');
    const form = new URLSearchParams(await readBody(req));
    const action = form.get('Action');
    if (action !== 'GetWebIdentityToken')
      throw new QueryError(
        'InvalidAction',
        400,
        `Could not find operation ${action ?? '(none)'} for version ${form.get('Version') ?? '(none)'}`,
      );
    if (form.get('Version') !== '2011-06-15')
      throw new QueryError(
        'InvalidAction',
        400,
        `Could not find operation ${action} for version ${form.get('Version') ?? '(none)'}`,
      );
    const credential = credentialOf(req);
    if (!credential)
      throw new QueryError('MissingAuthenticationToken', 403, 'Request is missing Authentication Token');
    const principal = options.principalOf
      ? options.principalOf(credential.accessKeyId)
      : options.principals
        ? options.principals[credential.accessKeyId]
        : DEFAULT_ROLE_ARN;
    if (principal === undefined)
      throw new QueryError(
        'InvalidClientTokenId',
        403,
        'The security token included in the request is invalid.',
      );
    const call: WebIdentityCall = { ...parseRequest(form), principal };
    calls.push(call);
    if (fault) {
      const { code, status, type, message } = FAULTS[fault.fault];
      if (--fault.left <= 0) fault = undefined;
      throw new QueryError(code, status, message, type);
    }
    const issued = await issue(call, credential.region);
    const { token, expiration } = options.answer ? options.answer(issued) : issued;
    return (
      `<GetWebIdentityTokenResponse xmlns="${XMLNS}"><GetWebIdentityTokenResult>` +
      `<WebIdentityToken>${token}</WebIdentityToken>` +
      `<Expiration>${expiration.toISOString().replace(/\.\d{3}Z$/, 'Z')}</Expiration>` +
      `</GetWebIdentityTokenResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
      `</GetWebIdentityTokenResponse>`
    );
  }

  function reply(res: ServerResponse, status: number, xml: string, requestId: string): void {
    res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
    res.end(xml);
  }

  const stsServer = createServer((req, res) => {
    const requestId = randomUUID();
    handle(req).then(
      (xml) => reply(res, 200, xml, requestId),
      (err: unknown) => {
        const e =
          err instanceof QueryError
            ? err
            : new QueryError('InternalFailure', 500, 'internal error', 'Receiver');
        reply(
          res,
          e.status,
          `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${e.type}</Type><Code>${e.code}</Code>` +
            `<Message>${escapeXml(e.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
          requestId,
        );
      },
    );
  });
  const endpoint = await listen(stsServer);

  return {
    endpoint,
    issuer,
    calls,
    fail(next, times = Infinity) {
      fault = next === undefined ? undefined : { fault: next, left: times };
    },
    async rotateKeys() {
      const next = { RS256: await newKey('RS256'), ES384: await newKey('ES384') };
      retired.unshift(current.RS256, current.ES384);
      current = next;
    },
    close: async () => {
      await Promise.all([stop(stsServer), stop(issuerServer)]);
    },
  };
}
