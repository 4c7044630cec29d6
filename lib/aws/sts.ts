/**
 * The one STS call the broker makes, `GetWebIdentityToken`, as a small interface over the
 * SDK client, so lib/identity stays testable with any STS that speaks the query protocol.
 * `AWS_ENDPOINT_URL_STS` (read by the SDK itself) points the client at a local STS.
 *
 * @see https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html
 */
import type * as StsModule from '@aws-sdk/client-sts';
import type { STSClient, STSClientConfig } from '@aws-sdk/client-sts';
import { AWS_ATTEMPT_TIMEOUT_MS, boundedRequests, loadOnce, namedExports } from './sdk.ts';

/** The SDK package, loaded on first use. */
export type StsSdk = typeof StsModule;

/** What the broker asks `GetWebIdentityToken` for. */
export interface WebIdentityTokenRequest {
  readonly audience: readonly string[];
  /** `SigningAlgorithm`: `RS256` or `ES384`. */
  readonly algorithm: string;
  /** `DurationSeconds`, 60 to 3600. */
  readonly lifetime: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** What `GetWebIdentityToken` answers. */
export interface WebIdentityTokenAnswer {
  /** The signed JWT (a credential: never log it). */
  readonly token: string;
  /** When the JWT expires, as STS says. */
  readonly expiration: Date;
}

/** The STS call of lib/identity. */
export interface StsApi {
  /** The region the client talks to (its regional endpoint), when known. */
  region(): Promise<string | undefined>;
  getWebIdentityToken(request: WebIdentityTokenRequest): Promise<WebIdentityTokenAnswer>;
}

/** Builds the {@link StsApi} of one region (undefined: the ambient one, `AWS_REGION`). */
export type StsApiFactory = (region: string | undefined) => Promise<StsApi>;

/** `@aws-sdk/client-sts`, loaded on first use; a failed import is tried again next time. */
export const loadStsSdk: () => Promise<StsSdk> = loadOnce(async () =>
  namedExports<StsSdk>(await import('@aws-sdk/client-sts'), 'STSClient', '@aws-sdk/client-sts'),
);

/** A {@link StsApi} over an SDK client. */
export async function stsApi(client: STSClient): Promise<StsApi> {
  const { GetWebIdentityTokenCommand } = await loadStsSdk();
  return {
    async region() {
      const region = client.config.region;
      return typeof region === 'function' ? await region() : region;
    },
    async getWebIdentityToken(request) {
      const out = await client.send(
        new GetWebIdentityTokenCommand({
          Audience: [...request.audience],
          SigningAlgorithm: request.algorithm,
          DurationSeconds: request.lifetime,
          ...(Object.keys(request.tags).length > 0 && {
            Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })),
          }),
        }),
      );
      if (out.WebIdentityToken === undefined || out.Expiration === undefined)
        throw new TypeError('STS answered GetWebIdentityToken without a WebIdentityToken or Expiration');
      return { token: out.WebIdentityToken, expiration: out.Expiration };
    },
  };
}

/**
 * A factory of {@link StsApi}s over SDK clients, one per region, built on first use. The
 * clients use the regional endpoint only (`useGlobalEndpoint: false`): the global one does
 * not offer `GetWebIdentityToken`. Two attempts, each bounded.
 */
export function stsApiFactory(config: STSClientConfig = {}): StsApiFactory {
  const apis = new Map<string, Promise<StsApi>>();
  return (region) => {
    const key = region ?? '';
    let api = apis.get(key);
    if (api === undefined) {
      api = loadStsSdk().then(({ STSClient: Client }) =>
        stsApi(
          new Client({
            maxAttempts: 2,
            requestHandler: boundedRequests(AWS_ATTEMPT_TIMEOUT_MS, AWS_ATTEMPT_TIMEOUT_MS),
            ...config,
            useGlobalEndpoint: false,
            ...(region !== undefined && { region }),
          }),
        ),
      );
      api.catch(() => apis.delete(key));
      apis.set(key, api);
    }
    return api;
  };
}
