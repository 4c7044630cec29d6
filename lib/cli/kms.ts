import type { KmsApiFactory } from '../aws/kms.ts';
import { ConfigError } from '../errors.ts';
import { JWS_ALGORITHMS, type JwsAlgorithm } from '../keystore/types.ts';
import { openKmsSigner } from '../signer/kms.ts';
import { KMS_PREFIX, parseKmsReference } from '../signer/kms-reference.ts';
import { DEFAULT_CERTIFICATE_DAYS, kmsCertificate, MAX_CERTIFICATE_DAYS } from '../signer/x509.ts';
import { defineCommand, helpText, parseCliArgs } from './args.ts';
import { EXIT_OK, UsageError, type CliCommand, type CliIo } from './io.ts';

/** `token-broker kms`: usage, flags and example (`--help`); its flags are the parser's options. */
export const KMS_COMMAND = defineCommand({
  name: 'kms',
  usage: 'kms certificate <key> --subject "CN=…" [--days N] [--csr] [--algorithm A]',
  description: `Writes a self-signed X.509 certificate (or with --csr a PKCS#10 request) for a signing key
held in AWS KMS, signed by KMS, as PEM on stdout: upload it to the provider (DocuSign,
Salesforce, Entra) and name it as the profile's certificate:. The private key never
leaves KMS. <key>: key id, key ARN, alias ARN or alias/name (kms: prefix optional).
AWS credentials, region and endpoint (AWS_ENDPOINT_URL_KMS) come from the environment.`,
  flags: {
    subject: {
      type: 'string',
      value: 'S',
      help: 'CN=name, O=org, OU=unit, L=city, ST=state, C=US, emailAddress=a@b',
    },
    days: {
      type: 'string',
      value: 'N',
      help: `validity in days (default ${DEFAULT_CERTIFICATE_DAYS}, at most ${MAX_CERTIFICATE_DAYS})`,
    },
    csr: { type: 'boolean', help: 'a certificate signing request instead of a certificate' },
    algorithm: {
      type: 'string',
      value: 'A',
      help: 'RS256…PS512 or ES256/384/512 (default: RS256 for RSA, by curve for ECC)',
    },
  },
  example:
    'npx token-broker kms certificate alias/docusign-signing --subject "CN=token-broker docusign" > docusign.crt',
});

const USAGE = helpText(KMS_COMMAND);

/** What the command may be given instead of the ambient AWS configuration (tests). */
export interface KmsCommandDeps {
  readonly kms?: KmsApiFactory;
  readonly now?: Date;
}

/**
 * `token-broker kms certificate <key> --subject S [--days N] [--csr]`.
 *
 * @throws UsageError for argument mistakes (exit 2); `ERR_KMS_*` and `ERR_UNSUPPORTED_KEY` (exit 1).
 */
export async function kmsCommand(
  argv: readonly string[],
  io: CliIo,
  deps: KmsCommandDeps = {},
): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'certificate')
    throw new UsageError(
      command === undefined
        ? 'kms needs a command: kms certificate <key> --subject "CN=…"'
        : `unknown kms command '${command}'; use: kms certificate <key> --subject "CN=…"`,
    );
  const { values, positionals } = parseCliArgs(rest, KMS_COMMAND.flags, { usage: KMS_COMMAND.usage });
  if (rest.includes('--help')) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const [written, extra] = positionals;
  if (written === undefined || extra !== undefined)
    throw new UsageError('kms certificate takes one key: kms certificate <key> --subject "CN=…"');
  if (values.subject === undefined) throw new UsageError('kms certificate needs --subject "CN=…"');
  const days = values.days === undefined ? undefined : Number(values.days);
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > MAX_CERTIFICATE_DAYS))
    throw new UsageError(`--days must be a whole number from 1 to ${MAX_CERTIFICATE_DAYS}`);
  const algorithm = values.algorithm ?? 'auto';
  if (algorithm !== 'auto' && !(JWS_ALGORITHMS as readonly string[]).includes(algorithm))
    throw new UsageError(
      `--algorithm must be one of ${JWS_ALGORITHMS.filter((a) => a !== 'EdDSA').join(', ')}`,
    );
  const reference = parseKmsReference(written.startsWith(KMS_PREFIX) ? written : `${KMS_PREFIX}${written}`);
  if (typeof reference === 'string') throw new ConfigError('ERR_CONFIG', reference);
  const factory =
    deps.kms ??
    (await import('../aws/kms.ts')).kmsApiFactory(
      io.env['AWS_REGION'] === undefined ? {} : { region: io.env['AWS_REGION'] },
    );
  const signer = await openKmsSigner({
    api: await factory(reference.region),
    keyId: reference.keyId,
    algorithm: algorithm as 'auto' | JwsAlgorithm,
  });
  const pem = await kmsCertificate({
    signer,
    subject: values.subject,
    ...(days !== undefined && { days }),
    ...(deps.now && { now: deps.now }),
    csr: values.csr === true,
  });
  io.stdout(pem);
  return EXIT_OK;
}

export const kms: CliCommand = (argv, io) => kmsCommand(argv, io);
