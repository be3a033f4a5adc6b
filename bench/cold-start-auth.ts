/**
 * The authenticated cold start (issues 12 and 19): a fresh `node` process loads a `mutate` bundle
 * and answers the tutorial Pod's first review with a token that it checks against the local
 * Secrets Manager endpoint of the tests; the read begins at module load (Lambda's init phase), as
 * deployed. Variants of the SDK's share, built side by side and run in turn with the floor
 * (`node -e 0`), each one change on the one before:
 *
 *   SDK defaults                 the client as constructed before issue 19: the SDK's default
 *                                credential chain, settings looked up in ~/.aws files
 *   client from the environment  the functions' client of lib/auth/secrets-manager.ts
 *   + SDK code never run left out  and the SDK modules it never runs left out of the bundle
 *                                (esbuild.config.cjs), as deployed
 *   deployed                     the bundle exactly as `serverless package` builds it
 *
 * The variants carry the marks of bench/sdk-steps.ts, from which the parts of the SDK's time are
 * read (PARTS); the deployed bundle has none, and only the coarse parts. Each variant runs twice
 * per round: `on-demand` (the event handed over as soon as the bundle is loaded) and `after-init`
 * (the event 250 ms later, as with provisioned concurrency), where only the first review's latency
 * counts.
 */
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';
import type { GatewayEvent } from '../lib/transport/http';
import { SecretsManagerEndpoint } from '../test/support/secrets-manager-endpoint';
import { ROOT, deployedBuildOptions, zippedSize } from './build';
import { table } from './report';
import { median, round } from './stats';
import { defaultEnvironment } from './warm';

const { LEAVE_OUT_PLUGIN } = createRequire(import.meta.url)('../esbuild.config.cjs') as { LEAVE_OUT_PLUGIN: string };
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'cold-start-auth-child.cjs');
const SECRET_ID = 'admission-webhooks/bench/token';
const TOKEN = 'bench-token-0f1e2d3c4b5a69788796a5b4c3d2e1f0';

export const VARIANTS = [
  { name: 'SDK defaults', factory: 'createWorkstationClient', leaveOut: false },
  { name: 'client from the environment', factory: 'createSecretsManagerClient', leaveOut: false },
  { name: '+ SDK code never run left out', factory: 'createSecretsManagerClient', leaveOut: true },
] as const;
export type Variant = (typeof VARIANTS)[number];
export const DEPLOYED = 'deployed';

/**
 * The `mutate` function wired as lib/setup.ts wires it, reading at init, with the client of
 * `factory` (lib/auth/secrets-manager.ts) marked by bench/sdk-steps.ts.
 */
function entrySource(factory: Variant['factory']): string {
  return `
import { createCallerAuth } from './lib/auth/caller-auth';
import { clientLoader, ${factory}, secretsManagerFetcher } from './lib/auth/secrets-manager';
import { consoleSink } from './lib/common/log';
import { loadConfig, loadSettings } from './lib/policies/fleet/config';
import { mutatePod } from './lib/policies/mutate';
import { START_READ_BUDGET_MS } from './lib/setup';
import { createWebhookHandler } from './lib/transport/webhook';
import { markedClient } from './bench/sdk-steps';
const config = loadConfig(process.env);
const settings = loadSettings(process.env);
export const handler = createWebhookHandler({
  name: 'mutate',
  policy: (request) => mutatePod(request, config),
  policyVersion: 'bench',
  authenticate: createCallerAuth({
    webhook: 'mutate',
    fetchVersion: secretsManagerFetcher(settings.tokenSecretId ?? '', clientLoader(markedClient((sdk) => ${factory}(sdk)))),
    ttlMs: settings.secretCacheTtlSeconds * 1000,
    log: consoleSink,
    startBudgetMs: START_READ_BUDGET_MS,
  }),
});`;
}

export interface AuthBundle {
  name: string;
  file: string;
  bytes: number;
  zipBytes: number;
}

async function buildVariant(workDir: string, variant: Variant, index: number): Promise<AuthBundle> {
  const outdir = join(workDir, `auth-${index}`);
  const deployed = deployedBuildOptions(outdir);
  const options: BuildOptions = {
    ...deployed,
    entryPoints: undefined,
    outdir: undefined,
    outbase: undefined,
    stdin: { contents: entrySource(variant.factory), resolveDir: ROOT, loader: 'ts', sourcefile: 'mutate-variant.ts' },
    outfile: join(outdir, 'mutate.js'),
    plugins: variant.leaveOut ? deployed.plugins : deployed.plugins?.filter((plugin) => plugin.name !== LEAVE_OUT_PLUGIN),
  };
  const result = await build(options);
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${variant.name}`);
  const file = join(outdir, 'mutate.js');
  return { name: variant.name, file, bytes: statSync(file).size, zipBytes: zippedSize(outdir, 'mutate.js') };
}

export const buildAuthVariants = (workDir: string, variants: readonly Variant[] = VARIANTS) =>
  Promise.all(variants.map((variant, index) => buildVariant(workDir, variant, index)));

type Mark = [name: string, at: number];

/** One run's timeline, from the child (times from its process start) and this process (wall). */
interface ChildReport {
  beforeRequire: number;
  readAt: number;
  compiledAt: number;
  loadedAt: number;
  calledAt: number;
  answeredAt: number;
  builtins: [start: number, end: number][];
  marks: Mark[];
  firstRequestAt: number | null;
  firstResponseAt: number | null;
  lastResponseAt: number | null;
  exchanges: number;
  statusCode: number;
  allowed: boolean;
  error?: string;
}

/**
 * The parts of an on-demand authenticated cold start, in the order they happen, each from one
 * point of the child's timeline to the next (the marks of bench/sdk-steps.ts, on the first send,
 * AWSCURRENT; the second, AWSPREVIOUS, runs interleaved with it and is warm by then). The first
 * require of each Node.js built-in is taken out of the part it happens in and counted on its own.
 */
export const PARTS = [
  ['read the bundle', 'start', 'read'],
  ['compile (parse)', 'read', 'compiled'],
  ['evaluate our modules', 'compiled', 'loaded'],
  ['evaluate the SDK modules', 'loaded', 'sdk evaluated'],
  ['construct the client', 'sdk evaluated', 'client constructed'],
  ['command, middleware stack', 'client constructed', 'send'],
  ['initialize step', 'send', 'auth'],
  ['credentials, auth scheme', 'auth', 'endpoint'],
  ['endpoint rules', 'endpoint', 'serialize'],
  ['serialize', 'serialize', 'build'],
  ['build step, retry strategy', 'build', 'sign'],
  ['signing (SigV4)', 'sign', 'handler'],
  ['HTTP handler to request', 'handler', 'request'],
  ['Secrets Manager (local)', 'request', 'response'],
  ['deserialize', 'response', 'sent'],
  ['token check and review', 'sent', 'answered'],
] as const;
export const BUILTINS_PART = 'Node.js built-ins';
export type PartName = (typeof PARTS)[number][0] | typeof BUILTINS_PART;

/** Milliseconds of `intervals` inside [from, to]. */
const overlap = (intervals: readonly [number, number][], from: number, to: number) =>
  intervals.reduce((sum, [start, end]) => sum + Math.max(0, Math.min(end, to) - Math.max(start, from)), 0);

/** The parts of one run, or undefined for a bundle without marks. */
function partsOf(report: ChildReport): Record<PartName, number> | undefined {
  if (report.marks.length === 0) return undefined;
  const points: Record<string, number | undefined> = {
    start: report.beforeRequire,
    read: report.readAt,
    compiled: report.compiledAt,
    loaded: report.loadedAt,
    request: report.firstRequestAt ?? undefined,
    response: report.firstResponseAt ?? undefined,
    answered: report.answeredAt,
  };
  for (const [name, at] of report.marks) points[name] ??= at;
  const at = (name: string) => {
    const point = points[name];
    if (point === undefined) throw new Error(`the authenticated cold start has no mark "${name}": has the SDK's middleware changed? (bench/sdk-steps.ts)`);
    return point;
  };
  const parts = Object.fromEntries(
    PARTS.map(([name, from, to]) => [name, Math.max(0, at(to) - at(from) - overlap(report.builtins, at(from), at(to)))]),
  ) as Record<PartName, number>;
  parts[BUILTINS_PART] = overlap(report.builtins, at('start'), at('answered'));
  return parts;
}

export interface AuthColdSample {
  wallMs: number;
  /** Reading, compiling and evaluating the bundle: our code, and the SDK's parsed but not yet evaluated. */
  bundleLoadMs: number;
  /** After the bundle is loaded (or the handler called) to the first Secrets Manager request: the SDK evaluated, the client constructed, credentials, endpoint, signing. */
  clientMs: number;
  /** First Secrets Manager request sent to the last answer read (AWSCURRENT and AWSPREVIOUS, in parallel). */
  secretReadMs: number;
  /** Last Secrets Manager answer to the review's answer. */
  reviewMs: number;
  /** Handler called to answer. */
  firstReviewMs: number;
  /** Process start to answer, inside the child. */
  answeredMs: number;
  parts: Record<PartName, number> | undefined;
  statusCode: number;
  allowed: boolean;
}

/** Spawns the child and waits for it without blocking this event loop, which serves the local Secrets Manager. */
function spawnTimed(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ wallMs: number; status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ wallMs: performance.now() - started, status, stderr }));
  });
}

async function run(bundle: string, eventFile: string, mode: 'on-demand' | 'after-init', env: NodeJS.ProcessEnv): Promise<AuthColdSample> {
  const child = await spawnTimed([CHILD, bundle, eventFile, mode], env);
  const wallMs = child.wallMs;
  const line = child.stderr.trim().split('\n').at(-1) ?? '';
  let report: ChildReport;
  try {
    report = JSON.parse(line) as ChildReport;
  } catch {
    throw new Error(`authenticated cold start of ${bundle} printed no report (exit ${child.status}): ${child.stderr}`);
  }
  if (report.error || child.status !== 0) throw new Error(`authenticated cold start of ${bundle} failed: ${report.error ?? child.stderr}`);
  // The review waits for AWSCURRENT only (AWSPREVIOUS joins the cache when it comes), so the answer
  // may come after one exchange.
  if (report.exchanges < 1 || report.firstRequestAt === null || report.lastResponseAt === null) {
    throw new Error(`authenticated cold start of ${bundle} did not read the secret (${report.exchanges} exchanges)`);
  }
  // Where the SDK's start begins: when the bundle is loaded; after init, when the request comes.
  const readBegins = mode === 'on-demand' ? report.loadedAt : report.calledAt;
  return {
    wallMs,
    bundleLoadMs: report.loadedAt - report.beforeRequire,
    clientMs: Math.max(0, report.firstRequestAt - readBegins),
    secretReadMs: report.lastResponseAt - report.firstRequestAt,
    reviewMs: report.answeredAt - Math.max(report.lastResponseAt, report.calledAt),
    firstReviewMs: report.answeredAt - report.calledAt,
    answeredMs: report.answeredAt,
    parts: mode === 'on-demand' ? partsOf(report) : undefined,
    statusCode: report.statusCode,
    allowed: report.allowed,
  };
}

type Timings = Omit<AuthColdSample, 'parts' | 'statusCode' | 'allowed'>;

export interface AuthColdResult {
  name: string;
  bytes: number;
  zipBytes: number;
  /** Medians over the on-demand runs. */
  onDemand: Timings;
  /** Median of each part over the on-demand runs, for a bundle with marks. */
  parts: Record<PartName, number> | undefined;
  /** Median first-review latency when the request comes after the init phase. */
  afterInitFirstReviewMs: number;
  statusCode: number;
  allowed: boolean;
}

export interface AuthColdReport {
  runs: number;
  floorWallMs: number;
  variants: AuthColdResult[];
}

function medians(samples: readonly AuthColdSample[]): Pick<AuthColdResult, 'onDemand' | 'parts'> {
  const of = (key: keyof Timings) => median(samples.map((sample) => sample[key]));
  const withParts = samples.flatMap((sample) => (sample.parts ? [sample.parts] : []));
  const names: PartName[] = [...PARTS.map(([name]) => name), BUILTINS_PART];
  return {
    onDemand: {
      wallMs: of('wallMs'),
      bundleLoadMs: of('bundleLoadMs'),
      clientMs: of('clientMs'),
      secretReadMs: of('secretReadMs'),
      reviewMs: of('reviewMs'),
      firstReviewMs: of('firstReviewMs'),
      answeredMs: of('answeredMs'),
    },
    parts:
      withParts.length === 0
        ? undefined
        : (Object.fromEntries(names.map((name) => [name, median(withParts.map((parts) => parts[name]))])) as Record<PartName, number>),
  };
}

/**
 * The environment Lambda gives the function, as far as the SDK reads it: region, the role's
 * credentials with a session token, no ~/.aws files; and the local endpoint.
 */
function lambdaEnvironment(endpointUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...defaultEnvironment(),
    WEBHOOK_TOKEN_SECRET_ID: SECRET_ID,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpointUrl,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDLOCALBENCHONLY01',
    AWS_SECRET_ACCESS_KEY: 'local-bench-secret-access-key',
    AWS_SESSION_TOKEN: 'local-bench-session-token',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  for (const name of ['AWS_PROFILE', 'AWS_ENDPOINT_URL']) delete env[name];
  return env;
}

/**
 * `runs` measured rounds after `warmupRuns` discarded ones (which fill the file cache); each round runs the floor, then every bundle
 * on demand and after init, so drift in the machine's load hits every series alike.
 */
export async function authenticatedColdStarts(
  bundles: readonly AuthBundle[],
  event: GatewayEvent,
  workDir: string,
  runs: number,
  warmupRuns = 1,
): Promise<AuthColdReport> {
  const endpoint = await SecretsManagerEndpoint.start(SECRET_ID);
  try {
    endpoint.setCurrent(JSON.stringify({ token: TOKEN }));
    const eventFile = join(workDir, 'cold-start-auth-event.json');
    writeFileSync(eventFile, JSON.stringify({ ...event, pathParameters: { token: TOKEN } }));
    const env = lambdaEnvironment(endpoint.url);
    const floors: number[] = [];
    const onDemand = bundles.map(() => [] as AuthColdSample[]);
    const afterInit = bundles.map(() => [] as AuthColdSample[]);
    for (let round = 0; round < warmupRuns + runs; round += 1) {
      const floor = (await spawnTimed(['-e', '0'], env)).wallMs;
      const results = [];
      for (const bundle of bundles) {
        results.push([await run(bundle.file, eventFile, 'on-demand', env), await run(bundle.file, eventFile, 'after-init', env)] as const);
      }
      if (round < warmupRuns) continue;
      floors.push(floor);
      results.forEach(([demand, init], index) => {
        onDemand[index]?.push(demand);
        afterInit[index]?.push(init);
      });
    }
    return {
      runs,
      floorWallMs: median(floors),
      variants: bundles.map((bundle, index) => {
        const first = onDemand[index]?.[0] as AuthColdSample;
        return {
          name: bundle.name,
          bytes: bundle.bytes,
          zipBytes: bundle.zipBytes,
          ...medians(onDemand[index] ?? []),
          afterInitFirstReviewMs: median((afterInit[index] ?? []).map((sample) => sample.firstReviewMs)),
          statusCode: first.statusCode,
          allowed: first.allowed,
        };
      }),
    };
  } finally {
    await endpoint.close();
  }
}

const ms = (value: number) => `${round(value)} ms`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** The variants as a table (medians of the on-demand runs, and the first review after init): plain text, or markdown with `format` = markdownTable (`--markdown`). */
export function authColdStartTable(report: AuthColdReport, format: typeof table = table): string {
  return format(
    ['mutate bundle', 'zipped', 'over floor', 'start to answer', 'bundle load', 'SDK to first request', 'secret read', 'review', 'first review after init'],
    report.variants.map((v) => [
      v.name,
      kib(v.zipBytes),
      `+${ms(v.onDemand.wallMs - report.floorWallMs)}`,
      ms(v.onDemand.answeredMs),
      ms(v.onDemand.bundleLoadMs),
      ms(v.onDemand.clientMs),
      ms(v.onDemand.secretReadMs),
      ms(v.onDemand.reviewMs),
      ms(v.afterInitFirstReviewMs),
    ]),
  );
}

/** The parts of the variants with marks, one row per part, one column per variant; the last row is their sum. */
export function authColdStartPartsTable(report: AuthColdReport, format: typeof table = table): string {
  const marked = report.variants.filter((v) => v.parts !== undefined);
  const names: PartName[] = [BUILTINS_PART, ...PARTS.map(([name]) => name)];
  const sum = (v: AuthColdResult) => names.reduce((total, name) => total + (v.parts?.[name] ?? 0), 0);
  return format(
    ['part (on demand, median)', ...marked.map((v) => v.name)],
    [...names.map((name) => [name, ...marked.map((v) => ms(v.parts?.[name] ?? Number.NaN))]), ['sum of the medians', ...marked.map((v) => ms(sum(v)))]],
  );
}

/** The figures for the bench's JSON line, rounded. */
export function authColdStartFigures(report: AuthColdReport) {
  const rounded = (values: Record<string, number>) => Object.fromEntries(Object.entries(values).map(([key, value]) => [key, round(value)]));
  return {
    runs: report.runs,
    floorWallMs: round(report.floorWallMs),
    ...Object.fromEntries(
      report.variants.map((v) => [
        v.name,
        {
          zipBytes: v.zipBytes,
          overFloorMs: round(v.onDemand.wallMs - report.floorWallMs),
          ...rounded(v.onDemand),
          ...(v.parts ? { parts: rounded(v.parts) } : {}),
          afterInitFirstReviewMs: round(v.afterInitFirstReviewMs),
          statusCode: v.statusCode,
          allowed: v.allowed,
        },
      ]),
    ),
  };
}
