/**
 * SigV4 signing of the client's requests for API Gateway (`execute-api`).
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';

/** The signing name of API Gateway. */
const SIGNING_SERVICE = 'execute-api';

/** A request ready for `fetch`: the headers include `authorization` and `x-amz-*`. */
export interface SignedRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Signs one request; `date` is the signing time. */
export type RequestSigner = (
  url: URL,
  method: string,
  headers: Readonly<Record<string, string>>,
  body: string,
  date: Date,
) => Promise<SignedRequest>;

const EXECUTE_API_HOST = /\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/;

/**
 * The region of an API Gateway default endpoint
 * (`https://<id>.execute-api.<region>.amazonaws.com`), or undefined for any other host.
 */
export function regionFromEndpoint(endpoint: URL): string | undefined {
  return EXECUTE_API_HOST.exec(endpoint.hostname)?.[1];
}

/**
 * Returns a signer for `execute-api` in `region`. Credentials are asked of `credentials`
 * on each request; providers such as the default chain memoize and refresh them.
 */
export function createSigner(region: string, credentials: AwsCredentialIdentityProvider): RequestSigner {
  const signer = new SignatureV4({ service: SIGNING_SERVICE, region, credentials, sha256: Sha256 });
  return async (url, method, headers, body, date) => {
    const query: Record<string, string | string[]> = {};
    for (const [name, value] of url.searchParams) {
      const previous = query[name];
      query[name] = previous === undefined ? value : [...[previous].flat(), value];
    }
    const signed = await signer.sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        // `host` is signed as the request will carry it: with the port when it is not the default.
        headers: { ...headers, host: url.host },
        body,
      },
      { signingDate: date },
    );
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) {
      // fetch derives Host from the URL itself (the same value that was signed).
      if (name.toLowerCase() !== 'host') out[name] = value;
    }
    return { url: url.toString(), method, headers: out, body };
  };
}
