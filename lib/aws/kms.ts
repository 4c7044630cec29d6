/**
 * The three AWS KMS calls the broker makes, as a small interface over the SDK client, so
 * lib/signer stays testable with any KMS that speaks the wire protocol.
 *
 * @see https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html
 */
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import { createKmsClient, loadKmsSdk } from './sdk.ts';

/** KMS `MessageType`: the message itself, or its digest (hashed by the caller). */
export type KmsMessageType = 'RAW' | 'DIGEST';

/** What `GetPublicKey` says of a key. */
export interface KmsPublicKey {
  /** The key's ARN. */
  readonly keyId: string;
  /** `RSA_2048`, `ECC_NIST_P256`… */
  readonly keySpec: string;
  /** `SIGN_VERIFY` for a signing key. */
  readonly keyUsage: string;
  readonly signingAlgorithms: readonly string[];
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKey: Uint8Array;
}

/** What `DescribeKey` says of a key. */
export interface KmsKeyDescription {
  readonly keyId: string;
  /** `Enabled`, `Disabled`, `PendingDeletion`… */
  readonly keyState: string;
  readonly keySpec: string;
  readonly keyUsage: string;
}

/** The KMS calls of the signer, `health?deep=1` and the CLI. */
export interface KmsApi {
  getPublicKey(keyId: string): Promise<KmsPublicKey>;
  sign(
    keyId: string,
    message: Uint8Array,
    messageType: KmsMessageType,
    algorithm: string,
  ): Promise<Uint8Array>;
  describeKey(keyId: string): Promise<KmsKeyDescription>;
}

/** Builds the {@link KmsApi} of one region (undefined: the ambient one). */
export type KmsApiFactory = (region: string | undefined) => Promise<KmsApi>;

/** A {@link KmsApi} over an SDK client. */
export async function kmsApi(client: KMSClient): Promise<KmsApi> {
  const { GetPublicKeyCommand, SignCommand, DescribeKeyCommand } = await loadKmsSdk();
  return {
    async getPublicKey(keyId) {
      const out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
      return {
        keyId: out.KeyId ?? keyId,
        // CustomerMasterKeySpec is the deprecated name some emulators still answer with.
        keySpec: out.KeySpec ?? out.CustomerMasterKeySpec ?? '',
        keyUsage: out.KeyUsage ?? '',
        signingAlgorithms: out.SigningAlgorithms ?? [],
        publicKey: out.PublicKey ?? new Uint8Array(),
      };
    },
    async sign(keyId, message, messageType, algorithm) {
      const out = await client.send(
        new SignCommand({
          KeyId: keyId,
          Message: message,
          MessageType: messageType,
          SigningAlgorithm: algorithm as 'ECDSA_SHA_256',
        }),
      );
      if (out.Signature === undefined) throw new TypeError('KMS answered Sign without a Signature');
      return out.Signature;
    },
    async describeKey(keyId) {
      const out = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
      const meta = out.KeyMetadata;
      return {
        keyId: meta?.Arn ?? meta?.KeyId ?? keyId,
        keyState: meta?.KeyState ?? '',
        keySpec: meta?.KeySpec ?? meta?.CustomerMasterKeySpec ?? '',
        keyUsage: meta?.KeyUsage ?? '',
      };
    },
  };
}

/** A factory of {@link KmsApi}s over SDK clients, one per region, built on first use. */
export function kmsApiFactory(config: KMSClientConfig = {}): KmsApiFactory {
  const apis = new Map<string, Promise<KmsApi>>();
  return (region) => {
    const key = region ?? '';
    let api = apis.get(key);
    if (api === undefined) {
      api = createKmsClient({ ...config, ...(region !== undefined && { region }) }).then(kmsApi);
      api.catch(() => apis.delete(key));
      apis.set(key, api);
    }
    return api;
  };
}
