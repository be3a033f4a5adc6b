/**
 * The one AWS call at run time: reading a version of the token secret. The SDK
 * is loaded on first use, so a cold start that never needs it does not pay
 * for it. `AWS_ENDPOINT_URL_SECRETS_MANAGER` is honoured by the SDK itself.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { FetchSecretVersion } from './caller-auth';

/** Short timeouts and one retry: a slow Secrets Manager must not outlast the cluster's timeout. */
const CONNECTION_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
const MAX_ATTEMPTS = 2;

let client: Promise<{ sdk: typeof import('@aws-sdk/client-secrets-manager'); client: SecretsManagerClient }> | undefined;

function sdkClient() {
  client ??= import('@aws-sdk/client-secrets-manager').then((sdk) => ({
    sdk,
    client: new sdk.SecretsManagerClient({
      maxAttempts: MAX_ATTEMPTS,
      // Without throwOnRequestTimeout the SDK only prints a warning when requestTimeout passes.
      requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    }),
  }));
  return client;
}

export function secretsManagerFetcher(secretId: string): FetchSecretVersion {
  return async (stage, budgetMs) => {
    const { sdk, client } = await sdkClient();
    try {
      const result = await client.send(new sdk.GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }), {
        abortSignal: AbortSignal.timeout(budgetMs),
      });
      if (typeof result.SecretString !== 'string') {
        // Like any malformed AWSPREVIOUS, a binary-only previous version must not block AWSCURRENT.
        if (stage === 'AWSPREVIOUS') return undefined;
        throw new Error('the secret has no SecretString (binary secrets are not supported)');
      }
      return result.SecretString;
    } catch (error) {
      if (stage === 'AWSPREVIOUS' && error instanceof sdk.ResourceNotFoundException) return undefined;
      throw error;
    }
  };
}
