/**
 * IAM enforced for a packaged stack's functions: one {@link IamGateway} per service in
 * front of the backends, the roles read from the template, and credentials of its own
 * for every function process, so the `Authorization` header tells which role signed.
 */
import { randomBytes } from 'node:crypto';
import { createIamAuthority, type IamAuthority, type IamPlace } from './iam-authority.ts';
import { startIamGateway, type IamGateway } from './iam-gateway.ts';
import type { IamService, ResourceLookups } from './iam-requests.ts';
import { deployedRole, type DeployedRole } from './iam-template.ts';
import type { Resource } from './osls-package.ts';

/** The place the artefact suite deploys to. */
export const ARTEFACT_PLACE: IamPlace = { partition: 'aws', region: 'eu-west-1', account: '123456789012' };

/** Options of {@link enforceIam}. */
export interface EnforceIamOptions {
  readonly resources: Readonly<Record<string, Resource>>;
  readonly place?: IamPlace;
  /** `AWS::StackName`; also the prefix of function and role names (`token-broker-ci`). */
  readonly stackName: string;
  /** Function name as the test calls it -> logical id of its resource (`token` -> `TokenLambdaFunction`). */
  readonly functions: Readonly<Record<string, string>>;
  /** The table the test created for the template's `CacheTable`. */
  readonly table: string;
  /**
   * The backend behind each gateway; `sts` (a loopback STS) and `events` (a loopback
   * EventBridge) only where a test needs them.
   */
  readonly upstreams: Readonly<Record<Exclude<IamService, 'sts' | 'events'>, string>> & {
    readonly sts?: string;
    readonly events?: string;
  };
  readonly lookups: ResourceLookups;
}

/** The gateways and roles of one stack. */
export interface EnforcedIam {
  readonly authority: IamAuthority;
  readonly roles: Readonly<Record<string, DeployedRole>>;
  /**
   * The environment of a new process of `function_`: fresh credentials registered for its
   * role, and `AWS_ENDPOINT_URL_*` of the gateways.
   */
  environment(function_: string): Record<string, string>;
  close(): Promise<void>;
}

const ENDPOINT_VARIABLES: Readonly<Record<IamService, string>> = {
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  kms: 'AWS_ENDPOINT_URL_KMS',
  lambda: 'AWS_ENDPOINT_URL_LAMBDA',
  sts: 'AWS_ENDPOINT_URL_STS',
  events: 'AWS_ENDPOINT_URL_EVENTBRIDGE',
};

/** Reads the roles from the template and starts a gateway per service. */
export async function enforceIam(options: EnforceIamOptions): Promise<EnforcedIam> {
  const place = options.place ?? ARTEFACT_PLACE;
  const authority = createIamAuthority(place);
  const facts = {
    ...place,
    stackName: options.stackName,
    refs: { CacheTable: options.table },
    attributes: {
      'CacheTable.Arn': `arn:${place.partition}:dynamodb:${place.region}:${place.account}:table/${options.table}`,
    },
  };
  const roles = Object.fromEntries(
    Object.entries(options.functions).map(([name, id]) => [name, deployedRole(options.resources, id, facts)]),
  );
  const services = (Object.keys(ENDPOINT_VARIABLES) as IamService[]).filter(
    (service) => options.upstreams[service] !== undefined,
  );
  const gateways: IamGateway[] = await Promise.all(
    services.map((service) =>
      startIamGateway({
        service,
        upstream: options.upstreams[service]!,
        authority,
        lookups: options.lookups,
      }),
    ),
  );
  const endpoints = Object.fromEntries(
    services.map((s, i) => [ENDPOINT_VARIABLES[s], gateways[i]!.endpoint]),
  );
  return {
    authority,
    roles,
    environment(function_) {
      const role = roles[function_];
      if (role === undefined) throw new TypeError(`no function ${function_} in this stack`);
      // Temporary credentials, as Lambda gives a function: ASIA…, a secret and a session token.
      const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
      authority.addPrincipal({
        accessKeyId,
        function: function_,
        sessionName: `${options.stackName}-${function_}`,
        role,
      });
      return {
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: randomBytes(20).toString('base64'),
        AWS_SESSION_TOKEN: `artefact-session-${function_}`,
        ...endpoints,
      };
    },
    close: async () => void (await Promise.all(gateways.map((g) => g.close()))),
  };
}
