/**
 * Helpers for the suites that run the `serverless` command (osls): a private
 * copy of the service per run (so parallel suites never share `.esbuild/` or
 * `.serverless/`, and a developer's own output is left alone), one shared
 * `serverless package` per test run, saved events with their expected
 * results, and a small zip reader.
 *
 * Every run gets an environment without AWS credentials or profiles, and with
 * telemetry and notifications off, so nothing here can reach AWS.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVERLESS_BIN = createRequire(join(ROOT, 'package.json')).resolve('serverless/bin/serverless.js');
/** What a service copy needs to bundle and run the functions. */
const SERVICE_FILES = ['serverless.yml', 'esbuild.config.cjs', 'package.json', 'tsconfig.json', 'policy.yaml', 'examples', 'deploy', 'scripts', 'functions', 'lib'];
const PACKAGE_TIMEOUT_MS = 120_000;
export const TMP_PREFIX = 'admission-webhooks-sls-';

/** The environment for `serverless`: no AWS credentials, profiles or config files; no telemetry. */
export function serverlessEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && !key.startsWith('SLS_') && !key.startsWith('SERVERLESS_')) env[key] = value;
  }
  const nowhere = join(tmpdir(), 'admission-webhooks-no-aws-config');
  return {
    ...env,
    AWS_CONFIG_FILE: nowhere,
    AWS_SHARED_CREDENTIALS_FILE: nowhere,
    AWS_EC2_METADATA_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    FORCE_COLOR: '0',
    ...extra,
  };
}

/** A fresh copy of the service in a temp dir, with node_modules linked from the project. */
export function serviceCopy(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${label}-`));
  for (const entry of SERVICE_FILES) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `serverless <args>` in `cwd` with a hard time limit. */
export function runServerless(args: readonly string[], cwd: string, timeoutMs = 60_000, env = serverlessEnv()): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [SERVERLESS_BIN, ...args],
      { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** The inputs of a package (the service's files and the lockfile) and its extra arguments, hashed. */
function hashInputs(args: readonly string[]): string {
  const hash = createHash('sha256').update(args.join('\0')).update('\0');
  const visit = (path: string) => {
    const stats = statSync(path);
    if (stats.isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(join(path, name));
    } else {
      hash.update(path.slice(ROOT.length)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  for (const entry of [...SERVICE_FILES, 'package-lock.json']) if (existsSync(join(ROOT, entry))) visit(join(ROOT, entry));
  return hash.digest('hex').slice(0, 16);
}

export interface PackagedService {
  /** Where `serverless package --package` wrote the template and the zips. */
  outDir: string;
  template: CloudFormationTemplate;
  zip: (name: 'mutate' | 'validate') => string;
  /** The framework's console output. */
  log: string;
}

export interface CloudFormationTemplate {
  Resources: Record<string, { Type: string; Properties?: Record<string, any>; DependsOn?: string | string[] }>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
  Metadata?: Record<string, unknown>;
}

function packaged(outDir: string, log: string): PackagedService {
  return {
    outDir,
    template: JSON.parse(readFileSync(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8')),
    zip: (name) => join(outDir, `${name}.zip`),
    log,
  };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the packages of test runs that have ended, and anything of ours older than an hour. */
function removeStaleRuns(): void {
  const hourAgo = Date.now() - 3_600_000;
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const path = join(tmpdir(), name);
    const runPid = /^.*-package-[0-9a-f]+-(\d+)$/.exec(name)?.[1];
    try {
      if ((runPid && Number(runPid) !== process.ppid && !isAlive(Number(runPid))) || statSync(path).mtimeMs < hourAgo) {
        rmSync(path, { recursive: true, force: true });
      }
    } catch {
      // Another run may be removing it too.
    }
  }
}

async function packageOnce(args: readonly string[]): Promise<PackagedService> {
  // One package per test run (the forked workers of a run share their parent), per input state and per variant.
  const dir = join(tmpdir(), `${TMP_PREFIX}package-${hashInputs(args)}-${process.ppid}`);
  const outDir = join(dir, 'out');
  const done = join(dir, 'done.log');
  const failed = join(dir, 'failed.log');
  const lock = `${dir}.lock`;
  if (existsSync(done)) return packaged(outDir, readFileSync(done, 'utf8'));
  let owner = false;
  try {
    mkdirSync(lock);
    owner = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (!owner) {
    const deadline = Date.now() + PACKAGE_TIMEOUT_MS + 30_000;
    while (Date.now() < deadline) {
      if (existsSync(done)) return packaged(outDir, readFileSync(done, 'utf8'));
      if (existsSync(failed)) throw new Error(`serverless package failed in another suite:\n${readFileSync(failed, 'utf8')}`);
      await sleep(200);
    }
    throw new Error(`timed out waiting for another suite's serverless package (lock ${lock})`);
  }
  try {
    removeStaleRuns();
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const service = serviceCopy('service');
    const result = await runServerless(['package', '--stage', 'dev', '--package', outDir, ...args], service, PACKAGE_TIMEOUT_MS);
    const log = `${result.stdout}\n${result.stderr}`;
    rmSync(service, { recursive: true, force: true });
    if (result.code !== 0) {
      writeFileSync(failed, log);
      throw new Error(`serverless package exited with ${result.code}:\n${log}`);
    }
    writeFileSync(done, log);
    return packaged(outDir, log);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

const shared = new Map<string, Promise<PackagedService>>();

/** The private variant: a private API on the VPC endpoints of examples/policies/private-endpoint.yaml. */
export const PRIVATE_VARIANT = ['--param=endpointType=private', '--param=policyFile=examples/policies/private-endpoint.yaml'] as const;

/**
 * The output of one `serverless package --stage dev` (default params, or these extra arguments; no
 * credentials), shared by the suites of a run.
 */
export function packagedService(args: readonly string[] = []): Promise<PackagedService> {
  const key = args.join('\0');
  let run = shared.get(key);
  if (!run) {
    run = packageOnce(args);
    shared.set(key, run);
  }
  return run;
}

/** Extracts a zip (stored or deflated entries, as the framework writes them) into `dest`; returns the entry names. */
export function extractZip(zipFile: string, dest: string): string[] {
  const data = readFileSync(zipFile);
  const endOffset = data.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endOffset < 0) throw new Error(`${zipFile} is not a zip archive`);
  const count = data.readUInt16LE(endOffset + 10);
  let offset = data.readUInt32LE(endOffset + 16);
  const names: string[] = [];
  for (let index = 0; index < count; index++) {
    if (data.readUInt32LE(offset) !== 0x02014b50) throw new Error('bad central directory entry');
    const method = data.readUInt16LE(offset + 10);
    const compressedSize = data.readUInt32LE(offset + 20);
    const nameLength = data.readUInt16LE(offset + 28);
    const extraLength = data.readUInt16LE(offset + 30);
    const commentLength = data.readUInt16LE(offset + 32);
    const localOffset = data.readUInt32LE(offset + 42);
    const name = data.subarray(offset + 46, offset + 46 + nameLength).toString('utf8');
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.includes('..') || name.startsWith('/')) throw new Error(`unsafe entry name ${name}`);
    names.push(name);
    if (name.endsWith('/')) continue;
    const start = localOffset + 30 + data.readUInt16LE(localOffset + 26) + data.readUInt16LE(localOffset + 28);
    const raw = data.subarray(start, start + compressedSize);
    const content = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : undefined;
    if (!content) throw new Error(`unsupported compression method ${method} for ${name}`);
    const target = join(dest, name);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  return names;
}

export interface SavedEvent {
  /** File name without `.json`, e.g. `mutate-tutorial-pod`. */
  name: string;
  file: string;
  fn: 'mutate' | 'validate';
  event: Record<string, any>;
  expected: ExpectedResult;
}

export interface ExpectedResult {
  /** The policy file the scenario needs (a path in the project), where the default policy.yaml will not do. */
  policy?: string;
  statusCode: number;
  headers: Record<string, string>;
  /** The response body as JSON, an AdmissionReview's patch decoded to its array. */
  body: unknown;
}

/** Every saved event (events/*.json) that has an `.expected.json` beside it. */
export function savedEvents(): SavedEvent[] {
  const dir = join(ROOT, 'events');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json') && !name.endsWith('.expected.json'))
    .sort()
    .flatMap((fileName) => {
      const name = fileName.slice(0, -'.json'.length);
      const expectedFile = join(dir, `${name}.expected.json`);
      const fn = name.split('-')[0];
      if (!existsSync(expectedFile) || (fn !== 'mutate' && fn !== 'validate')) return [];
      return [
        {
          name,
          file: join(dir, fileName),
          fn,
          event: JSON.parse(readFileSync(join(dir, fileName), 'utf8')),
          expected: JSON.parse(readFileSync(expectedFile, 'utf8')),
        },
      ];
    });
}

/** The request body an event carries, decoded where it is base64. */
export function eventBody(event: Record<string, any>): Buffer {
  const body = typeof event.body === 'string' ? event.body : '';
  return event.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/** The event's `?timeout=` and other query parameters, as a query string (with `?`) or ''. */
export function eventQuery(event: Record<string, any>): string {
  const params = event.queryStringParameters;
  if (!params || typeof params !== 'object') return '';
  const query = new URLSearchParams(params as Record<string, string>).toString();
  return query === '' ? '' : `?${query}`;
}

/** A response body parsed for comparison with an expected result: JSON, with an AdmissionReview's patch decoded. */
export function comparableBody(body: string): unknown {
  const parsed = JSON.parse(body);
  const patch = parsed?.response?.patch;
  if (typeof patch === 'string') parsed.response.patch = JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
  return parsed;
}

/** Header values of `actual` for the names `expected` lists, compared case-insensitively by name. */
export function pickHeaders(actual: Record<string, unknown>, expected: Record<string, string>): Record<string, unknown> {
  const lower = new Map(Object.entries(actual).map(([key, value]) => [key.toLowerCase(), value]));
  return Object.fromEntries(Object.keys(expected).map((key) => [key, lower.get(key.toLowerCase())]));
}
