/**
 * `npm run secrets-endpoint` (scripts/secrets-endpoint.ts): its arguments, the secret it serves,
 * what it prints (followed here: the printed environment and param make the real handlers accept
 * the printed token), a port in use, and the command itself as a child process read by the real
 * AWS SDK and stopped with SIGTERM.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mutatePod } from '../lib/policies/mutate';
import { configuredHandler } from '../lib/setup';
import { admissionEvent } from '../lib/transport/admission-event';
import {
  DEFAULT_PORT,
  DEFAULT_SECRET_ID,
  type SecretsManagerEndpoint,
  USAGE,
  main,
  parseEndpointArgs,
  secretValue,
} from '../scripts/secrets-endpoint';
import { useEndpointEnvironment } from './support/secrets-manager-endpoint';
import { ROOT } from './support/serverless';

const TOKEN = 'tok-endpoint-4d6f8a0c2e4b6d8f1a3c5e7b9d0f2a4c';

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const outcome = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { outcome, stdout, stderr };
}

let started: SecretsManagerEndpoint | undefined;
afterEach(async () => {
  await started?.close();
  started = undefined;
});

describe('secrets-endpoint arguments', () => {
  it('defaults to port 4566, the local stage secret and a random 64-hex-digit token', () => {
    const first = parseEndpointArgs([]);
    const second = parseEndpointArgs([]);
    expect(first).toMatchObject({ port: DEFAULT_PORT, secretId: DEFAULT_SECRET_ID });
    expect(DEFAULT_PORT).toBe(4566);
    expect(DEFAULT_SECRET_ID).toBe('admission-webhooks/local/token');
    if (first === 'help' || second === 'help') throw new Error('not help');
    expect(first.tokens).toEqual([{ cluster: undefined, token: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(second.tokens[0]?.token).not.toBe(first.tokens[0]?.token);
  });

  it('takes --port, --secret-id and --token, and makes a fleet secret of --cluster names', () => {
    expect(parseEndpointArgs(['--port', '0', '--secret-id', 'team/dev/token', '--token', TOKEN])).toEqual({
      port: 0,
      secretId: 'team/dev/token',
      tokens: [{ cluster: undefined, token: TOKEN }],
    });
    const fleet = parseEndpointArgs(['--cluster', 'blue', '--cluster=green']);
    if (fleet === 'help') throw new Error('not help');
    expect(fleet.tokens.map(({ cluster }) => cluster)).toEqual(['blue', 'green']);
    expect(new Set(fleet.tokens.map(({ token }) => token)).size).toBe(2);
    expect(JSON.parse(secretValue(fleet.tokens))).toEqual({ tokens: { blue: fleet.tokens[0]?.token, green: fleet.tokens[1]?.token } });
    expect(JSON.parse(secretValue([{ cluster: undefined, token: TOKEN }]))).toEqual({ token: TOKEN });
  });

  it.each([
    [['--port', '70000'], '--port must be a port number from 0 to 65535, got "70000"'],
    [['--port', 'http'], '--port must be a port number from 0 to 65535, got "http"'],
    [['--secret-id', 'no spaces'], '--secret-id must be a secret name'],
    [['--token', 'has/slash'], '--token must be 1 to 512 characters of A-Z a-z 0-9 . _ ~ -'],
    [['--token', TOKEN, '--cluster', 'blue'], '--token goes with a single-token secret; each --cluster gets a random token'],
    [['--cluster', 'blue', '--cluster', 'blue'], 'each --cluster must be named once'],
    [['--cluster=-bad'], '--cluster "-bad" is not a cluster name'],
    [['--prot', '1'], "Unknown option '--prot'"],
    [['extra'], "Unexpected argument 'extra'"],
  ])('%j: exit 2, naming the problem', async (argv, message) => {
    const { outcome, stdout, stderr } = await run(argv);
    expect(outcome).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`secrets-endpoint: ${message}`);
    expect(stderr).toContain('usage: npm run secrets-endpoint');
  });

  it('prints the usage for --help and exits 0', async () => {
    const { outcome, stdout } = await run(['--help']);
    expect(outcome).toBe(0);
    expect(stdout).toBe(`${USAGE}\n`);
  });
});

describe('secrets-endpoint serving', () => {
  it('prints the URL, the token and the commands to run next', async () => {
    const { outcome, stdout, stderr } = await run(['--port', '0', '--token', TOKEN]);
    if (typeof outcome === 'number') throw new Error(stderr);
    started = outcome;
    expect(stdout).toBe(
      [
        `Secrets Manager stand-in on ${outcome.url} (Ctrl-C stops it)`,
        'secret: admission-webhooks/local/token',
        `token:  ${TOKEN}`,
        '',
        'In another terminal, start the webhooks with authentication on, reading the token secret from here:',
        '',
        `  AWS_ENDPOINT_URL_SECRETS_MANAGER=${outcome.url} AWS_REGION=us-east-1 \\`,
        '  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\',
        '    npm start -- --param=webhookTokenSecretId=admission-webhooks/local/token',
        '',
        'Once it prints "Server ready: http://127.0.0.1:3000", check it:',
        '',
        `  npm run -s smoke -- --url http://127.0.0.1:3000 --token ${TOKEN}`,
        '',
      ].join('\n'),
    );
  });

  it('prints one token and one smoke command per cluster of a fleet secret', async () => {
    const { outcome, stdout, stderr } = await run(['--port', '0', '--cluster', 'blue', '--cluster', 'green-eu']);
    if (typeof outcome === 'number') throw new Error(stderr);
    started = outcome;
    const served = outcome.version('AWSCURRENT')?.payload;
    const { tokens } = JSON.parse(served && 'string' in served ? served.string : '');
    expect(stdout).toContain(`tokens:\n  blue      ${tokens.blue}\n  green-eu  ${tokens['green-eu']}\n`);
    expect(stdout).toContain(`  npm run -s smoke -- --url http://127.0.0.1:3000 --token ${tokens.blue}   # cluster blue\n`);
    expect(stdout).toContain(`  npm run -s smoke -- --url http://127.0.0.1:3000 --token ${tokens['green-eu']}   # cluster green-eu\n`);
  });

  it('is what the printed commands need: with the printed environment and param, the real handler accepts the printed token', async () => {
    const { outcome, stdout, stderr } = await run(['--port', '0', '--secret-id', 'team/local/token']);
    if (typeof outcome === 'number') throw new Error(stderr);
    started = outcome;
    const printed = Object.fromEntries([...stdout.matchAll(/\b(AWS_[A-Z_]+)=(\S+)/g)].map((match) => [match[1], match[2]]));
    expect(Object.keys(printed).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY']);
    const secretId = /--param=webhookTokenSecretId=(\S+)/.exec(stdout)?.[1];
    const token = /smoke -- --url \S+ --token (\S+)/.exec(stdout)?.[1] as string;
    // useEndpointEnvironment keeps the SDK away from this machine's AWS files; the printed values go on top.
    const restore = useEndpointEnvironment(outcome);
    Object.assign(process.env, printed);
    try {
      const handler = configuredHandler('mutate', mutatePod, { WEBHOOK_TOKEN_SECRET_ID: secretId }, { log: () => undefined });
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } };
      expect((await handler(admissionEvent('mutate', pod, { token }))).statusCode).toBe(200);
      expect((await handler(admissionEvent('mutate', pod, { token: `${token}x` }))).statusCode).toBe(403);
      expect(outcome.ownRequests().length).toBeGreaterThan(0);
    } finally {
      restore();
    }
  });

  it('exits 2 with a clear message when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const { outcome, stdout, stderr } = await run(['--port', String(port)]);
      expect(outcome).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toBe(
        `secrets-endpoint: port ${port} on 127.0.0.1 is in use (another secrets-endpoint, or LocalStack?): stop that, or choose another port with --port <port>\n`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('npm run secrets-endpoint, as a command', () => {
  it('serves the secret to the AWS SDK until SIGTERM, then closes and exits 0', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'scripts/secrets-endpoint.ts'), '--port', '0', '--token', TOKEN], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString('utf8');
          const match = /^Secrets Manager stand-in on (http:\/\/127\.0\.0\.1:\d+) /.exec(stdout);
          if (match && stdout.includes('npm run -s smoke')) resolve(match[1] as string);
        });
        child.on('close', () => reject(new Error(`exited before listening: ${stderr}`)));
      });
      const client = new SecretsManagerClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      const secret = await client.send(new GetSecretValueCommand({ SecretId: 'admission-webhooks/local/token' }));
      client.destroy();
      expect(JSON.parse(secret.SecretString ?? '')).toEqual({ token: TOKEN });
      expect(secret.VersionStages).toEqual(['AWSCURRENT']);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toBe('secrets-endpoint: stopped\n');
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  }, 60_000);
});
