/**
 * API Gateway adapter: reads method, body, path token, where the request came from and the API
 * server's `?timeout=` from REST (payload 1.0) and HTTP API (payload 2.0) events, and builds the
 * JSON results. No admission logic lives here.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult } from 'aws-lambda';
import type { RequestOrigin } from '../auth/caller-auth';
import { HttpError, badRequest, failureStatus } from '../common/status';

export type GatewayEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;
export type GatewayResult = APIGatewayProxyResult;

/** Lambda's synchronous payload limit; larger bodies are refused before parsing. */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

/**
 * Lambda's limit on a synchronous function's response: the whole serialised result (status,
 * headers and body, escaped as JSON). A larger one fails in API Gateway as a 502.
 */
export const MAX_RESULT_BYTES = 6 * 1024 * 1024;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function methodOf(event: GatewayEvent): string | undefined {
  if ('httpMethod' in event && typeof event.httpMethod === 'string') return event.httpMethod.toUpperCase();
  const method = (event as APIGatewayProxyEventV2).requestContext?.http?.method;
  return typeof method === 'string' ? method.toUpperCase() : undefined;
}

export function headerOf(event: GatewayEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && typeof value === 'string') return value;
  }
  return undefined;
}

export function pathTokenOf(event: GatewayEvent): string | undefined {
  const token = event.pathParameters?.token;
  return typeof token === 'string' && token !== '' ? token : undefined;
}

/**
 * Where the request came from, as API Gateway saw it: the client address (REST
 * `requestContext.identity.sourceIp`, HTTP API `requestContext.http.sourceIp`) and, for a private
 * REST API, the VPC endpoint it came through (`requestContext.identity.vpceId`).
 */
export function originOf(event: GatewayEvent): RequestOrigin {
  const context = event.requestContext as { identity?: { sourceIp?: unknown; vpceId?: unknown }; http?: { sourceIp?: unknown } } | undefined;
  const sourceIp = context?.identity?.sourceIp ?? context?.http?.sourceIp;
  const vpceId = context?.identity?.vpceId;
  return { sourceIp: typeof sourceIp === 'string' ? sourceIp : undefined, vpceId: typeof vpceId === 'string' ? vpceId : undefined };
}

/** The API server's `?timeout=<n>s`, in milliseconds, if present and sane. */
export function timeoutOf(event: GatewayEvent): number | undefined {
  const raw = event.queryStringParameters?.timeout;
  const match = typeof raw === 'string' ? /^(\d{1,2})s$/.exec(raw) : null;
  const seconds = match ? Number(match[1]) : 0;
  return seconds > 0 ? seconds * 1000 : undefined;
}

/** Decoded byte length of a base64 string, without decoding it. */
function base64DecodedLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor((text.length * 3) / 4) - padding;
}

/**
 * The request body as text: refuses an oversize body (413, checked on the
 * decoded size before anything is parsed), an empty body and invalid base64 (400).
 */
export function bodyOf(event: GatewayEvent): string {
  const body = event.body;
  if (body === null || body === undefined || body === '') throw badRequest('request body is empty: expected an AdmissionReview');
  if (typeof body !== 'string') throw badRequest('request body must be a string');
  if (!event.isBase64Encoded) {
    if (body.length > MAX_BODY_BYTES || Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) throw tooLarge();
    return body;
  }
  const compact = body.replace(/\s+/g, '');
  if (base64DecodedLength(compact) > MAX_BODY_BYTES) throw tooLarge();
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) throw badRequest('request body is marked base64 but is not valid base64');
  return Buffer.from(compact, 'base64').toString('utf8');
}

function tooLarge(): HttpError {
  return new HttpError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`);
}

/** Accepts a missing content type (saved events often have none) or any JSON media type. */
export function checkContentType(event: GatewayEvent): void {
  const contentType = headerOf(event, 'content-type');
  if (contentType === undefined) return;
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType !== 'application/json' && !/^application\/[\w.+-]*\+json$/.test(mediaType)) {
    throw badRequest(`content-type must be application/json, got ${JSON.stringify(contentType.slice(0, 100))}`);
  }
}

export function jsonResult(statusCode: number, body: unknown, headers: Record<string, string> = {}): GatewayResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** The size of `result` as Lambda serialises it (JSON), measured only where it could be near the limit. */
export function exceedsResultLimit(result: GatewayResult): boolean {
  // A character takes at most 6 bytes escaped in JSON (`\u001f`): short bodies need no measuring.
  if (result.body.length * 6 + 4096 < MAX_RESULT_BYTES) return false;
  return Buffer.byteLength(JSON.stringify(result), 'utf8') > MAX_RESULT_BYTES;
}

export function errorResult(error: HttpError): GatewayResult {
  const headers: Record<string, string> = error.statusCode === 405 ? { allow: 'POST' } : {};
  return jsonResult(error.statusCode, failureStatus(error.statusCode, error.message), headers);
}
