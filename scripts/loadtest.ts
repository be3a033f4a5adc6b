/**
 * `npm run loadtest [-- --requests=5000 --connections=16]` (`-- --help` prints the usage)
 *
 * Load test of the local server: starts serverless-offline with the same command as `npm start`
 * (stage `local`, authentication off) on 127.0.0.1 and free ports, waits until it answers, then
 * sends a fixed number of mixed admission reviews from a concurrent autocannon client to
 * 127.0.0.1 only:
 *   - the tutorial Pod to mutate (expects the two-operation patch) and to validate (expects the denial),
 *   - a Pod from the allowed registry to validate (expects allowed, no patch),
 *   - a Deployment as admission.k8s.io/v1beta1 to validate (denied, answered in v1beta1) and to mutate (untouched),
 *   - a malformed body (expects 400 with a Kubernetes Status).
 * Every response is checked: status code, kind and apiVersion, the decision, and that its uid is
 * one this run sent for that scenario and not yet answered. Prints a short summary, then one JSON
 * line; exits 1 on any transport error, timeout or wrong answer (2 for bad arguments). The server
 * it started is always stopped (its process group, by PID); nothing else is touched.
 *
 * Bounded: `--requests` responses (default 5,000), at most `--max-seconds` for the run (default
 * 180) and 120 s for the server to come up.
 *
 * Do not edit files during a run: serverless-esbuild watches the project's .js and .ts files and,
 * on a change, rebundles and has serverless-offline stop all its worker threads, including the
 * busy ones. Their requests then end in 504 after the function's timeout, and the run fails.
 * `npm run package` and `npm run invoke` build in folders of their own (esbuild.config.cjs) and
 * leave the server alone; an `npm start` of the user's shares `.esbuild/offline-start`, which
 * serverless-esbuild rewrites at start-up (and on a change) but never deletes, so both can run
 * side by side.
 */
import autocannon from 'autocannon';
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEntryPoint } from './entry-point';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
const STARTUP_LIMIT_MS = 120_000;
const STOP_GRACE_MS = 10_000;

// ------------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------------

export interface Options {
  requests: number;
  connections: number;
  maxSeconds: number;
}

const DEFAULTS: Options = { requests: 5000, connections: 16, maxSeconds: 180 };
const LIMITS: Record<keyof Options, [number, number]> = { requests: [1, 1_000_000], connections: [1, 256], maxSeconds: [1, 3600] };
const range = (key: keyof Options) => `default ${DEFAULTS[key]}, ${LIMITS[key][0]} to ${LIMITS[key][1]}`;

export const USAGE = `usage: npm run loadtest [-- --requests=N --connections=N --max-seconds=N]

Starts its own local server (npm start: serverless-offline, stage local, authentication off) on
127.0.0.1 and free ports, so it needs no npm start of yours and can run beside one. Once that
server answers, it warms it up, then sends N mixed admission reviews (the tutorial Pod to mutate
and validate, an allowed Pod, a v1beta1 Deployment, a malformed body) over concurrent connections
to 127.0.0.1 and checks every answer. Prints a summary on stderr and one JSON line on stdout, and
always stops the server it started. Exit 0 if every answer was right, 1 otherwise, 2 for bad
arguments.

  --requests=N     answers to check (${range('requests')})
  --connections=N  concurrent connections (${range('connections')})
  --max-seconds=N  time limit of the run (${range('maxSeconds')}); the server gets ${STARTUP_LIMIT_MS / 1000} s to start

Do not edit .ts or .js files in this checkout during a run: the server then rebundles and stops
its workers, and their requests fail with 504.`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** The options, or `help` for --help; throws UsageError naming a wrong argument. */
export function parseOptions(argv: readonly string[]): Options | 'help' {
  const options: Options = { ...DEFAULTS };
  const names: Record<string, keyof Options> = { requests: 'requests', connections: 'connections', 'max-seconds': 'maxSeconds' };
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') return 'help';
    const match = /^--([a-z-]+)=(\d+)$/.exec(arg);
    const key = match ? names[match[1] as string] : undefined;
    if (!match || !key) throw new UsageError(`unknown argument ${JSON.stringify(arg)}; use --requests=N --connections=N --max-seconds=N`);
    const value = Number(match[2]);
    const [min, max] = LIMITS[key];
    if (value < min || value > max) throw new UsageError(`--${match[1]} must be between ${min} and ${max}`);
    options[key] = value;
  }
  return options;
}

function fail(message: string, code = 1): never {
  process.stderr.write(`loadtest: ${message}\n`);
  process.exit(code);
}

// ------------------------------------------------------------------------------------------------
// Scenarios: what is sent, and what the answer must be
// ------------------------------------------------------------------------------------------------

const TUTORIAL_DENIAL = 'Invalid image. Images must come from registry.example.com: container "python" uses "python:3.9-slim"';

function pod(containers: unknown[], extra: Record<string, unknown> = {}) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'python-app' }, spec: { containers, ...extra } };
}

function reviewText(uid: string, apiVersion: string, request: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion, kind: 'AdmissionReview', request: { uid, operation: 'CREATE', namespace: 'default', ...request } });
}

const POD = { kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' } };
/** A Deployment with an image from Docker Hub: validate denies it, mutate leaves it alone (not a Pod). */
const DEPLOYMENT_OBJECT = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
};
const DEPLOYMENT = {
  kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
  resource: { group: 'apps', version: 'v1', resource: 'deployments' },
  object: DEPLOYMENT_OBJECT,
};

type Json = Record<string, unknown>;

interface Scenario {
  name: string;
  webhook: 'mutate' | 'validate';
  /** The request body for a given uid. */
  body: (uid: string) => string;
  /** Whether this scenario's answers carry the uid (not so for a malformed body). */
  echoesUid: boolean;
  /** Returns what is wrong with a response, or undefined. */
  check: (status: number, body: Json) => string | undefined;
}

function reviewAnswer(status: number, body: Json, apiVersion: string): string | undefined {
  if (status !== 200) return `status ${status}, expected 200`;
  if (body.kind !== 'AdmissionReview') return `kind ${JSON.stringify(body.kind)}`;
  if (body.apiVersion !== apiVersion) return `apiVersion ${JSON.stringify(body.apiVersion)}, expected ${apiVersion}`;
  const response = body.response as Json | undefined;
  if (typeof response !== 'object' || response === null) return 'no response';
  if (typeof response.allowed !== 'boolean') return 'response.allowed is not a boolean';
  return undefined;
}

function decodePatch(response: Json): unknown {
  return typeof response.patch === 'string' ? JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) : undefined;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'mutate-tutorial-pod',
    webhook: 'mutate',
    echoesUid: true,
    body: (uid) => reviewText(uid, 'admission.k8s.io/v1', { ...POD, object: pod([{ name: 'python', image: 'python:3.9-slim' }]) }),
    check: (status, body) => {
      const problem = reviewAnswer(status, body, 'admission.k8s.io/v1');
      if (problem) return problem;
      const response = body.response as Json;
      if (response.allowed !== true || response.patchType !== 'JSONPatch') return 'expected allowed with a JSONPatch';
      const expected = [
        { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
        { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] },
      ];
      return JSON.stringify(decodePatch(response)) === JSON.stringify(expected) ? undefined : 'unexpected patch';
    },
  },
  {
    name: 'validate-tutorial-pod',
    webhook: 'validate',
    echoesUid: true,
    body: (uid) => reviewText(uid, 'admission.k8s.io/v1', { ...POD, object: pod([{ name: 'python', image: 'python:3.9-slim' }]) }),
    check: (status, body) => {
      const problem = reviewAnswer(status, body, 'admission.k8s.io/v1');
      if (problem) return problem;
      const response = body.response as Json;
      const denial = response.status as Json | undefined;
      if (response.allowed !== false || denial?.code !== 403) return 'expected a denial with code 403';
      return denial.message === TUTORIAL_DENIAL ? undefined : `unexpected message ${JSON.stringify(denial.message)}`;
    },
  },
  {
    name: 'validate-allowed-pod',
    webhook: 'validate',
    echoesUid: true,
    body: (uid) =>
      reviewText(uid, 'admission.k8s.io/v1', {
        ...POD,
        object: pod([{ name: 'app', image: 'registry.example.com/team/app:1.4.2', imagePullPolicy: 'Always' }], {
          imagePullSecrets: [{ name: 'registry-credentials' }],
        }),
      }),
    check: (status, body) => {
      const problem = reviewAnswer(status, body, 'admission.k8s.io/v1');
      if (problem) return problem;
      const response = body.response as Json;
      return response.allowed === true && response.patch === undefined && response.status === undefined ? undefined : 'expected allowed without a patch';
    },
  },
  {
    name: 'validate-deployment-v1beta1',
    webhook: 'validate',
    echoesUid: true,
    body: (uid) =>
      reviewText(uid, 'admission.k8s.io/v1beta1', DEPLOYMENT),
    check: (status, body) => {
      const problem = reviewAnswer(status, body, 'admission.k8s.io/v1beta1');
      if (problem) return problem;
      const response = body.response as Json;
      const message = (response.status as Json | undefined)?.message;
      return response.allowed === false && typeof message === 'string' && message.endsWith(': container "web" uses "nginx:1.27"')
        ? undefined
        : 'expected the Deployment to be denied naming container "web"';
    },
  },
  {
    name: 'mutate-deployment',
    webhook: 'mutate',
    echoesUid: true,
    body: (uid) =>
      reviewText(uid, 'admission.k8s.io/v1', DEPLOYMENT),
    check: (status, body) => {
      const problem = reviewAnswer(status, body, 'admission.k8s.io/v1');
      if (problem) return problem;
      const response = body.response as Json;
      return response.allowed === true && response.patch === undefined ? undefined : 'expected the Deployment untouched';
    },
  },
  {
    name: 'malformed-body',
    webhook: 'validate',
    echoesUid: false,
    body: (uid) => `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"${uid}"`,
    check: (status, body) => {
      if (status !== 400) return `status ${status}, expected 400`;
      if (body.kind !== 'Status' || body.code !== 400 || body.status !== 'Failure') return 'expected a Kubernetes Status with code 400';
      return typeof body.message === 'string' && body.message.includes('not valid JSON') ? undefined : 'expected the message to say "not valid JSON"';
    },
  },
];

// ------------------------------------------------------------------------------------------------
// The local server
// ------------------------------------------------------------------------------------------------

/** A port that is free on 127.0.0.1 right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

interface LocalServer {
  child: ChildProcess;
  /** The last lines the server printed, for diagnosing a failed start. */
  output: () => string;
  exited: () => boolean;
}

/** `npm start` with the host and ports added, in its own process group (so it can be stopped whole). */
function startServer(httpPort: number, lambdaPort: number): LocalServer {
  const child = spawn('npm', ['start', '--', '--host', HOST, '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
  });
  const lines: string[] = [];
  // LOADTEST_SERVER_LOG=<file> keeps everything the server printed, for diagnosis.
  const logFile = process.env.LOADTEST_SERVER_LOG ? createWriteStream(process.env.LOADTEST_SERVER_LOG) : undefined;
  const keep = (chunk: Buffer) => {
    logFile?.write(chunk);
    lines.push(...chunk.toString('utf8').split('\n'));
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  return { child, output: () => lines.join('\n'), exited: () => exited };
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the server's whole process group: SIGTERM, then SIGKILL after a grace period. */
async function stopServer(server: LocalServer): Promise<void> {
  const pid = server.child.pid;
  if (pid === undefined || !groupAlive(pid)) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_GRACE_MS;
  while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(pid)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Waits until the server answers a review correctly (a cold start bundles the functions first). */
async function waitUntilReady(server: LocalServer, base: string): Promise<void> {
  const scenario = SCENARIOS[1] as Scenario;
  const deadline = Date.now() + STARTUP_LIMIT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (server.exited()) throw new Error(`the server exited during start-up:\n${server.output()}`);
    try {
      const response = await fetch(`${base}/${scenario.webhook}/local?timeout=10s`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: scenario.body('ready-check'),
        signal: AbortSignal.timeout(10_000),
      });
      const problem = scenario.check(response.status, (await response.json()) as Json);
      if (!problem) return;
      last = problem;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(500);
  }
  throw new Error(`the server did not answer correctly within ${STARTUP_LIMIT_MS / 1000} s (${last}):\n${server.output()}`);
}

// ------------------------------------------------------------------------------------------------
// Warm-up
// ------------------------------------------------------------------------------------------------

/**
 * serverless-offline starts one more worker thread (a Lambda instance, loading the bundle cold)
 * whenever a request finds no idle one. Sixteen connections would start some 32 of them at once on
 * this machine's cores, and the slowest could pass the function's timeout (504). So first grow the
 * pool in steps, 1, 2, 4, ... parallel requests per scenario, as Lambda scales out; every answer
 * is checked here too. Returns the number of wrong answers and a few examples.
 */
async function warmUp(base: string, connections: number): Promise<{ sent: number; wrong: string[] }> {
  const wrong: string[] = [];
  let sent = 0;
  for (let parallel = 1; ; parallel = Math.min(parallel * 2, connections)) {
    await Promise.all(
      SCENARIOS.flatMap((scenario) =>
        Array.from({ length: parallel }, async (_, i) => {
          sent += 1;
          const uid = `warm-up-${scenario.name}-${parallel}-${i}`;
          try {
            const response = await fetch(`${base}/${scenario.webhook}/local?timeout=10s`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: scenario.body(uid),
              signal: AbortSignal.timeout(30_000),
            });
            const body = (await response.json()) as Json;
            const problem =
              scenario.check(response.status, body) ??
              (scenario.echoesUid && (body.response as Json).uid !== uid ? 'uid mismatch' : undefined);
            if (problem) wrong.push(`warm-up ${scenario.name}: ${problem}`);
          } catch (error) {
            wrong.push(`warm-up ${scenario.name}: ${(error as Error).message}`);
          }
        }),
      ),
    );
    if (parallel === connections) return { sent, wrong };
  }
}

// ------------------------------------------------------------------------------------------------
// The run
// ------------------------------------------------------------------------------------------------

interface Tally {
  checked: number;
  wrong: number;
  examples: string[];
  byScenario: Record<string, number>;
}

function recordWrong(tally: Tally, scenario: string, problem: string): void {
  tally.wrong += 1;
  if (tally.examples.length < 5) tally.examples.push(`${scenario}: ${problem}`);
}

async function runLoad(base: string, options: Options): Promise<{ result: autocannon.Result; tally: Tally; timedOut: boolean; seconds: number }> {
  const tally: Tally = { checked: 0, wrong: 0, examples: [], byScenario: {} };
  /** uids sent and not yet answered, with the scenario that sent each. */
  const outstanding = new Map<string, string>();
  let sequence = 0;

  const requests: autocannon.Request[] = SCENARIOS.map((scenario) => ({
    method: 'POST',
    path: `/${scenario.webhook}/local?timeout=10s`,
    headers: { 'content-type': 'application/json' },
    setupRequest: (request: autocannon.Request) => {
      const uid = `${scenario.name}-${(sequence += 1)}`;
      outstanding.set(uid, scenario.name);
      return { ...request, body: scenario.body(uid) };
    },
    onResponse: (status: number, body: string) => {
      tally.checked += 1;
      tally.byScenario[scenario.name] = (tally.byScenario[scenario.name] ?? 0) + 1;
      let parsed: Json;
      try {
        parsed = JSON.parse(body) as Json;
      } catch {
        recordWrong(tally, scenario.name, `status ${status}, body is not JSON: ${body.slice(0, 120)}`);
        return;
      }
      const problem = scenario.check(status, parsed);
      if (problem) return recordWrong(tally, scenario.name, problem);
      if (scenario.echoesUid) {
        const uid = String((parsed.response as Json).uid);
        const sentBy = outstanding.get(uid);
        if (sentBy !== scenario.name) return recordWrong(tally, scenario.name, `uid ${JSON.stringify(uid)} was not sent by this scenario, or was answered twice`);
        outstanding.delete(uid);
      }
    },
  }));

  let timedOut = false;
  // Wall time of the run, measured here: autocannon's own `duration` counts whole sampling ticks.
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((done, reject) => {
    const instance = autocannon(
      {
        url: base,
        connections: options.connections,
        pipelining: 1,
        amount: options.requests,
        timeout: 10,
        requests,
      },
      (error, finished) => (error ? reject(error) : done(finished)),
    );
    const guard = setTimeout(() => {
      timedOut = true;
      instance.stop();
    }, options.maxSeconds * 1000);
    instance.on('done', () => clearTimeout(guard));
  });
  return { result, tally, timedOut, seconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(`${error.message}\n${USAGE}`, 2);
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!existsSync(join(ROOT, 'serverless.yml'))) fail('serverless.yml is missing: the load test runs the local server it describes');

  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const base = `http://${HOST}:${httpPort}`;
  process.stderr.write(`loadtest: starting the local server (npm start) on ${base}\n`);
  const server = startServer(httpPort, lambdaPort);
  const stopOnSignal = (signal: NodeJS.Signals) => {
    void stopServer(server).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  try {
    const started = Date.now();
    await waitUntilReady(server, base);
    process.stderr.write(`loadtest: server ready after ${((Date.now() - started) / 1000).toFixed(1)} s; warming up\n`);
    const warm = await warmUp(base, options.connections);
    process.stderr.write(`loadtest: sending ${options.requests} reviews over ${options.connections} connections\n`);

    const { result, tally, timedOut, seconds } = await runLoad(base, options);
    const transportErrors = result.errors + result.timeouts;
    const missing = Math.max(0, options.requests - tally.checked);
    const failures = warm.wrong.length + transportErrors + tally.wrong + missing + (timedOut ? 1 : 0);
    const summary = {
      tool: 'autocannon',
      target: `${base} (serverless-offline, stage local)`,
      requests: tally.checked,
      expected: options.requests,
      connections: options.connections,
      durationSeconds: Math.round(seconds * 100) / 100,
      throughputRps: Math.round((tally.checked / seconds) * 10) / 10,
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count ?? 0])),
      byScenario: tally.byScenario,
      errors: result.errors,
      timeouts: result.timeouts,
      wrongAnswers: tally.wrong,
      missingAnswers: missing,
      timedOut,
      warmUp: { requests: warm.sent, wrongAnswers: warm.wrong.length },
      ok: failures === 0,
      ...(warm.wrong.length + tally.examples.length ? { examples: [...warm.wrong.slice(0, 5), ...tally.examples] } : {}),
    };
    process.stderr.write(
      `loadtest: ${summary.requests} responses in ${summary.durationSeconds} s = ${summary.throughputRps} req/s; ` +
        `latency p50 ${summary.latencyMs.p50} ms, p99 ${summary.latencyMs.p99} ms; ` +
        `${summary.errors} errors, ${summary.timeouts} timeouts, ${summary.wrongAnswers} wrong answers\n`,
    );
    if (failures > 0) process.stderr.write(`loadtest: FAILED; the server's last lines:\n${server.output()}\n`);
    if (summary.statusCodes['504'] || summary.statusCodes['502']) {
      process.stderr.write(
        'loadtest: 502 and 504 come from serverless-offline, not from the handlers: a .ts or .js file changed during the run ' +
          '(serverless-esbuild rebundles and the workers are stopped mid-request)\n',
      );
    }
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return failures === 0 ? 0 : 1;
  } finally {
    await stopServer(server);
    process.removeListener('SIGINT', stopOnSignal);
    process.removeListener('SIGTERM', stopOnSignal);
  }
}

if (isEntryPoint(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`loadtest: ${error instanceof Error ? error.message : String(error)}\n`);
      process.stdout.write(`${JSON.stringify({ ok: false, error: error instanceof Error ? error.message.split('\n')[0] : String(error) })}\n`);
      process.exit(1);
    },
  );
}
