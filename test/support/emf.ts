/** Checks of CloudWatch Embedded Metric Format records, as the functions write them. */
import { expect } from 'vitest';
import type { LogRecord } from '../../lib/common/log';

/**
 * Asserts that `record` is an EMF record counting one `metric` (unit Count, value 1) in the
 * AdmissionWebhooks namespace for dimension set [webhook], with the webhook's name at the top
 * level where CloudWatch looks for dimension values.
 */
export function expectEventMetric(record: LogRecord | undefined, metric: string, webhook: string): void {
  expect(record).toBeDefined();
  const emf = (record as LogRecord)._aws as { Timestamp: unknown; CloudWatchMetrics: unknown };
  expect(typeof emf?.Timestamp).toBe('number');
  expect(emf.CloudWatchMetrics).toEqual([
    { Namespace: 'AdmissionWebhooks', Dimensions: [['webhook']], Metrics: [{ Name: metric, Unit: 'Count' }] },
  ]);
  expect(record?.webhook).toBe(webhook);
  expect(record?.[metric]).toBe(1);
}

/** The records that count `metric`. */
export function recordsCounting(records: readonly LogRecord[], metric: string): LogRecord[] {
  return records.filter((record) => {
    const metrics = (record._aws as { CloudWatchMetrics?: { Metrics: { Name: string }[] }[] } | undefined)?.CloudWatchMetrics ?? [];
    return metrics.some((directive) => directive.Metrics.some((m) => m.Name === metric));
  });
}
