import { defineConfig } from 'vitest/config';

/** console lines that say nothing about this project's code: dropped in tests only. */
const DROPPED = [
  // oidc-provider on import, on any Node release older than its supported LTS.
  /^oidc-provider WARNING: Unsupported runtime\b/,
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    env: {
      // The AWS SDK's notice about the Node versions of its future releases, once per process.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    // Logs go with their test: shown when it fails, held back when it passes.
    setupFiles: ['test/support/quiet-output.ts'],
    silent: 'passed-only',
    onConsoleLog: (log) => !DROPPED.some((pattern) => pattern.test(log.trim())),
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
