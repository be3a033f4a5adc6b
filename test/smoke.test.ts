/**
 * scripts/smoke.ts against small HTTP servers on 127.0.0.1 that call the real handlers
 * (configuredHandler, as functions/*.ts build them) the way API Gateway does: only
 * `POST /{mutate,validate}/{token}` is routed, anything else gets API Gateway's 403
 * "Missing Authentication Token". Authentication off, and on with the real SDK reading the
 * token from the local Secrets Manager endpoint, over HTTP and over HTTPS with a self-signed
 * certificate made by openssl; plus servers that answer wrongly, echo the path or never answer.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
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
/** A file that is no PEM certificate (this suite's own source). */
const NOT_PEM = import.meta.filename;

type Answer = (webhook: string, token: string, body: string, query: URLSearchParams) => Promise<GatewayResult>;

/** A server that routes like the REST API of serverless.yml and hands each POST to `answer`; over HTTPS with `tls`. */
async function gatewayServer(answer: Answer, tls?: { key: string; cert: string }): Promise<{ url: string; close: () => Promise<void> }> {
  const listener = (request: IncomingMessage, response: ServerResponse) => {
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
  };
  const server: Server = tls ? createHttpsServer(tls, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The real handlers behind the gateway, with `env` as the functions' environment. */
function handlersServer(env: Record<string, string>, tls?: { key: string; cert: string }) {
  const quiet = () => undefined;
  const handlers = { mutate: configuredHandler('mutate', mutatePod, env, { log: quiet }), validate: configuredHandler('validate', validateImages, env, { log: quiet }) };
  return gatewayServer((webhook, token, body, query) =>
    handlers[webhook as 'mutate' | 'validate'](gatewayEvent(webhook, body, { token, timeout: query.get('timeout') })),
    tls,
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
/** The authenticated handlers over HTTPS, with a self-signed certificate for 127.0.0.1 (certs/cert.pem of `npm start -- --httpsProtocol certs`). */
let secure: Awaited<ReturnType<typeof gatewayServer>>;
let certs: string;

beforeAll(async () => {
  endpoint = await startSecretsManagerEndpoint('admission-webhooks/dev/token');
  endpoint.setCurrent(JSON.stringify({ token: TOKEN }));
  restoreEnvironment = useEndpointEnvironment(endpoint);
  certs = mkdtempSync(join(tmpdir(), 'smoke-certs-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'cert.pem')],
    { stdio: 'ignore', timeout: 30_000 },
  );
  open = await handlersServer({});
  authenticated = await handlersServer({ WEBHOOK_TOKEN_SECRET_ID: endpoint.secretName });
  secure = await handlersServer({ WEBHOOK_TOKEN_SECRET_ID: endpoint.secretName }, { key: readFileSync(join(certs, 'key.pem'), 'utf8'), cert: readFileSync(join(certs, 'cert.pem'), 'utf8') });
});

afterAll(async () => {
  await open?.close();
  await authenticated?.close();
  await secure?.close();
  await endpoint?.close();
  restoreEnvironment?.();
  if (certs) rmSync(certs, { recursive: true, force: true });
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
    expect(strict.stdout).toContain(
      'expected 403, got 200: the endpoint accepted a wrong token, so its caller authentication is off (npm start without a token secret); if that is meant, run again with --auth-off\n',
    );
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

  it('trusts a self-signed certificate given with --ca-bundle, and says to give one when it is missing', async () => {
    const trusted = await smoke(['--url', secure.url, '--token', TOKEN, '--ca-bundle', join(certs, 'cert.pem')]);
    expect(trusted.stderr).toBe('');
    expect(trusted.stdout).toContain(`smoke test of ${secure.url} (token from --token)`);
    expect(trusted.stdout).toContain('5 of 5 checks passed');
    expect(trusted.code).toBe(0);
    expectNoToken(trusted.stdout);
    const untrusted = await smoke(['--url', secure.url, '--token', TOKEN]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stdout).toContain('0 of 5 checks passed');
    expect(untrusted.stdout).toContain(
      'Error: self-signed certificate (for a self-signed or private certificate, give it with --ca-bundle <pem file>)',
    );
  });

  it('blanks the token where it stands in a URL path, and only there', async () => {
    // A short local token whose letters are also a word of the output; a server that echoes the path.
    const echo = await gatewayServer(async (webhook, token) => ({
      statusCode: 502,
      headers: { 'content-type': 'text/plain' },
      body: `no upstream for /${webhook}/${encodeURIComponent(token)}?timeout=10s and /${webhook}/${token}, a test route`,
    }));
    try {
      const { code, stdout } = await smoke(['--url', echo.url, '--token', 'test']);
      expect(code).toBe(1);
      expect(stdout).toContain(`smoke test of ${echo.url} (token from --token)`);
      expect(stdout).toContain('expected 200 allowed, got 502: no upstream for /mutate/<token>?timeout=10s and /mutate/<token>, a test route');
      expect(stdout).not.toMatch(/\/(mutate|validate)\/test\b/);
    } finally {
      await echo.close();
    }
  });

  it('says which check got no answer within --timeout', async () => {
    // mutate never answers; everything else is refused at once.
    const stuck = await gatewayServer((webhook) =>
      webhook === 'mutate' ? new Promise(() => undefined) : Promise.resolve({ statusCode: 403, headers: {}, body: '{"message":"Forbidden"}' }),
    );
    try {
      const { code, stdout } = await smoke(['--url', stuck.url, '--token', TOKEN, '--timeout', '1']);
      expect(code).toBe(1);
      expect(stdout).toMatch(/FAIL {2}mutate, tutorial Pod: patched with the pull secret {2}\d+ ms\n {6}no answer within 1 s \(--timeout\)\n/);
    } finally {
      await stuck.close();
    }
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
    [['--url', 'http://127.0.0.1:3000', '--token', 't', '--ca-bundle', 'certs/cert.pem'], '--ca-bundle goes with an https --url'],
    [['--url', 'https://127.0.0.1:3000', '--token', 't', '--ca-bundle', '/nonexistent/cert.pem'], '--ca-bundle "/nonexistent/cert.pem" cannot be read: ENOENT'],
    [['--url', 'https://127.0.0.1:3000', '--token', 't', '--ca-bundle', NOT_PEM], '--ca-bundle must be a PEM file with at least one certificate'],
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
