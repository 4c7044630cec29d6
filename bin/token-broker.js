#!/usr/bin/env node
// The CLI is written in TypeScript; tsx compiles it on load so `npx token-broker` works right after `npm ci`.
import { register } from 'tsx/esm/api';

// The SDK's multi-line Node version notice would break the CLI's "one line on stderr".
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../lib/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
// The command is done: work it left behind (a request to a provider that hangs, cut off
// at shutdown; idle keep-alive sockets) must not keep the process alive.
setTimeout(() => process.exit(), 100).unref();
