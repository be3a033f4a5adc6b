/**
 * Property-based fuzzing of both handlers: whatever arrives, the answer keeps the contract of
 * DESIGN.md ("Status codes", "AdmissionReview"). Authentication is off (no
 * WEBHOOK_TOKEN_SECRET_ID), so every input reaches the body checks, the parser and the policies.
 *
 * Every answer, for every input:
 * - the handler's promise resolves (nothing throws);
 * - statusCode is one of 200, 400, 403, 405, 413, 503, and never 500 (a 500 would be our bug);
 * - content-type is application/json and the body is JSON;
 * - a 200 is a well-formed AdmissionReview in the request's apiVersion with the request's uid,
 *   and its patch, if any, decodes to a JSON Patch array that applies to request.object;
 * - any other status carries a Kubernetes Status object with that code;
 * - no string in the body looks like a stack trace.
 * After the run, Object.prototype and Array.prototype have gained no keys.
 *
 * Where the input fully determines the status (a method other than POST, invalid base64, a
 * strict prefix of a review, a review with one field of the wrong type...), the exact status
 * is asserted as well, against a small oracle written from the contract.
 */
import fc from 'fast-check';
import { applyPatch, type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { GatewayEvent, GatewayResult } from '../lib/transport/http';
import { httpApiEvent, podRequest, restEvent, review, tutorialPod } from './support/reviews';
import { handler as mutate } from '../functions/mutate';
import { handler as validate } from '../functions/validate';
import { silenceConsoleLog } from './support/silence';

type Handler = (event: GatewayEvent) => Promise<GatewayResult>;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const HANDLERS: ReadonlyArray<[string, Handler]> = [
  ['mutate', mutate],
  ['validate', validate],
];
const ALLOWED_STATUS = new Set([200, 400, 403, 405, 413, 500, 503]);
const API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];
const MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Checking one answer
// ---------------------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every string inside a parsed JSON value (iteratively: bodies are shallow, but be safe). */
function stringsIn(value: unknown): string[] {
  const found: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') found.push(item);
    else if (Array.isArray(item)) stack.push(...item);
    else if (isPlainObject(item)) stack.push(...Object.keys(item), ...Object.values(item));
  }
  return found;
}

const STACK_TRACE = [/\n\s*at \S/, /\bat [^\s(]+ \([^)]*:\d+:\d+\)/, /\.ts:\d+/, /node:internal/, /\.[cm]?js:\d+:\d+/];

/** The request body as the handler sees it: base64 decoded where the event says so. */
function decodedBody(event: GatewayEvent): string | undefined {
  const body = event.body;
  if (typeof body !== 'string') return undefined;
  return event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}

/**
 * Checks one answer against the contract and returns its status code. `event` is the event the
 * handler was given; for a 200 the request is re-read from it to compare apiVersion, uid and patch.
 */
function checkAnswer(event: GatewayEvent, result: GatewayResult): number {
  expect(ALLOWED_STATUS.has(result.statusCode), `status ${result.statusCode}`).toBe(true);
  expect(result.statusCode, `500 for a fuzzed input: ${result.body.slice(0, 300)}`).not.toBe(500);
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
  expect(headers['content-type']).toBe('application/json');
  expect(typeof result.body).toBe('string');
  const body: unknown = JSON.parse(result.body);
  expect(isPlainObject(body)).toBe(true);
  for (const text of stringsIn(body)) {
    for (const pattern of STACK_TRACE) expect(pattern.test(text), `stack trace in ${JSON.stringify(text.slice(0, 200))}`).toBe(false);
  }
  if (!isPlainObject(body)) return result.statusCode;

  if (result.statusCode !== 200) {
    expect(body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: result.statusCode });
    expect(typeof body.message).toBe('string');
    expect((body.message as string).length).toBeGreaterThan(0);
    expect((body.message as string).length).toBeLessThan(4096);
    return result.statusCode;
  }

  // A 200 can only answer a body that is a JSON AdmissionReview: read it back the same way.
  const request = JSON.parse(decodedBody(event) ?? 'null') as { apiVersion: string; request: Record<string, unknown> };
  expect(body.kind).toBe('AdmissionReview');
  expect(body.apiVersion).toBe(request.apiVersion);
  expect(API_VERSIONS).toContain(body.apiVersion);
  const response = body.response as Record<string, unknown>;
  expect(isPlainObject(response)).toBe(true);
  expect(response.uid).toBe(request.request.uid);
  expect(typeof response.allowed).toBe('boolean');
  if (response.allowed === false) {
    expect(response.status).toMatchObject({ code: 403 });
    expect(typeof (response.status as { message: unknown }).message).toBe('string');
    expect(response.patch).toBeUndefined();
  }
  if (response.warnings !== undefined) {
    const warnings = response.warnings as unknown[];
    expect(warnings.length).toBeLessThanOrEqual(10);
    for (const warning of warnings) {
      expect(typeof warning).toBe('string');
      expect((warning as string).length).toBeLessThan(120);
    }
  }
  if (response.patch !== undefined) {
    expect(response.patchType).toBe('JSONPatch');
    expect(typeof response.patch).toBe('string');
    const patch: unknown = JSON.parse(Buffer.from(response.patch as string, 'base64').toString('utf8'));
    expect(Array.isArray(patch)).toBe(true);
    expect((patch as unknown[]).length).toBeGreaterThan(0);
    const object = request.request.object;
    expect(isPlainObject(object)).toBe(true);
    // `object` is this check's own parse of the request, so patching it in place is fine.
    expect(() => applyPatch(object, patch as Operation[], true, true)).not.toThrow();
  } else {
    expect(response.patchType).toBeUndefined();
  }
  return result.statusCode;
}

/** Sends `event` to both handlers and checks both answers; returns their two status codes. */
async function answerBoth(makeEvent: () => GatewayEvent): Promise<number[]> {
  const codes: number[] = [];
  for (const [, handler] of HANDLERS) {
    const event = makeEvent();
    const result = await handler(event);
    codes.push(checkAnswer(event, result));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }
  return codes;
}

// ---------------------------------------------------------------------------------------------
// An oracle for "well-formed", written from the contract (DESIGN.md, Status codes: 400 for a body
// that is not JSON, not an AdmissionReview, lacks request.uid, or has request fields of the wrong type)
// ---------------------------------------------------------------------------------------------

function expectedStatus(text: string): 200 | 400 {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 400;
  }
  if (!isPlainObject(parsed)) return 400;
  if (parsed.kind !== 'AdmissionReview' || !API_VERSIONS.includes(parsed.apiVersion as string)) return 400;
  const request = parsed.request;
  if (!isPlainObject(request)) return 400;
  const own = (name: string): unknown => (Object.hasOwn(request, name) ? request[name] : undefined);
  if (typeof own('uid') !== 'string' || own('uid') === '') return 400;
  for (const name of ['subResource', 'name', 'namespace', 'operation']) {
    if (own(name) !== undefined && typeof own(name) !== 'string') return 400;
  }
  for (const [name, fields] of [
    ['kind', ['group', 'version', 'kind']],
    ['resource', ['group', 'version', 'resource']],
  ] as const) {
    const value = own(name);
    if (value === undefined) continue;
    if (!isPlainObject(value)) return 400;
    if (fields.some((key) => value[key] !== undefined && typeof value[key] !== 'string')) return 400;
  }
  for (const name of ['object', 'oldObject', 'options']) {
    const value = own(name);
    if (value !== undefined && value !== null && !isPlainObject(value)) return 400;
  }
  if (own('userInfo') !== undefined && !isPlainObject(own('userInfo'))) return 400;
  if (own('dryRun') !== undefined && typeof own('dryRun') !== 'boolean') return 400;
  return 200;
}

// ---------------------------------------------------------------------------------------------
// Valid reviews, and ways to break them
// ---------------------------------------------------------------------------------------------

const imageArb = fc.constantFrom(
  'python:3.9-slim',
  'nginx',
  'registry.example.com/app:1.0',
  'registry.example.com/team/app@sha256:' + 'a'.repeat(64),
  'REGISTRY.example.com/app',
  'registry.example.com.evil.io/x',
  'docker.io/registry.example.com/x',
  'registry.example.com:443/app',
  'localhost:5000/x',
  '',
  ' registry.example.com/app',
  'registry.example.com/UPPER',
);

const containerArb = fc.record(
  {
    name: fc.constantFrom('web', 'sidecar', 'setup', 'debug', ''),
    image: imageArb,
    imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent', 'Never', ''),
  },
  { requiredKeys: ['name', 'image'] },
);

const podSpecArb = fc.record(
  {
    containers: fc.array(containerArb, { minLength: 1, maxLength: 4 }),
    initContainers: fc.array(containerArb, { maxLength: 2 }),
    ephemeralContainers: fc.array(containerArb, { maxLength: 1 }),
    imagePullSecrets: fc.array(fc.record({ name: fc.constantFrom('registry-credentials', 'other') }), { maxLength: 2 }),
  },
  { requiredKeys: ['containers'] },
);

const WORKLOADS: Record<string, { group: string; version: string; resource: string; wrap: (spec: unknown) => Record<string, unknown> }> = {
  Pod: { group: '', version: 'v1', resource: 'pods', wrap: (spec) => ({ spec }) },
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments', wrap: (spec) => ({ spec: { template: { spec } } }) },
  CronJob: {
    group: 'batch',
    version: 'v1',
    resource: 'cronjobs',
    wrap: (spec) => ({ spec: { jobTemplate: { spec: { template: { spec } } } } }),
  },
  PodTemplate: { group: '', version: 'v1', resource: 'podtemplates', wrap: (spec) => ({ template: { spec } }) },
  ConfigMap: { group: '', version: 'v1', resource: 'configmaps', wrap: () => ({ data: { key: 'value' } }) },
};

/** A well-formed AdmissionReview, as a plain JSON value; by default of any kind and operation. */
function reviewArb({
  kinds = Object.keys(WORKLOADS),
  operations = ['CREATE', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT'],
  subResources = true,
}: { kinds?: string[]; operations?: string[]; subResources?: boolean } = {}): fc.Arbitrary<Record<string, Json>> {
  return fc
  .record({
    kind: fc.constantFrom(...kinds),
    spec: podSpecArb,
    oldSpec: fc.option(podSpecArb, { nil: undefined }),
    operation: fc.constantFrom(...operations),
    namespace: fc.option(fc.constantFrom('default', 'kube-system', 'team-a'), { nil: undefined }),
    subResource: subResources ? fc.option(fc.constantFrom('ephemeralcontainers', 'status'), { nil: undefined, freq: 4 }) : fc.constant(undefined),
    uid: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 40 })),
    apiVersion: fc.constantFrom(...API_VERSIONS),
    nullObject: fc.boolean(),
  })
  .map(({ kind, spec, oldSpec, operation, namespace, subResource, uid, apiVersion, nullObject }) => {
    const workload = WORKLOADS[kind] as (typeof WORKLOADS)[string];
    const object = { apiVersion: workload.group ? `${workload.group}/v1` : 'v1', kind, metadata: { name: 'app' }, ...workload.wrap(spec) };
    const oldObject = oldSpec && operation === 'UPDATE' ? { ...object, ...workload.wrap(oldSpec) } : null;
    const request: Record<string, unknown> = {
      uid,
      kind: { group: workload.group, version: workload.version, kind },
      resource: { group: workload.group, version: workload.version, resource: workload.resource },
      operation,
      object: operation === 'DELETE' && nullObject ? null : object,
      oldObject,
      userInfo: { username: 'system:admin', groups: ['system:masters'] },
      dryRun: false,
    };
    if (namespace !== undefined) request.namespace = namespace;
    if (subResource !== undefined) request.subResource = subResource;
    return JSON.parse(JSON.stringify({ apiVersion, kind: 'AdmissionReview', request })) as Record<string, Json>;
  });
}

const validReviewArb = reviewArb();

type Path = Array<string | number>;

/** Every path in a JSON value, the root included, in a stable order. */
function pathsOf(value: Json, prefix: Path = []): Path[] {
  const paths: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((item, index) => paths.push(...pathsOf(item, [...prefix, index])));
  else if (isPlainObject(value)) for (const [key, item] of Object.entries(value)) paths.push(...pathsOf(item as Json, [...prefix, key]));
  return paths;
}

/** Every path to an object (not array) in a JSON value. */
function objectPathsOf(value: Json): Path[] {
  return pathsOf(value).filter((path) => isPlainObject(getAt(value, path)));
}

function getAt(value: Json, path: Path): Json | undefined {
  let current: Json | undefined = value;
  for (const segment of path) current = (current as Record<string, Json> | undefined)?.[segment as string];
  return current;
}

/** A deep copy with the value at `path` replaced (or removed, for undefined; the root cannot be removed). */
function setAt(value: Json, path: Path, replacement: Json | undefined): Json {
  if (path.length === 0) return replacement === undefined ? null : replacement;
  const copy = structuredClone(value) as Record<string, Json>;
  const parent = getAt(copy, path.slice(0, -1)) as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    parent[last] = replacement;
  }
  return copy;
}

/** A JSON text placeholder: a string that a generated value never contains. */
const placeholder = (n: number) => `\u0000placeholder-${n}\u0000`;
const quotedPlaceholder = (n: number) => JSON.stringify(placeholder(n));

/** JSON text of `value` with each quoted placeholder replaced by raw JSON text. */
function withRaw(value: Json, raw: readonly string[]): string {
  let text = JSON.stringify(value);
  raw.forEach((replacement, n) => {
    text = text.split(quotedPlaceholder(n)).join(replacement);
  });
  return text;
}

function deepText(depth: number, shape: 'object' | 'array' | 'mixed'): string {
  if (shape === 'array') return '['.repeat(depth) + ']'.repeat(depth);
  if (shape === 'object') return '{"a":'.repeat(depth) + 'null' + '}'.repeat(depth);
  return '{"a":['.repeat(depth / 2) + '1' + ']}'.repeat(depth / 2);
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

interface EventShape {
  api: 'rest' | 'http';
  method?: string;
  contentType?: string | null;
  base64?: boolean;
  route?: 'mutate' | 'validate';
}

const eventShapeArb: fc.Arbitrary<EventShape> = fc.record({
  api: fc.constantFrom('rest' as const, 'http' as const),
  base64: fc.boolean(),
});

/** An API Gateway event of either payload version carrying `body` (already encoded as the shape says). */
function eventFor(body: string | null | undefined, shape: EventShape): GatewayEvent {
  const contentHeader =
    shape.contentType === null ? {} : { [shape.api === 'rest' ? 'Content-Type' : 'content-type']: shape.contentType ?? 'application/json' };
  const method = shape.method ?? 'POST';
  if (shape.api === 'rest') {
    const event = restEvent('', { httpMethod: method, headers: contentHeader, isBase64Encoded: shape.base64 ?? false });
    (event as { body: unknown }).body = body;
    return event;
  }
  const event = httpApiEvent('', { headers: contentHeader as Record<string, string>, isBase64Encoded: shape.base64 ?? false });
  (event as { body: unknown }).body = body;
  (event as { requestContext: { http: { method: string } } }).requestContext.http.method = method;
  return event;
}

/** An event carrying `text`, base64-encoded when the shape asks for it. */
function eventWithText(text: string, shape: EventShape): GatewayEvent {
  return eventFor(shape.base64 ? Buffer.from(text, 'utf8').toString('base64') : text, shape);
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

const prototypeKeysBefore = {
  object: Object.getOwnPropertyNames(Object.prototype).sort(),
  array: Object.getOwnPropertyNames(Array.prototype).sort(),
};

silenceConsoleLog();

describe('fuzzed inputs to both handlers', () => {
  it('answers valid reviews (both payload versions, plain or base64) with a well-formed 200', async () => {
    await fc.assert(
      fc.asyncProperty(validReviewArb, eventShapeArb, async (value, shape) => {
        const text = JSON.stringify(value);
        expect(expectedStatus(text)).toBe(200);
        expect(await answerBoth(() => eventWithText(text, shape))).toEqual([200, 200]);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses random bytes and random strings with 400', async () => {
    const bodyArb = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
      fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((bytes) => Buffer.from(bytes).toString('utf8')),
      fc.string({ minLength: 1, maxLength: 500, unit: 'binary' }),
      fc.string({ minLength: 1, maxLength: 200 }),
      fc.jsonValue().map((value) => JSON.stringify(value)),
    );
    await fc.assert(
      fc.asyncProperty(bodyArb, eventShapeArb, async (text, shape) => {
        const expected = expectedStatus(text);
        expect(await answerBoth(() => eventWithText(text, shape))).toEqual([expected, expected]);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses every strict prefix of a valid review (truncated JSON) with 400', async () => {
    await fc.assert(
      fc.asyncProperty(validReviewArb, fc.nat(), eventShapeArb, async (value, cut, shape) => {
        const text = JSON.stringify(value);
        const truncated = text.slice(0, 1 + (cut % (text.length - 1)));
        expect(await answerBoth(() => eventWithText(truncated, shape))).toEqual([400, 400]);
      }),
      { numRuns: 150 },
    );
  });

  it('answers a review with any one field replaced by any JSON value (or removed) as the contract says', async () => {
    const mutatedArb = fc
      .tuple(validReviewArb, fc.nat(), fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined, freq: 6 }))
      .map(([value, pick, replacement]) => {
        const paths = pathsOf(value);
        const path = paths[pick % paths.length] as Path;
        return { path, text: JSON.stringify(setAt(value, path, replacement as Json | undefined)) };
      });
    await fc.assert(
      fc.asyncProperty(mutatedArb, eventShapeArb, async ({ text }, shape) => {
        const expected = expectedStatus(text);
        expect(await answerBoth(() => eventWithText(text, shape))).toEqual([expected, expected]);
      }),
      { numRuns: 400 },
    );
  });

  it('answers wrong types at each request field the parser checks with 400 naming the field', async () => {
    const checked: Path[] = [
      ['kind'],
      ['apiVersion'],
      ['request'],
      ['request', 'uid'],
      ['request', 'name'],
      ['request', 'namespace'],
      ['request', 'operation'],
      ['request', 'subResource'],
      ['request', 'kind'],
      ['request', 'kind', 'kind'],
      ['request', 'resource'],
      ['request', 'resource', 'resource'],
      ['request', 'object'],
      ['request', 'oldObject'],
      ['request', 'userInfo'],
      ['request', 'dryRun'],
    ];
    // Wrong for every one of the fields above: a number or an array (no Infinity: JSON has none, it would be sent as null).
    const wrongArb = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }));
    await fc.assert(
      fc.asyncProperty(validReviewArb, fc.constantFrom(...checked), wrongArb, eventShapeArb, async (value, path, wrong, shape) => {
        const text = JSON.stringify(setAt(value, path, wrong as Json));
        expect(expectedStatus(text)).toBe(400);
        expect(await answerBoth(() => eventWithText(text, shape))).toEqual([400, 400]);
        // The message names the field: `kind`, `request`, `request.uid`, `request.kind` (for request.kind.kind)...
        const message = JSON.parse((await validate(eventWithText(text, shape))).body).message as string;
        expect(message).toContain(path.slice(0, 2).join('.'));
      }),
      { numRuns: 120 },
    );
  });

  it('answers huge strings and numbers anywhere without a 500 (and as the contract says)', async () => {
    const hugeString = fc
      // at most 600,000 units: even '\u0001', six bytes once escaped, keeps the body under 4 MB
      .tuple(fc.integer({ min: 100_000, max: 600_000 }), fc.constantFrom('x', 'é', '😀', '\\', '"', '\u0001', 'registry.example.com/'))
      .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));
    const hugeNumber = fc.constantFrom('1e400', '-1e400', '1e308', '123456789012345678901234567890123456789', '-0', '0.' + '1'.repeat(5000), '9'.repeat(100_000));
    await fc.assert(
      fc.asyncProperty(validReviewArb, fc.nat(), fc.oneof(hugeString.map((s) => JSON.stringify(s)), hugeNumber), eventShapeArb, async (value, pick, raw, shape) => {
        const paths = pathsOf(value);
        const path = paths[pick % paths.length] as Path;
        const text = withRaw(setAt(value, path, placeholder(0)), [raw]);
        // Sizes stay below the 6 MiB limit, so the oracle's 200 or 400 is the answer (test/limits.test.ts covers larger).
        expect(Buffer.byteLength(text)).toBeLessThan(6 * MIB);
        const expected = expectedStatus(text);
        expect(await answerBoth(() => eventWithText(text, shape))).toEqual([expected, expected]);
      }),
      { numRuns: 40 },
    );
  });

  it('answers nesting 10,000 deep (at the root, in request.object, in spec.containers[0], anywhere) without a 500', async () => {
    // `SPEC` stands for the pod spec's path in the object: `spec` in a Pod, `spec.template.spec` in a Deployment.
    const where = fc.constantFrom<Path>(
      ['deep'],
      ['request', 'object', 'deep'],
      ['request', 'object', 'SPEC', 'containers', 0, 'deep'],
      ['request', 'object', 'SPEC', 'containers', 0, 'image'],
      ['request', 'object', 'SPEC', 'containers', 0],
      ['request', 'object', 'SPEC', 'containers'],
      ['request', 'object', 'SPEC', 'imagePullSecrets'],
      ['request', 'oldObject'],
      ['request', 'kind'],
      ['kind'],
      ['apiVersion'],
      ['request', 'uid'],
      ['request', 'userInfo', 'extra'],
      [],
    );
    const expand = (path: Path, value: Json): Path => {
      const pod = (getAt(value, ['request', 'kind', 'kind']) as string) === 'Pod';
      return path.flatMap((segment) => (segment !== 'SPEC' ? [segment] : pod ? ['spec'] : ['spec', 'template', 'spec']));
    };
    await fc.assert(
      fc.asyncProperty(
        reviewArb({ kinds: ['Pod', 'Pod', 'Deployment'], operations: ['CREATE', 'CREATE', 'UPDATE'], subResources: false }),
        where,
        fc.constantFrom(10_000, 12_000),
        fc.constantFrom('object' as const, 'array' as const, 'mixed' as const),
        eventShapeArb,
        async (value, path, depth, shape, event) => {
          const target = expand(path, value);
          if (target.length > 0) expect(getAt(value, target.slice(0, -1))).toBeDefined();
          const text = withRaw(setAt(value, target, placeholder(0)), [deepText(depth, shape)]);
          const expected = expectedStatus(text);
          expect(await answerBoth(() => eventWithText(text, event))).toEqual([expected, expected]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('answers __proto__ / constructor / prototype keys anywhere (as own keys) without polluting prototypes', async () => {
    const payloadArb = fc.constantFrom<Json>(
      { polluted: 'yes' },
      { polluted: 'yes', kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', uid: 'x' },
      { containers: [{ name: 'evil', image: 'evil.io/x' }], imagePullPolicy: 'Never', imagePullSecrets: 'none' },
      { prototype: { polluted: 'yes' } },
      'polluted',
      [{ polluted: 'yes' }],
      null,
    );
    const keyArb = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__');
    const protoArb = fc.tuple(validReviewArb, fc.nat(), keyArb, payloadArb, fc.boolean()).map(([value, pick, key, payload, rename]) => {
      const objects = objectPathsOf(value);
      const path = objects[pick % objects.length] as Path;
      const node = getAt(value, path) as Record<string, Json>;
      const keys = Object.keys(node);
      // Either rename an existing key (so that e.g. `spec` now lives under `__proto__`) or add one.
      const renamed = rename && keys.length > 0 ? (keys[pick % keys.length] as string) : undefined;
      const marker = placeholder(0);
      const replacement: Record<string, Json> = {};
      for (const [k, v] of Object.entries(node)) replacement[k === renamed ? marker : k] = v;
      if (renamed === undefined) replacement[marker] = payload;
      return withRaw(setAt(value, path, replacement), [JSON.stringify(key)]);
    });
    await fc.assert(
      fc.asyncProperty(protoArb, eventShapeArb, async (text, shape) => {
        expect(text).toMatch(/"(__proto__|constructor|prototype|toString|hasOwnProperty|__defineGetter__)":/);
        const expected = expectedStatus(text);
        expect(await answerBoth(() => eventWithText(text, shape))).toEqual([expected, expected]);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('answers duplicate keys as JSON.parse reads them (the last one wins)', async () => {
    const duplicateArb = fc.tuple(validReviewArb, fc.nat(), fc.nat(), fc.jsonValue({ maxDepth: 2 }), fc.boolean()).map(([value, pickObject, pickKey, other, before]) => {
      const objects = objectPathsOf(value).filter((path) => Object.keys(getAt(value, path) as object).length > 0);
      const path = objects[pickObject % objects.length] as Path;
      const node = getAt(value, path) as Record<string, Json>;
      const keys = Object.keys(node);
      const key = keys[pickKey % keys.length] as string;
      // The duplicate goes first (the original wins) or last (the duplicate wins).
      const marker = placeholder(0);
      const replacement: Record<string, Json> = before ? { [marker]: other as Json, ...node } : { ...node, [marker]: other as Json };
      return withRaw(setAt(value, path, replacement), [JSON.stringify(key)]);
    });
    await fc.assert(
      fc.asyncProperty(duplicateArb, eventShapeArb, async (text, shape) => {
        const expected = expectedStatus(text);
        expect(await answerBoth(() => eventWithText(text, shape))).toEqual([expected, expected]);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses invalid base64 (isBase64Encoded: true) with 400', async () => {
    const valid = JSON.stringify(review(podRequest(tutorialPod())));
    const encoded = Buffer.from(valid).toString('base64');
    const invalidArb = fc.oneof(
      // a character outside the alphabet (URL-safe base64, punctuation, non-ASCII) somewhere
      fc.tuple(fc.nat(), fc.constantFrom('-', '_', '!', '.', '*', '%', 'é', '\u0000', '@')).map(([at, bad]) => {
        const i = at % encoded.length;
        return encoded.slice(0, i) + bad + encoded.slice(i + 1);
      }),
      // a length that is not a multiple of 4
      fc.nat().map((cut) => encoded.slice(0, encoded.length - 1 - (cut % 3))),
      // padding in the middle, or too much of it
      fc.nat().map((at) => {
        const i = 4 * (1 + (at % (encoded.length / 4 - 2)));
        return encoded.slice(0, i) + '====' + encoded.slice(i);
      }),
      fc.constantFrom('====', 'a===', '=', '{"kind":"AdmissionReview"}', valid),
      fc.string({ minLength: 1, maxLength: 100 }).filter((s) => s.replace(/\s/g, '').length % 4 !== 0 || /[^A-Za-z0-9+/=\s]/.test(s)),
    );
    await fc.assert(
      fc.asyncProperty(invalidArb, fc.constantFrom('rest' as const, 'http' as const), async (body, api) => {
        expect(await answerBoth(() => eventFor(body, { api, base64: true }))).toEqual([400, 400]);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses content types other than JSON with 400, and accepts JSON media types', async () => {
    const contentTypeArb = fc.oneof(
      fc.constantFrom(
        'text/plain',
        'application/xml',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/yaml',
        'application/jsonp',
        'application/json-patch',
        'json',
        '',
        '*/*',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/merge-patch+json',
        'application/vnd.kubernetes.protobuf',
        ' application/json ',
      ),
      fc.string({ maxLength: 300 }),
    );
    const jsonMediaType = (value: string) => {
      const media = value.split(';')[0]?.trim().toLowerCase() ?? '';
      return media === 'application/json' || /^application\/[\w.+-]*\+json$/.test(media);
    };
    const body = JSON.stringify(review(podRequest(tutorialPod())));
    await fc.assert(
      fc.asyncProperty(contentTypeArb, fc.constantFrom('rest' as const, 'http' as const), async (contentType, api) => {
        const expected = jsonMediaType(contentType) ? 200 : 400;
        expect(await answerBoth(() => eventFor(body, { api, contentType }))).toEqual([expected, expected]);
      }),
      { numRuns: 150 },
    );
    // A missing content type is accepted (saved events often have none).
    expect(await answerBoth(() => eventFor(body, { api: 'rest', contentType: null }))).toEqual([200, 200]);
  });

  it('refuses methods other than POST with 405 (allow: POST), whatever the body', async () => {
    const methodArb = fc.oneof(
      fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'ANY', 'POSTX', ' POST', ''),
      fc.string({ minLength: 1, maxLength: 20 }),
    );
    const bodyArb = fc.oneof(validReviewArb.map((value) => JSON.stringify(value)), fc.string(), fc.constant(undefined));
    await fc.assert(
      fc.asyncProperty(methodArb, bodyArb, fc.constantFrom('rest' as const, 'http' as const), async (method, body, api) => {
        fc.pre(method.toUpperCase() !== 'POST');
        for (const [, handler] of HANDLERS) {
          const event = eventFor(body, { api, method });
          const result = await handler(event);
          expect(checkAnswer(event, result)).toBe(405);
          expect(result.headers?.allow).toBe('POST');
        }
      }),
      { numRuns: 120 },
    );
    // And the method may arrive in any case: API Gateway passes it as sent.
    const body = JSON.stringify(review(podRequest(tutorialPod())));
    expect(await answerBoth(() => eventFor(body, { api: 'http', method: 'post' }))).toEqual([200, 200]);
  });

  it('answers odd event shapes: missing or empty body, no headers, no method, no path parameters', async () => {
    const body = JSON.stringify(review(podRequest(tutorialPod())));
    const cases: Array<[() => GatewayEvent, number]> = [
      [() => eventFor(null, { api: 'rest' }), 400],
      [() => eventFor(undefined, { api: 'http' }), 400],
      [() => eventFor('', { api: 'rest', base64: true }), 400],
      [() => eventFor('   ', { api: 'rest' }), 400],
      [() => eventFor('   ', { api: 'rest', base64: true }), 400],
      [() => ({ ...eventFor(body, { api: 'rest' }), headers: null }) as unknown as GatewayEvent, 200],
      [() => ({ ...eventFor(body, { api: 'rest' }), pathParameters: null }) as GatewayEvent, 200],
      [() => ({ ...eventFor(body, { api: 'rest' }), httpMethod: undefined }) as unknown as GatewayEvent, 405],
      [() => ({ ...eventFor(body, { api: 'http' }), requestContext: {} }) as unknown as GatewayEvent, 405],
      [() => ({ ...eventFor(body, { api: 'rest' }), body: 42 }) as unknown as GatewayEvent, 400],
      [() => ({ ...eventFor(body, { api: 'rest' }), body: { kind: 'AdmissionReview' } }) as unknown as GatewayEvent, 400],
    ];
    for (const [makeEvent, expected] of cases) expect(await answerBoth(makeEvent)).toEqual([expected, expected]);
  });

  it('has left Object.prototype and Array.prototype without new keys after all of the above', () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeysBefore.object);
    expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(prototypeKeysBefore.array);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });
});
