/**
 * `npm run invoke -- <mutate|validate> <event.json> [more serverless options]`
 *
 * Runs `serverless invoke local --stage local --function <name> --path <event.json>`: the handler
 * is bundled by serverless-esbuild as for a deploy and called with the saved API Gateway event,
 * with the `local` stage's params (policy.yaml, caller authentication off). A saved event whose
 * expected result names a policy file (`"policy": "examples/policies/no-latest.yaml"`) runs under
 * that policy, as the tests run it, and says so; `--param=policyFile=FILE` chooses another. Extra
 * arguments go to serverless as they are. Exits with serverless's status, or 2 for a wrong
 * function name or a missing event file.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  if (typeof policy !== 'string') return [];
  process.stderr.write(`invoke: under ${policy}, the policy ${expectedPath} names (--param=policyFile=FILE for another)\n`);
  return [`--param=policyFile=${policy}`];
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
    { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...QUIET_SERVERLESS_ENV } },
  );
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

main(process.argv.slice(2));
