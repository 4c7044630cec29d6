/**
 * The packaged functions against loopback Secrets Manager (its JSON protocol) and dynalite,
 * under IAM enforced from the template's roles.
 */
import { CreateTableCommand, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { startDynalite } from '../support/dynalite.ts';
import { startSecretsManager } from '../support/secrets-manager-server.ts';
import { defineArtefactSuite, tableInput } from './artefact-scenario.ts';

defineArtefactSuite('packaged functions (loopback Secrets Manager, dynalite)', async () => {
  const secrets = await startSecretsManager();
  const dynamo = await startDynalite();
  const client = dynamo.client();
  return {
    secretsEndpoint: secrets.endpoint,
    dynamoDbEndpoint: dynamo.endpoint,
    putSecret: async (name, value, options = {}) => {
      secrets.put(
        name,
        'binary' in value ? { binary: value.binary } : { text: value.text },
        undefined,
        options.kmsKeyId === undefined ? {} : { kmsKeyId: options.kmsKeyId },
      );
    },
    secret: (secretId) => secrets.describe(secretId),
    createTable: async (resource) => {
      const input: CreateTableCommandInput = tableInput(resource, 'token-broker-ci-cache');
      await client.send(new CreateTableCommand(input));
      return input.TableName!;
    },
    close: async () => {
      client.destroy();
      await Promise.all([secrets.close(), dynamo.close()]);
    },
  };
});
