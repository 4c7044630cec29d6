/**
 * A loopback AWS KMS speaking the service's JSON 1.1 protocol (`X-Amz-Target:
 * TrentService.<Operation>`, `application/x-amz-json-1.1`, blobs in base64, errors as
 * `{"__type": ...}` with status 400) for `GetPublicKey`, `Sign` and `DescribeKey`. It signs
 * with local keys exactly as KMS documents: RAW messages are hashed by the server, DIGEST
 * messages are signed as given (RSASSA-PKCS1-v1_5 and RSASSA-PSS with a salt as long as the
 * hash), ECDSA signatures are DER.
 *
 * @see https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html
 */
import {
  constants,
  createHash,
  generateKeyPairSync,
  privateEncrypt,
  randomBytes,
  randomUUID,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export const KMS_REGION = 'us-east-1';
export const KMS_ACCOUNT = '111122223333';

export type KeySpec =
  'RSA_2048' | 'RSA_3072' | 'RSA_4096' | 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'ECC_NIST_P521';

/** One key the server holds. */
export interface LoopbackKey {
  readonly keyId: string;
  readonly arn: string;
  readonly spec: KeySpec;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  state: 'Enabled' | 'Disabled' | 'PendingDeletion';
  /** `kms:Sign` / `kms:GetPublicKey` answer AccessDeniedException. */
  denied: boolean;
}

/** One KMS error to answer instead of the next request(s). */
export interface InjectedFault {
  readonly type: string;
  readonly status: number;
}

/** Where the server's keys live (their ARNs); default {@link KMS_REGION}, {@link KMS_ACCOUNT}. */
export interface KmsServerOptions {
  readonly region?: string;
  readonly account?: string;
}

export interface KmsServer {
  readonly url: string;
  /** Adds a key (`alias` as `alias/name`, optional; `keyId` default a new UUID). */
  createKey(spec: KeySpec, alias?: string, keyId?: string): LoopbackKey;
  /** The key `keyId` (id, key ARN, alias name or alias ARN) names: its ARN and aliases; else undefined. */
  describe(keyId: string): { readonly arn: string; readonly aliases: readonly string[] } | undefined;
  /** Calls per operation, e.g. `calls.Sign`. */
  readonly calls: Record<string, number>;
  /** Message types of the Sign calls, in order. */
  readonly messageTypes: string[];
  /** The next `count` requests answer `fault`. */
  fail(fault: InjectedFault, count?: number): void;
  close(): Promise<void>;
}

const HASHES: Record<string, 'sha256' | 'sha384' | 'sha512'> = {
  '256': 'sha256',
  '384': 'sha384',
  '512': 'sha512',
};
const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};
const CURVES: Record<string, string> = {
  ECC_NIST_P256: 'P-256',
  ECC_NIST_P384: 'P-384',
  ECC_NIST_P521: 'P-521',
};

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function algorithmsOf(spec: KeySpec): string[] {
  if (spec.startsWith('RSA_'))
    return ['256', '384', '512'].flatMap((n) => [`RSASSA_PSS_SHA_${n}`, `RSASSA_PKCS1_V1_5_SHA_${n}`]);
  return [`ECDSA_SHA_${spec === 'ECC_NIST_P256' ? '256' : spec === 'ECC_NIST_P384' ? '384' : '512'}`];
}

function mgf1(seed: Buffer, length: number, hash: string): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * seed.length < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash(hash).update(seed).update(c).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

/** RSASSA-PSS over a digest (RFC 8017 §9.1.1 EMSA-PSS-ENCODE with sLen = hLen, then RSASP1). */
function pssSignDigest(key: KeyObject, digest: Buffer, hash: string): Buffer {
  const modBits = key.asymmetricKeyDetails!.modulusLength!;
  const k = Math.ceil(modBits / 8);
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = digest.length;
  const salt = randomBytes(hLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(h, db.length, hash);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([Buffer.alloc(k - emLen), db, h, Buffer.from([0xbc])]);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, em);
}

function signWith(key: LoopbackKey, message: Buffer, type: string, algorithm: string): Buffer {
  if (!algorithmsOf(key.spec).includes(algorithm))
    throw new KmsFault('InvalidKeyUsageException', `${algorithm} is not valid for key ${key.arn}`);
  const hash = HASHES[algorithm.slice(-3)]!;
  if (type === 'DIGEST') {
    if (message.length !== createHash(hash).digest().length)
      throw new KmsFault('ValidationException', 'Digest is invalid length for algorithm');
    if (algorithm.startsWith('RSASSA_PKCS1'))
      return privateEncrypt(
        { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING },
        Buffer.concat([Buffer.from(DIGEST_INFO[hash]!, 'hex'), message]),
      );
    if (algorithm.startsWith('RSASSA_PSS')) return pssSignDigest(key.privateKey, message, hash);
    throw new KmsFault('UnsupportedOperationException', 'this loopback KMS signs ECDSA digests only as RAW');
  }
  if (message.length > 4096) throw new KmsFault('ValidationException', 'Message exceeds 4096 bytes');
  if (algorithm.startsWith('RSASSA_PSS'))
    return cryptoSign(hash, message, {
      key: key.privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
  return cryptoSign(hash, message, key.privateKey);
}

/** Starts the loopback KMS on 127.0.0.1. */
export async function startKmsServer(options: KmsServerOptions = {}): Promise<KmsServer> {
  const region = options.region ?? KMS_REGION;
  const account = options.account ?? KMS_ACCOUNT;
  const keys = new Map<string, LoopbackKey>();
  const aliases = new Map<string, string>();
  const calls: Record<string, number> = {};
  const messageTypes: string[] = [];
  const faults: InjectedFault[] = [];

  function find(keyId: unknown): LoopbackKey {
    const id = String(keyId);
    const alias = /^(?:arn:aws:kms:[^:]+:\d+:)?(alias\/.+)$/.exec(id)?.[1];
    const resolved = alias ? aliases.get(alias) : /^(?:arn:aws:kms:[^:]+:\d+:key\/)?(.+)$/.exec(id)?.[1];
    const key = resolved === undefined ? undefined : keys.get(resolved);
    if (!key) throw new KmsFault('NotFoundException', `Key '${id}' does not exist`);
    return key;
  }

  function usable(key: LoopbackKey, operation: string): void {
    if (key.denied) throw new KmsFault('AccessDeniedException', `not authorized to perform kms:${operation}`);
    if (key.state === 'Disabled' && operation === 'Sign')
      throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
    if (key.state === 'PendingDeletion' && operation !== 'DescribeKey')
      throw new KmsFault('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  }

  function handle(operation: string, body: Record<string, unknown>): unknown {
    const key = find(body['KeyId']);
    usable(key, operation);
    switch (operation) {
      case 'GetPublicKey':
        return {
          KeyId: key.arn,
          KeySpec: key.spec,
          CustomerMasterKeySpec: key.spec,
          KeyUsage: 'SIGN_VERIFY',
          SigningAlgorithms: algorithmsOf(key.spec),
          PublicKey: key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
        };
      case 'Sign': {
        const type = String(body['MessageType'] ?? 'RAW');
        messageTypes.push(type);
        const message = Buffer.from(String(body['Message']), 'base64');
        const algorithm = String(body['SigningAlgorithm']);
        return {
          KeyId: key.arn,
          SigningAlgorithm: algorithm,
          Signature: signWith(key, message, type, algorithm).toString('base64'),
        };
      }
      case 'DescribeKey':
        return {
          KeyMetadata: {
            AWSAccountId: account,
            KeyId: key.keyId,
            Arn: key.arn,
            Enabled: key.state === 'Enabled',
            KeyState: key.state,
            KeySpec: key.spec,
            KeyUsage: 'SIGN_VERIFY',
            SigningAlgorithms: algorithmsOf(key.spec),
          },
        };
      default:
        throw new KmsFault('UnknownOperationException', `unsupported operation ${operation}`);
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target;
      calls[operation] = (calls[operation] ?? 0) + 1;
      const reply = (status: number, value: unknown, type?: string) => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': randomUUID(),
          ...(type && { 'x-amzn-errortype': type }),
        });
        res.end(JSON.stringify(value));
      };
      const fault = faults.shift();
      if (fault) return reply(fault.status, { __type: fault.type, message: 'injected' }, fault.type);
      try {
        reply(200, handle(operation, JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')));
      } catch (err) {
        if (!(err instanceof KmsFault)) throw err;
        reply(400, { __type: err.type, message: err.message }, err.type);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    messageTypes,
    createKey(spec, alias, keyId = randomUUID()) {
      const pair = spec.startsWith('RSA_')
        ? generateKeyPairSync('rsa', { modulusLength: Number(spec.slice(4)) })
        : generateKeyPairSync('ec', { namedCurve: CURVES[spec]! });
      const key: LoopbackKey = {
        keyId,
        arn: `arn:aws:kms:${region}:${account}:key/${keyId}`,
        spec,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        state: 'Enabled',
        denied: false,
      };
      keys.set(keyId, key);
      if (alias) aliases.set(alias, keyId);
      return key;
    },
    describe(keyId) {
      try {
        const key = find(keyId);
        const names = [...aliases].filter(([, id]) => id === key.keyId).map(([alias]) => alias);
        return { arn: key.arn, aliases: names };
      } catch {
        return undefined;
      }
    },
    fail(fault, count = 1) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
