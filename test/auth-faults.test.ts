/**
 * Caller authentication end to end: a `validate` handler built by
 * configuredHandler (as functions/validate.ts builds it) with
 * WEBHOOK_TOKEN_SECRET_ID set, whose real SDK client talks to a local
 * Secrets Manager endpoint. The SDK client is a module singleton, so one
 * endpoint serves the whole file and each test scripts it afresh; each test
 * builds its own handler, so the token cache starts empty.
 *
 * Every response (body and headers), every log record and anything printed to
 * the console is checked for the tokens, which are long and distinctive.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { GatewayEvent, GatewayResult } from '../lib/transport/http';
import type { LogRecord } from '../lib/common/log';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import { podRequest, restEvent, review } from './support/reviews';
import { type SecretsManagerEndpoint, THROTTLED, serviceError, startSecretsManagerEndpoint, useEndpointEnvironment } from './support/secrets-manager-endpoint';
import { expectEventMetric, recordsCounting } from './support/emf';

const TOKEN_OLD = 'tok-e2e-old-4f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f4a';
const TOKEN_NEW = 'tok-e2e-new-9b7d5f3a1c9e7b5d3f1a8c6e4b2d0f9a7c5e3b1d8f6a4c2e0b9d';
const TOKEN_PROD = 'tok-e2e-prod-2c4e6a8b0d2f4a6c8e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a';
const WRONG = 'tok-e2e-wrong-7a5c3e1b9d7f5a3c1e8b6d4f2a0c9e7b5d3f1a8c6e4b2d0f9a';
const TOKENS = [TOKEN_OLD, TOKEN_NEW, TOKEN_PROD, WRONG];

/** The cluster's `?timeout=2s`: the handler gives Secrets Manager 1.2 s of it. */
const CLUSTER_TIMEOUT = '2s';
const CLUSTER_TIMEOUT_MS = 2000;
/** Generous: proves "answered before the cluster gave up (plus slack for a loaded machine)", not speed. */
const BOUNDED_MS = CLUSTER_TIMEOUT_MS + 1500;

let endpoint: SecretsManagerEndpoint;
let restoreEnvironment: () => void;
let logs: LogRecord[];
let printed: string[];
let results: GatewayResult[];
/** Measured durations of the outage cases, printed once at the end (console is captured per test). */
const timings: string[] = [];
const report = console.info.bind(console);

beforeAll(async () => {
  endpoint = await startSecretsManagerEndpoint('webhook/caller-token');
  restoreEnvironment = useEndpointEnvironment(endpoint);
});

afterAll(async () => {
  if (timings.length > 0) report(`auth-faults timings:\n  ${timings.join('\n  ')}`);
  await endpoint?.close();
  restoreEnvironment?.();
});

let testNumber = 0;

beforeEach(() => {
  // A read can outlive its request (AWSPREVIOUS joins the cache when it arrives; a hanging read runs
  // to its own budget): each test reads a secret of its own name, so an earlier test's late read
  // finds nothing here and is not counted (countFor, ownRequests).
  testNumber += 1;
  endpoint.reset().useSecretName(`webhook/caller-token-${testNumber}`);
  logs = [];
  printed = [];
  results = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      printed.push(args.map((arg) => (typeof arg === 'string' ? arg : String(arg instanceof Error ? `${arg.message} ${arg.stack}` : JSON.stringify(arg)))).join(' '));
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
  // The contract for every case: no token in any response, log record or console output.
  const places = [...results.map((result) => JSON.stringify(result)), ...logs.map((record) => JSON.stringify(record)), ...printed];
  expect(places.length).toBeGreaterThan(0);
  for (const place of places) expect(leakedFragment(place)).toBeUndefined();
});

/** Any 12-character piece of a token found in `text`: catches a token cut short or wrapped, not only whole. */
function leakedFragment(text: string): string | undefined {
  for (const token of TOKENS) {
    for (let start = 0; start + 12 <= token.length; start += 1) {
      const fragment = token.slice(start, start + 12);
      if (text.includes(fragment)) return fragment;
    }
  }
  return undefined;
}

function validateHandler(env: Record<string, string> = {}) {
  // This test's records: a late read of the handler logs here, not into a later test's.
  const sink = logs;
  return configuredHandler(
    'validate',
    validateImages,
    { WEBHOOK_TOKEN_SECRET_ID: endpoint.secretName, ...env },
    { log: (record) => sink.push(record) },
  );
}

const allowedPod = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'app' },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/team/app:1.4.2' }] },
});

/** The event API Gateway sends for `POST /validate/{token}?timeout=...` (the path carries the token). */
function eventFor(token: string | undefined, timeout: string | undefined = CLUSTER_TIMEOUT): GatewayEvent {
  return restEvent(review(podRequest(allowedPod())), {
    path: `/validate/${token ?? ''}`,
    resource: '/validate/{token}',
    pathParameters: token === undefined ? null : { token },
    queryStringParameters: timeout === undefined ? null : { timeout },
  });
}

type Handler = ReturnType<typeof validateHandler>;

async function call(handler: Handler, token: string | undefined, timeout?: string): Promise<GatewayResult> {
  const result = await handler(eventFor(token, timeout));
  results.push(result);
  return result;
}

async function timedCall(handler: Handler, token: string | undefined, timeout?: string) {
  const started = performance.now();
  const result = await call(handler, token, timeout);
  return { result, elapsed: Math.round(performance.now() - started) };
}

function expectAllowed(result: GatewayResult): void {
  expect(result.statusCode).toBe(200);
  expect(JSON.parse(result.body)).toMatchObject({ kind: 'AdmissionReview', response: { allowed: true } });
}

function expectStatus(result: GatewayResult, code: number): void {
  expect(result.statusCode).toBe(code);
  expect(result.headers).toMatchObject({ 'content-type': 'application/json' });
  expect(JSON.parse(result.body)).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code });
}

const reviewLogs = () => logs.filter((record) => record.message === 'admission review');

describe('caller authentication end to end', () => {
  it('accepts the right token (200) and reads AWSCURRENT and AWSPREVIOUS of the configured secret', async () => {
    endpoint.setCurrent(TOKEN_OLD);
    const handler = validateHandler();
    expectAllowed(await call(handler, TOKEN_OLD));
    // AWSCURRENT alone lets the review through; the AWSPREVIOUS read may still be on its way.
    await expect.poll(() => endpoint.requests.map((request) => [request.secretId, request.versionStage]).sort(), { timeout: 5000 }).toEqual([
      [endpoint.secretName, 'AWSCURRENT'],
      [endpoint.secretName, 'AWSPREVIOUS'],
    ]);
    expect(reviewLogs()).toHaveLength(1);
  });

  it('starts reading the secret when the handler is built (Lambda init), so the first request finds it cached', async () => {
    endpoint.setCurrent(TOKEN_OLD);
    const handler = validateHandler();
    await expect.poll(() => endpoint.ownRequests().length, { timeout: 5000 }).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expectAllowed(await call(handler, TOKEN_OLD));
    expect(endpoint.ownRequests()).toHaveLength(2);
  });

  it('refuses a wrong token with a 403 Status, logging the route and not the path', async () => {
    endpoint.setCurrent(TOKEN_OLD);
    const handler = validateHandler();
    const result = await call(handler, WRONG);
    expectStatus(result, 403);
    expect(reviewLogs()).toHaveLength(0);
    expect(logs).toContainEqual(expect.objectContaining({ statusCode: 403, route: 'POST /validate/{token}' }));
  });

  it('refuses a missing or empty token with 403', async () => {
    endpoint.setCurrent(TOKEN_OLD);
    const handler = validateHandler();
    expectStatus(await call(handler, undefined), 403);
    expectStatus(await call(handler, ''), 403);
    expect(reviewLogs()).toHaveLength(0);
  });

  it('names the matched cluster of a fleet secret in the review log', async () => {
    endpoint.setCurrent(JSON.stringify({ tokens: { 'prod-eu': TOKEN_PROD, 'staging-us': TOKEN_NEW } }));
    const handler = validateHandler();
    expectAllowed(await call(handler, TOKEN_PROD));
    expectAllowed(await call(handler, TOKEN_NEW));
    expectStatus(await call(handler, TOKEN_OLD), 403);
    expect(reviewLogs().map((record) => record.cluster)).toEqual(['prod-eu', 'staging-us']);
    // The cluster is also a metric dimension (Embedded Metric Format), beside the per-webhook one.
    const metrics = reviewLogs().map((record) => (record._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] }).CloudWatchMetrics[0]);
    expect(metrics.map((metric) => metric?.Dimensions)).toEqual([
      [['webhook'], ['webhook', 'cluster']],
      [['webhook'], ['webhook', 'cluster']],
    ]);
  });

  it('accepts both AWSCURRENT and AWSPREVIOUS after a rotation', async () => {
    endpoint.setCurrent(TOKEN_OLD).rotate(TOKEN_NEW);
    const handler = validateHandler();
    expectAllowed(await call(handler, TOKEN_OLD));
    expectAllowed(await call(handler, TOKEN_NEW));
    expectStatus(await call(handler, WRONG), 403);
  });

  it('keeps every request working while the secret rotates mid-traffic', async () => {
    endpoint.setCurrent(TOKEN_OLD).slow(50);
    const handler = validateHandler();

    // Warm-up burst: all share one read of the secret.
    const warm = await Promise.all(Array.from({ length: 10 }, () => call(handler, TOKEN_OLD)));
    warm.forEach(expectAllowed);
    expect(endpoint.countFor('AWSCURRENT')).toBe(1);

    // Traffic with the old token is in flight when the secret rotates; then the
    // clusters switch over one by one, so old and new tokens arrive together.
    const before = Array.from({ length: 20 }, () => call(handler, TOKEN_OLD));
    endpoint.rotate(TOKEN_NEW);
    const during = Array.from({ length: 40 }, (_, i) => call(handler, i % 2 === 0 ? TOKEN_NEW : TOKEN_OLD));
    const answered = await Promise.all([...before, ...during]);
    answered.forEach(expectAllowed);

    // The new token caused one refresh (shared by every concurrent request), not one each.
    expect(endpoint.countFor('AWSCURRENT')).toBe(2);

    // Afterwards both tokens work from the cache, and a wrong one still does not.
    expectAllowed(await call(handler, TOKEN_OLD));
    expectAllowed(await call(handler, TOKEN_NEW));
    expectStatus(await call(handler, WRONG), 403);
    expect(reviewLogs()).toHaveLength(72);
  });

  describe('Secrets Manager failing with no cached value: 503, then no new attempt for 10 s', () => {
    it.each([
      ['erroring (500 InternalServiceError)', (e: SecretsManagerEndpoint) => e.failing()],
      ['throttling (ThrottlingException)', (e: SecretsManagerEndpoint) => e.throttling()],
      ['hanging longer than the cluster timeout', (e: SecretsManagerEndpoint) => e.slow(60_000)],
    ])('%s', async (_name, fault) => {
      fault(endpoint.setCurrent(TOKEN_OLD));
      const handler = validateHandler();
      const first = await timedCall(handler, TOKEN_OLD);
      timings.push(`no cache, ${_name}: 503 after ${first.elapsed} ms`);
      expectStatus(first.result, 503);
      expect(JSON.parse(first.result.body).message).toMatch(/cannot check/);
      expect(first.elapsed).toBeLessThan(BOUNDED_MS);
      // A failed read says so at once; a hanging one (begun at start-up, with a budget of its own)
      // only when it gives up, while requests that join it get 503 at their own budget.
      if (!_name.startsWith('hanging')) {
        expect(logs).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'token secret could not be read' }));
      }

      // Within the 10 s back-off (or while the hanging read lasts) the handler does not call Secrets Manager again.
      const seen = endpoint.ownRequests().length;
      const second = await timedCall(handler, TOKEN_OLD);
      expectStatus(second.result, 503);
      expect(second.elapsed).toBeLessThan(BOUNDED_MS);
      if (_name.startsWith('hanging')) {
        // No new read: only the hanging one's own second attempt per stage (the SDK retries after its 2 s request timeout).
        expect(endpoint.ownRequests().length).toBeLessThanOrEqual(4);
      } else {
        expect(endpoint.ownRequests().length).toBe(seen);
      }
      expect(reviewLogs()).toHaveLength(0);
    });

    it('answers the hanging case with 503 for a wrong token too (it cannot tell)', async () => {
      endpoint.setCurrent(TOKEN_OLD).slow();
      const handler = validateHandler();
      const { result, elapsed } = await timedCall(handler, WRONG);
      expectStatus(result, 503);
      expect(elapsed).toBeLessThan(BOUNDED_MS);
    });
  });

  describe('Secrets Manager failing with a cached value: keeps serving 200 through the outage', () => {
    it.each([
      ['erroring (500 InternalServiceError)', (e: SecretsManagerEndpoint) => e.failing()],
      ['throttling (ThrottlingException)', (e: SecretsManagerEndpoint) => e.throttling()],
      ['hanging longer than the cluster timeout', (e: SecretsManagerEndpoint) => e.slow(60_000)],
    ])('%s', async (_name, fault) => {
      endpoint.setCurrent(TOKEN_OLD);
      // TTL 0: every request wants a fresh read, so the outage is hit at once.
      const handler = validateHandler({ SECRET_CACHE_TTL_SECONDS: '0' });
      expectAllowed(await call(handler, TOKEN_OLD));
      // One read, or two: the read begun at start-up is joined if still under way, but with TTL 0 a
      // value it already returned is stale, so the request reads again (a race on a loaded machine).
      const healthyReads = endpoint.countFor('AWSCURRENT');
      expect(healthyReads).toBeGreaterThanOrEqual(1);
      expect(healthyReads).toBeLessThanOrEqual(2);

      fault(endpoint);
      const first = await timedCall(handler, TOKEN_OLD);
      timings.push(`cached, ${_name}: 200 after ${first.elapsed} ms`);
      expectAllowed(first.result);
      expect(first.elapsed).toBeLessThan(BOUNDED_MS);
      expect(endpoint.countFor('AWSCURRENT')).toBeGreaterThan(healthyReads);
      expect(logs).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'token secret refresh failed; serving the cached value' }));

      // During the back-off: served from the cache without reading again. (The failed refresh's
      // AWSPREVIOUS read may still be retrying: a refresh no longer waits for it.)
      const seen = endpoint.countFor('AWSCURRENT');
      const burst = await Promise.all(Array.from({ length: 10 }, () => timedCall(handler, TOKEN_OLD)));
      for (const { result, elapsed } of burst) {
        expectAllowed(result);
        expect(elapsed).toBeLessThan(BOUNDED_MS);
      }
      expectStatus(await call(handler, WRONG), 403);
      expectStatus(await call(handler, undefined), 403);
      expect(endpoint.countFor('AWSCURRENT')).toBe(seen);
    });
  });

  describe('a malformed secret fails closed with 503', () => {
    it.each([
      ['an empty string', ''],
      ['"{" garbage', `{ ${TOKEN_OLD}`],
      ['truncated JSON holding the token', `{"token": "${TOKEN_OLD}"`],
      ['JSON without a token', JSON.stringify({ tokn: TOKEN_OLD })],
      ['a fleet map with a non-string token', JSON.stringify({ tokens: { prod: TOKEN_OLD, staging: 1 } })],
    ])('%s', async (_name, secret) => {
      endpoint.setCurrent(secret);
      const handler = validateHandler();
      expectStatus(await call(handler, TOKEN_OLD), 503);
      expect(reviewLogs()).toHaveLength(0);
    });

    it('a binary-only secret', async () => {
      endpoint.setCurrent({ binary: Buffer.from(TOKEN_OLD) });
      const handler = validateHandler();
      const result = await call(handler, TOKEN_OLD);
      expectStatus(result, 503);
      const base64 = Buffer.from(TOKEN_OLD).toString('base64');
      for (const place of [JSON.stringify(result), ...logs.map((record) => JSON.stringify(record))]) expect(place).not.toContain(base64.slice(8, 28));
    });

    it.each([
      ['garbage', `{ ${TOKEN_OLD}`],
      ['binary-only', { binary: Buffer.from(TOKEN_OLD) }],
    ] as const)('but a %s AWSPREVIOUS does not block AWSCURRENT', async (_name, previous) => {
      endpoint.setCurrent(TOKEN_NEW).setPrevious(previous);
      const handler = validateHandler();
      expectAllowed(await call(handler, TOKEN_NEW));
      expectStatus(await call(handler, TOKEN_OLD), 403);
    });
  });

  it('without the role credentials in the environment: 503, and the log names the missing variable', async () => {
    // The client is a module singleton, perhaps already constructed by an earlier test: this
    // handler gets modules of its own, whose client is constructed without the variable.
    vi.resetModules();
    const fresh = await import('../lib/setup');
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      endpoint.setCurrent(TOKEN_OLD);
      const handler = fresh.configuredHandler('validate', validateImages, { WEBHOOK_TOKEN_SECRET_ID: endpoint.secretName }, { log: (record) => logs.push(record) });
      expectStatus(await call(handler, TOKEN_OLD), 503);
      expect(logs).toContainEqual(
        expect.objectContaining({ level: 'WARN', message: 'token secret could not be read', error: expect.stringMatching(/AWS_SECRET_ACCESS_KEY is not set/) }),
      );
      expect(endpoint.requests).toHaveLength(0);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
  });

  describe('a failed AWSPREVIOUS read does not fail the refresh', () => {
    it.each([
      ['throttled', THROTTLED],
      ['KMS cannot decrypt it', serviceError('DecryptionFailure', 400, 'Secrets Manager can not decrypt the protected secret text using the provided KMS key.')],
      ['access denied', serviceError('AccessDeniedException', 400, 'not authorized to perform secretsmanager:GetSecretValue')],
    ])('%s: a cold instance serves with AWSCURRENT (200) and logs a WARN line', async (_name, fault) => {
      endpoint.setCurrent(TOKEN_OLD).rotate(TOKEN_NEW).setFault(fault, { stages: ['AWSPREVIOUS'] });
      const handler = validateHandler();
      expectAllowed(await call(handler, TOKEN_NEW));
      // Logged when the AWSPREVIOUS read gives up, which the answer no longer waits for.
      const warning = await vi.waitFor(() => logs.find((record) => record.level === 'WARN') ?? expect.fail('no WARN line yet'), { timeout: 5000 });
      expect(warning).toMatchObject({ message: 'token secret AWSPREVIOUS could not be read; serving with AWSCURRENT', webhook: 'validate' });
      expect(String(warning?.error)).toContain((fault as { type: string }).type);
      expect(reviewLogs()).toHaveLength(1);
    });
  });
});

describe('a slow AWSPREVIOUS does not hold up AWSCURRENT', () => {
  it('a cold instance answers 200 as soon as AWSCURRENT is in, and the previous token once AWSPREVIOUS arrives (before it, 403, never 503)', async () => {
    // AWSPREVIOUS answers after 1.7 s, past the request's budget (1.2 s of the cluster's 2 s).
    endpoint.setCurrent(TOKEN_OLD).rotate(TOKEN_NEW).slow(1700, { stages: ['AWSPREVIOUS'], times: 1 });
    const handler = validateHandler();
    // Before, the start-up read waited for both versions and this request got 503 at its budget.
    expectAllowed(await call(handler, TOKEN_NEW));
    // A token that matches neither cached version waits for AWSPREVIOUS within its budget; past it,
    // it is refused (403, not 503), and its mismatch refresh, or AWSPREVIOUS arriving, lets the next in.
    await vi.waitFor(async () => expectAllowed(await call(handler, TOKEN_OLD)), { timeout: 6000, interval: 50 });
    expect(results.map((result) => result.statusCode).filter((code) => code !== 200 && code !== 403)).toEqual([]);
    expect(logs.filter((record) => record.level === 'WARN' && record.message !== 'request refused')).toEqual([]);
  });
});

describe('metrics of refusals and secret reads, parsed from the emitted log lines', () => {
  /** The JSON lines the handler wrote with its default sink (console.log), parsed. */
  const emitted = (): LogRecord[] => printed.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogRecord);

  const handlerWithConsoleSink = (name: 'validate' | 'mutate' = 'validate') =>
    configuredHandler(name, validateImages, { WEBHOOK_TOKEN_SECRET_ID: endpoint.secretName });

  it('counts a wrong or missing token as Forbidden for its webhook, beside the WARN line', async () => {
    endpoint.setCurrent(TOKEN_OLD);
    const handler = handlerWithConsoleSink('mutate');
    results.push(await handler(eventFor(WRONG)), await handler(eventFor(undefined)));
    const forbidden = recordsCounting(emitted(), 'Forbidden');
    expect(forbidden).toHaveLength(2);
    for (const record of forbidden) {
      expectEventMetric(record, 'Forbidden', 'mutate');
      expect(record).toMatchObject({ level: 'WARN', message: 'request refused', statusCode: 403 });
    }
    expect(recordsCounting(emitted(), 'AuthUnavailable')).toHaveLength(0);
  });

  it('counts a 503 for an unverifiable token as AuthUnavailable, and the failed read as SecretReadFailures', async () => {
    endpoint.setCurrent(TOKEN_OLD).failing();
    const handler = handlerWithConsoleSink();
    results.push(await handler(eventFor(TOKEN_OLD)), await handler(eventFor(TOKEN_OLD)));
    expect(results.map((result) => result.statusCode)).toEqual([503, 503]);
    const unavailable = recordsCounting(emitted(), 'AuthUnavailable');
    expect(unavailable).toHaveLength(2);
    for (const record of unavailable) expectEventMetric(record, 'AuthUnavailable', 'validate');
    // Two failed reads: the one begun at start-up, and the first request's retry of it; the second
    // request is inside the 10 s back-off and reads nothing.
    const failures = recordsCounting(emitted(), 'SecretReadFailures');
    expect(failures).toHaveLength(2);
    for (const record of failures) expectEventMetric(record, 'SecretReadFailures', 'validate');
    expect(recordsCounting(emitted(), 'Forbidden')).toHaveLength(0);
  });

  it('counts nothing for a refusal that is not about the caller (405, 400), and keeps the review record', async () => {
    endpoint.setCurrent(TOKEN_OLD);
    const handler = handlerWithConsoleSink();
    results.push(await handler({ ...eventFor(TOKEN_OLD), httpMethod: 'GET' }));
    results.push(await handler({ ...eventFor(TOKEN_OLD), body: 'not json' }));
    results.push(await handler(eventFor(TOKEN_OLD)));
    expect(results.map((result) => result.statusCode)).toEqual([405, 400, 200]);
    for (const metric of ['Forbidden', 'AuthUnavailable', 'SecretReadFailures']) expect(recordsCounting(emitted(), metric)).toEqual([]);
    expect(recordsCounting(emitted(), 'Allowed')).toHaveLength(1);
  });
});
