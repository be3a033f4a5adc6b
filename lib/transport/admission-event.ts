/**
 * Builds what a webhook receives in a cluster from one Kubernetes object: the
 * AdmissionReview request an API server sends, inside the API Gateway event
 * Lambda delivers (REST API payload 1.0 or HTTP API payload 2.0).
 *
 * For tools and tests (the offline review command, scripts/make-event.ts, the
 * suites): the Lambda functions never import it, so it stays out of their bundles.
 * Give `uid`, `requestId` and `time` for an event that is the same on every run.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { AdmissionRequest, GroupVersionKind, GroupVersionResource } from '../admission/admission-review';
import type { GatewayEvent } from './http';
import { type JsonObject, fieldAt } from '../common/json';

/** Common cluster-scoped kinds: the API server sends their requests without a namespace. */
const CLUSTER_SCOPED = new Set([
  'APIService',
  'ClusterRole',
  'ClusterRoleBinding',
  'CSIDriver',
  'CSINode',
  'CustomResourceDefinition',
  'DeviceClass',
  'IngressClass',
  'MutatingWebhookConfiguration',
  'Namespace',
  'Node',
  'PersistentVolume',
  'PriorityClass',
  'RuntimeClass',
  'StorageClass',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'ValidatingWebhookConfiguration',
  'VolumeAttachment',
]);

const IRREGULAR_RESOURCES: Record<string, string> = { Endpoints: 'endpoints' };

/** The group, version and kind of an object (`apps/v1` -> `apps`, `v1`; `v1` -> ``, `v1`). */
export function groupVersionKind(object: JsonObject): GroupVersionKind {
  const apiVersion = String(object.apiVersion);
  const slash = apiVersion.indexOf('/');
  return {
    group: slash < 0 ? '' : apiVersion.slice(0, slash),
    version: slash < 0 ? apiVersion : apiVersion.slice(slash + 1),
    kind: String(object.kind),
  };
}

/** The resource name of a kind (`Pod` -> `pods`, `NetworkPolicy` -> `networkpolicies`). */
export function resourceOf({ group, version, kind }: GroupVersionKind): GroupVersionResource {
  const lower = kind.toLowerCase();
  const plural =
    IRREGULAR_RESOURCES[kind] ??
    (/[^aeiou]y$/.test(lower) ? `${lower.slice(0, -1)}ies` : /(s|x|z|ch|sh)$/.test(lower) ? `${lower}es` : `${lower}s`);
  return { group, version, resource: plural };
}

/** The namespace the API server would send: the object's own, else `fallback`; none for cluster-scoped kinds. */
export function namespaceOf(object: JsonObject, fallback: string): string | undefined {
  if (CLUSTER_SCOPED.has(String(object.kind))) return undefined;
  const own = fieldAt(object, ['metadata', 'namespace']);
  return typeof own === 'string' && own !== '' ? own : fallback;
}

export const OPERATIONS = ['CREATE', 'UPDATE'] as const;
export type AdmissionOperation = (typeof OPERATIONS)[number];

export interface RequestOptions {
  /** The namespace of an object without its own (default `default`); cluster-scoped kinds get none. */
  namespace?: string;
  operation?: AdmissionOperation;
  uid?: string;
  /** The old object of an UPDATE; defaults to the object itself, as for a re-apply that changes nothing. */
  oldObject?: JsonObject | null;
  subResource?: string;
  userInfo?: JsonObject;
  /** `options.fieldManager`; defaults to kubectl's (`kubectl-create`, `kubectl-edit`). */
  fieldManager?: string;
}

/** An AdmissionRequest with the fields an API server adds that the webhooks do not read. */
export interface ApiServerRequest extends AdmissionRequest {
  requestKind: GroupVersionKind;
  requestResource: GroupVersionResource;
  requestSubResource?: string;
}

/** Kubernetes' account for `kubectl` with the cluster's admin credentials. */
const CLUSTER_ADMIN: JsonObject = {
  username: 'kubernetes-admin',
  groups: ['system:masters', 'system:authenticated'],
};

/** An `admission.k8s.io/v1` request for `object`, as an API server builds one for kubectl. */
export function admissionRequest(object: JsonObject, options: RequestOptions = {}): ApiServerRequest {
  const operation = options.operation ?? 'CREATE';
  const kind = groupVersionKind(object);
  const resource = resourceOf(kind);
  const name = fieldAt(object, ['metadata', 'name']);
  const namespace = namespaceOf(object, options.namespace ?? 'default');
  return {
    uid: options.uid ?? randomUUID(),
    kind,
    resource,
    ...(options.subResource ? { subResource: options.subResource } : {}),
    requestKind: kind,
    requestResource: resource,
    ...(options.subResource ? { requestSubResource: options.subResource } : {}),
    // No name for an object named by the API server (`generateName`).
    ...(typeof name === 'string' && name !== '' ? { name } : {}),
    ...(namespace === undefined ? {} : { namespace }),
    operation,
    userInfo: options.userInfo ?? CLUSTER_ADMIN,
    object,
    oldObject: operation === 'UPDATE' ? (options.oldObject === undefined ? object : options.oldObject) : null,
    dryRun: false,
    options: {
      kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions',
      apiVersion: 'meta.k8s.io/v1',
      fieldManager: options.fieldManager ?? (operation === 'CREATE' ? 'kubectl-create' : 'kubectl-edit'),
      fieldValidation: 'Strict',
    },
  };
}

export interface EventOptions {
  /** Send the body base64-encoded (`isBase64Encoded: true`). */
  base64?: boolean;
  /** The secret path segment; any value works while authentication is off. */
  token?: string;
  /** The API server's `?timeout=` (default `10s`); null for none. */
  timeout?: string | null;
  requestId?: string;
  time?: Date;
}

const AWS_ACCOUNT = '111122223333';
const API_ID = 'a1b2c3d4e5';
const DOMAIN_NAME = 'webhooks.example.com';
const DOMAIN_PREFIX = 'webhooks';
const CALLER_IP = '203.0.113.10';
/** The User-Agent of the API server's webhook client. */
const API_SERVER_USER_AGENT = 'kube-apiserver-admission';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/**
 * `27/Nov/2025:09:00:00 +0000`, API Gateway's request time format. The month comes from a table,
 * not `toLocaleString`: Intl formatting took over a millisecond per event, a fifth of the review
 * command's time for a folder of manifests.
 */
function gatewayTime(time: Date): string {
  const month = MONTHS[time.getUTCMonth()];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(time.getUTCDate())}/${month}/${time.getUTCFullYear()}:${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())}:${pad(time.getUTCSeconds())} +0000`;
}

/** The 16-character id of a request (REST `extendedRequestId`, HTTP API `requestId`), made from its full id. */
function shortId(requestId: string): string {
  return requestId.replaceAll('-', '').slice(0, 16);
}

/** The `X-Amzn-Trace-Id` of a request: its time in hex seconds, then part of its id. */
function traceId(time: Date, requestId: string): string {
  const seconds = Math.floor(time.getTime() / 1000).toString(16);
  return `Root=1-${seconds}-${requestId.replaceAll('-', '').slice(0, 24)}`;
}

/**
 * What both payload versions carry for a POST of `body` (an object is sent as
 * compact JSON, as the API server sends it) to `/<webhook>/{token}`.
 */
function post(webhook: string, body: unknown, options: EventOptions) {
  const token = options.token ?? 'local-test-token';
  const timeout = options.timeout === undefined ? '10s' : options.timeout;
  const requestId = options.requestId ?? randomUUID();
  const time = options.time ?? new Date();
  const json = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = {
    accept: 'application/json, */*',
    'content-length': String(Buffer.byteLength(json, 'utf8')),
    'content-type': 'application/json',
    host: DOMAIN_NAME,
    'user-agent': API_SERVER_USER_AGENT,
    'x-amzn-trace-id': traceId(time, requestId),
    'x-forwarded-for': CALLER_IP,
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  };
  return {
    token,
    path: `/${webhook}/${token}`,
    resource: `/${webhook}/{token}`,
    query: timeout === null ? null : { timeout },
    headers,
    requestId,
    time,
    body: options.base64 ? Buffer.from(json, 'utf8').toString('base64') : json,
    isBase64Encoded: Boolean(options.base64),
  };
}

/** The REST API (payload 1.0) event Lambda hands to the `webhook` function for a POST of `body`. */
export function restApiEvent(webhook: string, body: unknown, options: EventOptions = {}): APIGatewayProxyEvent {
  const { token, path, resource, query, headers, requestId, time, ...payload } = post(webhook, body, options);
  // Title-cased header names, as API Gateway passes on what the client sent.
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
      extendedRequestId: shortId(requestId),
      requestTime: gatewayTime(time),
      path,
      accountId: AWS_ACCOUNT,
      protocol: 'HTTP/1.1',
      stage: 'dev',
      domainPrefix: DOMAIN_PREFIX,
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
      domainName: DOMAIN_NAME,
      apiId: API_ID,
      authorizer: null,
    },
    ...payload,
  };
}

/** The HTTP API (payload 2.0) event Lambda hands to the `webhook` function for a POST of `body`. */
export function httpApiEvent(webhook: string, body: unknown, options: EventOptions = {}): APIGatewayProxyEventV2 {
  const { token, path, resource, query, headers, requestId, time, ...payload } = post(webhook, body, options);
  return {
    version: '2.0',
    routeKey: `POST ${resource}`,
    rawPath: path,
    rawQueryString: query ? `timeout=${encodeURIComponent(query.timeout)}` : '',
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: AWS_ACCOUNT,
      apiId: API_ID,
      domainName: DOMAIN_NAME,
      domainPrefix: DOMAIN_PREFIX,
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: CALLER_IP, userAgent: API_SERVER_USER_AGENT },
      requestId: shortId(requestId),
      routeKey: `POST ${resource}`,
      stage: '$default',
      time: gatewayTime(time),
      timeEpoch: time.getTime(),
    },
    pathParameters: { token },
    ...payload,
  };
}

export interface GatewayEventOptions extends EventOptions {
  /** An HTTP API (payload 2.0) event instead of a REST API (payload 1.0) one. */
  httpApi?: boolean;
}

/** A POST of `body` to `/<webhook>/{token}`, as API Gateway hands it to the Lambda function. */
export function gatewayEvent(webhook: string, body: unknown, options: GatewayEventOptions = {}): GatewayEvent {
  return options.httpApi ? httpApiEvent(webhook, body, options) : restApiEvent(webhook, body, options);
}

/** The event for an AdmissionReview of `object`: what the `webhook` function receives in a cluster. */
export function admissionEvent(webhook: string, object: JsonObject, options: RequestOptions & GatewayEventOptions = {}): GatewayEvent {
  // `kind` before `apiVersion`, in the order of the API server's JSON.
  const review = { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: admissionRequest(object, options) };
  return gatewayEvent(webhook, review, options);
}
