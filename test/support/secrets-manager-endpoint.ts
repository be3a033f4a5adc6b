/**
 * The tests' local Secrets Manager endpoint: the stand-in that `npm run secrets-endpoint` serves
 * (scripts/secrets-endpoint.ts), plus the helpers that point the SDK of this process at it.
 */
import { SecretsManagerEndpoint } from '../../scripts/secrets-endpoint';

export * from '../../scripts/secrets-endpoint';

/** Starts an endpoint; close it in afterAll / afterEach. */
export const startSecretsManagerEndpoint = (secretName?: string, region?: string) => SecretsManagerEndpoint.start(secretName, region);

/** The environment that points the AWS SDK at `endpoint`, with dummy credentials and no shared config files. */
export function endpointEnvironment(endpoint: SecretsManagerEndpoint): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDLOCALTESTONLY0001',
    AWS_SECRET_ACCESS_KEY: 'local-test-secret-access-key-not-real',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/**
 * Points this process's AWS SDK at `endpoint` (endpointEnvironment); returns a function that
 * restores the previous environment.
 */
export function useEndpointEnvironment(endpoint: SecretsManagerEndpoint): () => void {
  const values = endpointEnvironment(endpoint);
  const cleared = ['AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_ENDPOINT_URL', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS'];
  const saved = new Map<string, string | undefined>();
  for (const name of [...Object.keys(values), ...cleared]) saved.set(name, process.env[name]);
  for (const name of cleared) delete process.env[name];
  Object.assign(process.env, values);
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
