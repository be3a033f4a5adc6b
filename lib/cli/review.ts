/**
 * Reviews objects offline with the handlers the Lambda functions run: built by
 * configuredHandler with the same policies, fed the same API Gateway events,
 * their responses read back. As in a cluster, `mutate` runs first and
 * `validate` judges the mutated object.
 */
import type { AdmissionResponse } from '../admission/admission-review';
import { admissionEvent, groupVersionKind, namespaceOf } from '../transport/admission-event';
import type { GatewayEvent, GatewayResult } from '../transport/http';
import { type JsonObject, field, isObject } from '../common/json';
import { type Operation, applyChecked } from '../policies/json-patch';
import type { LogSink } from '../common/log';
import { podSpecPath } from '../policies/pod-spec';
import { mutatePod } from '../policies/mutate';
import { validateImages } from '../policies/validate';
import { configuredHandler } from '../setup';
import { readPolicyFileWithPositions } from './policy-file';
import { type InputProblem, type Manifest, problemText } from './manifests';

/** `skipped`: not a workload the webhooks look at, allowed untouched. */
export type Verdict = 'allowed' | 'denied' | 'skipped';

export interface ReviewResult {
  source: string;
  line: number;
  apiVersion: string;
  kind: string;
  /** `metadata.name`, or `metadata.generateName` for objects named by the API server. */
  name: string;
  namespace: string | undefined;
  verdict: Verdict;
  /** The denial message of the webhook that denied the object. */
  message?: string;
  warnings: string[];
  /** Audit annotations, where `VALIDATION_ACTION` is `audit` or `warn`. */
  auditAnnotations: Record<string, string>;
  /** The JSON Patch from `mutate` (empty when nothing changed). */
  patch: Operation[];
  original: JsonObject;
  /** The object after `mutate`'s patch. */
  mutated: JsonObject;
}

/**
 * A handler answered with something other than an AdmissionReview (its Status message is kept):
 * the object is reported as a problem of its manifest, and the others are still reviewed.
 */
export class ReviewError extends Error {
  override name = 'ReviewError';
  constructor(readonly problem: InputProblem) {
    super(problemText(problem));
  }
}

type Handler = (event: GatewayEvent) => Promise<GatewayResult>;

const silent: LogSink = () => {};

function responseOf(webhook: string, result: GatewayResult, manifest: Manifest): AdmissionResponse {
  const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
  const parsed: unknown = JSON.parse(body);
  if (result.statusCode !== 200) {
    const message = field(parsed, 'message');
    const reason = `${webhook} answered ${result.statusCode}: ${typeof message === 'string' ? message : body}`;
    throw new ReviewError({ source: manifest.source, line: manifest.line, reason });
  }
  const response = field(parsed, 'response');
  if (!isObject(response)) throw new ReviewError({ source: manifest.source, line: manifest.line, reason: `${webhook} answered without a response` });
  return response as unknown as AdmissionResponse;
}

function patchOf(response: AdmissionResponse): Operation[] {
  return response.patch ? (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[]) : [];
}

function nameOf(object: JsonObject): string {
  const metadata = field(object, 'metadata');
  const name = field(metadata, 'name');
  const generateName = field(metadata, 'generateName');
  if (typeof name === 'string' && name !== '') return name;
  return typeof generateName === 'string' && generateName !== '' ? `${generateName}*` : '(no name)';
}

export interface Reviewer {
  (manifest: Manifest): Promise<ReviewResult>;
  policyVersion: string;
  /** The clusters the policy file names (none without one). */
  policyClusters: readonly string[];
}

/**
 * Builds both handlers from `env` (throws ConfigError on invalid configuration or an invalid
 * policy file, every problem with its position) and returns a function that reviews one manifest
 * as `cluster` would (the one its token matched). The handlers' log lines go nowhere.
 */
export function createReviewer(env: Readonly<Record<string, string | undefined>>, defaultNamespace: string, cluster?: string): Reviewer {
  const options = { log: silent, readPolicyFile: readPolicyFileWithPositions, authenticate: async () => (cluster === undefined ? {} : { cluster }) };
  const mutateHandler = configuredHandler('mutate', mutatePod, env, options);
  const mutate: Handler = mutateHandler;
  const validate: Handler = configuredHandler('validate', validateImages, env, options);
  const requestOptions = { namespace: defaultNamespace };

  const review = async (manifest: Manifest): Promise<ReviewResult> => {
    const original = manifest.object;
    const gvk = groupVersionKind(original);
    const namespace = namespaceOf(original, defaultNamespace);

    const mutation = responseOf('mutate', await mutate(admissionEvent('mutate', original, requestOptions)), manifest);
    const patch = mutation.allowed ? patchOf(mutation) : [];
    const mutated = patch.length > 0 ? applyChecked(original, patch) : original;
    const validation = mutation.allowed
      ? responseOf('validate', await validate(admissionEvent('validate', mutated, requestOptions)), manifest)
      : undefined;

    const denial = [mutation, validation].find((response) => response && !response.allowed);
    const workload = podSpecPath(gvk.group, gvk.kind) !== undefined;
    return {
      source: manifest.source,
      line: manifest.line,
      apiVersion: String(original.apiVersion),
      kind: gvk.kind,
      name: nameOf(original),
      namespace,
      verdict: denial ? 'denied' : workload || patch.length > 0 ? 'allowed' : 'skipped',
      ...(denial ? { message: denial.status?.message ?? 'denied' } : {}),
      warnings: [...(mutation.warnings ?? []), ...(validation?.warnings ?? [])],
      auditAnnotations: { ...mutation.auditAnnotations, ...validation?.auditAnnotations },
      patch,
      original,
      mutated,
    };
  };
  return Object.assign(review, { policyVersion: mutateHandler.policyVersion, policyClusters: mutateHandler.policyClusters });
}
