/**
 * `sts:GetWebIdentityToken` for the roles whose code asks STS for the function's web
 * identity JWT (keyless profiles, lib/signer/web-identity.ts), held to the profiles'
 * values by the condition keys STS offers. Nothing when no profile uses web identity.
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound.html
 * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html
 */
import type { BrokerConfig } from '../config/types.ts';
import type { Statement } from './policies.ts';
import type { RoleFunction } from './secret-reads.ts';

/**
 * The functions that obtain tokens from upstream: the token exchange and the schedule.
 * The health check opens no key material of a keyless profile and calls no STS.
 */
export const WEB_IDENTITY_FUNCTIONS: readonly RoleFunction[] = ['token', 'refresh'];

/** What the profiles ask STS for, together. */
export interface WebIdentityUse {
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  /** The longest `webIdentity.lifetime`, seconds. */
  readonly maxLifetime: number;
  /** The keys of the profiles' `webIdentity.tags`; empty when no profile tags its JWT. */
  readonly tagKeys: readonly string[];
}

/** The audiences, algorithms and longest lifetime of the profiles with `webIdentity`; undefined when none has it. */
export function webIdentityUse(config: BrokerConfig): WebIdentityUse | undefined {
  const audiences = new Set<string>();
  const algorithms = new Set<string>();
  const tagKeys = new Set<string>();
  let maxLifetime = 0;
  for (const profile of Object.values(config.profiles)) {
    const settings = profile.webIdentity;
    if (settings === undefined) continue;
    for (const audience of settings.audience) audiences.add(audience);
    algorithms.add(settings.algorithm);
    maxLifetime = Math.max(maxLifetime, settings.lifetime);
    for (const key of Object.keys(settings.tags)) tagKeys.add(key);
  }
  if (audiences.size === 0) return undefined;
  return {
    audiences: [...audiences].sort(),
    algorithms: [...algorithms].sort(),
    maxLifetime,
    tagKeys: [...tagKeys].sort(),
  };
}

/**
 * `sts:GetWebIdentityToken` on `*` (the action has no resource type) when the request
 * names audiences (`Null`: a `ForAllValues` condition alone also holds for a request
 * without the key) and every one is one of the profiles' (`ForAllValues:StringEquals
 * sts:IdentityTokenAudience`), the lifetime is at most the longest profile's
 * (`NumericLessThanEquals sts:DurationSeconds`) and the algorithm one the profiles use
 * (`StringEquals sts:SigningAlgorithm`). When a profile tags its JWT, STS also asks for
 * `sts:TagGetWebIdentityToken`, granted for the profiles' tag keys only
 * (`ForAllValues:StringEquals aws:TagKeys`). Empty when no profile uses web identity.
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_policies.html
 */
export function webIdentityStatements(config: BrokerConfig): Statement[] {
  const use = webIdentityUse(config);
  if (use === undefined) return [];
  const statements: Statement[] = [
    {
      Sid: 'GetWebIdentityToken',
      Effect: 'Allow',
      Action: ['sts:GetWebIdentityToken'],
      Resource: ['*'],
      Condition: {
        Null: { 'sts:IdentityTokenAudience': 'false' },
        'ForAllValues:StringEquals': { 'sts:IdentityTokenAudience': use.audiences },
        NumericLessThanEquals: { 'sts:DurationSeconds': String(use.maxLifetime) },
        StringEquals: { 'sts:SigningAlgorithm': use.algorithms },
      },
    },
  ];
  if (use.tagKeys.length > 0)
    statements.push({
      Sid: 'TagWebIdentityToken',
      Effect: 'Allow',
      Action: ['sts:TagGetWebIdentityToken'],
      Resource: ['*'],
      Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': use.tagKeys } },
    });
  return statements;
}
