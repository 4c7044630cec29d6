/**
 * The packaged functions against moto (`moto_server`): its Secrets Manager and DynamoDB,
 * a third-party implementation of the same wire protocols, under IAM enforced from the
 * template's roles (moto itself enforces none). Skipped with one line where moto is not
 * installed.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, it } from 'vitest';
import { secretDirectory } from '../support/iam-requests.ts';
import { MOTO_MISSING, motoServerPath, startMoto } from '../support/moto.ts';
import { defineArtefactSuite, SECRET_SUFFIX, tableInput } from './artefact-scenario.ts';

if (motoServerPath() === undefined) {
  describe('packaged functions (moto)', () => {
    it.skip(MOTO_MISSING, () => undefined);
  });
} else {
  defineArtefactSuite('packaged functions (moto Secrets Manager and DynamoDB)', async () => {
    const moto = await startMoto();
    const config = { endpoint: moto.endpoint, region: 'eu-west-1', credentials: moto.credentials };
    const secrets = new SecretsManagerClient(config);
    const dynamo = new DynamoDBClient(config);
    const directory = secretDirectory();
    return {
      secretsEndpoint: moto.endpoint,
      dynamoDbEndpoint: moto.endpoint,
      putSecret: async (name, value, options = {}) => {
        const created = await secrets.send(
          new CreateSecretCommand({
            Name: name,
            ...('binary' in value ? { SecretBinary: value.binary } : { SecretString: value.text }),
            ...(options.kmsKeyId === undefined ? {} : { KmsKeyId: options.kmsKeyId }),
            // moto's way to fix the ARN's random suffix (the profiles name one secret by full ARN).
            Tags: [{ Key: '_custom_id_', Value: SECRET_SUFFIX }],
          }),
        );
        directory.register({ arn: created.ARN!, kmsKeyId: options.kmsKeyId });
      },
      secret: (secretId) => directory.lookup(secretId),
      createTable: async (resource) => {
        const input = tableInput(resource, 'token-broker-ci-cache');
        await dynamo.send(new CreateTableCommand(input));
        return input.TableName!;
      },
      close: async () => {
        secrets.destroy();
        dynamo.destroy();
        await moto.close();
      },
    };
  });
}
