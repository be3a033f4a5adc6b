/**
 * Lambda's 6 MB response limit (design: "Status codes"): an answer whose serialised result would
 * exceed it is never returned (API Gateway would turn it into a 502); `mutate` denies instead,
 * naming the reason. The check is the transport's, measured on the result itself.
 */
import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../lib/common/log';
import { mutatePod } from '../lib/policies/mutate';
import { configuredHandler } from '../lib/setup';
import { MAX_BODY_BYTES, MAX_RESULT_BYTES, exceedsResultLimit, jsonResult } from '../lib/transport/http';
import { createWebhookHandler } from '../lib/transport/webhook';
import { createOpenAuth } from '../lib/auth/caller-auth';
import { podRequest, restEvent, review } from './support/reviews';

/** A Pod of `count` containers with short names and no imagePullPolicy: each one gets a patch operation. */
function podWithContainers(count: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'huge' },
    spec: { containers: Array.from({ length: count }, (_, i) => ({ name: `c${i}`, image: 'registry.example.com/a' })) },
  };
}

describe('the result size check', () => {
  it('is Lambda\'s limit, 6 MiB, on the serialised result', () => {
    expect(MAX_RESULT_BYTES).toBe(6 * 1024 * 1024);
    expect(exceedsResultLimit(jsonResult(200, { x: 'a'.repeat(100) }))).toBe(false);
    // The body alone fits, but escaped inside the serialised result it does not: every `"` becomes `\"`.
    const quotes = '"'.repeat(MAX_RESULT_BYTES / 2 + 10);
    const result = { statusCode: 200, headers: {}, body: quotes };
    expect(Buffer.byteLength(result.body)).toBeLessThan(MAX_RESULT_BYTES);
    expect(exceedsResultLimit(result)).toBe(true);
    expect(exceedsResultLimit({ statusCode: 200, headers: {}, body: 'a'.repeat(MAX_RESULT_BYTES - 100) })).toBe(false);
    expect(exceedsResultLimit({ statusCode: 200, headers: {}, body: 'a'.repeat(MAX_RESULT_BYTES) })).toBe(true);
  });
});

describe('mutate with a patch too large for a Lambda response', () => {
  it('denies with a message naming the limit, where the answer would have been over 6 MB', async () => {
    const logs: LogRecord[] = [];
    const mutate = configuredHandler('mutate', mutatePod, {}, { log: (record) => logs.push(record) });
    const event = restEvent(review(podRequest(podWithContainers(70_000))));
    // The request fits Lambda's limit; the answer, with 70,000 base64 patch operations, would not.
    expect(Buffer.byteLength(event.body ?? '')).toBeLessThan(MAX_BODY_BYTES);

    const result = await mutate(event);
    expect(result.statusCode).toBe(200);
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThan(MAX_RESULT_BYTES);
    const body = JSON.parse(result.body);
    expect(body).toMatchObject({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' });
    expect(body.response).toEqual({
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      allowed: false,
      status: { code: 403, message: expect.stringMatching(/would exceed Lambda's response limit \(6291456 bytes/) },
    });
    expect(body.response.patch).toBeUndefined();
    const [record] = logs.filter((r) => r.message === 'admission review');
    expect(record).toMatchObject({ decision: 'denied', patchOperations: 0, violation: body.response.status.message });
  });

  it('still patches a large Pod whose answer fits', async () => {
    const mutate = configuredHandler('mutate', mutatePod, {}, { log: () => undefined });
    const result = await mutate(restEvent(review(podRequest(podWithContainers(20_000)))));
    expect(Buffer.byteLength(JSON.stringify(result))).toBeGreaterThan(1024 * 1024);
    expect(JSON.parse(result.body).response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
  });

  it('applies to any policy: an allowed answer with oversized warnings becomes a denial too', async () => {
    const handler = createWebhookHandler({
      name: 'validate',
      policy: () => ({ allowed: true, warnings: ['w'.repeat(MAX_RESULT_BYTES)] }),
      policyVersion: '0123456789ab',
      authenticate: createOpenAuth(() => undefined),
      log: () => undefined,
    });
    const result = await handler(restEvent(review(podRequest(podWithContainers(1)))));
    expect(JSON.parse(result.body).response).toMatchObject({ allowed: false, status: { code: 403 } });
  });
});
