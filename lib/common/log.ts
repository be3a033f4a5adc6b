/**
 * Structured logging. Each review is one JSON line that is also a CloudWatch
 * Embedded Metric Format record, so one write gives both the log and the
 * Allowed / Denied / Patched metrics without a metrics client.
 */
export type LogRecord = Record<string, unknown>;
export type LogSink = (record: LogRecord) => void;

export const METRICS_NAMESPACE = 'AdmissionWebhooks';

/** Writes each record as one JSON line; a review's record writes its own line (see ReviewRecord). */
export const consoleSink: LogSink = (record) => {
  console.log(record instanceof ReviewRecord ? record.line() : JSON.stringify(record));
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
  /** The version of the policy the review was judged by (DESIGN "Fleet policy"). */
  policyVersion: string;
  /** The exceptions that let an image through, by name; undefined for none. */
  exceptions: readonly string[] | undefined;
  violation: string | undefined;
}

const REVIEW_METRICS = [
  { Name: 'Allowed', Unit: 'Count' },
  { Name: 'Denied', Unit: 'Count' },
  { Name: 'Patched', Unit: 'Count' },
  { Name: 'Excepted', Unit: 'Count' },
];

/** The EMF metric directives: per webhook, and per webhook and cluster where a fleet secret named the caller. */
const BY_WEBHOOK = deepFreeze([{ Namespace: METRICS_NAMESPACE, Dimensions: [['webhook']], Metrics: REVIEW_METRICS }]);
const BY_WEBHOOK_AND_CLUSTER = deepFreeze([{ Namespace: METRICS_NAMESPACE, Dimensions: [['webhook'], ['webhook', 'cluster']], Metrics: REVIEW_METRICS }]);
const DIRECTIVE_JSON = new Map<unknown, string>([BY_WEBHOOK, BY_WEBHOOK_AND_CLUSTER].map((directives) => [directives, JSON.stringify(directives)]));

export function reviewRecord(outcome: ReviewOutcome, now = Date.now()): LogRecord {
  return new ReviewRecord(outcome, now);
}

/**
 * The log record of one review. Its own members are the record, and `line()` is exactly
 * `JSON.stringify(record)`, written out member by member: the metric directives are the same in
 * every review, so their JSON is made once, and JSON.stringify's cost for the ten small objects
 * and arrays of a record (1.7 µs a review, measured; its parse-and-serialise floor is 2 µs for the
 * tutorial Pod) falls to a tenth.
 */
class ReviewRecord {
  [member: string]: unknown;
  declare readonly level: 'INFO';
  declare readonly message: 'admission review';
  declare readonly webhook: string;
  declare readonly uid: string;
  declare readonly kind: string;
  declare readonly namespace: string | undefined;
  declare readonly name: string | undefined;
  declare readonly operation: string | undefined;
  declare readonly subResource: string | undefined;
  declare readonly decision: ReviewOutcome['decision'];
  declare readonly patchOperations: number;
  declare readonly durationMs: number;
  declare readonly cluster: string | undefined;
  declare readonly policyVersion: string;
  declare readonly exceptions: readonly string[] | undefined;
  declare readonly violation: string | undefined;
  declare readonly _aws: { Timestamp: number; CloudWatchMetrics: typeof BY_WEBHOOK };
  declare readonly Allowed: number;
  declare readonly Denied: number;
  declare readonly Patched: number;
  declare readonly Excepted: number;

  constructor(outcome: ReviewOutcome, now: number) {
    // Members in the order of the line.
    this.level = 'INFO';
    this.message = 'admission review';
    this.webhook = outcome.webhook;
    this.uid = outcome.uid;
    this.kind = outcome.kind;
    this.namespace = outcome.namespace;
    this.name = outcome.name;
    this.operation = outcome.operation;
    this.subResource = outcome.subResource;
    this.decision = outcome.decision;
    this.patchOperations = outcome.patchOperations;
    this.durationMs = Math.round(outcome.durationMs * 1000) / 1000;
    this.cluster = outcome.cluster;
    this.policyVersion = outcome.policyVersion;
    this.exceptions = outcome.exceptions;
    this.violation = outcome.violation;
    this._aws = { Timestamp: now, CloudWatchMetrics: outcome.cluster === undefined ? BY_WEBHOOK : BY_WEBHOOK_AND_CLUSTER };
    this.Allowed = outcome.decision === 'denied' ? 0 : 1;
    this.Denied = outcome.decision === 'denied' ? 1 : 0;
    this.Patched = outcome.patchOperations > 0 ? 1 : 0;
    this.Excepted = outcome.exceptions === undefined ? 0 : 1;
  }

  line(): string {
    const { _aws: aws } = this;
    return (
      `{"level":${jsonOf(this.level)},"message":${jsonOf(this.message)},"webhook":${jsonOf(this.webhook)},"uid":${jsonOf(this.uid)}` +
      `,"kind":${jsonOf(this.kind)}${member('namespace', this.namespace)}${member('name', this.name)}` +
      `${member('operation', this.operation)}${member('subResource', this.subResource)},"decision":${jsonOf(this.decision)}` +
      `,"patchOperations":${jsonOf(this.patchOperations)},"durationMs":${jsonOf(this.durationMs)}` +
      `${member('cluster', this.cluster)},"policyVersion":${jsonOf(this.policyVersion)}` +
      `${this.exceptions === undefined ? '' : `,"exceptions":[${this.exceptions.map(jsonOf).join(',')}]`}${member('violation', this.violation)}` +
      `,"_aws":{"Timestamp":${jsonOf(aws.Timestamp)},"CloudWatchMetrics":${DIRECTIVE_JSON.get(aws.CloudWatchMetrics) ?? JSON.stringify(aws.CloudWatchMetrics)}}` +
      `,"Allowed":${jsonOf(this.Allowed)},"Denied":${jsonOf(this.Denied)},"Patched":${jsonOf(this.Patched)},"Excepted":${jsonOf(this.Excepted)}}`
    );
  }
}

/** Characters JSON.stringify escapes in a string: quote, backslash, controls and lone surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify of a string or a number, without its cost per call where nothing needs escaping. */
function jsonOf(value: string | number): string {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** `,"name":value` for a member that is set; nothing for an undefined one, as JSON.stringify leaves it out. */
function member(name: string, value: string | undefined): string {
  return value === undefined ? '' : `,"${name}":${jsonOf(value)}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) deepFreeze(item);
  return Object.freeze(value);
}

/** Events counted beside the reviews (the alarms' metric contract): one EMF record, value 1, per event. */
export type EventMetric = 'Forbidden' | 'AuthUnavailable' | 'SecretReadFailures' | 'SourceMismatch';

/**
 * `record` as an EMF record that counts one `metric` for its webhook (dimension set [webhook]), and
 * for its webhook and cluster where the record names one, so the WARN line that tells of the event
 * is also its metric.
 */
export function eventRecord(record: LogRecord & { webhook: string; cluster?: string }, metric: EventMetric, now = Date.now()): LogRecord {
  return {
    ...record,
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        { Namespace: METRICS_NAMESPACE, Dimensions: record.cluster === undefined ? [['webhook']] : [['webhook'], ['webhook', 'cluster']], Metrics: [{ Name: metric, Unit: 'Count' }] },
      ],
    },
    [metric]: 1,
  };
}
