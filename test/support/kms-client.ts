import { kmsApiFactory } from '../../lib/aws/kms.ts';
import type { KmsApiFactory } from '../../lib/aws/kms.ts';

/** The real SDK KMS client against a local endpoint (loopback server or moto), fixed credentials. */
export function localKms(endpoint: string, region = 'us-east-1'): KmsApiFactory {
  return kmsApiFactory({
    endpoint,
    region,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
}
