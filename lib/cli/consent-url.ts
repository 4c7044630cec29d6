/**
 * `token-broker consent-url <profile> --subject S [--config F] [--base-url U]`: prints the
 * broker's consent-start URL for a profile and subject, the link a user opens once to
 * give the consent the provider asks for.
 */
import { resolveRequest } from '../broker/request.ts';
import { loadConfig } from '../config/index.ts';
import { brokerConsentUrl } from '../consent/authorize-url.ts';
import { consentBaseUrl } from '../consent/base-url.ts';
import { RequestError } from '../errors.ts';
import { defineCommand, parseCliArgs } from './args.ts';
import { EXIT_OK, UsageError, type CliIo } from './io.ts';

/** `token-broker consent-url`: usage, flags and example (`--help`); its flags are the parser's options. */
export const CONSENT_URL_COMMAND = defineCommand({
  name: 'consent-url',
  usage: 'consent-url <profile> --subject S [--config F] [--base-url U]',
  description:
    "The broker's consent URL for a profile and subject: the link a user opens once to grant the\nprovider's consent (for profiles with authUri and redirectUri).",
  flags: {
    subject: {
      type: 'string',
      value: 'S',
      help: "the user who consents (checked against the profile's subjects)",
    },
    config: {
      type: 'string',
      value: 'F',
      help: 'the profiles file (default: $TOKEN_BROKER_CONFIG, else ./token-broker.yaml)',
    },
    'base-url': {
      type: 'string',
      value: 'U',
      help: "the broker's base URL (default: consent.baseUrl, else the profile's redirectUri less /consent/callback)",
    },
  },
  example: 'npx token-broker consent-url docusign --subject jsmith@example.com --config token-broker.yaml',
});

const USAGE = `usage: token-broker ${CONSENT_URL_COMMAND.usage}`;

/**
 * Prints the consent URL.
 * @throws UsageError for bad arguments or no known base URL; ConfigError `ERR_CONFIG*`;
 * RequestError `ERR_UNKNOWN_PROFILE`, `ERR_SUBJECT_NOT_ALLOWED`, `ERR_INVALID_REQUEST`.
 */
export async function consentUrl(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCliArgs(argv, CONSENT_URL_COMMAND.flags, { usage: USAGE });
  const [name, ...extra] = parsed.positionals;
  if (name === undefined || extra.length > 0) throw new UsageError(`give exactly one profile; ${USAGE}`);
  const { values } = parsed;
  const config = await loadConfig({ path: values.config, env: io.env, cwd: io.cwd });
  const profile = Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
  if (!profile)
    throw new RequestError(
      'ERR_UNKNOWN_PROFILE',
      `unknown profile "${name}"; profiles: ${Object.keys(config.profiles).join(', ') || '(none)'}`,
    );
  if (profile.authUri === undefined || profile.redirectUri === undefined)
    throw new RequestError(
      'ERR_INVALID_REQUEST',
      `profile "${name}" has no consent step: it needs authUri (or a provider preset with one) and redirectUri`,
    );
  const { subject } = resolveRequest(profile, { subject: values.subject });
  const base = values['base-url'] ?? consentBaseUrl(config, profile);
  if (base === undefined)
    throw new UsageError(
      `no base URL for the broker: pass --base-url, set consent.baseUrl, or end the redirectUri with /consent/callback`,
    );
  try {
    new URL(base);
  } catch {
    throw new UsageError(
      `--base-url must be an absolute URL such as https://broker.example.com, got "${base}"`,
    );
  }
  io.stdout(`${brokerConsentUrl(base, name, subject)}\n`);
  return EXIT_OK;
}
