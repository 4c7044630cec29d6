/**
 * `node --import tsx deploy/profile-facts.ts <profiles file> <stage>`: validates the
 * profiles file and prints what serverless.yml needs from it as JSON (deploy/profiles.cjs
 * runs it). A missing or invalid file prints one line on stderr and exits 2.
 */
import { loadConfig } from '../lib/config/index.ts';
import { rolePolicies } from '../lib/deploy/policies.ts';

const [file, stage] = process.argv.slice(2);
try {
  const config = await loadConfig({ path: file, env: {}, cwd: process.cwd() });
  process.stdout.write(
    JSON.stringify({ policies: rolePolicies(config, { stage: stage!, service: 'token-broker' }) }),
  );
} catch (err) {
  const code =
    typeof (err as { code?: unknown }).code === 'string' ? `${(err as { code: string }).code}: ` : '';
  process.stderr.write(`${code}${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
