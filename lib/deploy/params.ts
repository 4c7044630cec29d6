/**
 * serverless params that name AWS resources, parsed and checked at package time.
 */
import { ConfigError } from '../errors.ts';
import { KMS_PREFIX, parseKmsReference } from '../signer/kms-reference.ts';

/**
 * `secretsKmsKeys`: the customer-managed KMS keys that encrypt the profiles' secrets, as
 * key ids, key ARNs or aliases separated by commas or spaces; empty for none (secrets
 * under the AWS managed key `aws/secretsmanager` need no grant).
 *
 * @throws ConfigError `ERR_CONFIG` naming an entry that is not a key id, key ARN or alias.
 */
export function parseKeyList(text: string): string[] {
  const keys: string[] = [];
  for (const entry of text.split(/[\s,]+/).filter((e) => e !== '')) {
    if (typeof parseKmsReference(`${KMS_PREFIX}${entry}`) === 'string')
      throw new ConfigError(
        'ERR_CONFIG',
        `secretsKmsKeys: "${entry}" is not a KMS key id, key ARN or alias; pass --param="secretsKmsKeys=arn:aws:kms:<region>:<account>:key/<id>" (several separated by commas)`,
      );
    keys.push(entry);
  }
  return keys;
}
