/** The log records: a review's record writes its own JSON line, which must be JSON.stringify's. */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type LogRecord, type ReviewOutcome, consoleSink, reviewRecord } from '../lib/common/log';

/** What consoleSink writes for `record`. */
function written(record: LogRecord): string {
  const spy = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    consoleSink(record);
    expect(spy).toHaveBeenCalledTimes(1);
    return spy.mock.calls[0]?.[0] as string;
  } finally {
    spy.mockRestore();
  }
}

/** Any text, and the characters JSON escapes (a lone surrogate included) mixed into plain text. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom('a', 'Pod', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', '😀', 'é'), { maxLength: 8 }).map((parts) => parts.join('')),
);
const optionalText = fc.option(text, { nil: undefined });
const outcomeArb: fc.Arbitrary<ReviewOutcome> = fc.record({
  webhook: fc.constantFrom('mutate', 'validate'),
  uid: text,
  kind: text,
  namespace: optionalText,
  name: optionalText,
  operation: optionalText,
  subResource: optionalText,
  decision: fc.constantFrom('allowed', 'denied', 'warned', 'audited'),
  patchOperations: fc.nat(),
  durationMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
  cluster: optionalText,
  policyVersion: fc.stringMatching(/^[0-9a-f]{12}$/),
  exceptions: fc.option(fc.array(text, { maxLength: 3 }), { nil: undefined }),
  violation: optionalText,
});

describe('reviewRecord', () => {
  const outcome: ReviewOutcome = {
    webhook: 'mutate',
    uid: 'u-1',
    kind: 'Pod',
    namespace: 'default',
    name: undefined,
    operation: 'CREATE',
    subResource: undefined,
    decision: 'allowed',
    patchOperations: 2,
    durationMs: 0.0123456,
    cluster: undefined,
    policyVersion: '3f2a9c41d07e',
    exceptions: undefined,
    violation: undefined,
  };

  it('is one Embedded Metric Format record with the outcome, in this order', () => {
    expect(written(reviewRecord(outcome, 1_700_000_000_000))).toBe(
      '{"level":"INFO","message":"admission review","webhook":"mutate","uid":"u-1","kind":"Pod","namespace":"default",' +
        '"operation":"CREATE","decision":"allowed","patchOperations":2,"durationMs":0.012,"policyVersion":"3f2a9c41d07e",' +
        '"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"AdmissionWebhooks","Dimensions":[["webhook"]],' +
        '"Metrics":[{"Name":"Allowed","Unit":"Count"},{"Name":"Denied","Unit":"Count"},{"Name":"Patched","Unit":"Count"},{"Name":"Excepted","Unit":"Count"}]}]},' +
        '"Allowed":1,"Denied":0,"Patched":1,"Excepted":0}',
    );
  });

  it('adds the cluster dimension where a fleet secret named the caller', () => {
    const record = JSON.parse(written(reviewRecord({ ...outcome, cluster: 'prod-eu', decision: 'denied', patchOperations: 0 })));
    expect(record).toMatchObject({ cluster: 'prod-eu', Allowed: 0, Denied: 1, Patched: 0 });
    expect(record._aws.CloudWatchMetrics[0].Dimensions).toEqual([['webhook'], ['webhook', 'cluster']]);
  });

  it('lists the exceptions used and counts them in Excepted', () => {
    const record = JSON.parse(written(reviewRecord({ ...outcome, exceptions: ['busybox-debug', 'legacy "x"'] })));
    expect(record).toMatchObject({ policyVersion: '3f2a9c41d07e', exceptions: ['busybox-debug', 'legacy "x"'], Excepted: 1 });
  });

  it('writes exactly what JSON.stringify makes of the record, for any outcome', () => {
    fc.assert(
      fc.property(outcomeArb, fc.nat(), (generated, now) => {
        const record = reviewRecord(generated, now);
        expect(written(record)).toBe(JSON.stringify(record));
      }),
      { numRuns: 500 },
    );
  });

  it('writes a changed record as it now is', () => {
    const record = reviewRecord(outcome, 1);
    (record._aws as { CloudWatchMetrics: unknown }).CloudWatchMetrics = [{ Namespace: 'Other', Dimensions: [], Metrics: [] }];
    expect(written(record)).toBe(JSON.stringify(record));
    expect(written(record)).toContain('"CloudWatchMetrics":[{"Namespace":"Other"');
  });
});

describe('consoleSink', () => {
  it('writes any other record with JSON.stringify', () => {
    const record = { level: 'WARN', message: 'request refused', statusCode: 403, nested: { a: [1, 'x'] } };
    expect(written(record)).toBe(JSON.stringify(record));
  });
});
