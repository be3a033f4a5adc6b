/**
 * Wraps one Kubernetes object the way the webhooks receive it in a cluster:
 * an AdmissionReview CREATE request, as the API server sends it, inside an
 * API Gateway REST API event, as Lambda delivers it.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { AdmissionRequest, GroupVersionKind, GroupVersionResource } from '../admission';
import type { GatewayEvent } from '../http';
import { type JsonObject, fieldAt } from '../json';

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

export function groupVersionKind(object: JsonObject): GroupVersionKind {
  const apiVersion = String(object.apiVersion);
  const slash = apiVersion.lastIndexOf('/');
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

/** An AdmissionReview CREATE request for `object`, as the API server builds one. */
export function createRequest(object: JsonObject, namespace: string | undefined): AdmissionRequest {
  const kind = groupVersionKind(object);
  const resource = resourceOf(kind);
  const name = fieldAt(object, ['metadata', 'name']);
  return {
    uid: randomUUID(),
    kind,
    resource,
    ...(typeof name === 'string' && name !== '' ? { name } : {}),
    ...(namespace === undefined ? {} : { namespace }),
    operation: 'CREATE',
    userInfo: { username: 'admission-webhooks-review' },
    object,
    oldObject: null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
  };
}

const OFFLINE_TOKEN = 'offline';
const USER_AGENT = 'kube-apiserver-admission';

/**
 * The REST API (payload 1.0) event Lambda hands to the `webhook` function for
 * `POST /{webhook}/{token}?timeout=10s`, the route serverless.yml deploys.
 */
export function gatewayEvent(webhook: string, request: AdmissionRequest): GatewayEvent {
  const resource = `/${webhook}/{token}`;
  const path = `/${webhook}/${OFFLINE_TOKEN}`;
  const headers = { Accept: 'application/json, */*', 'Content-Type': 'application/json', 'User-Agent': USER_AGENT };
  const event: APIGatewayProxyEvent = {
    resource,
    path,
    httpMethod: 'POST',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: { timeout: '10s' },
    multiValueQueryStringParameters: { timeout: ['10s'] },
    pathParameters: { token: OFFLINE_TOKEN },
    stageVariables: null,
    requestContext: {
      accountId: 'offline',
      apiId: 'offline',
      authorizer: null,
      domainName: 'localhost',
      domainPrefix: 'localhost',
      httpMethod: 'POST',
      identity: { sourceIp: '127.0.0.1', userAgent: USER_AGENT } as APIGatewayProxyEvent['requestContext']['identity'],
      path,
      protocol: 'HTTP/1.1',
      requestId: request.uid,
      requestTimeEpoch: Date.now(),
      resourceId: 'offline',
      resourcePath: resource,
      stage: 'offline',
    },
    body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }),
    isBase64Encoded: false,
  };
  return event;
}
