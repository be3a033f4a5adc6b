/**
 * The whole contract of one webhook, through createWebhookHandler with an
 * injected Authenticate and a log sink: every status code, both API Gateway
 * payload versions, base64 bodies, the `?timeout=` budget and the log line.
 */
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../lib/admission/admission-review';
import { loadConfig } from '../lib/policies/fleet/config';
import { type GatewayEvent, MAX_BODY_BYTES } from '../lib/transport/http';
import type { LogRecord } from '../lib/common/log';
import { mutatePod } from '../lib/policies/mutate';
import { validateImages } from '../lib/policies/validate';
import type { Decision } from '../lib/policies/decision';
import { HttpError } from '../lib/common/status';
import type { Authenticate } from '../lib/auth/caller-auth';
import { type Policy, createWebhookHandler } from '../lib/transport/webhook';
import { decodedPatch, httpApiEvent, podRequest, restEvent, review, tutorialPod } from './support/reviews';

const TOKEN = 'tok-3f9a1c77e2b04d5e';
const FLEET_TOKEN = 'tok-fleet-prod-8841';
const UID = '705ab4f5-6393-11e8-b7cc-42010a800002';
/** Put into objects to prove the log line never carries them. */
const MARKER = 'object-marker-5b2e9d';

interface AuthCall {
  token: string | undefined;
  budgetMs: number;
}

/** A real Authenticate: 403 for a missing or wrong token, 503 while the "secret store" is down. */
function fakeAuth() {
  const state = { storeAvailable: true, calls: [] as AuthCall[] };
  const authenticate: Authenticate = async (token, budgetMs) => {
    state.calls.push({ token, budgetMs });
    if (!state.storeAvailable) throw new HttpError(503, 'the webhook cannot check its caller right now; try again');
    if (token === undefined) throw new HttpError(403, 'a caller token is required in the webhook path');
    if (token === FLEET_TOKEN) return { cluster: 'prod-eu' };
    if (token !== TOKEN) throw new HttpError(403, 'the caller token is not valid');
    return {};
  };
  return { state, authenticate };
}

const POLICY_VERSION = '0123456789ab';

function setup(policy: Policy, name = 'validate') {
  const auth = fakeAuth();
  const records: LogRecord[] = [];
  const handler = createWebhookHandler({ name, policy, policyVersion: POLICY_VERSION, authenticate: auth.authenticate, log: (record) => records.push(record) });
  return { handler, auth: auth.state, records, reviews: () => records.filter((record) => record.message === 'admission review') };
}

const defaults = loadConfig({});
const validate: Policy = (request) => validateImages(request, defaults);
const mutate: Policy = (request) => mutatePod(request, defaults);

function pod(image: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', annotations: { note: MARKER } },
    spec: { containers: [{ name: 'web', image }] },
    ...extra,
  };
}

const goodPod = () => pod('registry.example.com/team/web:1.0');
const badPod = () => pod('nginx:1.27');

/** A REST API event with the valid token. */
const rest = (body: unknown, overrides: Parameters<typeof restEvent>[1] = {}): GatewayEvent =>
  restEvent(body, { path: `/validate/${TOKEN}`, resource: '/validate/{token}', pathParameters: { token: TOKEN }, ...overrides });

/** An HTTP API event with the valid token. */
const httpApi = (body: unknown, overrides: Parameters<typeof httpApiEvent>[1] = {}): GatewayEvent =>
  httpApiEvent(body, { rawPath: `/validate/${TOKEN}`, pathParameters: { token: TOKEN }, ...overrides });

const base64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64');

/** Asserts the result is a Kubernetes Status of `code` with content-type application/json; returns its message. */
function expectStatus(result: { statusCode: number; headers?: Record<string, unknown>; body: string }, code: number): string {
  expect(result.statusCode).toBe(code);
  expect(result.headers?.['content-type']).toBe('application/json');
  const body = JSON.parse(result.body);
  expect(body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code });
  expect(typeof body.message).toBe('string');
  expect(body.message).not.toBe('');
  return body.message;
}

function responseOf(result: { statusCode: number; headers?: Record<string, unknown>; body: string }) {
  expect(result.statusCode).toBe(200);
  expect(result.headers?.['content-type']).toBe('application/json');
  return JSON.parse(result.body);
}

describe('200: a well-formed review is answered, allowed or not', () => {
  it('allows a Pod from the allowed registry (REST payload 1.0)', async () => {
    const { handler } = setup(validate);
    const body = responseOf(await handler(rest(review(podRequest(goodPod())))));
    expect(body).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: UID, allowed: true } });
  });

  it('denies a Pod from Docker Hub with a 200 carrying the denial (HTTP API payload 2.0)', async () => {
    const { handler } = setup(validate);
    const body = responseOf(await handler(httpApi(review(podRequest(badPod())))));
    expect(body.response).toEqual({
      uid: UID,
      allowed: false,
      status: { code: 403, message: 'Invalid image. Images must come from registry.example.com: container "web" uses "nginx:1.27"' },
    });
  });

  it.each([
    ['REST', rest],
    ['HTTP API', httpApi],
  ])('decodes a base64 %s body', async (_, build) => {
    const { handler } = setup(validate);
    const event = build(base64(review(podRequest(badPod()))), { isBase64Encoded: true });
    expect(responseOf(await handler(event)).response.allowed).toBe(false);
  });

  it('answers a v1beta1 review in v1beta1', async () => {
    const { handler } = setup(validate);
    const body = responseOf(await handler(rest(review(podRequest(goodPod()), 'admission.k8s.io/v1beta1'))));
    expect(body.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(body.kind).toBe('AdmissionReview');
    expect(body.response.uid).toBe(UID);
  });

  it('returns the mutate patch as base64 JSONPatch', async () => {
    const { handler } = setup(mutate, 'mutate');
    const result = await handler(rest(review(podRequest(tutorialPod()))));
    expect(responseOf(result).response).toMatchObject({ uid: UID, allowed: true, patchType: 'JSONPatch' });
    expect(decodedPatch(result.body)).toEqual([
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] },
    ]);
  });

  it('accepts a missing content type and a JSON content type with parameters', async () => {
    const { handler } = setup(validate);
    expect((await handler(rest(review(podRequest(goodPod())), { headers: {} }))).statusCode).toBe(200);
    const withCharset = rest(review(podRequest(goodPod())), { headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect((await handler(withCharset)).statusCode).toBe(200);
  });

  it('carries warnings and the audit annotation in warn mode', async () => {
    const config = loadConfig({ VALIDATION_ACTION: 'warn' });
    const { handler, reviews } = setup((request) => validateImages(request, config));
    const response = responseOf(await handler(rest(review(podRequest(badPod()))))).response;
    expect(response.allowed).toBe(true);
    expect(response.warnings).toEqual([
      'Invalid image. Images must come from registry.example.com',
      'container "web" uses "nginx:1.27"',
    ]);
    expect(response.auditAnnotations).toEqual({
      'image-policy-violation': 'Invalid image. Images must come from registry.example.com: container "web" uses "nginx:1.27"',
    });
    expect(reviews()[0]?.decision).toBe('warned');
  });

  it('allows with only the audit annotation in audit mode', async () => {
    const config = loadConfig({ VALIDATION_ACTION: 'audit' });
    const { handler, reviews } = setup((request) => validateImages(request, config));
    const response = responseOf(await handler(rest(review(podRequest(badPod()))))).response;
    expect(response).toEqual({
      uid: UID,
      allowed: true,
      auditAnnotations: {
        'image-policy-violation': 'Invalid image. Images must come from registry.example.com: container "web" uses "nginx:1.27"',
      },
    });
    expect(reviews()[0]?.decision).toBe('audited');
  });
});

describe('400: a body that is not a well-formed AdmissionReview', () => {
  const valid = () => review(podRequest(goodPod()));

  it.each<[string, () => GatewayEvent, RegExp]>([
    ['an empty body', () => rest(''), /^request body is empty/],
    ['a null body', () => rest('', { body: null }), /^request body is empty/],
    ['bad base64', () => rest('%%%not-base64%%%', { isBase64Encoded: true }), /not valid base64/],
    ['a non-JSON content type', () => rest(valid(), { headers: { 'Content-Type': 'text/plain' } }), /^content-type must be application\/json, got "text\/plain"$/],
    ['a body that is not JSON', () => rest('{"apiVersion":'), /^request body is not valid JSON/],
    ['base64 of a body that is not JSON', () => rest(base64('kind: AdmissionReview'), { isBase64Encoded: true }), /^request body is not valid JSON/],
    ['a JSON array', () => rest([valid()]), /^request body must be a JSON object, got an array$/],
    ['the wrong kind', () => rest({ ...valid(), kind: 'Pod' }), /^kind must be "AdmissionReview", got "Pod"$/],
    ['the wrong apiVersion', () => rest({ ...valid(), apiVersion: 'v1' }), /^apiVersion must be one of admission.k8s.io\/v1, admission.k8s.io\/v1beta1, got "v1"$/],
    ['no request', () => rest({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /^request must be an object/],
    ['no request.uid', () => rest(review({ ...podRequest(goodPod()), uid: undefined as unknown as string })), /^request.uid is missing/],
    ['an array object', () => rest(review(podRequest([] as never))), /^request.object must be an object or null, got an array$/],
    ['a string oldObject', () => rest(review(podRequest(goodPod(), { oldObject: 'x' as never }))), /^request.oldObject must be an object or null, got a string$/],
    ['a numeric namespace', () => rest(review(podRequest(goodPod(), { namespace: 1 as never }))), /^request.namespace must be a string/],
  ])('refuses %s', async (_, build, message) => {
    const { handler, auth, reviews } = setup(validate);
    const result = await handler(build());
    expect(expectStatus(result, 400)).toMatch(message);
    expect(auth.calls).toHaveLength(1);
    expect(reviews()).toHaveLength(0);
  });

  it('refuses a bad HTTP API body the same way', async () => {
    const { handler } = setup(validate);
    expect(expectStatus(await handler(httpApi('not json')), 400)).toMatch(/^request body is not valid JSON/);
  });
});

describe('403 and 503: the caller token', () => {
  it('refuses a wrong token with 403 before reading the body', async () => {
    const { handler, auth, records } = setup(validate);
    const event = rest('this is not even JSON', { path: '/validate/wrong-token-77', pathParameters: { token: 'wrong-token-77' } });
    expect(expectStatus(await handler(event), 403)).toBe('the caller token is not valid');
    expect(auth.calls.map((call) => call.token)).toEqual(['wrong-token-77']);
    expect(JSON.stringify(records)).not.toContain('wrong-token-77');
  });

  it('refuses a missing token with 403 (both payload versions)', async () => {
    const { handler, auth } = setup(validate);
    expectStatus(await handler(rest(review(podRequest(goodPod())), { pathParameters: null })), 403);
    expectStatus(await handler(httpApi(review(podRequest(goodPod())), { pathParameters: {} })), 403);
    expect(auth.calls.map((call) => call.token)).toEqual([undefined, undefined]);
  });

  it('answers 503 when the token cannot be checked', async () => {
    const { handler, auth } = setup(validate);
    auth.storeAvailable = false;
    expect(expectStatus(await handler(rest(review(podRequest(goodPod())))), 503)).toMatch(/cannot check its caller/);
    auth.storeAvailable = true;
    expect((await handler(rest(review(podRequest(goodPod()))))).statusCode).toBe(200);
  });

  it('logs the matched cluster of a fleet token, never the token', async () => {
    const { handler, records, reviews } = setup(validate);
    const event = rest(review(podRequest(goodPod())), { path: `/validate/${FLEET_TOKEN}`, pathParameters: { token: FLEET_TOKEN } });
    expect((await handler(event)).statusCode).toBe(200);
    expect(reviews()[0]?.cluster).toBe('prod-eu');
    expect(JSON.stringify(records)).not.toContain(FLEET_TOKEN);
  });
});

describe('405: methods other than POST', () => {
  it.each<[string, () => GatewayEvent]>([
    ['GET through a REST event', () => rest(null as never, { httpMethod: 'GET', body: null })],
    ['PUT through a REST event', () => rest(review(podRequest(goodPod())), { httpMethod: 'PUT' })],
    ['GET through an HTTP API 2.0 event', () => httpApi('', { requestContext: { http: { method: 'GET' } } as never, body: undefined })],
  ])('refuses %s with allow: POST, before authentication', async (_, build) => {
    const { handler, auth } = setup(validate);
    const result = await handler(build());
    expect(expectStatus(result, 405)).toMatch(/is not allowed: use POST/);
    expect(result.headers?.allow).toBe('POST');
    expect(auth.calls).toHaveLength(0);
  });
});

describe('413: bodies over 6 MiB decoded', () => {
  /** A valid review padded to `bytes` bytes of JSON with an annotation. */
  function paddedReview(bytes: number): string {
    const object = goodPod();
    const base = JSON.stringify(review(podRequest({ ...object, metadata: { name: 'web', annotations: { pad: '' } } })));
    return JSON.stringify(review(podRequest({ ...object, metadata: { name: 'web', annotations: { pad: 'p'.repeat(bytes - base.length) } } })));
  }

  it('builds padded reviews of the exact size', () => {
    expect(paddedReview(1000)).toHaveLength(1000);
  });

  it('refuses a plain body over 6 MiB, before parsing it', async () => {
    const { handler } = setup(validate);
    expectStatus(await handler(rest(paddedReview(MAX_BODY_BYTES + 1))), 413);
    expectStatus(await handler(rest('x'.repeat(MAX_BODY_BYTES + 1))), 413);
  });

  it('refuses a base64 body over 6 MiB decoded', async () => {
    const { handler } = setup(validate);
    expectStatus(await handler(rest(base64(paddedReview(MAX_BODY_BYTES + 1)), { isBase64Encoded: true })), 413);
    expectStatus(await handler(httpApi(base64(paddedReview(MAX_BODY_BYTES + 1)), { isBase64Encoded: true })), 413);
  });

  it('accepts a review of exactly 6 MiB', async () => {
    const { handler } = setup(validate);
    expect(responseOf(await handler(rest(paddedReview(MAX_BODY_BYTES)))).response.allowed).toBe(true);
  });

  it('does not refuse a base64 body over 6 MiB encoded but under it decoded', async () => {
    const { handler } = setup(validate);
    const encoded = base64(paddedReview(5 * 1024 * 1024));
    expect(encoded.length).toBeGreaterThan(MAX_BODY_BYTES);
    expect(responseOf(await handler(rest(encoded, { isBase64Encoded: true }))).response.allowed).toBe(true);
  });
});

describe('500: an internal error', () => {
  it('answers a throwing policy with a Status that carries no stack trace', async () => {
    const failing: Policy = () => {
      throw new TypeError(`Cannot read properties of undefined (reading '${MARKER}')`);
    };
    const { handler, records } = setup(failing);
    const result = await handler(rest(review(podRequest(goodPod()))));
    const message = expectStatus(result, 500);
    expect(message).toBe('internal error in the admission webhook');
    expect(result.body).not.toMatch(/TypeError|Cannot read|\bat\s|\.ts:\d+|node_modules/);
    expect(result.body).not.toContain(MARKER);
    expect(records.some((record) => record.level === 'ERROR')).toBe(true);
  });

  it('answers a patch that does not apply to the object with 500 rather than sending it', async () => {
    const broken: Policy = (): Decision => ({
      allowed: true,
      patch: [{ op: 'add', path: '/spec/initContainers/0/imagePullPolicy', value: 'Always' }],
    });
    const { handler } = setup(broken, 'mutate');
    const result = await handler(rest(review(podRequest(goodPod()))));
    expectStatus(result, 500);
    expect(result.body).not.toContain('patch');
  });
});

describe('the ?timeout= budget for checking the token', () => {
  async function budgetFor(event: GatewayEvent): Promise<number> {
    const { handler, auth } = setup(validate);
    expect((await handler(event)).statusCode).toBe(200);
    expect(auth.calls).toHaveLength(1);
    return auth.calls[0]?.budgetMs ?? Number.NaN;
  }

  it('passes a budget below ?timeout=10s to Authenticate', async () => {
    const budget = await budgetFor(rest(review(podRequest(goodPod())), { queryStringParameters: { timeout: '10s' } }));
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThan(10_000);
  });

  it('shrinks the budget with a shorter timeout (HTTP API 2.0 too)', async () => {
    const ten = await budgetFor(rest(review(podRequest(goodPod())), { queryStringParameters: { timeout: '10s' } }));
    const two = await budgetFor(
      httpApi(review(podRequest(goodPod())), { rawQueryString: 'timeout=2s', queryStringParameters: { timeout: '2s' } }),
    );
    const one = await budgetFor(rest(review(podRequest(goodPod())), { queryStringParameters: { timeout: '1s' } }));
    expect(two).toBeGreaterThan(0);
    expect(two).toBeLessThan(2000);
    expect(two).toBeLessThan(ten);
    expect(one).toBeGreaterThan(0);
    expect(one).toBeLessThan(1000);
    expect(one).toBeLessThanOrEqual(two);
  });

  it('uses a budget below the API server default of 10 s without ?timeout=', async () => {
    const budget = await budgetFor(rest(review(podRequest(goodPod()))));
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThan(10_000);
  });
});

describe('the log line of a review', () => {
  it('is one record with the review fields and EMF metrics, and never the object', async () => {
    const { handler, records, reviews } = setup(validate);
    const request: AdmissionRequest = podRequest(
      { ...badPod(), metadata: { generateName: 'web-', labels: { secret: MARKER } } },
      { namespace: 'team-a', name: undefined },
    );
    await handler(rest(review(request)));
    expect(reviews()).toHaveLength(1);
    const line = reviews()[0] ?? {};
    expect(line).toMatchObject({
      level: 'INFO',
      webhook: 'validate',
      uid: UID,
      kind: 'Pod',
      namespace: 'team-a',
      operation: 'CREATE',
      decision: 'denied',
      patchOperations: 0,
      Allowed: 0,
      Denied: 1,
      Patched: 0,
    });
    expect(typeof line.durationMs).toBe('number');
    expect(line.durationMs).toBeGreaterThanOrEqual(0);
    expect(line._aws).toMatchObject({
      Timestamp: expect.any(Number),
      CloudWatchMetrics: [
        {
          Namespace: expect.any(String),
          Dimensions: [['webhook']],
          Metrics: expect.arrayContaining([
            { Name: 'Allowed', Unit: 'Count' },
            { Name: 'Denied', Unit: 'Count' },
            { Name: 'Patched', Unit: 'Count' },
          ]),
        },
      ],
    });
    const text = JSON.stringify(records);
    expect(text).not.toContain(MARKER);
    expect(text).not.toContain(TOKEN);
    expect(line).not.toHaveProperty('object');
    expect(line).not.toHaveProperty('request');
  });

  it('counts patch operations for mutate', async () => {
    const { handler, reviews } = setup(mutate, 'mutate');
    await handler(httpApi(review(podRequest(tutorialPod()))));
    expect(reviews()).toHaveLength(1);
    expect(reviews()[0]).toMatchObject({ webhook: 'mutate', decision: 'allowed', patchOperations: 2, Allowed: 1, Denied: 0, Patched: 1 });
    expect(JSON.stringify(reviews())).not.toContain('python:3.9-slim');
  });

  it('is written once per review and not for refused requests', async () => {
    const { handler, reviews, records } = setup(validate);
    await handler(rest(review(podRequest(goodPod()))));
    await handler(rest(review(podRequest(goodPod()))));
    await handler(rest('not json'));
    await handler(rest(review(podRequest(goodPod())), { pathParameters: { token: 'nope' } }));
    expect(reviews()).toHaveLength(2);
    const refused = records.filter((record) => record.message !== 'admission review');
    expect(refused.map((record) => record.statusCode)).toEqual([400, 403]);
    expect(JSON.stringify(refused)).not.toContain(TOKEN);
  });
});
