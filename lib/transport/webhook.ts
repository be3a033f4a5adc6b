/**
 * One webhook as a Lambda handler: the flow of the design, API Gateway event ->
 * HTTP checks -> caller authentication -> AdmissionReview -> policy ->
 * response, with one log line per review. Handlers in functions/ only choose
 * the policy.
 */
import { type AdmissionRequest, parseAdmissionReview, reviewResponse } from '../admission/admission-review';
import {
  type GatewayEvent,
  type GatewayResult,
  bodyOf,
  checkContentType,
  errorResult,
  MAX_RESULT_BYTES,
  exceedsResultLimit,
  jsonResult,
  methodOf,
  originOf,
  pathTokenOf,
  timeoutOf,
} from './http';
import { type EventMetric, type LogSink, consoleSink, eventRecord, reviewRecord } from '../common/log';
import { type Decision, deny, requestKind, requestNamespace } from '../policies/decision';
import { admissionResponse } from './admission-response';
import type { Authenticate, Caller } from '../auth/caller-auth';
import { OriginMismatch } from '../auth/caller-origin';
import { HttpError } from '../common/status';

/** The decision on one request, for the caller that authentication matched (its cluster's policy). */
export type Policy = (request: AdmissionRequest, caller: Caller) => Decision;

export interface WebhookOptions {
  name: string;
  policy: Policy;
  /** The version of the policy, on every review's log line. */
  policyVersion: string;
  authenticate: Authenticate;
  log?: LogSink;
}

/** Budget for checking the token when the API server sends no `?timeout=`; its default timeout is 10 s. */
const DEFAULT_AUTH_BUDGET_MS = 3000;

/** Leaves the cluster's timeout room for the review and the trip back. */
function authBudget(timeoutMs: number | undefined): number {
  return timeoutMs === undefined ? DEFAULT_AUTH_BUDGET_MS : Math.min(5000, Math.max(250, Math.floor(timeoutMs * 0.6)));
}

const TOO_LARGE_ANSWER =
  `the webhook's answer for this object would exceed Lambda's response limit (${MAX_RESULT_BYTES} bytes, ` +
  'the JSON Patch included): the object is too large for this webhook';

/** What a refusal by caller authentication counts as (the alarms' metrics). */
const AUTH_REFUSAL_METRICS: Readonly<Record<number, EventMetric>> = { 403: 'Forbidden', 503: 'AuthUnavailable' };

function outcomeOf(decision: Decision): 'allowed' | 'denied' | 'warned' | 'audited' {
  if (!decision.allowed) return 'denied';
  if (!decision.violation) return 'allowed';
  return decision.warnings?.length ? 'warned' : 'audited';
}

export function createWebhookHandler({ name, policy, policyVersion, authenticate, log = consoleSink }: WebhookOptions) {
  const route = `POST /${name}/{token}`;
  return async (event: GatewayEvent): Promise<GatewayResult> => {
    const started = performance.now();
    let authenticating = false;
    try {
      if (methodOf(event) !== 'POST') throw new HttpError(405, `method ${methodOf(event) ?? '(none)'} is not allowed: use POST`);
      authenticating = true;
      const caller = await authenticate(pathTokenOf(event), authBudget(timeoutOf(event)), originOf(event));
      authenticating = false;
      const body = bodyOf(event);
      checkContentType(event);
      const review = parseAdmissionReview(body);
      const { request } = review;
      let decision = policy(request, caller);
      let result = jsonResult(200, reviewResponse(review, admissionResponse(request, decision)));
      if (exceedsResultLimit(result)) {
        // Lambda would fail the answer with a 502; a denial tells the user why instead.
        decision = deny(TOO_LARGE_ANSWER);
        result = jsonResult(200, reviewResponse(review, admissionResponse(request, decision)));
      }
      log(
        reviewRecord({
          webhook: name,
          uid: request.uid,
          kind: requestKind(request).kind,
          namespace: requestNamespace(request),
          name: request.name,
          operation: request.operation,
          subResource: request.subResource,
          decision: outcomeOf(decision),
          patchOperations: decision.allowed ? (decision.patch?.length ?? 0) : 0,
          durationMs: performance.now() - started,
          cluster: caller.cluster,
          policyVersion,
          exceptions: decision.exceptions,
          violation: decision.allowed ? decision.violation : decision.message,
        }),
      );
      return result;
    } catch (error) {
      if (error instanceof OriginMismatch) {
        // The caller was answered as a wrong token would be; the log says what happened.
        const { cluster, origin } = error;
        const reason = `the token of cluster ${cluster}, from an address or VPC endpoint the policy does not bind it to`;
        log(eventRecord({ level: 'WARN', message: 'request refused', webhook: name, route, statusCode: 403, reason, cluster, ...origin }, 'SourceMismatch'));
        return errorResult(error);
      }
      if (error instanceof HttpError) {
        const record = { level: 'WARN', message: 'request refused', webhook: name, route, statusCode: error.statusCode, reason: error.message };
        const metric = authenticating ? AUTH_REFUSAL_METRICS[error.statusCode] : undefined;
        log(metric ? eventRecord(record, metric) : record);
        return errorResult(error);
      }
      log({ level: 'ERROR', message: 'internal error', webhook: name, route, error: String(error) });
      return errorResult(new HttpError(500, 'internal error in the admission webhook'));
    }
  };
}
