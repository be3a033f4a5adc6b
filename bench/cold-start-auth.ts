/**
 * The authenticated cold start (issue 12): a fresh `node` process loads a `mutate` bundle and
 * answers the tutorial Pod's first review with a token that it checks against the local Secrets
 * Manager endpoint of the tests, the SDK coming from node_modules through NODE_PATH as the Lambda
 * runtime provides it. Variants, built side by side and run in turn with the floor (`node -e 0`):
 *
 *   runtime SDK, read in request    the SDK left to the runtime, loaded by the first request
 *   bundled SDK, read in request    the client bundled, tree-shaken to what GetSecretValue needs
 *   runtime SDK, read at init       SDK load and secret read started at module load (init phase)
 *   bundled SDK, read at init       both
 *   deployed                        the bundle exactly as `serverless package` builds it (bundled, read at init)
 *
 * Each variant runs twice per round: `on-demand` (the event handed over as soon as the bundle is
 * loaded) and `after-init` (the event 250 ms later, as with provisioned concurrency), where only
 * the first review's latency counts.
 */
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
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

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'cold-start-auth-child.cjs');
const SECRET_ID = 'admission-webhooks/bench/token';
const TOKEN = 'bench-token-0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const SDK = '@aws-sdk/client-secrets-manager';

export const VARIANTS = [
  { name: 'runtime SDK, read in request', bundleSdk: false, readAtInit: false },
  { name: 'bundled SDK, read in request', bundleSdk: true, readAtInit: false },
  { name: 'runtime SDK, read at init', bundleSdk: false, readAtInit: true },
  { name: 'bundled SDK, read at init', bundleSdk: true, readAtInit: true },
] as const;
export const DEPLOYED = 'deployed';

/**
 * The `mutate` function wired as lib/setup.ts wires it, with the start-up read on or off, so each
 * variant differs from the others in that one choice.
 */
function entrySource(readAtInit: boolean): string {
  return `
import { createCallerAuth } from './lib/auth/caller-auth';
import { secretsManagerFetcher } from './lib/auth/secrets-manager';
import { consoleSink } from './lib/common/log';
import { loadConfig, loadSettings } from './lib/policies/config';
import { mutatePod } from './lib/policies/mutate';
import { createWebhookHandler } from './lib/transport/webhook';
const config = loadConfig(process.env);
const settings = loadSettings(process.env);
export const handler = createWebhookHandler({
  name: 'mutate',
  policy: (request) => mutatePod(request, config),
  policyVersion: 'bench',
  authenticate: createCallerAuth({
    webhook: 'mutate',
    fetchVersion: secretsManagerFetcher(settings.tokenSecretId ?? ''),
    ttlMs: settings.secretCacheTtlSeconds * 1000,
    log: consoleSink,
    ${readAtInit ? 'startBudgetMs: 5000,' : ''}
  }),
});`;
}

export interface AuthBundle {
  name: string;
  file: string;
  bytes: number;
  zipBytes: number;
}

async function buildVariant(workDir: string, variant: (typeof VARIANTS)[number], index: number): Promise<AuthBundle> {
  const outdir = join(workDir, `auth-${index}`);
  const deployed = deployedBuildOptions(outdir);
  const options: BuildOptions = {
    ...deployed,
    entryPoints: undefined,
    outdir: undefined,
    outbase: undefined,
    stdin: { contents: entrySource(variant.readAtInit), resolveDir: ROOT, loader: 'ts', sourcefile: 'mutate-variant.ts' },
    outfile: join(outdir, 'mutate.js'),
    // The deployed options bundle the client through their tree-shaking plugin; the runtime-SDK
    // variants leave it out instead, for NODE_PATH to provide.
    ...(variant.bundleSdk ? {} : { external: [SDK], plugins: [] }),
  };
  const result = await build(options);
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${variant.name}`);
  const file = join(outdir, 'mutate.js');
  return { name: variant.name, file, bytes: statSync(file).size, zipBytes: zippedSize(outdir, 'mutate.js') };
}

export const buildAuthVariants = (workDir: string, variants: readonly (typeof VARIANTS)[number][] = VARIANTS) =>
  Promise.all(variants.map((variant, index) => buildVariant(workDir, variant, index)));

/** One run's timeline, from the child (times from its process start) and this process (wall). */
interface ChildReport {
  beforeRequire: number;
  loadedAt: number;
  calledAt: number;
  answeredAt: number;
  sdk: { start: number; end: number } | null;
  firstRequestAt: number | null;
  lastResponseAt: number | null;
  exchanges: number;
  statusCode: number;
  allowed: boolean;
  error?: string;
}

export interface AuthColdSample {
  wallMs: number;
  bundleLoadMs: number;
  /** require of the SDK package (runtime SDK only; a bundled SDK loads as part of the bundle and the next column). */
  sdkLoadMs: number;
  /** After the SDK is loaded (or the handler called) to the first Secrets Manager request: the rest of the SDK's start, client construction, credentials, signing. */
  clientMs: number;
  /** First Secrets Manager request sent to the last answer read (AWSCURRENT and AWSPREVIOUS, in parallel). */
  secretReadMs: number;
  /** Last Secrets Manager answer to the review's answer. */
  reviewMs: number;
  /** Handler called to answer. */
  firstReviewMs: number;
  /** Process start to answer, inside the child. */
  answeredMs: number;
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
  if (report.exchanges < 2 || report.firstRequestAt === null || report.lastResponseAt === null) {
    throw new Error(`authenticated cold start of ${bundle} did not read the secret (${report.exchanges} exchanges)`);
  }
  // Where the SDK's own start ends: its require for a runtime SDK; otherwise when the read could begin.
  const readBegins = mode === 'on-demand' ? report.loadedAt : report.calledAt;
  const sdkEnd = report.sdk ? Math.max(report.sdk.end, readBegins) : readBegins;
  return {
    wallMs,
    bundleLoadMs: report.loadedAt - report.beforeRequire,
    sdkLoadMs: report.sdk ? report.sdk.end - report.sdk.start : 0,
    clientMs: Math.max(0, report.firstRequestAt - sdkEnd),
    secretReadMs: report.lastResponseAt - report.firstRequestAt,
    reviewMs: report.answeredAt - Math.max(report.lastResponseAt, report.calledAt),
    firstReviewMs: report.answeredAt - report.calledAt,
    answeredMs: report.answeredAt,
    statusCode: report.statusCode,
    allowed: report.allowed,
  };
}

export interface AuthColdResult {
  name: string;
  bytes: number;
  zipBytes: number;
  /** Medians over the on-demand runs. */
  onDemand: Omit<AuthColdSample, 'statusCode' | 'allowed'>;
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

function medians(samples: readonly AuthColdSample[]): AuthColdResult['onDemand'] {
  const of = (key: keyof AuthColdResult['onDemand']) => median(samples.map((sample) => sample[key]));
  return {
    wallMs: of('wallMs'),
    bundleLoadMs: of('bundleLoadMs'),
    sdkLoadMs: of('sdkLoadMs'),
    clientMs: of('clientMs'),
    secretReadMs: of('secretReadMs'),
    reviewMs: of('reviewMs'),
    firstReviewMs: of('firstReviewMs'),
    answeredMs: of('answeredMs'),
  };
}

/**
 * `runs` measured rounds after `warmupRuns` discarded ones (which fill the file cache); each round runs the floor, then every bundle
 * on demand and after init, so drift in the machine's load hits every series alike.
 */
export async function authenticatedColdStarts(
  bundles: readonly { name: string; file: string; bytes: number; zipBytes: number }[],
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
    const env: NodeJS.ProcessEnv = {
      ...defaultEnvironment(),
      WEBHOOK_TOKEN_SECRET_ID: SECRET_ID,
      // The nodejs22.x runtime keeps the SDK on its NODE_PATH; here, the project's node_modules.
      NODE_PATH: join(ROOT, 'node_modules'),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDLOCALBENCHONLY01',
      AWS_SECRET_ACCESS_KEY: 'local-bench-secret-access-key',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL']) delete env[name];
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
          onDemand: medians(onDemand[index] ?? []),
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

/** The report as the bench's table: medians of the on-demand runs, and the first review after init. */
/** The variants as a table: plain text, or markdown with `format` = markdownTable (`--markdown`). */
export function authColdStartTable(report: AuthColdReport, format: typeof table = table): string {
  return format(
    ['mutate bundle', 'zipped', 'over floor', 'start to answer', 'bundle load', 'SDK load', 'client', 'secret read', 'review', 'first review after init'],
    report.variants.map((v) => [
      v.name,
      kib(v.zipBytes),
      `+${ms(v.onDemand.wallMs - report.floorWallMs)}`,
      ms(v.onDemand.answeredMs),
      ms(v.onDemand.bundleLoadMs),
      v.onDemand.sdkLoadMs === 0 ? 'in bundle' : ms(v.onDemand.sdkLoadMs),
      ms(v.onDemand.clientMs),
      ms(v.onDemand.secretReadMs),
      ms(v.onDemand.reviewMs),
      ms(v.afterInitFirstReviewMs),
    ]),
  );
}

/** The figures for the bench's JSON line, rounded. */
export function authColdStartFigures(report: AuthColdReport) {
  return {
    runs: report.runs,
    floorWallMs: round(report.floorWallMs),
    ...Object.fromEntries(
      report.variants.map((v) => [
        v.name,
        {
          zipBytes: v.zipBytes,
          overFloorMs: round(v.onDemand.wallMs - report.floorWallMs),
          ...Object.fromEntries(Object.entries(v.onDemand).map(([key, value]) => [key, round(value)])),
          afterInitFirstReviewMs: round(v.afterInitFirstReviewMs),
          statusCode: v.statusCode,
          allowed: v.allowed,
        },
      ]),
    ),
  };
}
