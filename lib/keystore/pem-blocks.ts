import { KeystoreError } from '../errors.ts';

/** One `-----BEGIN label-----` … `-----END label-----` block (RFC 7468 §2). */
export interface PemBlock {
  readonly label: string;
  /** RFC 1421 headers such as `Proc-Type` and `DEK-Info` (legacy OpenSSL encryption). */
  readonly headers: Readonly<Record<string, string>>;
  /** The decoded body. */
  readonly der: Uint8Array;
  /** The block exactly as written, for Node's PEM decoder. */
  readonly text: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Splits PEM text into its blocks and decodes each body strictly, so a damaged block is
 * reported here rather than as an obscure decoder error later.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` for a block without its END line, a
 *   mismatched END label or a body that is not base64.
 * @see https://www.rfc-editor.org/rfc/rfc7468#section-2
 */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [whole, label, body, endLabel] = match as unknown as [string, string, string, string];
    if (label !== endLabel)
      throw damaged(label, `ends with 'END ${endLabel}' (truncated or two files run together)`);
    const headers: Record<string, string> = {};
    const lines = body.split(/\r?\n/);
    let i = 0;
    for (; i < lines.length && lines[i]!.includes(':'); i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
    }
    const base64 = lines.slice(i).join('').replace(/\s+/g, '');
    if (!BASE64.test(base64) || base64.length % 4 !== 0)
      throw damaged(label, 'is not valid base64 (damaged or truncated)');
    blocks.push({ label, headers, der: Buffer.from(base64, 'base64'), text: whole });
  }
  const begins = text.match(/-----BEGIN [A-Z0-9 ]+-----/g)?.length ?? 0;
  if (begins !== blocks.length)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      'a PEM block has no matching END line (the file is truncated); copy the whole file again',
    );
  return blocks;
}

function damaged(label: string, what: string): KeystoreError {
  return new KeystoreError('ERR_KEYSTORE_FORMAT', `PEM block '${label}' ${what}; copy the file again`);
}

/**
 * Reads a certificate given beside a key: PEM (one or more CERTIFICATE blocks) or DER.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` when it holds no certificate.
 */
export function certificateInput(input: Uint8Array | string): Uint8Array[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
  if (bytes[0] === 0x30) return [bytes];
  const blocks = pemBlocks(bytes.toString('utf8')).filter((block) => /CERTIFICATE$/.test(block.label));
  if (blocks.length === 0)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      'the certificate option holds no certificate; give a PEM (BEGIN CERTIFICATE) or DER certificate',
    );
  return blocks.map((block) => block.der);
}
