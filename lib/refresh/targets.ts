/**
 * What the scheduled refresh looks at: the (profile, subject, scope) triples named in
 * the profiles' `refresh` sections, and the shared-cache entries used recently whose
 * token expires within its margin.
 */
import type { TokenBroker } from '../broker/index.ts';
import { inShard, refreshMarginOf, type Shard } from '../cache/due.ts';
import { itemKey } from '../cache/dynamodb-item.ts';
import type { CachedToken, SharedTokenStore, TokenDescriptor } from '../cache/types.ts';
import type { BrokerConfig } from '../config/types.ts';
import { BrokerError } from '../errors.ts';
import type { Logger } from '../types.ts';

/** One token the schedule may refresh. */
export interface RefreshTarget {
  readonly profile: string;
  readonly subject: string | undefined;
  /** Space-separated; undefined for the profile's own scope. */
  readonly scope: string | undefined;
  readonly key: string;
  readonly descriptor: TokenDescriptor;
  /** Refresh once less than this is left of the token's life, milliseconds. */
  readonly beforeMs: number;
  /** The token the shared store listed with the entry; absent for the profiles' own targets. */
  readonly listed?: { readonly token: CachedToken | undefined };
}

/** A target that could not even be described (its request does not fit its profile). */
export interface TargetProblem {
  readonly profile: string;
  readonly subject: string | undefined;
  readonly code: string;
  readonly message: string;
}

/** What {@link collectTargets} found. */
export interface CollectedTargets {
  readonly targets: readonly RefreshTarget[];
  readonly problems: readonly TargetProblem[];
  /** Listed entries left alone: their profile is gone or no longer produces their key. */
  readonly ignored: number;
}

/** What {@link collectTargets} needs. */
export interface CollectDeps {
  readonly config: BrokerConfig;
  readonly broker: Pick<TokenBroker, 'describe'>;
  readonly sharedStore: SharedTokenStore | undefined;
  readonly logger: Logger;
}

/** The code and message a failure is reported with. */
export function failureOf(error: unknown): { code: string; message: string } {
  // BrokerError messages are one line and free of secrets by contract; anything else is not shown.
  if (error instanceof BrokerError) return { code: error.code, message: error.message };
  return { code: 'ERR_INTERNAL', message: 'unexpected error' };
}

/**
 * The targets of one scheduled run for `window.shard`, each key once: first the profiles'
 * `refresh` subjects (with the profile's scope) whose key is in the shard, then the
 * shared entries of the shard that are due and were used since `usedSince` (read from
 * the store's due index, never the whole table).
 */
export async function collectTargets(
  deps: CollectDeps,
  window: { readonly now: number; readonly usedSince: number; readonly shard: Shard },
): Promise<CollectedTargets> {
  const { config, broker, sharedStore, logger } = deps;
  const targets = new Map<string, RefreshTarget>();
  const problems: TargetProblem[] = [];
  const marginOf = refreshMarginOf(config);

  for (const profile of Object.values(config.profiles)) {
    if (profile.refresh === undefined) continue;
    const beforeMs = profile.refresh.before * 1000;
    for (const subject of profile.refresh.subjects) {
      const request = { profile: profile.name, subject, scope: undefined };
      try {
        const { key, descriptor } = broker.describe(request);
        if (!inShard(itemKey(key), window.shard)) continue;
        if (!targets.has(key)) targets.set(key, { ...request, key, descriptor, beforeMs });
      } catch (error) {
        // Reported once, by the first shard.
        if (window.shard.index === 0) problems.push({ profile: profile.name, subject, ...failureOf(error) });
      }
    }
  }

  let ignored = 0;
  const entries = sharedStore ? await sharedStore.listDue(window) : [];
  for (const entry of entries) {
    if (targets.has(entry.key)) continue;
    const { descriptor } = entry;
    const request = {
      profile: descriptor.profile,
      subject: descriptor.subject,
      scope: descriptor.scopes.length > 0 ? descriptor.scopes.join(' ') : undefined,
    };
    let key: string | undefined;
    try {
      key = broker.describe(request).key;
    } catch {
      key = undefined;
    }
    if (key !== entry.key) {
      // The profile was removed or changed (issuer, audience, subjects): the entry is orphaned.
      ignored += 1;
      logger.debug('shared cache entry no longer matches its profile; not refreshed', {
        profile: descriptor.profile,
      });
      continue;
    }
    targets.set(key, {
      ...request,
      key,
      descriptor,
      beforeMs: marginOf(descriptor.profile),
      listed: { token: entry.token },
    });
  }
  return { targets: [...targets.values()], problems, ignored };
}
