/**
 * The one AWS call at run time: reading a version of the token secret. The
 * client (bundled, see esbuild.config.cjs) is evaluated on first use: the read
 * begun at start-up when authentication is on, never when it is off.
 *
 * The functions' client is configured from the environment Lambda gives it
 * (createSecretsManagerClient), not by the SDK's defaults, which look for
 * ~/.aws files and walk the default credential chain on a cold start
 * (docs/performance.md, "Authenticated cold start"). The commands run on a workstation (scripts/)
 * keep those defaults, for profiles and SSO (createWorkstationClient).
 *
 * The budget of a read covers everything it waits for: loading the SDK,
 * constructing the client, and the call (design: "Production").
 */
import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import type { FetchSecretVersion } from './caller-auth';
import { secretRegion } from './secret-arn';

type Sdk = typeof import('@aws-sdk/client-secrets-manager');
type Environment = Readonly<Record<string, string | undefined>>;

export interface SdkClient {
  sdk: Sdk;
  client: SecretsManagerClient;
}

/** Loads the SDK and constructs its client, for `region` (undefined: the SDK's own, AWS_REGION). */
export type LoadClient = (region?: string) => Promise<SdkClient>;

/** Short timeouts and one retry, for every client: a slow Secrets Manager must not outlast the cluster's timeout. */
const BOUNDED: SecretsManagerClientConfig = {
  maxAttempts: 2,
  // Without throwOnRequestTimeout the SDK only prints a warning when requestTimeout passes.
  requestHandler: { connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true },
};

/**
 * The functions' client: the one place it is constructed. The region is AWS_REGION, or `region`
 * when given: the endpoint (from the SDK's endpoint rules) and the signing region both follow it.
 * AWS_ENDPOINT_URL_SECRETS_MANAGER, when set (tests, local use), replaces the endpoint. The
 * credentials are the function role's, which Lambda always puts in AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, read once as the SDK's own environment provider
 * would be. Every other setting the SDK would look up in ~/.aws/config (which Lambda does not
 * have) is given here, so it reads no file. Throws, naming the variable, when one is missing.
 */
export function createSecretsManagerClient(sdk: Sdk, region?: string, env: Environment = process.env): SecretsManagerClient {
  const required = { AWS_REGION: region ?? env.AWS_REGION, AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY };
  const missing = Object.keys(required).filter((name) => !required[name as keyof typeof required]);
  if (missing.length > 0) {
    const names = missing.length === 1 ? `${missing[0]} is` : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)} are`;
    throw new Error(`Secrets Manager client: ${names} not set (Lambda sets the region and the function role's credentials in the environment)`);
  }
  const endpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  return new sdk.SecretsManagerClient({
    ...BOUNDED,
    region: required.AWS_REGION,
    credentials: {
      accessKeyId: required.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: required.AWS_SECRET_ACCESS_KEY as string,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
    },
    ...(endpoint ? { endpoint } : {}),
    ignoreConfiguredEndpointUrls: true,
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    retryMode: 'standard',
    disableClockSkewCorrection: false,
    authSchemePreference: [],
    userAgentAppId: () => Promise.resolve(undefined),
  });
}

/**
 * A loader of the SDK and one client per region for the process (a secret named by its ARN is read
 * in the ARN's region); a failed load or construction is forgotten, so the next read tries again.
 */
export function clientLoader(create: (sdk: Sdk, region?: string) => SecretsManagerClient): LoadClient {
  const loaded = new Map<string | undefined, Promise<SdkClient>>();
  return (region) => {
    const cached = loaded.get(region);
    if (cached) return cached;
    const loading = import('@aws-sdk/client-secrets-manager').then((sdk) => ({ sdk, client: create(sdk, region) }));
    loaded.set(region, loading);
    loading.catch(() => {
      if (loaded.get(region) === loading) loaded.delete(region);
    });
    return loading;
  };
}

/** The functions' client, configured from the environment. */
export const loadClient: LoadClient = clientLoader((sdk, region) => createSecretsManagerClient(sdk, region));

/**
 * A client with the SDK's own defaults (credentials from the environment, a profile, SSO, ...;
 * the region from AWS_REGION or the profile, unless given), for the commands in scripts/, run on a
 * workstation.
 */
export const createWorkstationClient = (sdk: Sdk, region?: string): SecretsManagerClient =>
  new sdk.SecretsManagerClient(region === undefined ? BOUNDED : { ...BOUNDED, region });

export const loadWorkstationClient: LoadClient = clientLoader(createWorkstationClient);

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
