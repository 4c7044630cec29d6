/**
 * A packaged stack on 127.0.0.1, as AWS would run it: the loopback Secrets Manager, dynalite
 * (the table made from the template's `CacheTable`), the loopback KMS, Lambda Invoke and
 * EventBridge (the bus the functions put events on), each behind an IAM gateway that evaluates the calling function's role from the template;
 * and cold containers of each function from its unpacked zip, with the environment the
 * template gives it. The rehearsal of a user's profiles file runs on it.
 */
import { CreateTableCommand, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { startDynalite, type Dynalite } from './dynalite.ts';
import { startEventBridgeServer, type EventBridgeServer } from './eventbridge-server.ts';
import type { IamPlace } from './iam-authority.ts';
import { ARTEFACT_PLACE, enforceIam, type EnforcedIam } from './iam-stack.ts';
import { startKmsServer, type KmsServer } from './kms-server.ts';
import { startContainer, type Container } from './lambda-runtime.ts';
import { startLambdaInvokeServer, type LambdaInvokeServer } from './lambda-invoke-server.ts';
import {
  FUNCTIONS,
  functionResourceId,
  type FunctionName,
  type PackagedService,
  type Resource,
} from './osls-package.ts';
import { startSecretsManager, type SecretsManagerServer } from './secrets-manager-server.ts';

/** Options of {@link startPackagedStack}. */
export interface PackagedStackOptions {
  readonly packaged: PackagedService;
  /** Partition, region and account the stack stands in for; default {@link ARTEFACT_PLACE}. */
  readonly place?: IamPlace;
  /** `AWS::StackName`, the prefix of function names: `token-broker-<stage>`. */
  readonly stackName: string;
  /** A loopback STS (test/support/sts-server.ts) to put behind a gateway, for keyless profiles. */
  readonly sts?: string | undefined;
}

/** A container of the stack, with the access key id its role's calls carry (IAM decisions name it). */
export interface StackContainer extends Container {
  readonly accessKeyId: string;
}

/** A running stack. */
export interface PackagedStack {
  readonly secrets: SecretsManagerServer;
  readonly kms: KmsServer;
  /** The bus: every event the functions put on it, as received. */
  readonly eventBridge: EventBridgeServer;
  readonly iam: EnforcedIam;
  readonly table: string;
  /** dynalite, behind no gateway: for the test's own look at the table. */
  readonly dynamoDbEndpoint: string;
  /** A new (cold) container of `name`; `overrides` go over the template's environment. */
  container(name: FunctionName, overrides?: Readonly<Record<string, string>>): Promise<StackContainer>;
  /** Everything every container wrote (their log streams). */
  output(): string;
  close(): Promise<void>;
}

/** The function's environment as the template gives it (`Ref: CacheTable` is the table's name). */
export function templateEnvironment(resource: Resource, table: string): Record<string, string> {
  const variables = (resource.Properties['Environment']?.Variables ?? {}) as Record<string, unknown>;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(variables)) {
    if (typeof value === 'string') env[key] = value;
    else if (JSON.stringify(value) === '{"Ref":"CacheTable"}') env[key] = table;
    else throw new TypeError(`environment ${key}: ${JSON.stringify(value)} is not resolved here`);
  }
  return env;
}

/** CreateTable input for the template's table resource (what CloudFormation would send). */
export function tableInput(resource: Resource, tableName: string): CreateTableCommandInput {
  const p = resource.Properties;
  return {
    TableName: tableName,
    AttributeDefinitions: p['AttributeDefinitions'],
    KeySchema: p['KeySchema'],
    BillingMode: p['BillingMode'],
    ...(p['GlobalSecondaryIndexes'] === undefined
      ? {}
      : { GlobalSecondaryIndexes: p['GlobalSecondaryIndexes'] }),
  };
}

/** Starts the backends, their IAM gateways and the table. */
export async function startPackagedStack(options: PackagedStackOptions): Promise<PackagedStack> {
  const { packaged, stackName } = options;
  const place = options.place ?? ARTEFACT_PLACE;
  const started: { close(): Promise<void> }[] = [];
  const containers: Container[] = [];
  let dynamo: Dynalite | undefined;
  try {
    const secrets = await startSecretsManager();
    started.push(secrets);
    dynamo = await startDynalite();
    started.push(dynamo);
    const kms = await startKmsServer({ region: place.region, account: place.account });
    started.push(kms);
    const lambda: LambdaInvokeServer = await startLambdaInvokeServer();
    started.push(lambda);
    const eventBridge = await startEventBridgeServer();
    started.push(eventBridge);
    const table = `${stackName}-cache`;
    const client = dynamo.client();
    await client.send(new CreateTableCommand(tableInput(packaged.resources['CacheTable']!, table)));
    client.destroy();
    const iam = await enforceIam({
      resources: packaged.resources,
      place,
      stackName,
      functions: Object.fromEntries(
        (Object.keys(FUNCTIONS) as FunctionName[]).map((name) => [name, functionResourceId(name)]),
      ),
      table,
      upstreams: {
        secretsmanager: secrets.endpoint,
        dynamodb: dynamo.endpoint,
        kms: kms.url,
        lambda: lambda.endpoint,
        events: eventBridge.endpoint,
        ...(options.sts !== undefined && { sts: options.sts }),
      },
      lookups: { secret: (id) => secrets.describe(id), key: (id) => kms.describe(id) },
    });
    started.push(iam);
    return {
      secrets,
      kms,
      eventBridge,
      iam,
      table,
      dynamoDbEndpoint: dynamo.endpoint,
      async container(name, overrides = {}) {
        const resource = packaged.resources[functionResourceId(name)]!;
        const credentials = iam.environment(name);
        const container = await startContainer({
          taskRoot: packaged.unpack(name),
          handler: FUNCTIONS[name],
          functionName: `${stackName}-${name}`,
          runtime: String(resource.Properties['Runtime']),
          env: { ...templateEnvironment(resource, table), ...credentials, ...overrides },
          timeoutSeconds: Number(resource.Properties['Timeout']),
        });
        containers.push(container);
        return Object.assign(container, { accessKeyId: credentials['AWS_ACCESS_KEY_ID']! });
      },
      output: () => containers.map((c) => c.output()).join('\n'),
      async close() {
        await Promise.all(containers.map((c) => c.close()));
        for (const s of started.reverse()) await s.close();
      },
    };
  } catch (err) {
    for (const s of started.reverse()) await s.close();
    throw err;
  }
}
