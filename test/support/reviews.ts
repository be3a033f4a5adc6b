/** Builders for AdmissionReviews and API Gateway events used across the suites. */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { AdmissionRequest } from '../../lib/admission/admission-review';
import * as events from '../../lib/transport/admission-event';
import type { GatewayEvent } from '../../lib/transport/http';

export const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };
export const POD_RESOURCE = { group: '', version: 'v1', resource: 'pods' };

/** Path token `t`, and no `?timeout=`: the suites add one where they test it. */
const EVENT_OPTIONS = { token: 't', timeout: null };

/** The tutorial's Pod: one container from Docker Hub, no namespace in its metadata. */
export function tutorialPod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'python-app' },
    spec: { containers: [{ name: 'python', image: 'python:3.9-slim' }] },
  };
}

export function podRequest(object: Record<string, unknown>, overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: POD_KIND,
    resource: POD_RESOURCE,
    namespace: 'default',
    operation: 'CREATE',
    object,
    oldObject: null,
    ...overrides,
  };
}

export function review(request: AdmissionRequest, apiVersion = 'admission.k8s.io/v1'): Record<string, unknown> {
  return { apiVersion, kind: 'AdmissionReview', request };
}

/** A REST API (payload 1.0) event of `POST /mutate/t` carrying `body` (an object as JSON), without `?timeout=`. */
export function restEvent(body: unknown, overrides: Partial<APIGatewayProxyEvent> = {}): GatewayEvent {
  return { ...events.restApiEvent('mutate', body, EVENT_OPTIONS), ...overrides };
}

/** An HTTP API (payload 2.0) event of `POST /mutate/t` carrying `body` (an object as JSON), without `?timeout=`. */
export function httpApiEvent(body: unknown, overrides: Partial<APIGatewayProxyEventV2> = {}): GatewayEvent {
  return { ...events.httpApiEvent('mutate', body, EVENT_OPTIONS), ...overrides };
}

/** The decoded JSON Patch of an AdmissionReview response body, or undefined where it has none. */
export function decodedPatch(body: string): unknown[] | undefined {
  const patch = JSON.parse(body).response?.patch;
  return typeof patch === 'string' ? JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) : undefined;
}
