/**
 * The real AWS SDK client, through lib/auth/secrets-manager.ts, against a local
 * endpoint speaking the Secrets Manager JSON protocol. The client is a module
 * singleton, so the endpoint and environment are set once for the file, before
 * the first call creates it; each test scripts the endpoint afresh.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sdk from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SdkClient, clientLoader, createSecretsManagerClient, loadClient, secretsManagerFetcher } from '../lib/auth/secrets-manager';
import {
  type SecretsManagerEndpoint,
  serviceError,
  startSecretsManagerEndpoint,
  useEndpointEnvironment,
} from './support/secrets-manager-endpoint';

const TOKEN_A = 'tok-sm-alpha-3b5d7f9a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d2f4a6c8e';
const TOKEN_B = 'tok-sm-bravo-8e6c4a2f0d8b6e4c2a0f9d7b5e3c1a9f7d5b3e1c0a8f6d4b';
const BUDGET_MS = 3000;

let endpoint: SecretsManagerEndpoint;
let restoreEnvironment: () => void;
let fetchVersion: ReturnType<typeof secretsManagerFetcher>;

beforeAll(async () => {
  endpoint = await startSecretsManagerEndpoint('webhook/caller-token');
  restoreEnvironment = useEndpointEnvironment(endpoint);
  fetchVersion = secretsManagerFetcher(endpoint.secretName);
});

afterAll(async () => {
  await endpoint?.close();
  restoreEnvironment?.();
});

beforeEach(() => {
  endpoint.reset();
});

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { attempts?: number } }> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error;
}

describe('secretsManagerFetcher against a local Secrets Manager', () => {
  it('sends a signed GetSecretValue for AWSCURRENT and returns the SecretString', async () => {
    endpoint.setCurrent(TOKEN_A);
    await expect(fetchVersion('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
    expect(endpoint.requests).toHaveLength(1);
    const [request] = endpoint.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/',
      target: 'secretsmanager.GetSecretValue',
      secretId: 'webhook/caller-token',
      versionStage: 'AWSCURRENT',
    });
    expect(request?.contentType).toMatch(/^application\/x-amz-json-1\.1/);
    expect(request?.body).toEqual({ SecretId: 'webhook/caller-token', VersionStage: 'AWSCURRENT' });
    // Signed by the real SDK with the dummy credentials, for the region and service.
    expect(request?.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDLOCALTESTONLY0001\/\d{8}\/us-east-1\/secretsmanager\/aws4_request/);
  });

  it('asks for AWSPREVIOUS explicitly and returns it', async () => {
    endpoint.setCurrent(TOKEN_A).rotate(TOKEN_B);
    await expect(fetchVersion('AWSPREVIOUS', BUDGET_MS)).resolves.toBe(TOKEN_A);
    await expect(fetchVersion('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_B);
    expect(endpoint.requests.map((request) => request.versionStage)).toEqual(['AWSPREVIOUS', 'AWSCURRENT']);
    expect(endpoint.countFor('AWSPREVIOUS')).toBe(1);
    expect(endpoint.countFor('AWSCURRENT')).toBe(1);
  });

  it('works with the secret ARN as its id', async () => {
    endpoint.setCurrent(TOKEN_A);
    await expect(secretsManagerFetcher(endpoint.arn)('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
    expect(endpoint.requests[0]?.secretId).toBe(endpoint.arn);
  });

  it('resolves undefined where there is no AWSPREVIOUS version', async () => {
    endpoint.setCurrent(TOKEN_A);
    await expect(fetchVersion('AWSPREVIOUS', BUDGET_MS)).resolves.toBeUndefined();
    expect(endpoint.countFor('AWSPREVIOUS')).toBe(1);
  });

  it('rejects with ResourceNotFoundException where there is no AWSCURRENT version', async () => {
    const error = await rejection(fetchVersion('AWSCURRENT', BUDGET_MS));
    expect(error.name).toBe('ResourceNotFoundException');
  });

  it('rejects with ResourceNotFoundException for an unknown secret', async () => {
    endpoint.setCurrent(TOKEN_A);
    const error = await rejection(secretsManagerFetcher('no/such/secret')('AWSCURRENT', BUDGET_MS));
    expect(error.name).toBe('ResourceNotFoundException');
    expect(endpoint.requests[0]?.secretId).toBe('no/such/secret');
  });

  it('passes an empty SecretString through for the caller to refuse', async () => {
    endpoint.setCurrent('');
    await expect(fetchVersion('AWSCURRENT', BUDGET_MS)).resolves.toBe('');
  });

  it('rejects a binary-only AWSCURRENT without quoting it', async () => {
    endpoint.setCurrent({ binary: Buffer.from(TOKEN_A) });
    const error = await rejection(fetchVersion('AWSCURRENT', BUDGET_MS));
    expect(error.message).toMatch(/SecretString/);
    expect(`${error.message} ${error.stack}`).not.toContain(TOKEN_A);
    expect(`${error.message} ${error.stack}`).not.toContain(Buffer.from(TOKEN_A).toString('base64'));
  });

  it('treats a binary-only AWSPREVIOUS as absent, so it cannot block AWSCURRENT', async () => {
    endpoint.setCurrent({ binary: Buffer.from(TOKEN_A) }).rotate(TOKEN_B);
    await expect(fetchVersion('AWSPREVIOUS', BUDGET_MS)).resolves.toBeUndefined();
    await expect(fetchVersion('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_B);
  });

  it('propagates a 500 InternalServiceError after one retry', async () => {
    endpoint.setCurrent(TOKEN_A).failing();
    const error = await rejection(fetchVersion('AWSCURRENT', BUDGET_MS));
    expect(error.name).toBe('InternalServiceError');
    expect(error.$metadata?.attempts).toBe(2);
    expect(endpoint.countFor('AWSCURRENT')).toBe(2);
  });

  it('recovers from one 500 by retrying', async () => {
    endpoint.setCurrent(TOKEN_A).failing({ times: 1 });
    await expect(fetchVersion('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
    expect(endpoint.countFor('AWSCURRENT')).toBe(2);
  });

  it.each(['AWSCURRENT', 'AWSPREVIOUS'] as const)('propagates ThrottlingException for %s (not mistaken for a missing version)', async (stage) => {
    endpoint.setCurrent(TOKEN_A).rotate(TOKEN_B).throttling();
    const error = await rejection(fetchVersion(stage, BUDGET_MS));
    expect(error.name).toBe('ThrottlingException');
    expect(endpoint.countFor(stage)).toBeGreaterThanOrEqual(1);
    expect(endpoint.countFor(stage)).toBeLessThanOrEqual(2);
  });

  it('propagates other client errors without retrying', async () => {
    endpoint.setCurrent(TOKEN_A).setFault(serviceError('AccessDeniedException', 400, 'not authorized'));
    const error = await rejection(fetchVersion('AWSCURRENT', BUDGET_MS));
    expect(error.name).toBe('AccessDeniedException');
    expect(endpoint.countFor('AWSCURRENT')).toBe(1);
  });

  it('answers within the budget when the endpoint is only a little slow', async () => {
    endpoint.setCurrent(TOKEN_A).slow(100);
    await expect(fetchVersion('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
  });

  it('aborts a hanging request at about the budget and closes its connection', async () => {
    endpoint.setCurrent(TOKEN_A).slow();
    const budget = 400;
    const started = performance.now();
    const error = await rejection(fetchVersion('AWSCURRENT', budget));
    const elapsed = performance.now() - started;
    console.info(`hanging endpoint, budget ${budget} ms: rejected after ${Math.round(elapsed)} ms`);
    expect(error.name).toBe('AbortError');
    // Bounded, not a precise timing: well under 5x the budget.
    expect(elapsed).toBeLessThan(5 * budget);
    expect(endpoint.countFor('AWSCURRENT')).toBe(1);
    // The client gave up on the connection rather than leaving it open.
    await expect.poll(() => endpoint.requests[0]?.abandoned, { timeout: 2000 }).toBe(true);
  });

  it('aborts a hanging AWSPREVIOUS too, rather than calling it missing', async () => {
    endpoint.setCurrent(TOKEN_A).rotate(TOKEN_B).slow();
    const error = await rejection(fetchVersion('AWSPREVIOUS', 300));
    expect(error.name).toBe('AbortError');
  });

  it('cuts a stalled attempt with the request timeout and retries within the budget', async () => {
    // Only the first request stalls; the retry is answered at once. Without an
    // enforced request timeout, the first attempt would hang until the budget.
    endpoint.setCurrent(TOKEN_A).slow(Number.POSITIVE_INFINITY, { times: 1 });
    const started = performance.now();
    await expect(fetchVersion('AWSCURRENT', 5000)).resolves.toBe(TOKEN_A);
    const elapsed = performance.now() - started;
    console.info(`first attempt stalled, budget 5000 ms: answered by the retry after ${Math.round(elapsed)} ms`);
    expect(endpoint.countFor('AWSCURRENT')).toBe(2);
    expect(endpoint.requests[0]?.abandoned).toBe(true);
    expect(elapsed).toBeLessThan(5000);
  });
});

describe('the budget covers loading the SDK and constructing the client', () => {
  /** The real loader, made to take `delayMs` longer (a slow cold start: parsing the SDK, a busy CPU). */
  const slowLoad = (delayMs: number) => () =>
    new Promise<SdkClient>((resolve, reject) => {
      setTimeout(() => loadClient().then(resolve, reject), delayMs);
    });

  it('rejects at the budget while the SDK is still loading, not after the load', async () => {
    endpoint.setCurrent(TOKEN_A);
    const started = performance.now();
    const error = await rejection(secretsManagerFetcher(endpoint.secretName, slowLoad(3000))('AWSCURRENT', 300));
    const elapsed = performance.now() - started;
    console.info(`SDK load taking 3000 ms, budget 300 ms: rejected after ${Math.round(elapsed)} ms`);
    expect(error.name).toBe('TimeoutError');
    expect(elapsed).toBeLessThan(3000);
    expect(endpoint.requests).toHaveLength(0);
  });

  it('counts the load against the budget of the call: a slow load plus a hanging endpoint ends at the budget', async () => {
    endpoint.setCurrent(TOKEN_A).slow();
    const started = performance.now();
    const error = await rejection(secretsManagerFetcher(endpoint.secretName, slowLoad(600))('AWSCURRENT', 800));
    const elapsed = performance.now() - started;
    console.info(`SDK load 600 ms + hanging endpoint, budget 800 ms: rejected after ${Math.round(elapsed)} ms`);
    expect(error.name).toBe('AbortError');
    // Before, the call got a whole budget of its own after the load: 600 + 800 ms.
    expect(elapsed).toBeLessThan(1400);
    expect(endpoint.countFor('AWSCURRENT')).toBe(1);
  });

  it('answers when load and call fit in the budget', async () => {
    endpoint.setCurrent(TOKEN_A);
    await expect(secretsManagerFetcher(endpoint.secretName, slowLoad(100))('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
  });

  it('tries the load again after a failed one', async () => {
    endpoint.setCurrent(TOKEN_A);
    let attempts = 0;
    const flaky = () => {
      attempts += 1;
      return attempts === 1 ? Promise.reject(new Error('Cannot find module')) : loadClient();
    };
    const fetch = secretsManagerFetcher(endpoint.secretName, flaky);
    await expect(fetch('AWSCURRENT', BUDGET_MS)).rejects.toThrow('Cannot find module');
    await expect(fetch('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
    expect(attempts).toBe(2);
  });

  it('loads the SDK and constructs the client once for the process', async () => {
    expect(await loadClient()).toBe(await loadClient());
  });
});

describe('the functions\' client, configured from the environment Lambda gives it', () => {
  /** The request the client would send, signed, captured instead of sent. */
  async function signedRequest(client: sdk.SecretsManagerClient): Promise<{ hostname: string; authorization: string }> {
    let captured: { hostname: string; headers: Record<string, string> } | undefined;
    client.middlewareStack.addRelativeTo(
      () => async (args: { request: unknown }) => {
        captured = args.request as typeof captured;
        throw new Error('captured before sending');
      },
      { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'captureSignedRequest' },
    );
    await expect(client.send(new sdk.GetSecretValueCommand({ SecretId: 'webhook/caller-token' }))).rejects.toThrow('captured before sending');
    return { hostname: captured?.hostname ?? '', authorization: captured?.headers.authorization ?? '' };
  }

  const lambdaEnvironment = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDLOCALTESTONLY0002', AWS_SECRET_ACCESS_KEY: 'local-test-secret', AWS_SESSION_TOKEN: 'local-test-session' };

  it('sends to the regional endpoint of AWS_REGION, signed for it with the role credentials and session token', async () => {
    const { hostname, authorization } = await signedRequest(createSecretsManagerClient(sdk, undefined, lambdaEnvironment));
    expect(hostname).toBe('secretsmanager.us-east-1.amazonaws.com');
    expect(authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDLOCALTESTONLY0002\/\d{8}\/us-east-1\/secretsmanager\/aws4_request/);
    expect(authorization).toMatch(/SignedHeaders=[^,]*x-amz-security-token/);
  });

  it('follows a region given to it: both the endpoint and the signing region', async () => {
    const { hostname, authorization } = await signedRequest(createSecretsManagerClient(sdk, 'eu-west-1', lambdaEnvironment));
    expect(hostname).toBe('secretsmanager.eu-west-1.amazonaws.com');
    expect(authorization).toMatch(/\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request/);
  });

  it('sends to AWS_ENDPOINT_URL_SECRETS_MANAGER when set, signed for the region given to it', async () => {
    endpoint.setCurrent(TOKEN_A);
    const load = clientLoader((loaded) => createSecretsManagerClient(loaded, 'eu-west-1'));
    await expect(secretsManagerFetcher(endpoint.secretName, load)('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
    expect(endpoint.requests[0]?.authorization).toMatch(/\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request/);
  });

  it('reads no ~/.aws/config: an endpoint_url or region there changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aws-config-'));
    const saved = process.env.AWS_CONFIG_FILE;
    try {
      process.env.AWS_CONFIG_FILE = join(dir, 'config');
      writeFileSync(process.env.AWS_CONFIG_FILE, '[default]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9\n');
      const { hostname } = await signedRequest(createSecretsManagerClient(sdk, undefined, lambdaEnvironment));
      expect(hostname).toBe('secretsmanager.us-east-1.amazonaws.com');
    } finally {
      process.env.AWS_CONFIG_FILE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['AWS_SECRET_ACCESS_KEY'], /^Secrets Manager client: AWS_SECRET_ACCESS_KEY is not set \(Lambda sets the region and the function role's credentials/],
    [['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'], /: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set/],
    [['AWS_REGION'], /: AWS_REGION is not set/],
  ])('refuses to construct without %j, naming what is missing', (names, message) => {
    const env: Record<string, string | undefined> = { ...lambdaEnvironment };
    for (const name of names) delete env[name];
    expect(() => createSecretsManagerClient(sdk, undefined, env)).toThrow(message);
  });

  it('needs no AWS_REGION when a region is given, nor a session token (long-term keys, local use)', async () => {
    const { hostname, authorization } = await signedRequest(
      createSecretsManagerClient(sdk, 'eu-west-1', { AWS_ACCESS_KEY_ID: 'AKIDLOCALTESTONLY0003', AWS_SECRET_ACCESS_KEY: 'local-test-secret' }),
    );
    expect(hostname).toBe('secretsmanager.eu-west-1.amazonaws.com');
    expect(authorization).not.toMatch(/x-amz-security-token/);
  });

  it('a read with a client that cannot be constructed rejects with that error, and the next read constructs again', async () => {
    endpoint.setCurrent(TOKEN_A);
    const env: Record<string, string | undefined> = { ...process.env, AWS_SECRET_ACCESS_KEY: undefined };
    const fetch = secretsManagerFetcher(endpoint.secretName, clientLoader((loaded) => createSecretsManagerClient(loaded, undefined, env)));
    await expect(fetch('AWSCURRENT', BUDGET_MS)).rejects.toThrow(/AWS_SECRET_ACCESS_KEY is not set/);
    env.AWS_SECRET_ACCESS_KEY = process.env.AWS_SECRET_ACCESS_KEY;
    await expect(fetch('AWSCURRENT', BUDGET_MS)).resolves.toBe(TOKEN_A);
    expect(endpoint.requests).toHaveLength(1);
  });
});
