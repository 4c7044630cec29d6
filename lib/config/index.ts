import { readFile as fsReadFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './parse.ts';
import type { BrokerConfig } from './types.ts';

export { parseConfig, DEFAULT_CACHE_TABLE, DEFAULT_REFRESH_MARGIN } from './parse.ts';
export { PRESETS, PROVIDER_NAMES, type ProviderPreset } from './presets.ts';
export {
  DEFAULT_ASSERTION_LIFETIME,
  DEFAULT_ASSERTION_SKEW,
  DEFAULT_REFRESH_BEFORE,
  RESERVED_CLAIMS,
} from './profile.ts';
export type * from './types.ts';

/** The config file used when neither `--config` nor `$TOKEN_BROKER_CONFIG` names one. */
export const DEFAULT_CONFIG_FILE = 'token-broker.yaml';
/** Environment variable naming the config file. */
const CONFIG_ENV_VAR = 'TOKEN_BROKER_CONFIG';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** `--config`; wins over the environment. */
  readonly path?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative paths are resolved against it. */
  readonly cwd: string;
  readonly readFile?: (path: string) => Promise<string>;
}

/** Which file {@link loadConfig} reads, and why. */
function configPath(options: LoadConfigOptions): { path: string; from: string } {
  const env = options.env[CONFIG_ENV_VAR];
  const [written, from] =
    options.path !== undefined && options.path !== ''
      ? [options.path, '--config']
      : env !== undefined && env !== ''
        ? [env, `$${CONFIG_ENV_VAR}`]
        : [DEFAULT_CONFIG_FILE, 'the default; pass --config or set $TOKEN_BROKER_CONFIG'];
  return { path: isAbsolute(written) ? written : resolve(options.cwd, written), from };
}

/**
 * Loads the configuration: `--config`, else `$TOKEN_BROKER_CONFIG`, else `./token-broker.yaml`.
 *
 * @throws ConfigError `ERR_CONFIG_NOT_FOUND` naming the path tried; `ERR_CONFIG` for an invalid file.
 */
export async function loadConfig(options: LoadConfigOptions): Promise<BrokerConfig> {
  const { path, from } = configPath(options);
  const read = options.readFile ?? ((p: string) => fsReadFile(p, 'utf8'));
  let text: string;
  try {
    text = await read(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ConfigError('ERR_CONFIG_NOT_FOUND', `no config file at ${path} (${from})`, { cause: err });
    }
    const why =
      code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : 'unreadable';
    throw new ConfigError('ERR_CONFIG', `cannot read config file ${path} (${from}): ${why}`, { cause: err });
  }
  return parseConfig(text, path);
}
