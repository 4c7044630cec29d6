'use strict';
/**
 * serverless.yml's view of the profiles file, resolved at package time:
 * `${file(./deploy/profiles.cjs):policies.token}` and so on. Resolving it validates the
 * file (deploy/profile-facts.ts), so `osls package` stops with one clear line when the file
 * is missing or invalid instead of packaging functions that can only answer 500.
 */
const { execFile } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
let facts;

function load(file, stage) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'profile-facts.ts'), file, stage],
      { cwd: ROOT, timeout: 60_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(JSON.parse(stdout));
        const reason = String(stderr).trim().split('\n')[0] || (err.killed ? 'timed out' : 'failed');
        const error = new Error(
          `token-broker profiles file "${file}" cannot be packaged: ${reason}; fix it or pass --param="profiles=PATH"`,
        );
        // The framework prints the stack: keep it to the one line.
        error.stack = error.message;
        reject(error);
      },
    );
  });
}

module.exports = async ({ resolveVariable }) => {
  const file = await resolveVariable('param:profiles');
  const stage = await resolveVariable('sls:stage');
  facts ??= load(file, stage);
  return facts;
};
