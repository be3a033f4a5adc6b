/**
 * scripts/smoke.ts against small HTTP servers on 127.0.0.1 that call the real handlers
 * (configuredHandler, as functions/*.ts build them) the way API Gateway does: only
 * `POST /{mutate,validate}/{token}` is routed, anything else gets API Gateway's 403
 * "Missing Authentication Token". Authentication off, and on with the real SDK reading the
 * token from the local Secrets Manager endpoint; plus a server that answers wrongly.
 */
import { execFile } from 'node:child_process';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutatePod } from '../lib/policies/mutate';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import { gatewayEvent } from '../lib/transport/admission-event';
import type { GatewayResult } from '../lib/transport/http';
import { USAGE, firstAllowedRule, imageUnder, main, parseSmokeArgs } from '../scripts/smoke';
import { type SecretsManagerEndpoint, startSecretsManagerEndpoint, useEndpointEnvironment } from './support/secrets-manager-endpoint';
import { ROOT } from './support/serverless';

const TOKEN = 'tok-smoke-5e7a9c1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f';

type Answer = (webhook: string, token: string, body: string, query: URLSearchParams) => Promise<GatewayResult>;

/** A server that routes like the REST API of serverless.yml and hands each POST to `answer`. */
async function gatewayServer(answer: Answer): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const route = /^\/(mutate|validate)\/([^/]+)$/.exec(url.pathname);
      if (request.method !== 'POST' || !route) {
        response.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'MissingAuthenticationTokenException' });
        response.end(JSON.stringify({ message: 'Missing Authentication Token' }));
        return;
      }
      const result = await answer(route[1] as string, decodeURIComponent(route[2] as string), Buffer.concat(chunks).toString('utf8'), url.searchParams);
      response.writeHead(result.statusCode, result.headers as Record<string, string>);
      response.end(result.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The real handlers behind the gateway, with `env` as the functions' environment. */
function handlersServer(env: Record<string, string>) {
  const quiet = () => undefined;
  const handlers = { mutate: configuredHandler('mutate', mutatePod, env, { log: quiet }), validate: configuredHandler('validate', validateImages, env, { log: quiet }) };
  return gatewayServer((webhook, token, body, query) =>
    handlers[webhook as 'mutate' | 'validate'](gatewayEvent(webhook, body, { token, timeout: query.get('timeout') })),
  );
}

async function smoke(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
  return { code, stdout, stderr };
}

/** Any 12-character piece of the token: a token cut short is still a leak. */
function expectNoToken(text: string): void {
  for (let start = 0; start + 12 <= TOKEN.length; start += 1) expect(text).not.toContain(TOKEN.slice(start, start + 12));
}

let endpoint: SecretsManagerEndpoint;
let restoreEnvironment: () => void;
let open: Awaited<ReturnType<typeof gatewayServer>>;
let authenticated: Awaited<ReturnType<typeof gatewayServer>>;

beforeAll(async () => {
  endpoint = await startSecretsManagerEndpoint('admission-webhooks/dev/token');
  endpoint.setCurrent(JSON.stringify({ token: TOKEN }));
  restoreEnvironment = useEndpointEnvironment(endpoint);
  open = await handlersServer({});
  authenticated = await handlersServer({ WEBHOOK_TOKEN_SECRET_ID: endpoint.secretName });
});

afterAll(async () => {
  await open?.close();
  await authenticated?.close();
  await endpoint?.close();
  restoreEnvironment?.();
});

describe('smoke against the real handlers', () => {
  it('passes with authentication on and --token, printing every check with its latency and never the token', async () => {
    const { code, stdout, stderr } = await smoke(['--url', authenticated.url, '--token', TOKEN]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines.filter((line) => /^PASS {2}.* \d+ ms$/.test(line))).toHaveLength(5);
    expect(stdout).toContain('pull secret registry-credentials');
    expect(stdout).toContain('Invalid image. Images must come from registry.example.com: container "python" uses "python:3.9-slim"');
    expect(stdout).toContain('Pod from an allowed registry (registry.example.com/smoke-test@sha256:');
    expect(stdout).toContain('wrong token: refused with 403');
    expect(stdout).toContain('403, API Gateway (no GET route');
    expect(stdout).toContain('5 of 5 checks passed');
    expectNoToken(stdout);
  });

  it('passes with --secret-id, reading the token from Secrets Manager (the region from AWS_REGION)', async () => {
    const { code, stdout } = await smoke(['--url', authenticated.url, '--secret-id', endpoint.secretName], { AWS_REGION: 'us-east-1' });
    expect(code).toBe(0);
    expect(stdout).toContain(`token from secret ${endpoint.secretName}`);
    expectNoToken(stdout);
  });

  it('fails (1) on the wrong-token check when authentication is off, and passes with --auth-off', async () => {
    const strict = await smoke(['--url', open.url, '--token', TOKEN]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/FAIL {2}wrong token: refused with 403 {2}\d+ ms\n {6}expected 403, got 200/);
    expect(strict.stdout).toContain('4 of 5 checks passed');
    const relaxed = await smoke(['--url', open.url, '--token', 'anything', '--auth-off']);
    expect(relaxed.code).toBe(0);
    expect(relaxed.stdout).toContain('wrong token: accepted (--auth-off)');
  });

  it('fails (1) with a wrong token of its own: every webhook check is refused', async () => {
    const { code, stdout } = await smoke(['--url', authenticated.url, '--token', `${TOKEN}-not`]);
    expect(code).toBe(1);
    expect(stdout.match(/^FAIL/gm)).toHaveLength(3);
    expect(stdout).toContain('expected 200 allowed, got 403');
    // A bound cluster's token from elsewhere gets the same answer; the output says so.
    expect(stdout.match(/\(403 to this token: it is not the endpoint's, or the policy binds its cluster \(sourceIps, vpcEndpointIds\) and this machine calls from elsewhere\)/g)).toHaveLength(2);
    expectNoToken(stdout);
  });

  it('uses --allowed-image for the allowed Pod, and fails when that image is not allowed', async () => {
    const allowed = await smoke(['--url', open.url, '--token', TOKEN, '--auth-off', '--allowed-image', 'registry.example.com/team/app:1.2']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('(registry.example.com/team/app:1.2): allowed');
    const denied = await smoke(['--url', open.url, '--token', TOKEN, '--auth-off', '--allowed-image', 'busybox']);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/FAIL {2}validate, Pod from an allowed registry \(busybox\)/);
  });

  it('fails (1) when nothing listens at the URL', async () => {
    const { code, stdout } = await smoke(['--url', 'http://127.0.0.1:9', '--token', TOKEN, '--timeout', '2']);
    expect(code).toBe(1);
    expect(stdout).toContain('0 of 5 checks passed');
    expectNoToken(stdout);
  });
});

describe('smoke against a server that answers wrongly', () => {
  let wrong: Awaited<ReturnType<typeof gatewayServer>>;
  beforeAll(async () => {
    // Allows everything, patches nothing, and accepts any token and any method: a broken deployment.
    wrong = await gatewayServer(async (_webhook, _token, body) => {
      const { request } = JSON.parse(body);
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', response: { uid: request.uid, allowed: true } }) };
    });
  });
  afterAll(async () => wrong?.close());

  it('exits 1 and says which checks failed', async () => {
    const { code, stdout } = await smoke(['--url', wrong.url, '--token', TOKEN]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/FAIL {2}mutate, tutorial Pod.*\n {6}allowed without a JSON Patch/);
    expect(stdout).toMatch(/FAIL {2}validate, tutorial Pod.*\n {6}expected 200 denied, got 200/);
    expect(stdout).toMatch(/FAIL {2}wrong token: refused with 403/);
    expect(stdout).toContain('1 of 5 checks passed');
    expectNoToken(stdout);
  });
});

describe('smoke usage', () => {
  it.each([
    [[], '--url <base URL> is required'],
    [['--url', 'http://127.0.0.1:3000'], 'one of --token <token> or --secret-id <name or ARN> is required'],
    [['--url', 'http://127.0.0.1:3000', '--token', 't', '--secret-id', 's'], 'give --token or --secret-id, not both'],
    [['--url', 'http://127.0.0.1:3000', '--secret-id', 's'], '--secret-id needs a region: --region <region> or AWS_REGION'],
    [['--url', 'http://127.0.0.1:3000', '--token'], '--token needs a value'],
    [['--url', 'not a url', '--token', 't'], '--url must be an absolute http(s) URL'],
    [['--url', 'http://127.0.0.1:3000/?x=1', '--token', 't'], '--url must be the base URL only'],
    [['--url', 'http://127.0.0.1:3000', '--token', 't', '--region', 'eu-west-1'], '--region and --cluster go with --secret-id'],
    [['--url', 'http://127.0.0.1:3000', '--token', 't', '--timeout', '0'], '--timeout must be a whole number'],
    [['--url', 'http://127.0.0.1:3000', '--tokn', 't'], 'unknown argument "--tokn"'],
  ])('%j: exit 2, naming the problem', async (argv, message) => {
    const { code, stdout, stderr } = await smoke(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`smoke: ${message}`);
    expect(stderr).toContain('usage: npm run smoke');
  });

  it('prints the usage for --help and exits 0', async () => {
    const { code, stdout } = await smoke(['--help']);
    expect(code).toBe(0);
    expect(stdout).toBe(`${USAGE}\n`);
  });

  it('takes the region from --region, then AWS_REGION, then AWS_DEFAULT_REGION', () => {
    const base = ['--url', 'https://webhooks.example.com/', '--secret-id', 's'];
    expect(parseSmokeArgs([...base, '--region', 'eu-west-1'], { AWS_REGION: 'us-east-1' })).toMatchObject({ region: 'eu-west-1', url: 'https://webhooks.example.com' });
    expect(parseSmokeArgs(base, { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'eu-west-2' })).toMatchObject({ region: 'us-east-1' });
    expect(parseSmokeArgs(base, { AWS_DEFAULT_REGION: 'eu-west-2' })).toMatchObject({ region: 'eu-west-2' });
  });

  it('reads the first allowed registry rule from the denial sentence', () => {
    expect(firstAllowedRule('Invalid image. Images must come from registry.example.com:5000/team, other.example.com: container "a" uses "b"')).toBe(
      'registry.example.com:5000/team',
    );
    expect(firstAllowedRule('something else')).toBeUndefined();
    expect(imageUnder('registry.example.com/team')).toMatch(/^registry\.example\.com\/team\/smoke-test@sha256:0{64}$/);
  });

  it('chooses a fleet secret token with --cluster, and names the clusters when it is missing', async () => {
    endpoint.setCurrent(JSON.stringify({ tokens: { 'prod-eu': TOKEN, 'staging-us': 'tok-other' } }));
    try {
      const chosen = await smoke(['--url', authenticated.url, '--secret-id', endpoint.secretName, '--cluster', 'prod-eu'], { AWS_REGION: 'us-east-1' });
      expect(chosen.code).toBe(0);
      expectNoToken(chosen.stdout);
      const missing = await smoke(['--url', authenticated.url, '--secret-id', endpoint.secretName], { AWS_REGION: 'us-east-1' });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('the secret is a fleet secret: choose one with --cluster (prod-eu, staging-us)');
      expectNoToken(missing.stderr);
    } finally {
      endpoint.setCurrent(JSON.stringify({ token: TOKEN }));
    }
  });
});

describe('npm run smoke, as a command', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'scripts/smoke.ts'), ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });

  // One process start (tsx takes a couple of seconds); the exit codes 1 and 2 are checked in process above.
  it('exits 0 against the authenticated handlers, without the token in its output', async () => {
    const passed = await run(['--url', authenticated.url, '--token', TOKEN]);
    expect(passed.code).toBe(0);
    expect(passed.stdout).toContain('5 of 5 checks passed');
    expectNoToken(passed.stdout + passed.stderr);
  }, 60_000);
});
