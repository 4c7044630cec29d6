/**
 * A self-signed X.509 certificate (RFC 5280) or a PKCS#10 request (RFC 2986) for a key
 * whose signature is made by a {@link KmsSigner}: the provider (DocuSign, Salesforce,
 * Entra) gets the certificate, the private key never leaves KMS.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1
 * @see https://www.rfc-editor.org/rfc/rfc2986#section-4
 */
import { createHash, randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import type { JwsAlgorithm } from '../keystore/types.ts';
import * as der from './der-writer.ts';
import type { KmsSigner } from './kms.ts';

/** Longest validity `--days` accepts. */
export const MAX_CERTIFICATE_DAYS = 3650;
/** Validity when none is asked for. */
export const DEFAULT_CERTIFICATE_DAYS = 365;

const ATTRIBUTES: Readonly<Record<string, { readonly oid: string; readonly encode: (v: string) => Buffer }>> =
  {
    CN: { oid: '2.5.4.3', encode: der.utf8String },
    O: { oid: '2.5.4.10', encode: der.utf8String },
    OU: { oid: '2.5.4.11', encode: der.utf8String },
    L: { oid: '2.5.4.7', encode: der.utf8String },
    ST: { oid: '2.5.4.8', encode: der.utf8String },
    C: { oid: '2.5.4.6', encode: der.printableString },
    EMAILADDRESS: { oid: '1.2.840.113549.1.9.1', encode: der.ia5String },
  };

const HASH_OIDS: Readonly<Record<string, string>> = {
  '256': '2.16.840.1.101.3.4.2.1',
  '384': '2.16.840.1.101.3.4.2.2',
  '512': '2.16.840.1.101.3.4.2.3',
};

/** The signature AlgorithmIdentifier of a JWS algorithm (RFC 4055 §3.1, RFC 5758 §3.2). */
export function signatureAlgorithm(algorithm: JwsAlgorithm): Buffer {
  const bits = algorithm.slice(2);
  if (algorithm.startsWith('RS'))
    return der.sequence(
      der.oid(`1.2.840.113549.1.1.${{ '256': 11, '384': 12, '512': 13 }[bits]}`),
      der.nullValue(),
    );
  if (algorithm.startsWith('ES'))
    return der.sequence(der.oid(`1.2.840.10045.4.3.${{ '256': 2, '384': 3, '512': 4 }[bits]}`));
  if (algorithm.startsWith('PS')) {
    const hash = der.sequence(der.oid(HASH_OIDS[bits]!), der.nullValue());
    return der.sequence(
      der.oid('1.2.840.113549.1.1.10'),
      der.sequence(
        der.explicit(0, hash),
        der.explicit(1, der.sequence(der.oid('1.2.840.113549.1.1.8'), hash)),
        der.explicit(2, der.integer(Number(bits) / 8)),
      ),
    );
  }
  throw new TypeError(`no X.509 signature algorithm for ${algorithm}`);
}

/**
 * Encodes a subject written as `CN=name, O=org, C=US` (attributes CN, O, OU, L, ST, C,
 * emailAddress; `\,` for a comma in a value), in the order written.
 *
 * @throws ConfigError `ERR_CONFIG` for an empty subject, an unknown attribute or an empty value.
 */
export function encodeName(subject: string): Buffer {
  const parts = subject
    .split(/(?<!\\),/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0 || subject.length > 1024)
    throw new ConfigError(
      'ERR_CONFIG',
      'the subject is empty or too long; write it as --subject "CN=name, O=org"',
    );
  return der.sequence(
    ...parts.map((part) => {
      const eq = part.indexOf('=');
      const type = ATTRIBUTES[part.slice(0, eq).trim().toUpperCase()];
      const value = part
        .slice(eq + 1)
        .trim()
        .replace(/\\,/g, ',');
      if (eq <= 0 || type === undefined || value === '')
        throw new ConfigError(
          'ERR_CONFIG',
          `subject part "${part.slice(0, 40)}" is not ATTR=value with ATTR one of CN, O, OU, L, ST, C, emailAddress`,
        );
      if (type.oid === '2.5.4.6' && !/^[A-Z]{2}$/.test(value))
        throw new ConfigError(
          'ERR_CONFIG',
          `subject country "${value.slice(0, 8)}" must be two capital letters`,
        );
      return der.set(der.sequence(der.oid(type.oid), type.encode(value)));
    }),
  );
}

function pem(label: string, bytes: Uint8Array): string {
  const body = Buffer.from(bytes)
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** What {@link kmsCertificate} needs. */
export interface KmsCertificateInput {
  readonly signer: KmsSigner;
  /** `CN=…, O=…`; issuer and subject of a self-signed certificate. */
  readonly subject: string;
  /** Validity in days from `now`; default {@link DEFAULT_CERTIFICATE_DAYS}. */
  readonly days?: number;
  readonly now?: Date;
  /** A PKCS#10 request instead of a certificate. */
  readonly csr?: boolean;
}

/**
 * A PEM certificate (or `CERTIFICATE REQUEST`) for the KMS key, signed by KMS with the
 * signer's algorithm. The certificate is v3 with basicConstraints CA:FALSE, keyUsage
 * digitalSignature and a subjectKeyIdentifier; its serial is 16 random octets.
 *
 * @throws ConfigError `ERR_CONFIG` for a bad subject or `days`; the signer's `ERR_KMS_*`.
 */
export async function kmsCertificate(input: KmsCertificateInput): Promise<string> {
  const { signer } = input;
  const days = input.days ?? DEFAULT_CERTIFICATE_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_CERTIFICATE_DAYS)
    throw new ConfigError('ERR_CONFIG', `--days must be a whole number from 1 to ${MAX_CERTIFICATE_DAYS}`);
  const name = encodeName(input.subject);
  const spki = Buffer.from(signer.publicKey);
  const algorithm = signatureAlgorithm(signer.jwsAlgorithm);
  let body: Buffer;
  if (input.csr) {
    body = der.sequence(der.integer(0), name, spki, der.tlv(0xa0));
  } else {
    const now = input.now ?? new Date();
    const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
    const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
    const serial = randomBytes(16);
    serial[0]! &= 0x7f;
    serial[0]! |= 0x01;
    // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's value.
    const keyId = createHash('sha1').update(spkiKeyBits(spki)).digest();
    const extensions = der.explicit(
      3,
      der.sequence(
        der.sequence(der.oid('2.5.29.19'), der.boolean(true), der.octetString(der.sequence())),
        der.sequence(
          der.oid('2.5.29.15'),
          der.boolean(true),
          der.octetString(der.tlv(0x03, Buffer.from([7, 0x80]))),
        ),
        der.sequence(der.oid('2.5.29.14'), der.octetString(der.octetString(keyId))),
      ),
    );
    body = der.sequence(
      der.explicit(0, der.integer(2)),
      der.integer(serial),
      algorithm,
      name,
      der.sequence(der.time(notBefore), der.time(notAfter)),
      name,
      spki,
      extensions,
    );
  }
  const signature = await signer.signNative(signer.jwsAlgorithm, body);
  return pem(
    input.csr ? 'CERTIFICATE REQUEST' : 'CERTIFICATE',
    der.sequence(body, algorithm, der.bitString(signature)),
  );
}

/** The subjectPublicKey bits of a SubjectPublicKeyInfo (its final BIT STRING, without the unused-bits octet). */
function spkiKeyBits(spki: Buffer): Buffer {
  let offset = 1;
  const lengthOf = (at: number): [number, number] => {
    const first = spki[at]!;
    if (first < 0x80) return [first, at + 1];
    const n = first & 0x7f;
    return [spki.subarray(at + 1, at + 1 + n).reduce((a, b) => a * 256 + b, 0), at + 1 + n];
  };
  [, offset] = lengthOf(offset);
  const [algLength, algStart] = lengthOf(offset + 1);
  const bits = algStart + algLength;
  const [bitsLength, bitsStart] = lengthOf(bits + 1);
  return spki.subarray(bitsStart + 1, bitsStart + bitsLength);
}
