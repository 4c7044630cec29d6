/**
 * `npm run rehearse -- [--profiles F] [--stage S] [--secret NAME=FILE]… [--param NAME=VALUE]…`:
 * rehearses the user's own profiles file (test/rehearsal/rehearsal.ts) and prints one row per
 * profile. Exit 0 when every row is ok, 1 when one is not, 2 when the file or the
 * arguments cannot be rehearsed (one line per problem). Relative `--secret` files are
 * read from the folder npm was started in.
 */
import { parseRehearsalArgs, RehearsalUsageError } from './rehearse-plan.ts';
import { rehearse, RehearsalStopped } from './rehearsal.ts';

try {
  const args = parseRehearsalArgs(process.argv.slice(2), process.env['INIT_CWD'] ?? process.cwd());
  process.exitCode = (await rehearse(args)).ok ? 0 : 1;
} catch (err) {
  if (!(err instanceof RehearsalUsageError || err instanceof RehearsalStopped)) throw err;
  const lines = err instanceof RehearsalStopped ? err.lines : [err.message];
  for (const line of lines) process.stderr.write(`rehearse: ${line}\n`);
  process.exitCode = 2;
}
