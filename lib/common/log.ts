/**
 * Structured logging. Each review is one JSON line that is also a CloudWatch
 * Embedded Metric Format record, so one write gives both the log and the
 * Allowed / Denied / Patched metrics without a metrics client.
 */
export type LogRecord = Record<string, unknown>;
export type LogSink = (record: LogRecord) => void;

export const METRICS_NAMESPACE = 'AdmissionWebhooks';

export const consoleSink: LogSink = (record) => {
  console.log(JSON.stringify(record));
};

export interface ReviewOutcome {
  webhook: string;
  uid: string;
  kind: string;
  namespace: string | undefined;
  name: string | undefined;
  operation: string | undefined;
  subResource: string | undefined;
  /** `allowed`, `denied`, or `warned` / `audited` where a violation was only reported. */
  decision: 'allowed' | 'denied' | 'warned' | 'audited';
  patchOperations: number;
  durationMs: number;
  cluster: string | undefined;
  violation: string | undefined;
}

export function reviewRecord(outcome: ReviewOutcome, now = Date.now()): LogRecord {
  return {
    level: 'INFO',
    message: 'admission review',
    ...outcome,
    durationMs: Math.round(outcome.durationMs * 1000) / 1000,
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          // Per webhook, and per webhook and cluster where a fleet secret named the caller.
          Dimensions: outcome.cluster === undefined ? [['webhook']] : [['webhook'], ['webhook', 'cluster']],
          Metrics: [
            { Name: 'Allowed', Unit: 'Count' },
            { Name: 'Denied', Unit: 'Count' },
            { Name: 'Patched', Unit: 'Count' },
          ],
        },
      ],
    },
    Allowed: outcome.decision === 'denied' ? 0 : 1,
    Denied: outcome.decision === 'denied' ? 1 : 0,
    Patched: outcome.patchOperations > 0 ? 1 : 0,
  };
}

/** Events counted beside the reviews (the alarms' metric contract): one EMF record, value 1, per event. */
export type EventMetric = 'Forbidden' | 'AuthUnavailable' | 'SecretReadFailures';

/**
 * `record` as an EMF record that counts one `metric` for its webhook (dimension set [webhook]),
 * so the WARN line that tells of the event is also its metric.
 */
export function eventRecord(record: LogRecord & { webhook: string }, metric: EventMetric, now = Date.now()): LogRecord {
  return {
    ...record,
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['webhook']], Metrics: [{ Name: metric, Unit: 'Count' }] }],
    },
    [metric]: 1,
  };
}
