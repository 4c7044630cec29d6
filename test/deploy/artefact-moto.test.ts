/**
 * The packaged functions against moto (`moto_server`): its Secrets Manager and DynamoDB,
 * a third-party implementation of the same wire protocols. Skipped with one line where
 * moto is not installed.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, it } from 'vitest';
import { MOTO_MISSING, motoServerPath, startMoto } from '../support/moto.ts';
import { defineArtefactSuite, tableInput } from './artefact-scenario.ts';

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
    return {
      secretsEndpoint: moto.endpoint,
      dynamoDbEndpoint: moto.endpoint,
      credentials: moto.credentials,
      putSecret: async (name, value) => {
        await secrets.send(
          new CreateSecretCommand({
            Name: name,
            ...('binary' in value ? { SecretBinary: value.binary } : { SecretString: value.text }),
          }),
        );
      },
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
