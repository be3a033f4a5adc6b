/**
 * A provisioned instance: Lambda freezes it right after init, with the start-up read of the secret
 * under way, and thaws it for its first request, maybe hours later. The read's deadline ran on
 * while it was frozen, so it fails at the thaw; that must not count as a Secrets Manager failure
 * (the SecretReadFailures alarm fires on one). Run as Lambda does it: a child process (the real
 * SDK against the local endpoint), stopped with SIGSTOP after init and continued with SIGCONT.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FROZEN_SLACK_MS } from '../lib/auth/caller-auth';
import type { LogRecord } from '../lib/common/log';
import { type SecretsManagerEndpoint, startSecretsManagerEndpoint, useEndpointEnvironment } from './support/secrets-manager-endpoint';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = createRequire(join(ROOT, 'package.json')).resolve('tsx');
const TOKEN = 'tok-frozen-3c5e7a9b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c';
/** The start-up read's budget here (5 s in lib/setup.ts; shorter, so the test is short too). */
const START_BUDGET_MS = 1000;
/** Longer than the budget and its slack: the read's deadline passes while the process is stopped. */
const FROZEN_MS = START_BUDGET_MS + FROZEN_SLACK_MS + 500;

let endpoint: SecretsManagerEndpoint;
let restoreEnvironment: () => void;
let child: ChildProcessWithoutNullStreams | undefined;

beforeAll(async () => {
  endpoint = await startSecretsManagerEndpoint('webhook/frozen-instance');
  restoreEnvironment = useEndpointEnvironment(endpoint);
});

afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await endpoint?.close();
  restoreEnvironment?.();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('a start-up read frozen with the instance is not counted as a failure, and the first request reads again', async () => {
  // The start-up read's two requests (AWSCURRENT, AWSPREVIOUS) get no answer: they are under way when the instance freezes.
  endpoint.setCurrent(TOKEN).slow(Number.POSITIVE_INFINITY, { times: 2 });
  child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'test/support/frozen-instance.ts'), endpoint.secretName, String(START_BUDGET_MS)], {
    cwd: ROOT,
    env: { ...process.env, WEBHOOK_TEST_TOKEN: TOKEN },
  });
  const records: LogRecord[] = [];
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    const lines = output.split('\n');
    output = lines.pop() ?? '';
    for (const line of lines) records.push(JSON.parse(line) as LogRecord);
  });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));

  // Init is over and both reads are waiting on Secrets Manager: freeze.
  await expect.poll(() => endpoint.requests.length, { timeout: 15_000, interval: 5 }).toBe(2);
  expect(records).toContainEqual({ message: 'init done' });
  child.kill('SIGSTOP');
  await sleep(FROZEN_MS);
  child.kill('SIGCONT');

  // At the thaw the read's deadline has passed, and it gives up.
  await expect.poll(() => records.filter((record) => String(record.message).startsWith('token secret')), { timeout: 10_000 }).not.toEqual([]);
  const reads = records.filter((record) => String(record.message).startsWith('token secret'));
  expect(reads).toEqual([
    {
      level: 'INFO',
      message: 'token secret AWSCURRENT read outlasted its budget while the instance was frozen; not counted as a failure',
      webhook: 'validate',
      error: expect.stringMatching(/^(AbortError|TimeoutError)/),
    },
  ]);

  // The first request reads the secret again (Secrets Manager answers now) and is let in.
  child.stdin.write('request\n');
  expect(await exited, errors).toBe(0);
  expect(records.at(-1)).toEqual({ message: 'request', outcome: 'allowed' });
  expect(endpoint.countFor('AWSCURRENT')).toBe(2);
  expect(records.filter((record) => record.SecretReadFailures !== undefined || record.level === 'WARN')).toEqual([]);
}, 30_000);
