import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/index.ts';
import { BrokerError } from '../../lib/errors.ts';
import { config, yamlProfile } from './helpers.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-config-'));
  await writeFile(join(dir, 'token-broker.yaml'), config(yamlProfile('fromdefault')));
  await writeFile(join(dir, 'env.yaml'), config(yamlProfile('fromenv')));
  await writeFile(
    join(dir, 'flag.json'),
    JSON.stringify({
      profiles: { fromflag: { issuer: 'i', certStore: 'env:K', tokenUri: 'https://a.example.com/t' } },
    }),
  );
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function rejection(promise: Promise<unknown>): Promise<BrokerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(err)}`);
  return err;
}

describe('loadConfig', () => {
  it('reads --config first, relative to cwd', async () => {
    const cfg = await loadConfig({ path: 'flag.json', env: { TOKEN_BROKER_CONFIG: 'env.yaml' }, cwd: dir });
    expect(Object.keys(cfg.profiles)).toEqual(['fromflag']);
    expect(cfg.source).toBe(join(dir, 'flag.json'));
  });

  it('then $TOKEN_BROKER_CONFIG', async () => {
    const cfg = await loadConfig({ env: { TOKEN_BROKER_CONFIG: join(dir, 'env.yaml') }, cwd: '/' });
    expect(Object.keys(cfg.profiles)).toEqual(['fromenv']);
  });

  it('then ./token-broker.yaml', async () => {
    const cfg = await loadConfig({ env: {}, cwd: dir });
    expect(Object.keys(cfg.profiles)).toEqual(['fromdefault']);
  });

  it('fails with ERR_CONFIG_NOT_FOUND naming the path tried and how it was chosen', async () => {
    const missing = await rejection(loadConfig({ path: 'nope.yaml', env: {}, cwd: dir }));
    expect(missing.code).toBe('ERR_CONFIG_NOT_FOUND');
    expect(missing.message).toBe(`no config file at ${join(dir, 'nope.yaml')} (--config)`);
    const fromEnv = await rejection(
      loadConfig({ env: { TOKEN_BROKER_CONFIG: '/nowhere/x.yaml' }, cwd: dir }),
    );
    expect(fromEnv.message).toBe('no config file at /nowhere/x.yaml ($TOKEN_BROKER_CONFIG)');
    const byDefault = await rejection(loadConfig({ env: {}, cwd: '/nowhere' }));
    expect(byDefault.code).toBe('ERR_CONFIG_NOT_FOUND');
    expect(byDefault.message).toBe(
      'no config file at /nowhere/token-broker.yaml (the default; pass --config or set $TOKEN_BROKER_CONFIG)',
    );
  });

  it('uses an injected reader and reports a directory as ERR_CONFIG', async () => {
    const cfg = await loadConfig({
      path: '/virtual.yaml',
      env: {},
      cwd: '/',
      readFile: async () => config(yamlProfile('v')),
    });
    expect(Object.keys(cfg.profiles)).toEqual(['v']);
    const err = await rejection(loadConfig({ path: dir, env: {}, cwd: '/' }));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(`cannot read config file ${dir} (--config): it is a directory`);
  });

  it('names the file in a parse error', async () => {
    const err = await rejection(
      loadConfig({ path: '/bad.yaml', env: {}, cwd: '/', readFile: async () => 'profiles: {a: 1, a: 2}' }),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      '/bad.yaml: duplicate key "a" (line 1, column 18): each profile and key may appear only once',
    );
  });
});
