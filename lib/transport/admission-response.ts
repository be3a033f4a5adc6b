/**
 * Turns a policy's decision into the AdmissionReview response. A patch is
 * checked to apply to `request.object` before it is returned: a patch the API
 * server cannot apply would fail the whole request in the cluster.
 */
import { type AdmissionRequest, type AdmissionResponse, allowed, denied, patched } from '../admission/admission-review';
import { isObject } from '../common/json';
import { checkPatch, encodePatch } from '../policies/json-patch';
import type { Decision } from '../policies/decision';

/** Audit annotation key; the API server prefixes it with the webhook's name. */
const VIOLATION_ANNOTATION = 'image-policy-violation';

export function admissionResponse(request: AdmissionRequest, decision: Decision): AdmissionResponse {
  if (!decision.allowed) return denied(request.uid, decision.message);
  let response: AdmissionResponse;
  if (decision.patch && decision.patch.length > 0) {
    if (!isObject(request.object)) throw new Error('a patch was built for a request without an object');
    checkPatch(request.object, decision.patch);
    response = patched(request.uid, encodePatch(decision.patch), decision.warnings);
  } else {
    response = allowed(request.uid, decision.warnings);
  }
  if (decision.violation) response.auditAnnotations = { [VIOLATION_ANNOTATION]: decision.violation };
  return response;
}
