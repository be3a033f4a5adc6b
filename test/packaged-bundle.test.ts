/**
 * The deployed artifact itself: mutate.zip and validate.zip from `serverless
 * package`, unzipped and loaded with `require` in a plain Node process, as the
 * Lambda runtime does (CommonJS), with each function's environment from the
 * packaged template and the token secret named as a deploy must name it.
 * Caller authentication is on, so the Secrets Manager client bundled into the
 * zip really runs: it reads the token from a local Secrets Manager endpoint,
 * with no AWS SDK anywhere on the child's module path.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildResult, invokeUnzipped, localSecretsEnvironment } from './support/bundle';
import { SecretsManagerEndpoint } from './support/secrets-manager-endpoint';
import { ROOT, TMP_PREFIX, type PackagedService, comparableBody, extractZip, packagedService, savedEvents } from './support/serverless';

const TOKEN = 'local-test-token';

let service: PackagedService;
let secrets: SecretsManagerEndpoint;
let workDir: string;
const entries: Record<string, string[]> = {};

beforeAll(async () => {
  service = await packagedService();
  secrets = await SecretsManagerEndpoint.start('admission-webhooks/dev/token');
  secrets.setCurrent(JSON.stringify({ token: TOKEN }));
  workDir = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}bundle-`));
  for (const name of ['mutate', 'validate'] as const) entries[name] = extractZip(service.zip(name), join(workDir, name));
}, 150_000);

afterAll(async () => {
  await secrets?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Loads the unzipped handler with `require` in a child Node process and calls it with `event`. */
function invokeBundle(name: 'mutate' | 'validate', event: unknown): Promise<ChildResult> {
  const functionId = name === 'mutate' ? 'MutateLambdaFunction' : 'ValidateLambdaFunction';
  const variables = service.template.Resources[functionId]?.Properties?.Environment.Variables as Record<string, string>;
  return invokeUnzipped(join(workDir, name), name, {
    ...variables,
    // As a deploy must (the stage plugin refuses an empty value): name the token secret.
    WEBHOOK_TOKEN_SECRET_ID: 'admission-webhooks/dev/token',
    ...localSecretsEnvironment(secrets.url),
  }, event);
}

function savedEvent(name: string) {
  const found = savedEvents().find((event) => event.name === name);
  if (!found) throw new Error(`events/${name}.json and its .expected.json are missing`);
  return found;
}

describe('the packaged zips', () => {
  it.each(['mutate', 'validate'] as const)('%s.zip holds one CommonJS bundle with the Secrets Manager client tree-shaken to GetSecretValue, and the policy', (name) => {
    expect([...(entries[name] ?? [])].sort()).toEqual([`functions/${name}.js`, 'policy.json']);
    const code = readFileSync(join(workDir, name, 'functions', `${name}.js`), 'utf8');
    // No SDK module is left to load from outside the zip (the one mention is inside an error message
    // about the optional CRT signer: `...by calling [require("@aws-sdk/signature-v4-crt");]`).
    expect(code.replaceAll('[require("@aws-sdk/signature-v4-crt");]', '')).not.toMatch(/require\("@aws-sdk\//);
    expect(code).not.toMatch(/\bimport\s*\(|^\s*import\s|^\s*export\s/m);
    // The client, its request signer, and the one command used, not the others.
    expect(code).toContain('AWS4-HMAC-SHA256');
    expect(code).toContain('GetSecretValue');
    for (const command of ['ListSecrets', 'CreateSecret', 'PutSecretValue', 'DeleteSecret', 'RotateSecret']) expect(code).not.toContain(command);
  });
});

describe('the packaged handlers, loaded as the Lambda runtime loads them', () => {
  it('mutate gives the tutorial Pod imagePullPolicy Always and the registry-credentials pull secret', async () => {
    const { event, expected } = savedEvent('mutate-tutorial-pod');
    const { result } = await invokeBundle('mutate', { ...event, pathParameters: { token: TOKEN } });
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('application/json');
    const body = comparableBody(result.body) as any;
    expect(body.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect(body.response.patch).toEqual([
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] },
    ]);
    expect(body).toEqual(expected.body);
  });

  it('validate denies the tutorial Pod with the tutorial sentence', async () => {
    const { event, expected } = savedEvent('validate-tutorial-pod');
    const { result } = await invokeBundle('validate', { ...event, pathParameters: { token: TOKEN } });
    expect(result.statusCode).toBe(200);
    const body = comparableBody(result.body) as any;
    expect(body.response.allowed).toBe(false);
    expect(body.response.status).toEqual({
      code: 403,
      message: 'Invalid image. Images must come from registry.example.com: container "python" uses "python:3.9-slim"',
    });
    expect(body).toEqual(expected.body);
  });

  it('checks the path token against Secrets Manager through the bundled client, and refuses a wrong one with 403', async () => {
    const before = secrets.requests.length;
    const { event } = savedEvent('mutate-tutorial-pod');
    const { result, log } = await invokeBundle('mutate', { ...event, pathParameters: { token: 'wrong-token-0123456789' } });
    expect(result.statusCode).toBe(403);
    expect(log).toContain('request refused');
    expect(log).not.toContain('wrong-token-0123456789');
    expect(JSON.parse(result.body)).toMatchObject({ kind: 'Status', status: 'Failure', code: 403 });
    const calls = secrets.requests.slice(before);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((call) => call.secretId === 'admission-webhooks/dev/token' && call.target === 'secretsmanager.GetSecretValue')).toBe(true);
  });
});
