import { describe, expect, it } from 'vitest';
import {
  MAX_BODY_BYTES,
  type GatewayEvent,
  bodyOf,
  checkContentType,
  errorResult,
  headerOf,
  jsonResult,
  methodOf,
  pathTokenOf,
  timeoutOf,
} from '../lib/transport/http';
import { HttpError } from '../lib/common/status';
import { httpApiEvent, restEvent } from './support/reviews';

/** The HttpError thrown by `action`, or a failure if it throws none. */
function httpErrorOf(action: () => unknown): HttpError {
  try {
    action();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected an HttpError');
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('methodOf', () => {
  it('reads REST (payload 1.0) and HTTP API (payload 2.0) methods, upper-cased', () => {
    expect(methodOf(restEvent('{}'))).toBe('POST');
    expect(methodOf(restEvent('{}', { httpMethod: 'get' }))).toBe('GET');
    expect(methodOf(httpApiEvent('{}'))).toBe('POST');
    const get = httpApiEvent('{}', { requestContext: { http: { method: 'delete' } } as never });
    expect(methodOf(get)).toBe('DELETE');
  });

  it('is undefined for an event with no method', () => {
    expect(methodOf({ body: '{}' } as unknown as GatewayEvent)).toBeUndefined();
    expect(methodOf(httpApiEvent('{}', { requestContext: {} as never }))).toBeUndefined();
  });
});

describe('headerOf', () => {
  it('finds headers case-insensitively', () => {
    const event = restEvent('{}', { headers: { 'Content-Type': 'application/json', 'X-Other': 'a' } });
    expect(headerOf(event, 'content-type')).toBe('application/json');
    expect(headerOf(event, 'CONTENT-TYPE')).toBe('application/json');
    expect(headerOf(event, 'x-missing')).toBeUndefined();
  });

  it('copes with events without headers', () => {
    expect(headerOf(restEvent('{}', { headers: null as never }), 'content-type')).toBeUndefined();
  });
});

describe('pathTokenOf', () => {
  it('reads the {token} path parameter', () => {
    expect(pathTokenOf(restEvent('{}', { pathParameters: { token: 'abc' } }))).toBe('abc');
    expect(pathTokenOf(httpApiEvent('{}', { pathParameters: { token: 'xyz' } }))).toBe('xyz');
  });

  it('is undefined when the token is missing or empty', () => {
    expect(pathTokenOf(restEvent('{}', { pathParameters: null }))).toBeUndefined();
    expect(pathTokenOf(restEvent('{}', { pathParameters: {} }))).toBeUndefined();
    expect(pathTokenOf(restEvent('{}', { pathParameters: { token: '' } }))).toBeUndefined();
    expect(pathTokenOf(httpApiEvent('{}', { pathParameters: undefined }))).toBeUndefined();
  });
});

describe('timeoutOf', () => {
  it.each([
    ['10s', 10_000],
    ['1s', 1000],
    ['30s', 30_000],
  ])('reads ?timeout=%s as %d ms', (timeout, ms) => {
    expect(timeoutOf(restEvent('{}', { queryStringParameters: { timeout } }))).toBe(ms);
    expect(timeoutOf(httpApiEvent('{}', { rawQueryString: `timeout=${timeout}`, queryStringParameters: { timeout } }))).toBe(ms);
  });

  it.each(['0s', '10', '10m', '-1s', '1.5s', '100s', 's', ''])('ignores ?timeout=%j', (timeout) => {
    expect(timeoutOf(restEvent('{}', { queryStringParameters: { timeout } }))).toBeUndefined();
  });

  it('is undefined without a query string', () => {
    expect(timeoutOf(restEvent('{}'))).toBeUndefined();
    expect(timeoutOf(httpApiEvent('{}'))).toBeUndefined();
  });
});

describe('bodyOf', () => {
  it('returns a plain body as it is', () => {
    expect(bodyOf(restEvent('{"a":1}'))).toBe('{"a":1}');
  });

  it('decodes a base64 body, for both payload versions, ignoring line breaks', () => {
    const text = '{"kind":"AdmissionReview","é":"✓"}';
    expect(bodyOf(restEvent(base64(text), { isBase64Encoded: true }))).toBe(text);
    expect(bodyOf(httpApiEvent(base64(text), { isBase64Encoded: true }))).toBe(text);
    const wrapped = base64(text).replace(/(.{16})/g, '$1\r\n');
    expect(bodyOf(restEvent(wrapped, { isBase64Encoded: true }))).toBe(text);
  });

  it.each<[string, Partial<Parameters<typeof restEvent>[1]>]>([
    ['an empty body', { body: '' }],
    ['a null body', { body: null }],
    ['an empty base64 body', { body: '', isBase64Encoded: true }],
  ])('refuses %s with 400', (_, overrides) => {
    const error = httpErrorOf(() => bodyOf(restEvent('x', overrides)));
    expect(error.statusCode).toBe(400);
    expect(error.message).toBe('request body is empty: expected an AdmissionReview');
  });

  it('refuses a missing HTTP API body with 400', () => {
    const event = httpApiEvent('x');
    delete (event as { body?: string }).body;
    expect(httpErrorOf(() => bodyOf(event)).statusCode).toBe(400);
  });

  it.each(['not base64!', 'abc', 'YWJj=YWJj', '{"kind":"AdmissionReview"}', 'YQ===='])('refuses the bad base64 body %j with 400', (body) => {
    const error = httpErrorOf(() => bodyOf(restEvent(body, { isBase64Encoded: true })));
    expect(error.statusCode).toBe(400);
    expect(error.message).toBe('request body is marked base64 but is not valid base64');
  });

  it('accepts a plain body of exactly 6 MiB and refuses one byte more with 413', () => {
    expect(bodyOf(restEvent('x'.repeat(MAX_BODY_BYTES)))).toHaveLength(MAX_BODY_BYTES);
    const error = httpErrorOf(() => bodyOf(restEvent('x'.repeat(MAX_BODY_BYTES + 1))));
    expect(error.statusCode).toBe(413);
    expect(error.message).toBe(`request body is larger than ${MAX_BODY_BYTES} bytes`);
  });

  it('counts a plain body in UTF-8 bytes, not characters', () => {
    const text = 'é'.repeat(MAX_BODY_BYTES / 2 + 1); // under 6 Mi characters, over 6 MiB
    expect(text.length).toBeLessThan(MAX_BODY_BYTES);
    expect(httpErrorOf(() => bodyOf(restEvent(text))).statusCode).toBe(413);
  });

  it('refuses a base64 body over 6 MiB decoded with 413, before checking it is base64', () => {
    const oversize = base64('x'.repeat(MAX_BODY_BYTES + 1));
    expect(httpErrorOf(() => bodyOf(restEvent(oversize, { isBase64Encoded: true }))).statusCode).toBe(413);
    const junk = '!'.repeat(Math.ceil(((MAX_BODY_BYTES + 3) * 4) / 3));
    expect(httpErrorOf(() => bodyOf(restEvent(junk, { isBase64Encoded: true }))).statusCode).toBe(413);
  });

  it('accepts a base64 body of exactly 6 MiB decoded, although its encoded form is larger', () => {
    for (const size of [MAX_BODY_BYTES, MAX_BODY_BYTES - 1, MAX_BODY_BYTES - 2]) {
      const encoded = base64('y'.repeat(size));
      expect(encoded.length).toBeGreaterThan(MAX_BODY_BYTES);
      expect(bodyOf(restEvent(encoded, { isBase64Encoded: true }))).toHaveLength(size);
    }
  });
});

describe('checkContentType', () => {
  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON',
    'application/merge-patch+json',
    'application/vnd.kubernetes.protobuf+json',
  ])('accepts %j', (contentType) => {
    expect(() => checkContentType(restEvent('{}', { headers: { 'Content-Type': contentType } }))).not.toThrow();
  });

  it('accepts a missing content type', () => {
    expect(() => checkContentType(restEvent('{}', { headers: {} }))).not.toThrow();
    expect(() => checkContentType(httpApiEvent('{}', { headers: {} }))).not.toThrow();
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/yaml', 'application/jsonx', ''])(
    'refuses %j with 400 naming it',
    (contentType) => {
      const error = httpErrorOf(() => checkContentType(httpApiEvent('{}', { headers: { 'content-type': contentType } })));
      expect(error.statusCode).toBe(400);
      expect(error.message).toBe(`content-type must be application/json, got ${JSON.stringify(contentType)}`);
    },
  );
});

describe('results', () => {
  it('serialises a JSON result with content-type application/json', () => {
    expect(jsonResult(200, { a: 1 })).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
  });

  it.each([
    [400, 'BadRequest'],
    [403, 'Forbidden'],
    [413, 'RequestEntityTooLarge'],
    [500, 'InternalError'],
    [503, 'ServiceUnavailable'],
  ])('turns an HttpError %d into a Kubernetes Status', (code, reason) => {
    const result = errorResult(new HttpError(code, 'what went wrong'));
    expect(result.statusCode).toBe(code);
    expect(result.headers).toEqual({ 'content-type': 'application/json' });
    expect(JSON.parse(result.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      code,
      reason,
      message: 'what went wrong',
    });
  });

  it('adds allow: POST to a 405', () => {
    const result = errorResult(new HttpError(405, 'method GET is not allowed: use POST'));
    expect(result.headers).toEqual({ 'content-type': 'application/json', allow: 'POST' });
    expect(JSON.parse(result.body)).toMatchObject({ kind: 'Status', code: 405, reason: 'MethodNotAllowed' });
  });
});
