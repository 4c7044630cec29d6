/**
 * `certStore: kms:<key-id | key-arn | alias/name>`: a signing key held in AWS KMS.
 *
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id
 */

/** A parsed `kms:` reference. */
export interface KmsKeyReference {
  /** What KMS's `KeyId` parameter gets: the id, ARN or `alias/name` as written. */
  readonly keyId: string;
  /** The region named by an ARN; undefined means the function's own region. */
  readonly region: string | undefined;
}

export const KMS_PREFIX = 'kms:';

const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/i;
const ALIAS = /^alias\/[A-Za-z0-9/_-]{1,250}$/;
const ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/;

/** True when a `certStore` value names a KMS key. */
export function isKmsReference(value: string): boolean {
  return value.startsWith(KMS_PREFIX);
}

/**
 * Parses a `kms:` reference.
 *
 * @returns the reference, or a one-line problem (with the fix) when it is malformed.
 */
export function parseKmsReference(value: string): KmsKeyReference | string {
  const keyId = value.slice(KMS_PREFIX.length);
  const arn = ARN.exec(keyId);
  if (arn) {
    const rest = arn[3]!;
    if (rest.startsWith('key/') ? KEY_ID.test(rest.slice(4)) : ALIAS.test(rest))
      return { keyId, region: arn[1] };
  } else if (KEY_ID.test(keyId) || (ALIAS.test(keyId) && !keyId.startsWith('alias/aws/'))) {
    return { keyId, region: undefined };
  }
  return `"${value}" is not a KMS key reference; write kms:<key id>, kms:<key ARN>, kms:<alias ARN> or kms:alias/<name>`;
}
