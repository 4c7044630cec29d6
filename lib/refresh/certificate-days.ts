/**
 * `CertificateDaysLeft` per profile, once per scheduled run: the days until the profile's
 * certificate (the keystore's leaf, or a KMS profile's `certificate:`) expires, so an alarm
 * sounds weeks before the provider starts refusing assertions.
 */
import type { BrokerConfig } from '../config/types.ts';
import { BrokerError } from '../errors.ts';
import type { ProfileEvents } from '../events/emitter.ts';
import type { Logger, Metrics } from '../types.ts';

const DAY_MS = 86_400_000;

/** What {@link reportCertificateDays} needs. */
export interface CertificateDaysDeps {
  readonly config: BrokerConfig;
  /** The profile's certificate expiry (opens its key material once; cached by the broker). */
  readonly certificateExpiry: (profile: string) => Promise<Date | undefined>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now: number;
  /** `Certificate Expiring` at the profiles' thresholds (lib/events); none without. */
  readonly events?: ProfileEvents | undefined;
}

/**
 * Emits `CertificateDaysLeft` (whole days, negative once expired) with a `profile`
 * dimension for every profile that has a certificate; a profile whose key material cannot
 * be opened is logged (its code) and skipped, never failing the run.
 *
 * @returns the days left per profile that has a certificate.
 */
export async function reportCertificateDays(deps: CertificateDaysDeps): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of Object.keys(deps.config.profiles).sort()) {
    try {
      const notAfter = await deps.certificateExpiry(name);
      if (notAfter === undefined) continue;
      const days = Math.floor((notAfter.getTime() - deps.now) / DAY_MS);
      out[name] = days;
      deps.metrics.count('CertificateDaysLeft', days, { profile: name });
      // Never throws: a send that fails is logged by the events themselves.
      await deps.events?.certificateExpiry(name, notAfter);
    } catch (err) {
      deps.logger.warn('certificate expiry unknown: key material did not open', {
        profile: name,
        code: err instanceof BrokerError ? err.code : 'ERR_INTERNAL',
      });
    }
  }
  return out;
}
