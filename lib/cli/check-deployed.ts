/**
 * `token-broker check --deployed [--config F] [--domain-name D] [--stage S] [--event-bus B]`:
 * the profiles file as the packaged functions will see it (lib/deploy/deployable.ts), the
 * same check `osls package` runs. It reads no secret and calls nothing: where the secrets
 * live is AWS's business. The stage and the bus name the notify rules whose ARNs the
 * topic-policy statements carry.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { BrokerConfig } from '../config/types.ts';
import { checkDeployment, formatProblem } from '../deploy/deployable.ts';
import { EXIT_FAILURE, EXIT_OK, type CliIo } from './io.ts';

/** The folder of serverless.yml at or above `from`, else `from` itself. */
export function serviceDirOf(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'serverless.yml'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

/** Prints one line per problem (or that the file is deployable); exit 1 when any. */
export function checkDeployed(
  config: BrokerConfig,
  io: CliIo,
  options: {
    readonly domainName?: string | undefined;
    /** The stage (`osls --stage`); `<stage>` in the statements when not given. */
    readonly stage?: string | undefined;
    /** The bus (param `eventBus`), a name or an ARN; the default bus when not given. */
    readonly eventBus?: string | undefined;
  },
): number {
  const serviceDir = serviceDirOf(io.cwd);
  const profilesPath = relative(serviceDir, config.source);
  const { problems, files, topicGrants } = checkDeployment(config, {
    profilesPath,
    serviceDir,
    cacheSealKey: undefined,
    domainName: options.domainName,
    stage: options.stage,
    eventBus: options.eventBus,
  });
  for (const problem of problems) io.stdout(`  error: ${formatProblem(problem)}\n`);
  if (problems.length > 0) {
    io.stdout(`deployed: FAILED (${problems.length} problem${problems.length === 1 ? '' : 's'})\n`);
    return EXIT_FAILURE;
  }
  const packaged = files.length > 0 ? `, packaged with ${files.join(', ')}` : '';
  io.stdout(`deployed: ok (--param="profiles=${profilesPath}"${packaged})\n`);
  // The stack cannot change a topic it does not own: its owner adds one statement.
  const stageNote = options.stage === undefined ? 'the stage you deploy for <stage>; ' : '';
  for (const grant of topicGrants)
    io.stdout(
      `  notify: profile ${grant.profile} sends to ${grant.topicArn}; its owner adds to the topic's policy (${stageNote}the stack's account if not the topic's):\n    ${JSON.stringify(grant.statement)}\n`,
    );
  return EXIT_OK;
}
