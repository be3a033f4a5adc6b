/**
 * Turns a workload manifest into a saved API Gateway event for
 * `serverless invoke local`, like the ones in events/:
 *
 *   npx tsx scripts/make-event.ts <mutate|validate> <manifest.yaml> [--namespace ns]
 *     [--operation CREATE|UPDATE] [--http-api] [--base64] [--all] [-o out.json]
 *
 * The event carries an AdmissionReview (`admission.k8s.io/v1`) shaped like the
 * one an API server sends: `request.namespace` from `--namespace`, else the
 * object's `metadata.namespace`, else `default`; the object as written (no
 * `metadata.namespace` is added); for UPDATE the old object is the object
 * itself, as for a re-apply that changes nothing. Without `--all` only the first
 * workload document (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
 * CronJob, ReplicationController, PodTemplate) is used; with it, every one, as a
 * JSON array on stdout or as numbered files `out-1.json`, `out-2.json`, ...
 * A manifest of `-` is read from stdin. Usage errors, unreadable files and bad
 * YAML exit with status 2.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { parseAllDocuments } from 'yaml';
import { type JsonObject, isObject } from '../lib/json';
import { podSpecPath } from '../lib/pod-spec';

export const FUNCTIONS = ['mutate', 'validate'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];
export const OPERATIONS = ['CREATE', 'UPDATE'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const USAGE = `usage: make-event <mutate|validate> <manifest.yaml> [--namespace|-n ns] [--operation CREATE|UPDATE]
                  [--http-api] [--base64] [--all] [-o out.json]`;

/** A problem with the command line or its input; the command exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The group and version of an `apiVersion` (`apps/v1` -> `apps`, `v1`; `v1` -> ``, `v1`). */
export function groupVersion(apiVersion: unknown): { group: string; version: string } {
  const text = typeof apiVersion === 'string' ? apiVersion : '';
  const slash = text.indexOf('/');
  return slash === -1 ? { group: '', version: text } : { group: text.slice(0, slash), version: text.slice(slash + 1) };
}

/** Whether the object is of a kind whose pod spec the webhooks look at. */
export function isWorkload(object: unknown): object is JsonObject {
  if (!isObject(object) || typeof object.kind !== 'string') return false;
  return podSpecPath(groupVersion(object.apiVersion).group, object.kind) !== undefined;
}

/**
 * The workload documents of a YAML stream, in order. Throws a UsageError for
 * YAML that does not parse (naming `source` and the first error) and for a
 * stream without any workload document.
 */
export function workloadDocuments(text: string, source = 'manifest'): JsonObject[] {
  const documents = parseAllDocuments(text);
  for (const document of documents) {
    const [error] = document.errors;
    if (error) throw new UsageError(`${source} is not valid YAML: ${error.message.split('\n')[0]?.replace(/:$/, '')}`);
  }
  const workloads = documents.map((document) => document.toJS() as unknown).filter(isWorkload);
  if (workloads.length === 0) {
    throw new UsageError(
      `${source} has no workload document (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController or PodTemplate)`,
    );
  }
  return workloads;
}

export interface ReviewOptions {
  /** `request.namespace`; defaults to the object's `metadata.namespace`, else `default`. */
  namespace?: string;
  operation?: Operation;
  uid?: string;
  /** The old object of an UPDATE; defaults to the object itself. */
  oldObject?: JsonObject | null;
  subResource?: string;
  userInfo?: JsonObject;
  dryRun?: boolean;
  /** `options.fieldManager`; defaults to kubectl's (`kubectl-create`, `kubectl-edit`). */
  fieldManager?: string;
}

/** Kubernetes' account for `kubectl` with the cluster's admin credentials. */
export const DEFAULT_USER_INFO: JsonObject = {
  username: 'kubernetes-admin',
  groups: ['system:masters', 'system:authenticated'],
};

function metadataString(object: JsonObject, name: string): string | undefined {
  const value = isObject(object.metadata) ? object.metadata[name] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** An `admission.k8s.io/v1` AdmissionReview request for `object`, as an API server sends one. */
export function admissionReview(object: JsonObject, options: ReviewOptions = {}): JsonObject {
  const operation = options.operation ?? 'CREATE';
  const { group, version } = groupVersion(object.apiVersion);
  const kind = { group, version, kind: String(object.kind) };
  const resource = { group, version, resource: `${String(object.kind).toLowerCase()}s` };
  const objectNamespace = metadataString(object, 'namespace');
  if (options.namespace !== undefined && objectNamespace !== undefined && objectNamespace !== options.namespace) {
    throw new UsageError(
      `the namespace from the manifest (${objectNamespace}) does not match the namespace ${options.namespace}`,
    );
  }
  const name = metadataString(object, 'name');
  const request: JsonObject = {
    uid: options.uid ?? randomUUID(),
    kind,
    resource,
    ...(options.subResource ? { subResource: options.subResource } : {}),
    requestKind: kind,
    requestResource: resource,
    ...(options.subResource ? { requestSubResource: options.subResource } : {}),
    ...(name !== undefined ? { name } : {}),
    namespace: options.namespace ?? objectNamespace ?? 'default',
    operation,
    userInfo: options.userInfo ?? DEFAULT_USER_INFO,
    object,
    oldObject: operation === 'UPDATE' ? (options.oldObject === undefined ? object : options.oldObject) : null,
    dryRun: options.dryRun ?? false,
    options: {
      kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions',
      apiVersion: 'meta.k8s.io/v1',
      fieldManager: options.fieldManager ?? (operation === 'CREATE' ? 'kubectl-create' : 'kubectl-edit'),
      fieldValidation: 'Strict',
    },
  };
  return { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request };
}

export interface EventOptions {
  /** An HTTP API (payload 2.0) event instead of a REST API (payload 1.0) one. */
  httpApi?: boolean;
  /** Send the body base64-encoded (`isBase64Encoded: true`). */
  base64?: boolean;
  /** The secret path segment; any value works while authentication is off. */
  token?: string;
  /** The API server's `?timeout=`; null for none. */
  timeout?: string | null;
  stage?: string;
  domainName?: string;
  requestId?: string;
  time?: Date;
}

const AWS_ACCOUNT = '111122223333';
const CALLER_IP = '203.0.113.10';
/** The User-Agent of the API server's webhook client. */
const API_SERVER_USER_AGENT = 'kube-apiserver-admission';

/** `27/Nov/2025:09:00:00 +0000`, API Gateway's request time format. */
function gatewayTime(time: Date): string {
  const month = time.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(time.getUTCDate())}/${month}/${time.getUTCFullYear()}:${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())}:${pad(time.getUTCSeconds())} +0000`;
}

function traceId(time: Date, requestId: string): string {
  const seconds = Math.floor(time.getTime() / 1000).toString(16);
  return `Root=1-${seconds}-${requestId.replaceAll('-', '').slice(0, 24)}`;
}

/**
 * A POST of `body` (an object is sent as compact JSON, as the API server sends
 * it) to `/<function>/{token}`, as API Gateway hands it to the Lambda function.
 */
export function gatewayEvent(
  fn: FunctionName,
  body: unknown,
  options: EventOptions = {},
): APIGatewayProxyEvent | APIGatewayProxyEventV2 {
  const token = options.token ?? 'local-test-token';
  const timeout = options.timeout === undefined ? '10s' : options.timeout;
  const stage = options.stage ?? (options.httpApi ? '$default' : 'dev');
  const domainName = options.domainName ?? 'webhooks.example.com';
  const requestId = options.requestId ?? randomUUID();
  const time = options.time ?? new Date();
  const json = typeof body === 'string' ? body : JSON.stringify(body);
  const payload = options.base64 ? Buffer.from(json, 'utf8').toString('base64') : json;
  const path = `/${fn}/${token}`;
  const resource = `/${fn}/{token}`;
  const query = timeout === null ? null : { timeout };
  const headers: Record<string, string> = {
    accept: 'application/json, */*',
    'content-length': String(Buffer.byteLength(json, 'utf8')),
    'content-type': 'application/json',
    host: domainName,
    'user-agent': API_SERVER_USER_AGENT,
    'x-amzn-trace-id': traceId(time, requestId),
    'x-forwarded-for': CALLER_IP,
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  };

  if (options.httpApi) {
    return {
      version: '2.0',
      routeKey: `POST ${resource}`,
      rawPath: path,
      rawQueryString: query ? `timeout=${encodeURIComponent(query.timeout)}` : '',
      headers,
      ...(query ? { queryStringParameters: query } : {}),
      requestContext: {
        accountId: AWS_ACCOUNT,
        apiId: 'a1b2c3d4e5',
        domainName,
        domainPrefix: domainName.split('.')[0] ?? domainName,
        http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: CALLER_IP, userAgent: API_SERVER_USER_AGENT },
        requestId: requestId.replaceAll('-', '').slice(0, 16),
        routeKey: `POST ${resource}`,
        stage,
        time: gatewayTime(time),
        timeEpoch: time.getTime(),
      },
      pathParameters: { token },
      body: payload,
      isBase64Encoded: Boolean(options.base64),
    };
  }

  // REST API: title-cased header names, as API Gateway passes on what the client sent.
  const restHeaders = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase()), value]),
  );
  return {
    resource,
    path,
    httpMethod: 'POST',
    headers: restHeaders,
    multiValueHeaders: Object.fromEntries(Object.entries(restHeaders).map(([name, value]) => [name, [value]])),
    queryStringParameters: query,
    multiValueQueryStringParameters: query ? { timeout: [query.timeout] } : null,
    pathParameters: { token },
    stageVariables: null,
    requestContext: {
      resourceId: 'abc123',
      resourcePath: resource,
      httpMethod: 'POST',
      extendedRequestId: requestId.replaceAll('-', '').slice(0, 16),
      requestTime: gatewayTime(time),
      path,
      accountId: AWS_ACCOUNT,
      protocol: 'HTTP/1.1',
      stage,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      requestTimeEpoch: time.getTime(),
      requestId,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: CALLER_IP,
        user: null,
        userAgent: API_SERVER_USER_AGENT,
        userArn: null,
      },
      domainName,
      apiId: 'a1b2c3d4e5',
      authorizer: null,
    } as unknown as APIGatewayProxyEvent['requestContext'],
    body: payload,
    isBase64Encoded: Boolean(options.base64),
  };
}

/** The event for one workload object. */
export function makeEvent(
  fn: FunctionName,
  object: JsonObject,
  options: ReviewOptions & EventOptions = {},
): APIGatewayProxyEvent | APIGatewayProxyEventV2 {
  return gatewayEvent(fn, admissionReview(object, options), options);
}

export interface CliOptions {
  fn: FunctionName;
  manifest: string;
  namespace?: string;
  operation: Operation;
  httpApi: boolean;
  base64: boolean;
  all: boolean;
  output?: string;
}

/** Parses the command line (without `node` and the script); throws a UsageError. */
export function parseArguments(argv: readonly string[]): CliOptions {
  const positional: string[] = [];
  const flags = { httpApi: false, base64: false, all: false };
  let namespace: string | undefined;
  let operation: Operation = 'CREATE';
  let output: string | undefined;
  const valueOf = (index: number, flag: string): string => {
    const value = argv[index];
    if (value === undefined || value === '' || value.startsWith('-')) throw new UsageError(`${flag} needs a value`);
    return value;
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const take = (): string => (inline !== undefined ? inline : valueOf(++index, flag));
    switch (flag) {
      case '--namespace':
      case '-n':
        namespace = take();
        break;
      case '--operation': {
        const value = take().toUpperCase();
        if (!OPERATIONS.includes(value as Operation)) throw new UsageError(`--operation must be CREATE or UPDATE, got "${value}"`);
        operation = value as Operation;
        break;
      }
      case '--http-api':
        flags.httpApi = true;
        break;
      case '--base64':
        flags.base64 = true;
        break;
      case '--all':
        flags.all = true;
        break;
      case '-o':
      case '--output':
        output = take();
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  if (positional.length !== 2) throw new UsageError(`expected a function and a manifest, got ${positional.length} arguments`);
  const [fn, manifest] = positional as [string, string];
  if (!FUNCTIONS.includes(fn as FunctionName)) throw new UsageError(`unknown function "${fn}": use mutate or validate`);
  return { fn: fn as FunctionName, manifest, operation, ...flags, ...(namespace ? { namespace } : {}), ...(output ? { output } : {}) };
}

/** `out.json` -> `out-2.json`, for the second of several events. */
export function numberedPath(output: string, number: number): string {
  const match = /^(.*?)(\.json)?$/i.exec(output);
  return `${match?.[1] ?? output}-${number}${match?.[2] ?? '.json'}`;
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile: (path: string) => string;
  writeFile: (path: string, text: string) => void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
  writeFile: (path, text) => writeFileSync(path, text),
};

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
};

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const known = code ? FILE_ERRORS[code] : undefined;
  return known ? `${known} (${code})` : error instanceof Error ? error.message : String(error);
}

/** Runs the command; returns the exit status (0, or 2 for usage and input errors). */
export function main(argv: readonly string[], io: Io = processIo): number {
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const cli = parseArguments(argv);
    let text: string;
    try {
      text = io.readFile(cli.manifest);
    } catch (error) {
      throw new UsageError(`cannot read ${cli.manifest}: ${reason(error)}`);
    }
    const documents = workloadDocuments(text, cli.manifest);
    const events = (cli.all ? documents : documents.slice(0, 1)).map((object) =>
      makeEvent(cli.fn, object, { namespace: cli.namespace, operation: cli.operation, httpApi: cli.httpApi, base64: cli.base64 }),
    );
    const serialise = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
    if (cli.output === undefined) {
      io.stdout(serialise(cli.all ? events : events[0]));
      return 0;
    }
    const targets = cli.all ? events.map((_, index) => numberedPath(cli.output as string, index + 1)) : [cli.output];
    for (const [index, target] of targets.entries()) {
      try {
        io.writeFile(target, serialise(events[index]));
      } catch (error) {
        throw new UsageError(`cannot write ${target}: ${reason(error)}`);
      }
      io.stderr(`wrote ${target}\n`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`make-event: ${error.message}\n${USAGE}\n`);
    return 2;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = main(process.argv.slice(2));
