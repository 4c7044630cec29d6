/**
 * `node --import tsx serverless/profile-facts.ts '<options as JSON>'`: loads the profiles file,
 * checks it as the deployed functions will see it (lib/deploy/deployable.ts) and prints
 * what serverless.yml needs from it as JSON: the roles' policies, the package patterns
 * (the profiles file and the files its `file:` references name) and the resources that
 * route profiles' events (`notify`). serverless/profiles.cjs runs it. Any problem prints one line per problem on stderr and exits 2.
 *
 * Options: `{ profiles, stage, serviceDir, cacheSealKey, secretsKmsKeys, domainName,
 * eventBus }`, the serverless params of the same names.
 */
import { ConfigError } from '../lib/errors.ts';
import { loadConfig } from '../lib/config/index.ts';
import { checkDeployment, formatProblem } from '../lib/deploy/deployable.ts';
import { rolePolicies } from '../lib/deploy/policies.ts';
import { parseKeyList } from '../lib/deploy/params.ts';
import { notifyResources } from '../lib/deploy/notify.ts';

interface Options {
  readonly profiles: string;
  readonly stage: string;
  readonly serviceDir: string;
  readonly cacheSealKey?: string;
  readonly secretsKmsKeys?: string;
  readonly domainName?: string;
  readonly eventBus?: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
try {
  const config = await loadConfig({ path: options.profiles, env: {}, cwd: options.serviceDir });
  const checked = checkDeployment(config, {
    profilesPath: options.profiles,
    serviceDir: options.serviceDir,
    cacheSealKey: options.cacheSealKey,
    domainName: options.domainName || undefined,
    stage: options.stage,
    eventBus: options.eventBus || undefined,
  });
  if (checked.problems.length > 0) {
    process.stderr.write(checked.problems.map((p) => `${formatProblem(p)}\n`).join(''));
    process.exitCode = 2;
  } else {
    const policies = rolePolicies(config, {
      stage: options.stage,
      service: 'token-broker',
      cacheSealKey: options.cacheSealKey,
      secretsKmsKeys: parseKeyList(options.secretsKmsKeys ?? ''),
      eventBus: options.eventBus || undefined,
    });
    const notify = notifyResources(config, {
      service: 'token-broker',
      stage: options.stage,
      eventBus: options.eventBus || undefined,
    });
    process.stdout.write(
      JSON.stringify({ policies, patterns: ['!**', options.profiles, ...checked.files], notify }),
    );
  }
} catch (err) {
  const line =
    err instanceof ConfigError && err.code === 'ERR_CONFIG_NOT_FOUND'
      ? `no profiles file at ${options.profiles} (beside serverless.yml); write it, or pass --param="profiles=path/to/profiles.yaml"`
      : `${typeof (err as { code?: unknown }).code === 'string' ? `${(err as { code: string }).code}: ` : ''}${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`${line}\n`);
  process.exitCode = 2;
}
