/**
 * A secret in another region (lib/auth/secret-arn.ts): Secrets Manager does not route by the ARN,
 * so a secret named by its ARN must be read by a client of the ARN's region. Checked on what the
 * real SDK does: the request's SigV4 credential scope (recorded by the local endpoint, which the
 * endpoint override points the client at) and, separately, the endpoint the client resolves for
 * its region without the override (its endpoint provider; nothing is fetched).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { secretRegion } from '../lib/auth/secret-arn';
import { type LoadClient, type SdkClient, loadClient, secretsManagerFetcher } from '../lib/auth/secrets-manager';
import { type SecretsManagerEndpoint, startSecretsManagerEndpoint, useEndpointEnvironment } from './support/secrets-manager-endpoint';

const TOKEN = 'tok-secret-arn-5b7d9f1a3c5e7b9d2f4a6c8e0a2c4e6b8d0f1a3c5e7b9d2f';
const BUDGET_MS = 3000;

describe('secretRegion', () => {
  it('reads the region of a secret ARN in any partition', () => {
    expect(secretRegion('arn:aws:secretsmanager:eu-west-1:111122223333:secret:shared/token-AbCdEf')).toBe('eu-west-1');
    expect(secretRegion('arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:token-AbCdEf')).toBe('cn-north-1');
    expect(secretRegion('arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:token-AbCdEf')).toBe('us-gov-west-1');
  });

  it('has none for a secret name, or for an ARN of another service', () => {
    for (const id of ['admission-webhooks/prod/token', 'arn-like/name', 'arn:aws:ssm:eu-west-1:111122223333:parameter/token']) {
      expect(secretRegion(id), id).toBeUndefined();
    }
  });
});

describe('reading a secret of another region than the function\'s (AWS_REGION us-east-1)', () => {
  let endpoint: SecretsManagerEndpoint;
  let restoreEnvironment: () => void;
  /** The clients the fetchers were given, by the region they asked for. */
  const used = new Map<string | undefined, SdkClient>();
  const recording: LoadClient = async (region) => {
    const loaded = await loadClient(region);
    used.set(region, loaded);
    return loaded;
  };
  const scopeRegion = () => /Credential=[^/]+\/\d{8}\/([^/]+)\/secretsmanager\/aws4_request/.exec(endpoint.requests.at(-1)?.authorization ?? '')?.[1];

  beforeAll(async () => {
    endpoint = await startSecretsManagerEndpoint('shared/token', 'eu-west-1');
    restoreEnvironment = useEndpointEnvironment(endpoint);
  });
  afterAll(async () => {
    await endpoint?.close();
    restoreEnvironment?.();
  });
  beforeEach(() => {
    endpoint.reset().setCurrent(TOKEN);
  });

  it('signs the request for the ARN\'s region', async () => {
    expect(endpoint.arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:/);
    await expect(secretsManagerFetcher(endpoint.arn, recording)('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN);
    expect(endpoint.requests.at(-1)?.secretId).toBe(endpoint.arn);
    expect(scopeRegion()).toBe('eu-west-1');
  });

  it('signs a secret named by its name for the function\'s own region', async () => {
    await expect(secretsManagerFetcher(endpoint.secretName, recording)('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN);
    expect(scopeRegion()).toBe('us-east-1');
  });

  it('resolves, without the endpoint override, the endpoint of the ARN\'s region (and the function\'s own for a name)', async () => {
    const endpointOf = async ({ client }: SdkClient) => {
      const { config } = client;
      const params = { Region: await config.region(), UseFIPS: await config.useFipsEndpoint(), UseDualStack: await config.useDualstackEndpoint() };
      return config.endpointProvider(params).url.href;
    };
    await secretsManagerFetcher(endpoint.arn, recording)('AWSCURRENT', BUDGET_MS);
    await secretsManagerFetcher(endpoint.secretName, recording)('AWSCURRENT', BUDGET_MS);
    expect(await endpointOf(used.get('eu-west-1')!)).toBe('https://secretsmanager.eu-west-1.amazonaws.com/');
    expect(await endpointOf(used.get(undefined)!)).toBe('https://secretsmanager.us-east-1.amazonaws.com/');
  });

  it('keeps one client per region for the process', async () => {
    expect(await loadClient('eu-west-1')).toBe(await loadClient('eu-west-1'));
    expect(await loadClient('eu-west-1')).not.toBe(await loadClient(undefined));
  });
});
