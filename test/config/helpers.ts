import { BrokerError } from '../../lib/errors.ts';

/** The DataDirect connection string of the DocuSign seed example, one pair group a line. */
export const DATADIRECT_SEED = `DRIVER=DataDirect 8.0 Autonomous REST Connector;
RestConfigFile=C:/path/to/docusign.rest;AuthenticationMethod=55;
ClaimsIssuer='1a2b3c4d5e_6f7g8h9g';ClaimsSubject=jsmith@example.com;
JWTCertStore=jwtcert.jks;JWTCertPassword=secret;
TokenUri=https://account-d.docusign.com/oauth/token;
RedirectUri=http://localhost:3000;AuthHeader=response_type;SecurityToken=code;
Scope=signature impersonation;
`;

/** Runs `fn` and returns the BrokerError it throws (fails the test when it does not). */
export function thrown(fn: () => unknown): BrokerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerError) return err;
    throw new Error(`expected a BrokerError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a BrokerError, nothing was thrown');
}

/** A minimal valid profile as YAML lines under `profiles:`, with extra lines. */
export function yamlProfile(name: string, extra: Record<string, string> = {}): string {
  const keys: Record<string, string> = {
    issuer: 'client-1',
    certStore: 'file:./key.pem',
    tokenUri: 'https://auth.example.com/oauth/token',
    ...extra,
  };
  const lines = Object.entries(keys)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `    ${k}: ${v}`);
  return `  ${name}:\n${lines.join('\n')}\n`;
}

export function config(...profiles: string[]): string {
  return `profiles:\n${profiles.join('')}`;
}
