/**
 * `npm run invoke -- <mutate|validate> <event.json> [more serverless options]`
 *
 * Runs `serverless invoke local --stage local --function <name> --path <event.json>`: the handler
 * is bundled by serverless-esbuild as for a deploy and called with the saved API Gateway event,
 * with the `local` stage's params (policy.yaml, caller authentication off). A saved event whose
 * expected result names a policy file (`"policy": "examples/policies/no-latest.yaml"`) runs under
 * that policy, as the tests run it, and says so; `--param=policyFile=FILE` chooses another. Extra
 * arguments go to serverless as they are. After the handler's result, which serverless prints
 * last, the JSON Patch of its AdmissionReview (base64 in `response.patch`) follows decoded, one
 * operation a line. Exits with serverless's status, or 2 for a wrong function name or a missing
 * event file.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isObject } from '../lib/common/json';
import { isEntryPoint } from './entry-point';

const FUNCTIONS = ['mutate', 'validate'] as const;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Environment for every `serverless` run: no telemetry or notifications, whatever the framework build. */
const QUIET_SERVERLESS_ENV = { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' } as const;

function serverlessBin(root = ROOT): string {
  return createRequire(join(root, 'package.json')).resolve('serverless/bin/serverless.js');
}

const USAGE = `usage: npm run invoke -- <${FUNCTIONS.join('|')}> <event.json> [serverless options]`;

function usage(message: string): never {
  process.stderr.write(`invoke: ${message}\n${USAGE}\n`);
  process.exit(2);
}

/** `--param=policyFile=...` for the policy the event's expected result names, if any (said on stderr). */
function eventPolicy(eventFile: string): string[] {
  const expectedPath = eventFile.replace(/\.json$/, '.expected.json');
  if (!existsSync(expectedPath)) return [];
  const policy: unknown = JSON.parse(readFileSync(expectedPath, 'utf8')).policy;
  if (typeof policy !== 'string') {
    process.stderr.write(`invoke: under the stage's policy file (policyFile, default policy.yaml): ${expectedPath} names no other\n`);
    return [];
  }
  process.stderr.write(`invoke: under ${policy}, the policy ${expectedPath} names (--param=policyFile=FILE for another)\n`);
  return [`--param=policyFile=${policy}`];
}

/**
 * The handler's result in what `serverless invoke local` printed: the indented JSON object that
 * starts at the last line holding only `{` and runs to the end (the handler's log lines come before).
 */
export function invokeResult(stdout: string): unknown {
  const start = stdout.lastIndexOf('\n{\n');
  if (start === -1 && !stdout.startsWith('{\n')) return undefined;
  try {
    return JSON.parse(stdout.slice(start + 1));
  } catch {
    return undefined;
  }
}

/** The decoded `response.patch` of the AdmissionReview in a result's body, one operation a line; undefined without one. */
export function decodedPatch(result: unknown): string | undefined {
  if (!isObject(result) || typeof result.body !== 'string') return undefined;
  let review: unknown;
  try {
    review = JSON.parse(result.isBase64Encoded === true ? Buffer.from(result.body, 'base64').toString('utf8') : result.body);
  } catch {
    return undefined;
  }
  const response = isObject(review) ? review.response : undefined;
  if (!isObject(response) || typeof response.patch !== 'string') return undefined;
  let operations: unknown;
  try {
    operations = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(operations)) return undefined;
  return `decoded patch:\n[\n${operations.map((operation) => `  ${JSON.stringify(operation)}`).join(',\n')}\n]\n`;
}

function main(argv: readonly string[]): void {
  const [name, eventFile, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!name) usage(`the function is missing: give ${FUNCTIONS.join(' or ')}, then the event file`);
  if (!(FUNCTIONS as readonly string[]).includes(name)) usage(`the function must be one of ${FUNCTIONS.join(', ')}, got ${JSON.stringify(name)}`);
  if (!eventFile) usage(`the event file is missing: give it after the function, e.g. events/${name}-tutorial-pod.json`);
  const path = resolve(eventFile);
  if (!existsSync(path)) usage(`no such event file: ${eventFile}`);
  const policy = rest.some((arg) => arg.startsWith('--param=policyFile=')) ? [] : eventPolicy(eventFile);
  const child = spawn(
    process.execPath,
    [serverlessBin(), 'invoke', 'local', '--stage', 'local', '--function', name, '--path', path, ...policy, ...rest],
    { cwd: ROOT, stdio: ['inherit', 'pipe', 'inherit'], env: { ...process.env, ...QUIET_SERVERLESS_ENV } },
  );
  // Passed through as it comes, and kept to find the result in once serverless is done.
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    stdout += chunk.toString('utf8');
  });
  child.on('close', (code, signal) => {
    const patch = code === 0 ? decodedPatch(invokeResult(stdout)) : undefined;
    if (patch) process.stdout.write(patch);
    process.exit(code ?? (signal ? 1 : 0));
  });
}

if (isEntryPoint(import.meta.url)) main(process.argv.slice(2));
