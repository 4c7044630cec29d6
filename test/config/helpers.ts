import { BrokerError } from '../../lib/errors.ts';

/** Runs `fn` and returns the BrokerError it throws (fails the test when it does not). */
export function thrown(fn: () => unknown): BrokerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerError) return err;
    throw new Error(`expected a BrokerError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a BrokerError, nothing was thrown');
}

/** A minimal valid profile as YAML lines under `profiles:`, with extra lines. */
export function yamlProfile(name: string, extra: Record<string, string> = {}): string {
  const keys: Record<string, string> = {
    issuer: 'client-1',
    certStore: 'file:./key.pem',
    tokenUri: 'https://auth.example.com/oauth/token',
    ...extra,
  };
  const lines = Object.entries(keys)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `    ${k}: ${v}`);
  return `  ${name}:\n${lines.join('\n')}\n`;
}

export function config(...profiles: string[]): string {
  return `profiles:\n${profiles.join('')}`;
}
