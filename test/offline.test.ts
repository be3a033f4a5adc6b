/**
 * Local use, as the README shows it: serverless-offline serving both webhooks
 * (the `local` stage: defaults, authentication off) over HTTP and, with a
 * certificate made here by openssl, over HTTPS; and `npm run invoke`. A few
 * representative saved events per protocol go to their function's route (and
 * through `serverless invoke local`), and each answer must equal the event's
 * `.expected.json`: every saved event is already run through its handler
 * in-process by test/events.test.ts (and the bundled code by
 * test/packaged-bundle.test.ts), so here only the transport is under test.
 * The HTTP and HTTPS servers start once each, side by side, each from its own
 * service copy (so their build folders are apart).
 *
 * Every server runs in its own process group, started here, and is stopped by
 * that group's id; every request and wait has a time limit.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  SERVERLESS_BIN,
  type SavedEvent,
  comparableBody,
  eventBody,
  eventQuery,
  pickHeaders,
  savedEvents,
  serverlessEnv,
  serviceCopy,
} from './support/serverless';
import { checkPolicyFile } from '../lib/cli/policy-file';
import { decodedPatch, invokeResult } from '../scripts/invoke';

const EVENTS = savedEvents();
const byName = (...names: string[]): SavedEvent[] =>
  names.map((name) => {
    const saved = EVENTS.find((event) => event.name === name);
    if (!saved) throw new Error(`no saved event ${name}`);
    return saved;
  });
/** Over HTTP: a patch, a denial, an API server's review with `?timeout=`, a 400 Status. */
const HTTP_EVENTS = byName('mutate-tutorial-pod', 'validate-tutorial-pod', 'validate-api-server-review', 'mutate-malformed-body');
/** Over HTTPS: a patch and a denial. */
const HTTPS_EVENTS = byName('mutate-tutorial-pod', 'validate-tutorial-pod');
/**
 * Through `serverless invoke local`: a REST event with a patch, a base64 body with a denial, and
 * a denial that only the policy file its expected result names gives.
 */
const INVOKE_EVENTS = byName('mutate-tutorial-pod', 'validate-base64-body', 'validate-disallowed-tag');
const START_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 15_000;

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Offline {
  child: ChildProcess;
  base: string;
  output: () => string;
}

/** Starts `serverless offline start --stage local` as `npm start` does, on free ports; resolves once it serves. */
async function startOffline(dir: string, https: { certDir: string } | undefined): Promise<Offline> {
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const args = [SERVERLESS_BIN, 'offline', 'start', '--stage', 'local', '--noSponsor', '--host', '127.0.0.1'];
  args.push('--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort));
  if (https) args.push('--httpsProtocol', https.certDir);
  const child = spawn(process.execPath, args, { cwd: dir, env: serverlessEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const offline = { child, base: `${https ? 'https' : 'http'}://127.0.0.1:${httpPort}`, output: () => output };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serverless offline did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
      const check = () => {
        if (output.includes('Server ready:')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', check);
      child.stderr?.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`serverless offline exited with ${code}:\n${output}`));
      });
    });
  } catch (error) {
    await stopOffline(offline);
    throw error;
  }
  return offline;
}

/** Stops the process group started by startOffline: SIGTERM, then SIGKILL after 10 s. */
async function stopOffline(offline: Offline | undefined): Promise<void> {
  const { child } = offline ?? {};
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 10_000);
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  clearTimeout(timer);
}

interface Reply {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

/** POSTs the saved event's body (decoded where base64) to its function's route, with a token segment. */
function send(base: string, saved: SavedEvent, ca?: string): Promise<Reply> {
  const url = new URL(`${base}/${saved.fn}/${saved.event.pathParameters?.token ?? 'local-test-token'}${eventQuery(saved.event)}`);
  const body = eventBody(saved.event);
  const contentType = Object.entries(saved.event.headers ?? {}).find(([key]) => key.toLowerCase() === 'content-type')?.[1];
  const headers: Record<string, string | number> = { 'content-length': body.length };
  if (typeof contentType === 'string') headers['content-type'] = contentType;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, timeout: REQUEST_TIMEOUT_MS, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.pathname} within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Compares a reply with the saved event's expected result. Over HTTP, serverless-offline's server
 * adds `; charset=utf-8` to the content type, as API Gateway does not: there only the media type counts.
 */
function expectMatches(saved: SavedEvent, reply: Reply, { overHttp }: { overHttp: boolean }) {
  expect(reply.statusCode, saved.name).toBe(saved.expected.statusCode);
  const headers = pickHeaders(reply.headers, saved.expected.headers);
  if (overHttp && typeof headers['content-type'] === 'string') {
    expect(headers['content-type'], saved.name).toMatch(/^[^;]+(; *charset=utf-8)?$/i);
    headers['content-type'] = headers['content-type'].split(';')[0];
  }
  expect(headers, saved.name).toEqual(saved.expected.headers);
  expect(comparableBody(reply.body), saved.name).toEqual(saved.expected.body);
}

it('finds saved events for both functions', () => {
  expect(EVENTS.filter((saved) => saved.fn === 'mutate').length).toBeGreaterThan(0);
  expect(EVENTS.filter((saved) => saved.fn === 'validate').length).toBeGreaterThan(0);
  expect(EVENTS.map((saved) => saved.name)).toContain('mutate-tutorial-pod');
});

/** Sends a request with the given method and no body; resolves with the reply. */
function sendMethod(base: string, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(`${base}${path}`), { method, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${path} within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

describe('serverless-esbuild work folders (esbuild.config.cjs)', () => {
  const config = createRequire(import.meta.url)('../esbuild.config.cjs') as (serverless?: unknown) => { outputWorkFolder?: string };
  const folderOf = (...commands: string[]) => config({ processedInput: { commands } }).outputWorkFolder!;

  it('gives npm start, npm run package and npm run invoke folders apart, so one never deletes the files another serves', () => {
    const folders = [folderOf('offline', 'start'), folderOf('package'), folderOf('invoke', 'local'), folderOf('deploy')];
    expect(folders).toEqual(['.esbuild/offline-start', '.esbuild/package', '.esbuild/invoke-local', '.esbuild/deploy']);
    for (const folder of folders) {
      for (const other of folders) if (other !== folder) expect(`${other}/`.startsWith(`${folder}/`), `${folder} holds ${other}`).toBe(false);
    }
    expect(config().outputWorkFolder).toBeUndefined(); // the plain esbuild options (bench, review bundle) have none
  });
});

describe('npm start (serverless-offline, local stage)', () => {
  const dirs: string[] = [];
  let cert: string;
  let http: Offline | undefined;
  let https: Offline | undefined;

  beforeAll(async () => {
    const httpDir = serviceCopy('offline-http');
    const httpsDir = serviceCopy('offline-https');
    dirs.push(httpDir, httpsDir);
    const certDir = join(httpsDir, 'certs');
    mkdirSync(certDir);
    // The README's command, for a certificate valid for 127.0.0.1.
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')],
      { stdio: 'ignore', timeout: 30_000 },
    );
    cert = readFileSync(join(certDir, 'cert.pem'), 'utf8');
    const started = await Promise.allSettled([startOffline(httpDir, undefined), startOffline(httpsDir, { certDir })]);
    [http, https] = started.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }, START_TIMEOUT_MS + 20_000);
  afterAll(async () => {
    await Promise.all([stopOffline(http), stopOffline(https)]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  describe('over HTTP', () => {
    it.each(HTTP_EVENTS.map((saved) => [saved.name, saved] as const))('answers %s as expected', async (_name, saved) => {
      expectMatches(saved, await send(http!.base, saved), { overHttp: true });
    });

    it('serves the routes at the root, without the stage in the path', async () => {
      const reply = await send(`${http!.base}/local`, byName('mutate-tutorial-pod')[0]!);
      expect(reply.statusCode).toBe(404);
    });

    it('answers a GET itself, before the handler, as docs/local-development.md says', async () => {
      const readme = readFileSync(join(ROOT, 'docs', 'local-development.md'), 'utf8').replace(/\s+/g, ' ');
      const stated = /Locally, serverless-offline answers it itself with `(\d{3})` and `"error":"([^"]+)"`/.exec(readme);
      expect(stated, 'the doc states what a GET gets locally').not.toBeNull();
      for (const path of ['/mutate/local-test-token', '/validate/local-test-token']) {
        const reply = await sendMethod(http!.base, 'GET', path);
        expect(reply.statusCode, path).toBe(Number(stated![1]));
        expect(JSON.parse(reply.body).error, path).toBe(stated![2]);
      }
    });

    it('judges by policy.yaml, shipped to the handlers as JSON', () => {
      expect(http!.output()).toContain(`"policyVersion":"${checkPolicyFile(join(ROOT, 'policy.yaml')).version}"`);
    });

    it('builds into its own work folder, .esbuild/offline-start', () => {
      expect(existsSync(join(dirs[0]!, '.esbuild/offline-start/.build/functions/mutate.js'))).toBe(true);
    });
  });

  describe('over HTTPS with a self-signed certificate', () => {
    it.each(HTTPS_EVENTS.map((saved) => [saved.name, saved] as const))('answers %s as expected', async (_name, saved) => {
      expect(https!.base).toMatch(/^https:/);
      expectMatches(saved, await send(https!.base, saved, cert), { overHttp: true });
    });

    it('refuses a client that does not trust the certificate', async () => {
      await expect(send(https!.base, HTTPS_EVENTS[0]!)).rejects.toThrow(/self[- ]signed|certificate/i);
    });
  });
});

describe('npm run invoke output (in process)', () => {
  const patch = [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] }];
  const review = (response: Record<string, unknown>) => JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', response });
  const encoded = Buffer.from(JSON.stringify(patch)).toString('base64');

  it('finds the result serverless printed last, after the handler\'s log lines', () => {
    const result = { statusCode: 200, body: review({ uid: 'u', allowed: true }) };
    expect(invokeResult(`{"level":"INFO","message":"admission review"}\n${JSON.stringify(result, null, 4)}\n`)).toEqual(result);
    expect(invokeResult(`${JSON.stringify(result, null, 4)}\n`)).toEqual(result);
    expect(invokeResult('Error:\n{\n  not json\n')).toBeUndefined();
    expect(invokeResult('no result at all\n')).toBeUndefined();
  });

  it('decodes the patch of the result\'s review, one operation a line, from a plain or a base64 body', () => {
    const expected = `decoded patch:\n[\n  ${JSON.stringify(patch[0])}\n]\n`;
    expect(decodedPatch({ statusCode: 200, body: review({ uid: 'u', allowed: true, patchType: 'JSONPatch', patch: encoded }) })).toBe(expected);
    const base64Body = Buffer.from(review({ uid: 'u', allowed: true, patchType: 'JSONPatch', patch: encoded })).toString('base64');
    expect(decodedPatch({ statusCode: 200, isBase64Encoded: true, body: base64Body })).toBe(expected);
  });

  it('gives nothing for a result without a patch or without a review', () => {
    expect(decodedPatch({ statusCode: 200, body: review({ uid: 'u', allowed: false, status: { code: 403 } }) })).toBeUndefined();
    expect(decodedPatch({ statusCode: 400, body: '{"kind":"Status","code":400}' })).toBeUndefined();
    expect(decodedPatch({ statusCode: 500, body: 'Internal Server Error' })).toBeUndefined();
    expect(decodedPatch(undefined)).toBeUndefined();
  });
});

describe('npm run invoke (serverless invoke local, local stage)', () => {
  interface Invoked {
    saved: SavedEvent;
    code: number | null;
    stdout: string;
    stderr: string;
  }
  const results = new Map<string, Invoked>();
  const dirs: string[] = [];

  /** `npm run invoke` in its own process group, all of which is killed at `timeout`: a hung run leaves nothing behind. */
  function npmInvoke(dir: string, saved: SavedEvent, args = [saved.fn, saved.file], timeout = 60_000): Promise<Invoked> {
    return new Promise((resolve) => {
      const child = spawn('npm', ['run', '-s', 'invoke', '--', ...args], { cwd: dir, env: serverlessEnv(), detached: true });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeout);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ saved, code, stdout, stderr });
      });
    });
  }

  beforeAll(async () => {
    // One service copy per function, so the two sequences can run side by side.
    await Promise.all(
      (['mutate', 'validate'] as const).map(async (fn) => {
        const dir = serviceCopy(`invoke-${fn}`);
        dirs.push(dir);
        for (const saved of INVOKE_EVENTS.filter((event) => event.fn === fn)) results.set(saved.name, await npmInvoke(dir, saved));
      }),
    );
  }, 120_000);
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it.each(INVOKE_EVENTS.map((saved) => [saved.name] as const))('returns the expected result for %s', (name) => {
    const invoked = results.get(name)!;
    expect(invoked.code, `${invoked.stdout}\n${invoked.stderr}`).toBe(0);
    // serverless prints the handler's result last, as indented JSON (the handler's log lines come
    // before it); the script adds the decoded patch after it, where the review has one.
    const [printed, decoded, ...more] = invoked.stdout.split('\ndecoded patch:\n');
    expect(more).toEqual([]);
    const result = invokeResult(`${printed}\n`) as { statusCode: number; headers?: Record<string, unknown>; body: string };
    expect(result, invoked.stdout).toBeDefined();
    const patch = (invoked.saved.expected.body as { response?: { patch?: unknown[] } }).response?.patch;
    if (patch) {
      expect(decoded).toBe(`[\n${patch.map((operation) => `  ${JSON.stringify(operation)}`).join(',\n')}\n]\n`);
      expect(JSON.parse(decoded ?? '')).toEqual(patch);
    } else {
      expect(decoded, 'nothing after a result without a patch').toBeUndefined();
    }
    expectMatches(invoked.saved, { statusCode: result.statusCode, headers: result.headers ?? {}, body: result.body }, { overHttp: false });
    expect(`${invoked.stdout}${invoked.stderr}`).toMatch(/authentication is off/i);
    const policy = invoked.saved.expected.policy;
    const expectedFile = invoked.saved.file.replace(/\.json$/, '.expected.json');
    if (policy) expect(invoked.stderr).toContain(`invoke: under ${policy}, the policy ${expectedFile} names`);
    else expect(invoked.stderr).toContain(`invoke: under the stage's policy file (policyFile, default policy.yaml): ${expectedFile} names no other`);
    // The review was judged by the policy file (as JSON in the build folder), not by built-in defaults.
    expect(invoked.stdout).toContain(`"policyVersion":"${checkPolicyFile(join(ROOT, policy ?? 'policy.yaml')).version}"`);
  });

  it('prints a configuration error and exits 1 within seconds (it used to hang with esbuild\'s context open)', async () => {
    const saved = INVOKE_EVENTS.find((event) => event.fn === 'validate')!;
    // Far below the hang (forever) and the issue's 30 s; a killed run has no exit code. Packaging
    // refuses a bad policy before bundling; a variable given to the function itself (-e) is only
    // seen when the bundle loads, the path that hung.
    const invoked = await npmInvoke(dirs.at(-1)!, saved, [saved.fn, saved.file, '-e', 'VALIDATION_ACTION=warn'], 25_000);
    expect(invoked.code, `${invoked.stdout}\n${invoked.stderr}`).toBe(1);
    expect(`${invoked.stdout}${invoked.stderr}`).toContain('Invalid configuration: POLICY_FILE is set, and so is VALIDATION_ACTION');
  }, 30_000);

  it('refuses an unknown function and a missing event file with exit code 2, naming what is missing', async () => {
    const dir = dirs[0]!;
    const saved = EVENTS[0]!;
    const refusals = await Promise.all([npmInvoke(dir, saved, ['nope', saved.file]), npmInvoke(dir, saved, ['mutate'])]);
    expect(refusals.map((invoked) => invoked.code)).toEqual([2, 2]);
    expect(refusals.map((invoked) => invoked.stderr.split('\n')[0])).toEqual([
      'invoke: the function must be one of mutate, validate, got "nope"',
      'invoke: the event file is missing: give it after the function, e.g. events/mutate-tutorial-pod.json',
    ]);
  });
});
