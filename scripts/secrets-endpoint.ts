/**
 * `npm run secrets-endpoint [-- --port N] [--secret-id NAME] [--token T | --cluster NAME ...]`
 *
 * A local stand-in for AWS Secrets Manager that speaks its JSON protocol
 * (`POST /`, `x-amz-target: secretsmanager.GetSecretValue`,
 * `application/x-amz-json-1.1`), so the real SDK client can be pointed at it
 * with `AWS_ENDPOINT_URL_SECRETS_MANAGER`: for an authenticated `npm start`
 * (the command at the end of this file), and for the tests (through
 * test/support/secrets-manager-endpoint.ts) instead of mocking modules.
 *
 * Scriptable per test: the AWSCURRENT / AWSPREVIOUS versions (string or
 * binary-only), rotation, faults (service errors, throttling, slow or hanging
 * answers) optionally limited to one stage or a number of requests, and a log
 * of every request received. Bound to 127.0.0.1 (on a random port unless one is
 * asked for); `close()` destroys every socket and timer, so a test never hangs on it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { CLUSTER_NAME } from '../lib/policies/fleet/policy-document';
import { isEntryPoint } from './entry-point';
import { checkToken } from './webhook-config';

export type Stage = 'AWSCURRENT' | 'AWSPREVIOUS';
export const STAGES: readonly Stage[] = ['AWSCURRENT', 'AWSPREVIOUS'];

/** A secret version's payload: `SecretString`, or `SecretBinary` only. */
export type SecretPayload = { string: string } | { binary: Uint8Array };

export interface StoredVersion {
  versionId: string;
  payload: SecretPayload;
  createdDate: number;
}

export type Fault =
  /** An error answer in the JSON protocol's shape, e.g. 500 InternalServiceError. */
  | { kind: 'error'; status: number; type: string; message?: string }
  /** The normal answer, sent after `delayMs` (Infinity: never; the socket stays open). */
  | { kind: 'slow'; delayMs: number };

export interface FaultOptions {
  /** Stages the fault applies to (default: all). */
  stages?: readonly Stage[];
  /** Number of matching requests that get the fault; the rest are answered normally (default: all). */
  times?: number;
}

export interface RecordedRequest {
  method: string | undefined;
  path: string | undefined;
  target: string | undefined;
  contentType: string | undefined;
  authorization: string | undefined;
  /** The parsed JSON body, or undefined where it was not JSON. */
  body: unknown;
  secretId: unknown;
  versionStage: unknown;
  /** Set when the client closed the connection before the answer was sent. */
  abandoned: boolean;
}

export const serviceError = (type: string, status: number, message = `${type} from the local endpoint`): Fault => ({
  kind: 'error',
  status,
  type,
  message,
});
export const INTERNAL_ERROR: Fault = serviceError('InternalServiceError', 500, 'An error occurred on the server side.');
export const THROTTLED: Fault = serviceError('ThrottlingException', 400, 'Rate exceeded');

function toPayload(secret: string | SecretPayload): SecretPayload {
  return typeof secret === 'string' ? { string: secret } : secret;
}

export class SecretsManagerEndpoint {
  readonly requests: RecordedRequest[] = [];
  private versions: Partial<Record<Stage, StoredVersion>> = {};
  private fault: { fault: Fault; stages: readonly Stage[]; remaining: number } | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Sockets with a request whose answer is still pending (a slow fault). */
  private readonly pending = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private name: string,
    private readonly region: string,
  ) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (request, response) => this.handle(request, response));
  }

  /** `region`: the region in the secret's ARN; `port`: 0 for any free one. Rejects with EADDRINUSE for a port in use. */
  static async start(secretName = 'webhook/caller-token', region = 'us-east-1', port = 0): Promise<SecretsManagerEndpoint> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const { address, port: bound } = server.address() as AddressInfo;
    return new SecretsManagerEndpoint(server, `http://${address}:${bound}`, secretName, region);
  }

  /** The secret's name: the endpoint answers for it and for its ARN, and for nothing else. */
  get secretName(): string {
    return this.name;
  }

  get arn(): string {
    return `arn:aws:secretsmanager:${this.region}:123456789012:secret:${this.name}-AbCdEf`;
  }

  /**
   * Holds the secret under another name from now on. A suite whose handlers' reads may outlive
   * their test (a read that goes on after its request was answered) gives each test its own name,
   * so a late read of an earlier test is told apart (countFor, ownRequests) and finds nothing.
   */
  useSecretName(name: string): this {
    this.name = name;
    return this;
  }

  /** Requests for the secret as it is named now (by name or ARN). */
  ownRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.secretId === this.name || request.secretId === this.arn);
  }

  /** Replaces the AWSCURRENT version (AWSPREVIOUS is left as it is). */
  setCurrent(secret: string | SecretPayload): this {
    this.versions.AWSCURRENT = this.newVersion(secret);
    return this;
  }

  /** Replaces the AWSPREVIOUS version; undefined removes it. */
  setPrevious(secret: string | SecretPayload | undefined): this {
    if (secret === undefined) delete this.versions.AWSPREVIOUS;
    else this.versions.AWSPREVIOUS = this.newVersion(secret);
    return this;
  }

  /** What rotation does: the current version becomes AWSPREVIOUS and `secret` becomes AWSCURRENT. */
  rotate(secret: string | SecretPayload): this {
    const current = this.versions.AWSCURRENT;
    if (current) this.versions.AWSPREVIOUS = current;
    this.versions.AWSCURRENT = this.newVersion(secret);
    return this;
  }

  version(stage: Stage): StoredVersion | undefined {
    return this.versions[stage];
  }

  /** Makes matching requests fail or stall; `undefined` makes the endpoint healthy again. */
  setFault(fault: Fault | undefined, { stages = STAGES, times = Number.POSITIVE_INFINITY }: FaultOptions = {}): this {
    this.fault = fault === undefined ? undefined : { fault, stages, remaining: times };
    return this;
  }

  failing(options?: FaultOptions): this {
    return this.setFault(INTERNAL_ERROR, options);
  }

  throttling(options?: FaultOptions): this {
    return this.setFault(THROTTLED, options);
  }

  /** Answers only after `delayMs` (default: never, until the client gives up or the endpoint closes). */
  slow(delayMs = Number.POSITIVE_INFINITY, options?: FaultOptions): this {
    return this.setFault({ kind: 'slow', delayMs }, options);
  }

  healthy(): this {
    return this.setFault(undefined);
  }

  /** Requests received for one stage of the secret as it is named now. */
  countFor(stage: Stage): number {
    return this.ownRequests().filter((request) => request.versionStage === stage).length;
  }

  /** Forgets versions, faults and recorded requests; answers still pending from earlier tests are dropped. */
  reset(): this {
    this.versions = {};
    this.fault = undefined;
    this.requests.length = 0;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
    return this;
  }

  /** Stops listening and destroys every open socket and pending timer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await done;
  }

  private newVersion(secret: string | SecretPayload): StoredVersion {
    return { versionId: randomUUID(), payload: toPayload(secret), createdDate: Math.floor(Date.now() / 1000) };
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
      const record: RecordedRequest = {
        method: request.method,
        path: request.url,
        target: header(request, 'x-amz-target'),
        contentType: header(request, 'content-type'),
        authorization: header(request, 'authorization'),
        body,
        secretId: fields.SecretId,
        versionStage: fields.VersionStage ?? 'AWSCURRENT',
        abandoned: false,
      };
      this.requests.push(record);
      response.on('close', () => {
        if (!response.writableFinished) record.abandoned = true;
      });
      this.answer(record, response);
    });
  }

  private answer(record: RecordedRequest, response: ServerResponse): void {
    if (record.method !== 'POST' || record.path !== '/') {
      return send(response, 404, { __type: 'UnknownOperationException', message: 'POST / only' });
    }
    if (record.target !== 'secretsmanager.GetSecretValue') {
      return send(response, 400, { __type: 'UnknownOperationException', message: `unsupported target ${record.target}` });
    }
    if (record.contentType?.split(';')[0]?.trim() !== 'application/x-amz-json-1.1') {
      return send(response, 400, { __type: 'SerializationException', message: 'expected application/x-amz-json-1.1' });
    }
    if (typeof record.secretId !== 'string') {
      return send(response, 400, { __type: 'InvalidParameterException', message: 'SecretId is required' });
    }
    const stage = record.versionStage as Stage;
    const fault = this.fault;
    if (fault && fault.remaining > 0 && fault.stages.includes(stage)) {
      fault.remaining -= 1;
      if (fault.fault.kind === 'error') {
        return send(response, fault.fault.status, { __type: fault.fault.type, message: fault.fault.message });
      }
      if (fault.fault.delayMs === Number.POSITIVE_INFINITY) {
        this.hold(response);
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.release(response);
        if (!response.destroyed) this.answerValue(record, response);
      }, fault.fault.delayMs);
      this.timers.add(timer);
      this.hold(response);
      return;
    }
    this.answerValue(record, response);
  }

  private hold(response: ServerResponse): void {
    const socket = response.socket;
    if (!socket) return;
    this.pending.add(socket);
    response.on('close', () => this.pending.delete(socket));
  }

  private release(response: ServerResponse): void {
    if (response.socket) this.pending.delete(response.socket);
  }

  private answerValue(record: RecordedRequest, response: ServerResponse): void {
    const stage = record.versionStage as Stage;
    const known = record.secretId === this.secretName || record.secretId === this.arn;
    if (!known) {
      return send(response, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
    }
    const version = STAGES.includes(stage) ? this.versions[stage] : undefined;
    if (!version) {
      return send(response, 400, {
        __type: 'ResourceNotFoundException',
        message: `Secrets Manager can't find the specified secret value for staging label: ${String(stage)}`,
      });
    }
    const stages = STAGES.filter((candidate) => this.versions[candidate]?.versionId === version.versionId);
    send(response, 200, {
      ARN: this.arn,
      Name: this.secretName,
      VersionId: version.versionId,
      ...('string' in version.payload
        ? { SecretString: version.payload.string }
        : { SecretBinary: Buffer.from(version.payload.binary).toString('base64') }),
      VersionStages: stages,
      CreatedDate: version.createdDate,
    });
  }
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.destroyed || response.writableEnded) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  response.end(text);
}


// ------------------------------------------------------------------------------------------------
// The command: one secret on a fixed port until Ctrl-C, and what to run against it
// ------------------------------------------------------------------------------------------------

export const DEFAULT_PORT = 4566;
export const DEFAULT_SECRET_ID = 'admission-webhooks/local/token';
/** The region the printed commands give the SDK, and the one in the secret's ARN. */
const REGION = 'us-east-1';
/** Secrets Manager's rule for a secret name. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

export const USAGE = `usage: npm run secrets-endpoint -- [--port <port>] [--secret-id <name>] [--token <token> | --cluster <name> ...]

Serves one token secret on http://127.0.0.1:<port> as Secrets Manager's GetSecretValue does, until
Ctrl-C, and prints the commands that start the webhooks with authentication on against it.

  --port       the port on 127.0.0.1 (default: ${DEFAULT_PORT}; 0 for any free one)
  --secret-id  the secret's name (default: ${DEFAULT_SECRET_ID})
  --token      the callers' token (default: a random one, as openssl rand -hex 32 makes)
  --cluster    a fleet secret {"tokens": {...}} with a random token for this cluster; repeat it
               for more clusters`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface EndpointOptions {
  port: number;
  secretId: string;
  /** One token per cluster for a fleet secret, or one token without a cluster. */
  tokens: { cluster: string | undefined; token: string }[];
}

const randomToken = () => randomBytes(32).toString('hex');

/** Parses the arguments; `help` for --help. Throws UsageError naming what is wrong. */
export function parseEndpointArgs(argv: readonly string[]): EndpointOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        port: { type: 'string' },
        'secret-id': { type: 'string' },
        token: { type: 'string' },
        cluster: { type: 'string', multiple: true },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const portText = values.port ?? String(DEFAULT_PORT);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port must be a port number from 0 to 65535, got ${JSON.stringify(portText)}`);
  const secretId = values['secret-id'] ?? DEFAULT_SECRET_ID;
  if (!SECRET_NAME.test(secretId)) throw new UsageError(`--secret-id must be a secret name (1 to 512 letters, digits and /_+=.@-), got ${JSON.stringify(secretId)}`);
  const clusters = values.cluster ?? [];
  if (clusters.length > 0 && values.token !== undefined) throw new UsageError('--token goes with a single-token secret; each --cluster gets a random token');
  for (const cluster of clusters) {
    if (!CLUSTER_NAME.test(cluster)) throw new UsageError(`--cluster ${JSON.stringify(cluster)} is not a cluster name (letters, digits, ., - and _, at most 100)`);
  }
  if (new Set(clusters).size !== clusters.length) throw new UsageError('each --cluster must be named once');
  let token: string;
  try {
    token = values.token === undefined ? randomToken() : checkToken(values.token);
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^the token/, '--token'));
  }
  const tokens = clusters.length === 0 ? [{ cluster: undefined, token }] : clusters.map((cluster) => ({ cluster, token: randomToken() }));
  return { port: Number(portText), secretId, tokens };
}

/** The secret's value: `{"token": ...}`, or `{"tokens": {<cluster>: ...}}` for a fleet. */
export function secretValue(tokens: EndpointOptions['tokens']): string {
  const fleet = tokens.some(({ cluster }) => cluster !== undefined);
  return fleet
    ? JSON.stringify({ tokens: Object.fromEntries(tokens.map(({ cluster, token }) => [cluster, token])) })
    : JSON.stringify({ token: tokens[0]?.token });
}

/** What the command prints once it listens: the endpoint, the token(s), and what to run next. */
export function instructions(url: string, options: EndpointOptions): string {
  const fleet = options.tokens.some(({ cluster }) => cluster !== undefined);
  const width = Math.max(...options.tokens.map(({ cluster }) => (cluster ?? '').length));
  const tokens = fleet
    ? ['tokens:', ...options.tokens.map(({ cluster, token }) => `  ${(cluster as string).padEnd(width)}  ${token}`)]
    : [`token:  ${options.tokens[0]?.token}`];
  return [
    `Secrets Manager stand-in on ${url} (Ctrl-C stops it)`,
    `secret: ${options.secretId}`,
    ...tokens,
    '',
    'In another terminal, start the webhooks with authentication on, reading the token secret from here:',
    '',
    `  AWS_ENDPOINT_URL_SECRETS_MANAGER=${url} AWS_REGION=${REGION} \\`,
    '  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\',
    `    npm start -- --param=webhookTokenSecretId=${options.secretId}`,
    '',
    'Once it prints "Server ready: http://127.0.0.1:3000", check it:',
    '',
    ...options.tokens.map(
      ({ cluster, token }) => `  npm run -s smoke -- --url http://127.0.0.1:3000 --token ${token}${cluster === undefined ? '' : `   # cluster ${cluster}`}`,
    ),
    '',
  ].join('\n');
}

export interface EndpointIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Starts the endpoint and prints the instructions; the endpoint is returned to be closed, or the exit code. */
export async function main(argv: readonly string[], io: EndpointIo): Promise<SecretsManagerEndpoint | number> {
  let options: EndpointOptions | 'help';
  try {
    options = parseEndpointArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`secrets-endpoint: ${error.message}\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  let endpoint: SecretsManagerEndpoint;
  try {
    endpoint = await SecretsManagerEndpoint.start(options.secretId, REGION, options.port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    io.stderr(
      `secrets-endpoint: port ${options.port} on 127.0.0.1 is in use (another secrets-endpoint, or LocalStack?): stop that, or choose another port with --port <port>\n`,
    );
    return 2;
  }
  endpoint.setCurrent(secretValue(options.tokens));
  io.stdout(instructions(endpoint.url, options));
  return endpoint;
}

if (isEntryPoint(import.meta.url)) {
  const io: EndpointIo = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };
  main(process.argv.slice(2), io).then(
    (outcome) => {
      if (typeof outcome === 'number') {
        process.exitCode = outcome;
        return;
      }
      const stop = () => {
        void outcome.close().then(() => io.stderr('secrets-endpoint: stopped\n'));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (error: unknown) => {
      io.stderr(`secrets-endpoint: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
