import {
  type Asn1,
  Asn1Error,
  CONTEXT_0,
  OCTET_STRING,
  SET,
  children,
  explicit,
  expect,
  octets,
  oid,
  readElement,
  sequence,
  text,
} from './asn1.ts';

/** Bag types (RFC 7292 §4.2). */
const KEY_BAG = '1.2.840.113549.1.12.10.1.1';
const SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const SECRET_BAG = '1.2.840.113549.1.12.10.1.5';
const SAFE_CONTENTS_BAG = '1.2.840.113549.1.12.10.1.6';
const X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';

/** Attributes (RFC 2985 §5.5.1, §5.5.2) and Java's trusted-certificate marker. */
const FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const JAVA_TRUSTED_KEY_USAGE = '2.16.840.1.113894.746875.1.1';

const MAX_NESTING = 8;

/** One SafeBag the parser uses. */
export interface Pkcs12Bag {
  /** `key`: PrivateKeyInfo; `shrouded-key`: EncryptedPrivateKeyInfo; `cert`: X.509 DER; `secret`: SecretBag value. */
  readonly type: 'key' | 'shrouded-key' | 'cert' | 'secret';
  readonly value: Uint8Array;
  readonly friendlyName: string | undefined;
  /** localKeyId as hex, pairing a key with its certificate. */
  readonly localKeyId: string | undefined;
  /** Java marks trusted-certificate entries with an attribute of its own. */
  readonly trusted: boolean;
}

function attributes(el: Asn1 | undefined): Pick<Pkcs12Bag, 'friendlyName' | 'localKeyId' | 'trusted'> {
  let friendlyName: string | undefined;
  let localKeyId: string | undefined;
  let trusted = false;
  if (el) {
    for (const attribute of children(expect(el, SET, 'PKCS#12 bag attributes'), 'PKCS#12 bag attributes')) {
      const [idEl, valuesEl] = sequence(attribute, 'PKCS#12 bag attribute');
      const id = oid(idEl, 'PKCS#12 bag attribute');
      const values = children(
        expect(valuesEl, SET, 'PKCS#12 bag attribute values'),
        'PKCS#12 bag attribute values',
      );
      if (id === FRIENDLY_NAME && values[0]) friendlyName = text(values[0], 'PKCS#12 friendlyName');
      else if (id === LOCAL_KEY_ID && values[0])
        localKeyId = Buffer.from(octets(values[0], 'PKCS#12 localKeyId')).toString('hex');
      else if (id === JAVA_TRUSTED_KEY_USAGE) trusted = true;
    }
  }
  return { friendlyName, localKeyId, trusted };
}

/**
 * Reads a SafeContents (`SEQUENCE OF SafeBag`), descending into nested safeContentsBags.
 * Bags of other types (CRLs, SDSI certificates, unknown ones) are skipped.
 *
 * @throws Asn1Error when the structure is malformed.
 * @see https://www.rfc-editor.org/rfc/rfc7292#section-4.2
 */
export function readSafeContents(bytes: Uint8Array, depth = 0): Pkcs12Bag[] {
  if (depth > MAX_NESTING) throw new Asn1Error('PKCS#12 safe contents are nested too deeply');
  const bags: Pkcs12Bag[] = [];
  for (const safeBag of sequence(readElement(bytes, 'PKCS#12 SafeContents'), 'PKCS#12 SafeContents')) {
    const [idEl, valueEl, attributesEl] = sequence(safeBag, 'PKCS#12 SafeBag');
    const id = oid(idEl, 'PKCS#12 SafeBag type');
    const value = explicit(valueEl, CONTEXT_0, 'PKCS#12 SafeBag value');
    const common = () => attributes(attributesEl);
    switch (id) {
      case KEY_BAG:
        bags.push({ type: 'key', value: value.raw, ...common() });
        break;
      case SHROUDED_KEY_BAG:
        bags.push({ type: 'shrouded-key', value: value.raw, ...common() });
        break;
      case CERT_BAG: {
        const [certId, certValue] = sequence(value, 'PKCS#12 CertBag');
        if (oid(certId, 'PKCS#12 certificate type') !== X509_CERTIFICATE) break;
        const der = octets(explicit(certValue, CONTEXT_0, 'PKCS#12 certificate'), 'PKCS#12 certificate');
        bags.push({ type: 'cert', value: der, ...common() });
        break;
      }
      case SECRET_BAG:
        bags.push({ type: 'secret', value: value.raw, ...common() });
        break;
      case SAFE_CONTENTS_BAG:
        bags.push(...readSafeContents(value.raw, depth + 1));
        break;
      default:
        break;
    }
  }
  return bags;
}

/** An EncryptedPrivateKeyInfo (RFC 5958 §3): the encryption AlgorithmIdentifier and the data. */
export function readEncryptedKey(bytes: Uint8Array): { algorithm: Asn1; data: Uint8Array } {
  const [algorithm, data] = sequence(readElement(bytes, 'PKCS#12 encrypted key'), 'PKCS#12 encrypted key');
  expect(algorithm, 0x30, 'PKCS#12 key encryption algorithm');
  return { algorithm: algorithm!, data: octets(data, 'PKCS#12 encrypted key data', [OCTET_STRING]) };
}

/**
 * The algorithm OID of a PrivateKeyInfo (RFC 5958 §2), checking its outline: a decryption
 * with the wrong password rarely yields this shape even when the padding happens to fit.
 *
 * @throws Asn1Error when the bytes are not a PrivateKeyInfo.
 */
export function privateKeyInfoAlgorithm(bytes: Uint8Array): string {
  const [version, algorithm, key] = sequence(readElement(bytes, 'PrivateKeyInfo'), 'PrivateKeyInfo');
  expect(version, 0x02, 'PrivateKeyInfo version');
  octets(key, 'PrivateKeyInfo key');
  return oid(sequence(algorithm, 'PrivateKeyInfo algorithm')[0], 'PrivateKeyInfo algorithm');
}
