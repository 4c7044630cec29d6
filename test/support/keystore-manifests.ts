/**
 * The keystore fixture manifests (`test/fixtures/keystores/manifest.*.json`, one per fixture
 * script; see that folder's README.md), read at run time so fixtures added later are covered.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeystoreType } from '../../lib/keystore/types.ts';
import { KEYSTORE_FIXTURES } from './keys.ts';

/** One row of a `manifest.*.json`. */
export interface ManifestRow {
  readonly file: string;
  readonly type: Exclude<KeystoreType, 'auto'>;
  readonly password?: string;
  readonly keyPassword?: string;
  readonly alias?: string;
  readonly cert?: string;
  readonly certBeside?: string;
  readonly keyType: string;
  readonly expectError?: string;
  readonly expectWarning?: string;
}

/** One manifest file: its name (`manifest.java.json`) and its rows. */
export interface Manifest {
  readonly name: string;
  readonly rows: readonly ManifestRow[];
}

/** The rows of one manifest file, by name. */
export function readManifest(name: string): ManifestRow[] {
  return JSON.parse(readFileSync(join(KEYSTORE_FIXTURES, name), 'utf8')) as ManifestRow[];
}

/** Every manifest in the fixture folder, sorted by name. */
export function readManifests(): Manifest[] {
  return readdirSync(KEYSTORE_FIXTURES)
    .filter((name) => /^manifest\..+\.json$/.test(name))
    .sort()
    .map((name) => ({ name, rows: readManifest(name) }));
}

/** Every row of every manifest, each with the name of the manifest it came from. */
export function manifestRows(): (ManifestRow & { readonly manifest: string })[] {
  return readManifests().flatMap(({ name, rows }) => rows.map((row) => ({ ...row, manifest: name })));
}
