import { describe, expect, it } from 'vitest';
import {
  type AdmissionReview,
  allowed,
  denied,
  parseAdmissionReview,
  patched,
  reviewResponse,
} from '../lib/admission/admission-review';
import { HttpError } from '../lib/common/status';
import { podRequest, review, tutorialPod } from './support/reviews';

/** The error thrown by parsing `body`, or a failure if it parses. */
function parseError(body: string): HttpError {
  try {
    parseAdmissionReview(body);
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error(`expected ${body.slice(0, 200)} to be refused`);
}

/** A valid review whose request has `patch` merged in (undefined values delete the field). */
function withRequest(patch: Record<string, unknown>, apiVersion = 'admission.k8s.io/v1'): string {
  const request: Record<string, unknown> = { ...podRequest(tutorialPod()), ...patch };
  for (const [key, value] of Object.entries(patch)) if (value === undefined) delete request[key];
  return JSON.stringify({ apiVersion, kind: 'AdmissionReview', request });
}

describe('parseAdmissionReview', () => {
  it.each(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'])('accepts %s', (apiVersion) => {
    const body = JSON.stringify(review(podRequest(tutorialPod()), apiVersion));
    const parsed = parseAdmissionReview(body);
    expect(parsed.apiVersion).toBe(apiVersion);
    expect(parsed.request.uid).toBe('705ab4f5-6393-11e8-b7cc-42010a800002');
    expect(parsed.request.object).toEqual(tutorialPod());
  });

  it('accepts a minimal request and null objects', () => {
    expect(parseAdmissionReview(withRequest({ object: null, oldObject: null, options: null })).request.object).toBeNull();
    const minimal = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u' } });
    expect(parseAdmissionReview(minimal).request).toEqual({ uid: 'u' });
  });

  it('accepts a full request with every field of the right type', () => {
    const body = withRequest({
      subResource: 'ephemeralcontainers',
      name: 'p',
      namespace: 'ns',
      operation: 'UPDATE',
      userInfo: { username: 'system:admin', groups: ['system:masters'] },
      dryRun: true,
      options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
      oldObject: tutorialPod(),
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
    });
    expect(parseAdmissionReview(body).request).toMatchObject({ subResource: 'ephemeralcontainers', dryRun: true });
  });

  it.each<[string, string, string]>([
    ['not JSON', '{"kind": ', 'request body is not valid JSON: '],
    ['an empty string', '', 'request body is not valid JSON: '],
    ['a JSON array', '[]', 'request body must be a JSON object, got an array'],
    ['JSON null', 'null', 'request body must be a JSON object, got null'],
    ['a JSON string', '"AdmissionReview"', 'request body must be a JSON object, got a string'],
    ['a JSON number', '42', 'request body must be a JSON object, got a number'],
    ['no kind', '{"apiVersion":"admission.k8s.io/v1","request":{"uid":"u"}}', 'kind must be "AdmissionReview", got nothing'],
    [
      'the wrong kind',
      '{"kind":"Pod","apiVersion":"admission.k8s.io/v1","request":{"uid":"u"}}',
      'kind must be "AdmissionReview", got "Pod"',
    ],
    [
      'no apiVersion',
      '{"kind":"AdmissionReview","request":{"uid":"u"}}',
      'apiVersion must be one of admission.k8s.io/v1, admission.k8s.io/v1beta1, got nothing',
    ],
    [
      'the wrong apiVersion',
      '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v2","request":{"uid":"u"}}',
      'apiVersion must be one of admission.k8s.io/v1, admission.k8s.io/v1beta1, got "admission.k8s.io/v2"',
    ],
    ['no request', '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}', 'request must be an object, got nothing'],
    ['a null request', '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":null}', 'request must be an object, got null'],
    [
      'an array request',
      '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":[]}',
      'request must be an object, got an array',
    ],
  ])('refuses %s', (_, body, message) => {
    const error = parseError(body);
    expect(error.statusCode).toBe(400);
    expect(error.message.startsWith(message)).toBe(true);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a missing uid', { uid: undefined }, 'request.uid is missing: it must be a non-empty string'],
    ['a null uid', { uid: null }, 'request.uid is missing: it must be a non-empty string'],
    ['an empty uid', { uid: '' }, 'request.uid must be a non-empty string, got an empty string'],
    ['a numeric uid', { uid: 42 }, 'request.uid must be a non-empty string, got a number'],
    ['an object uid', { uid: { id: 'x' } }, 'request.uid must be a non-empty string, got an object'],
    ['an array object', { object: [] }, 'request.object must be an object or null, got an array'],
    ['a string object', { object: '{"kind":"Pod"}' }, 'request.object must be an object or null, got a string'],
    ['a number object', { object: 1 }, 'request.object must be an object or null, got a number'],
    ['an array oldObject', { oldObject: [tutorialPod()] }, 'request.oldObject must be an object or null, got an array'],
    ['a string oldObject', { oldObject: 'x' }, 'request.oldObject must be an object or null, got a string'],
    ['a boolean options', { options: true }, 'request.options must be an object or null, got a boolean'],
    ['a numeric namespace', { namespace: 7 }, 'request.namespace must be a string, got a number'],
    ['a null namespace', { namespace: null }, 'request.namespace must be a string, got null'],
    ['an array operation', { operation: ['CREATE'] }, 'request.operation must be a string, got an array'],
    ['an object name', { name: {} }, 'request.name must be a string, got an object'],
    ['a numeric subResource', { subResource: 1 }, 'request.subResource must be a string, got a number'],
    ['a string kind', { kind: 'Pod' }, 'request.kind must be an object, got a string'],
    ['a null kind', { kind: null }, 'request.kind must be an object, got null'],
    ['a numeric kind.kind', { kind: { group: '', version: 'v1', kind: 5 } }, 'request.kind.kind must be a string, got a number'],
    ['a null kind.group', { kind: { group: null, version: 'v1', kind: 'Pod' } }, 'request.kind.group must be a string, got null'],
    ['an array resource', { resource: [] }, 'request.resource must be an object, got an array'],
    [
      'a numeric resource.resource',
      { resource: { group: '', version: 'v1', resource: 1 } },
      'request.resource.resource must be a string, got a number',
    ],
    ['a string dryRun', { dryRun: 'true' }, 'request.dryRun must be a boolean, got a string'],
    ['a null dryRun', { dryRun: null }, 'request.dryRun must be a boolean, got null'],
    ['a string userInfo', { userInfo: 'admin' }, 'request.userInfo must be an object, got a string'],
    ['an array userInfo', { userInfo: [] }, 'request.userInfo must be an object, got an array'],
  ])('refuses a request with %s', (_, patch, message) => {
    const error = parseError(withRequest(patch));
    expect(error).toBeInstanceOf(HttpError);
    expect(error.statusCode).toBe(400);
    expect(error.message).toBe(message);
  });

  it('checks v1beta1 reviews the same way', () => {
    expect(parseError(withRequest({ object: [] }, 'admission.k8s.io/v1beta1')).message).toBe(
      'request.object must be an object or null, got an array',
    );
  });
});

describe('response builders', () => {
  it('builds an allowed response, with warnings only when there are some', () => {
    expect(allowed('u')).toEqual({ uid: 'u', allowed: true });
    expect(allowed('u', [])).toEqual({ uid: 'u', allowed: true });
    const warnings = ['w1', 'w2'];
    const response = allowed('u', warnings);
    expect(response).toEqual({ uid: 'u', allowed: true, warnings: ['w1', 'w2'] });
    expect(response.warnings).not.toBe(warnings);
  });

  it('builds a denial with a 403 status by default', () => {
    expect(denied('u', 'no')).toEqual({ uid: 'u', allowed: false, status: { code: 403, message: 'no' } });
    expect(denied('u', 'bad', 400)).toEqual({ uid: 'u', allowed: false, status: { code: 400, message: 'bad' } });
  });

  it('builds a patched response of type JSONPatch', () => {
    expect(patched('u', 'W10=')).toEqual({ uid: 'u', allowed: true, patchType: 'JSONPatch', patch: 'W10=' });
    expect(patched('u', 'W10=', ['careful'])).toEqual({
      uid: 'u',
      allowed: true,
      warnings: ['careful'],
      patchType: 'JSONPatch',
      patch: 'W10=',
    });
  });

  it.each(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'])('answers a %s review in the same apiVersion', (apiVersion) => {
    const parsed: AdmissionReview = parseAdmissionReview(JSON.stringify(review(podRequest(tutorialPod()), apiVersion)));
    expect(reviewResponse(parsed, allowed(parsed.request.uid))).toEqual({
      apiVersion,
      kind: 'AdmissionReview',
      response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true },
    });
  });
});
