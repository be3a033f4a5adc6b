/**
 * The one AWS call at run time: reading a version of the token secret. The
 * client (bundled, see esbuild.config.cjs) is evaluated on first use: the read
 * begun at start-up when authentication is on, never when it is off.
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` is honoured by the SDK itself.
 *
 * The budget of a read covers everything it waits for: loading the SDK,
 * constructing the client, and the call (design: "Production").
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { FetchSecretVersion } from './caller-auth';
import { secretRegion } from './secret-arn';

/** Short timeouts and one retry: a slow Secrets Manager must not outlast the cluster's timeout. */
const CONNECTION_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
const MAX_ATTEMPTS = 2;

export interface SdkClient {
  sdk: typeof import('@aws-sdk/client-secrets-manager');
  client: SecretsManagerClient;
}

/** Loads the SDK and constructs its client, for `region` (undefined: the SDK's own, AWS_REGION). */
export type LoadClient = (region?: string) => Promise<SdkClient>;

const loaded = new Map<string | undefined, Promise<SdkClient>>();

/** The SDK and client, loaded once per region for the process; a failed load is forgotten, so the next read tries again. */
export const loadClient: LoadClient = (region) => {
  const cached = loaded.get(region);
  if (cached) return cached;
  const loading = import('@aws-sdk/client-secrets-manager').then((sdk) => ({
    sdk,
    client: new sdk.SecretsManagerClient({
      region,
      maxAttempts: MAX_ATTEMPTS,
      // Without throwOnRequestTimeout the SDK only prints a warning when requestTimeout passes.
      requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    }),
  }));
  loaded.set(region, loading);
  loading.catch(() => {
    if (loaded.get(region) === loading) loaded.delete(region);
  });
  return loading;
};

/** `promise`, or the signal's reason once it aborts first (the work itself goes on, unobserved). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

export function secretsManagerFetcher(secretId: string, load: LoadClient = loadClient): FetchSecretVersion {
  const region = secretRegion(secretId);
  return async (stage, budgetMs) => {
    // One deadline from the start of the read, shared by the SDK load and the call.
    const signal = AbortSignal.timeout(budgetMs);
    const { sdk, client } = await untilAborted(load(region), signal);
    try {
      const result = await client.send(new sdk.GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }), { abortSignal: signal });
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
