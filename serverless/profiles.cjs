'use strict';
/**
 * serverless.yml's view of the profiles file, resolved at package time:
 * `${file(./serverless/profiles.cjs):policies.token}`, `…:patterns`, `…:notify` (the resources
 * routing profiles' events) and so on. Resolving it
 * checks the file as the deployed functions will see it (serverless/profile-facts.ts), so
 * `osls package` stops with the problems, one line each, instead of packaging functions
 * that can only fail in Lambda.
 */
const { execFile } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
let facts;
let reported = false;

function load(options) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'profile-facts.ts'), JSON.stringify(options)],
      { cwd: ROOT, timeout: 60_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(JSON.parse(stdout));
        const lines = String(stderr).trim().split('\n').filter(Boolean);
        const reason = lines.length > 0 ? lines.join('\n  ') : err.killed ? 'timed out' : 'failed';
        const error = new Error(
          `token-broker profiles file "${options.profiles}" cannot be deployed:\n  ${reason}`,
        );
        // The framework prints the stack: keep it to the message.
        error.stack = error.message;
        reject(error);
      },
    );
  });
}

/** What the other variables get once the first has reported the failure: packaging stops anyway. */
const STOPPED = {
  policies: { token: [], health: [], consentStart: [], consentCallback: [], refresh: [] },
  patterns: ['!**'],
  notify: { Resources: {} },
};

module.exports = async ({ resolveVariable }) => {
  // Params resolve in a later phase than some properties (package.patterns): until then
  // resolveVariable throws MISSING_VARIABLE_DEPENDENCY, which tells osls to come back later.
  const param = async (name) => String((await resolveVariable(`param:${name}`)) ?? '');
  const options = {
    profiles: await param('profiles'),
    stage: await resolveVariable('sls:stage'),
    serviceDir: ROOT,
    cacheSealKey: await param('cacheSealKey'),
    secretsKmsKeys: await param('secretsKmsKeys'),
    domainName: await param('domainName'),
    eventBus: await param('eventBus'),
  };
  facts ??= load(options);
  try {
    return await facts;
  } catch (err) {
    // Every role and the package patterns resolve from here: report the problem once.
    if (reported) return STOPPED;
    reported = true;
    throw err;
  }
};
