/**
 * One Lambda instance's life, for test/frozen-instance.test.ts: init (caller authentication begins
 * reading the secret, as lib/setup.ts has it do), then, when a line arrives on stdin, one request.
 * Log records go to stdout as JSON lines. In between, the test stops (SIGSTOP) and continues
 * (SIGCONT) this process, as Lambda freezes an instance after init and thaws it for a request.
 *
 * Arguments: the secret id and the start-up read's budget in ms; the token in WEBHOOK_TEST_TOKEN.
 */
import { createInterface } from 'node:readline';
import { createCallerAuth } from '../../lib/auth/caller-auth';
import { secretsManagerFetcher } from '../../lib/auth/secrets-manager';
import type { LogRecord } from '../../lib/common/log';
import type { HttpError } from '../../lib/common/status';

const [secretId = '', startBudget = ''] = process.argv.slice(2);
const write = (record: LogRecord) => process.stdout.write(`${JSON.stringify(record)}\n`);

const authenticate = createCallerAuth({
  webhook: 'validate',
  fetchVersion: secretsManagerFetcher(secretId),
  ttlMs: 300_000,
  log: write,
  startBudgetMs: Number(startBudget),
});
write({ message: 'init done' });

const lines = createInterface({ input: process.stdin });
lines.once('line', () => {
  authenticate(process.env.WEBHOOK_TEST_TOKEN, 2000).then(
    () => write({ message: 'request', outcome: 'allowed' }),
    (error: HttpError) => write({ message: 'request', outcome: `refused with ${error.statusCode}` }),
  ).finally(() => lines.close());
});
