import { parseConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { SecretResolver } from '../../lib/secrets/types.ts';

/** A config parsed from YAML lines of `profiles:` entries, as the broker would load it. */
export function configFrom(profilesYaml: string, extra = ''): BrokerConfig {
  return parseConfig(`profiles:\n${profilesYaml}${extra}`, 'test.yaml');
}

/** The real secret resolver, reading `file:` and `env:` references. */
export function fileSecrets(env: Record<string, string> = {}, cwd = process.cwd()): SecretResolver {
  return createSecretResolver({ env, cwd });
}

/** One profile as YAML under `profiles:`. Values are written as JSON (valid YAML). */
export function profileYaml(name: string, fields: Record<string, unknown>): string {
  const lines = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`);
  return `  ${name}:\n${lines.join('\n')}\n`;
}
