/**
 * Limits of the contract (DESIGN.md): a body over 6 MiB decoded is refused with 413 before it is
 * parsed; a very large Pod is still answered correctly; denial messages are cut at about 1 KiB
 * with a count of the rest; warnings stay at most 10, each under 120 characters; the audit
 * annotation is bounded too.
 */
import { applyPatch, type Operation } from 'fast-json-patch';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AdmissionRequest } from '../lib/admission/admission-review';
import { MAX_BODY_BYTES } from '../lib/transport/http';
import type { LogRecord } from '../lib/common/log';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import { decodedPatch, httpApiEvent, podRequest, restEvent, review, tutorialPod } from './support/reviews';
import { handler as mutate } from '../functions/mutate';
import { handler as validate } from '../functions/validate';
import { silenceConsoleLog } from './support/silence';

const MIB = 1024 * 1024;
const SENTENCE = 'Invalid image. Images must come from registry.example.com';
const HANDLERS = [
  ['mutate', mutate],
  ['validate', validate],
] as const;

silenceConsoleLog();
afterEach(() => {
  vi.restoreAllMocks();
});

function statusOf(body: string): { kind: string; code: number; message: string } {
  return JSON.parse(body);
}

/** A valid review of the tutorial Pod whose JSON text is exactly `bytes` long (padded in an annotation). */
function reviewOfLength(bytes: number): string {
  const pod = tutorialPod();
  (pod.metadata as Record<string, unknown>).annotations = { pad: '' };
  const base = JSON.stringify(review(podRequest(pod)));
  const text = base.replace('"pad":""', `"pad":"${'x'.repeat(bytes - base.length)}"`);
  expect(Buffer.byteLength(text)).toBe(bytes);
  return text;
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** `count` containers named c-0, c-1, ... all using `image`. */
function podWithContainers(count: number, image = 'nginx:1.27', name = (i: number) => `c-${i}`): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'big' },
    spec: { containers: Array.from({ length: count }, (_, i) => ({ name: name(i), image })) },
  };
}

describe('bodies over 6 MiB (decoded)', () => {
  it('sets the limit at Lambda payload size, 6 MiB', () => {
    expect(MAX_BODY_BYTES).toBe(6 * MIB);
  });

  it('refuses a 7 MiB body that is not even JSON with 413, not 400, and never calls JSON.parse', async () => {
    const notJson = '<'.repeat(7 * MIB);
    for (const [name, handler] of HANDLERS) {
      for (const event of [restEvent(notJson), httpApiEvent(notJson)]) {
        const parse = vi.spyOn(JSON, 'parse');
        const result = await handler(event);
        expect(parse, name).not.toHaveBeenCalled();
        parse.mockRestore();
        expect(result.statusCode, name).toBe(413);
        expect(result.headers?.['content-type']).toBe('application/json');
        expect(statusOf(result.body)).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
      }
    }
  });

  it('refuses a 7 MiB base64 body with 413 before decoding or parsing it, even when it is not valid base64', async () => {
    const encodedNotJson = base64('<'.repeat(7 * MIB));
    // Also with line breaks (MIME style) and with characters outside the alphabet: the size check comes first.
    const wrapped = encodedNotJson.replace(/.{76}/g, '$&\n');
    const invalid = '!'.repeat(Math.ceil((7 * MIB * 4) / 3));
    for (const [name, handler] of HANDLERS) {
      for (const body of [encodedNotJson, wrapped, invalid]) {
        const parse = vi.spyOn(JSON, 'parse');
        const result = await handler(restEvent(body, { isBase64Encoded: true }));
        expect(parse, name).not.toHaveBeenCalled();
        parse.mockRestore();
        expect(result.statusCode, name).toBe(413);
        expect(statusOf(result.body)).toMatchObject({ kind: 'Status', code: 413 });
      }
    }
  });

  it('counts bytes, not characters: 3.5 million two-byte characters are 7 MB', async () => {
    const body = 'é'.repeat(3.5 * MIB);
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    for (const [, handler] of HANDLERS) {
      const parse = vi.spyOn(JSON, 'parse');
      const result = await handler(restEvent(body));
      expect(parse).not.toHaveBeenCalled();
      expect(result.statusCode).toBe(413);
    }
  });

  it('answers a valid review of exactly 6 MiB, and refuses it one byte larger (plain and base64)', async () => {
    const atLimit = reviewOfLength(MAX_BODY_BYTES);
    const overLimit = reviewOfLength(MAX_BODY_BYTES + 1);
    for (const [name, handler] of HANDLERS) {
      expect((await handler(restEvent(atLimit))).statusCode, name).toBe(200);
      expect((await handler(restEvent(base64(atLimit), { isBase64Encoded: true }))).statusCode, name).toBe(200);
      expect((await handler(restEvent(overLimit))).statusCode, name).toBe(413);
      expect((await handler(restEvent(base64(overLimit), { isBase64Encoded: true }))).statusCode, name).toBe(413);
    }
  });
});

describe('a Pod with 5,000 containers', () => {
  const COUNT = 5000;

  it('is patched by mutate with 5,000 pull-policy operations and the pull secret, and the patch applies', async () => {
    const object = podWithContainers(COUNT);
    const result = await mutate(restEvent(review(podRequest(object))));
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body).response).toMatchObject({ uid: podRequest(object).uid, allowed: true, patchType: 'JSONPatch' });
    const patch = decodedPatch(result.body) as Operation[];
    const pullPolicyOps = patch.filter((op) => /^\/spec\/containers\/\d+\/imagePullPolicy$/.test(op.path));
    expect(pullPolicyOps).toHaveLength(COUNT);
    expect(new Set(pullPolicyOps.map((op) => op.path)).size).toBe(COUNT);
    expect(pullPolicyOps.every((op) => op.op === 'add' && (op as { value: unknown }).value === 'Always')).toBe(true);
    expect(patch.filter((op) => op.path.startsWith('/spec/imagePullSecrets'))).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] },
    ]);
    expect(patch).toHaveLength(COUNT + 1);

    const patched = applyPatch(structuredClone(object), patch, true, false).newDocument as ReturnType<typeof podWithContainers>;
    const spec = patched.spec as { containers: Array<Record<string, unknown>>; imagePullSecrets: unknown };
    expect(spec.containers.every((container) => container.imagePullPolicy === 'Always')).toBe(true);
    expect(spec.imagePullSecrets).toEqual([{ name: 'registry-credentials' }]);

    // A second pass over the patched Pod adds nothing.
    const again = await mutate(restEvent(review(podRequest(patched))));
    expect(again.statusCode).toBe(200);
    expect(decodedPatch(again.body)).toBeUndefined();
  });

  it('is denied by validate naming the first containers, cut at about 1 KiB with "; and N more"', async () => {
    for (const event of [restEvent(review(podRequest(podWithContainers(COUNT)))), httpApiEvent(review(podRequest(podWithContainers(COUNT))))]) {
      const result = await validate(event);
      expect(result.statusCode).toBe(200);
      const response = JSON.parse(result.body).response;
      expect(response.allowed).toBe(false);
      expect(response.status.code).toBe(403);
      const message = response.status.message as string;
      expect(message.startsWith(`${SENTENCE}: container "c-0" uses "nginx:1.27"; container "c-1" uses "nginx:1.27"; `)).toBe(true);
      const named = [...message.matchAll(/container "c-(\d+)" uses "nginx:1\.27"/g)].map((match) => Number(match[1]));
      // The containers named are the first ones, in order.
      expect(named).toEqual(Array.from({ length: named.length }, (_, i) => i));
      const more = /; and (\d+) more$/.exec(message);
      expect(more).not.toBeNull();
      expect(Number(more?.[1])).toBe(COUNT - named.length);
      // About 1 KiB: the list is cut near 1,024 characters, plus the sentence and the count.
      expect(message.length).toBeGreaterThan(900);
      expect(message.length).toBeLessThan(1024 + SENTENCE.length + 40);
      expect(result.body.length).toBeLessThan(2048);
    }
  });

  it('counts the rest correctly when only some containers fail, across containers and init containers', async () => {
    const object = podWithContainers(COUNT, 'registry.example.com/app:1');
    const spec = object.spec as { containers: Array<Record<string, unknown>>; initContainers?: unknown[] };
    // Every third container uses Docker Hub, and so do 30 init containers.
    spec.containers.forEach((container, i) => {
      if (i % 3 === 0) container.image = `python:3.${i}`;
    });
    spec.initContainers = Array.from({ length: 30 }, (_, i) => ({ name: `init-${i}`, image: 'busybox' }));
    const failing = Math.ceil(COUNT / 3) + 30;
    const result = await validate(restEvent(review(podRequest(object))));
    const message = JSON.parse(result.body).response.status.message as string;
    const named = (message.match(/container "[^"]+" uses/g) ?? []).length;
    expect(message).toContain('container "c-0" uses "python:3.0"; container "c-3" uses "python:3.3"');
    expect(Number(/; and (\d+) more$/.exec(message)?.[1])).toBe(failing - named);
  });

  it('keeps each part bounded: one absurdly long image cannot fill the message', async () => {
    const object = podWithContainers(3, `evil.io/${'a'.repeat(100_000)}`);
    const result = await validate(restEvent(review(podRequest(object))));
    const message = JSON.parse(result.body).response.status.message as string;
    expect(message.length).toBeLessThan(1024 + SENTENCE.length + 40);
    expect(message).toContain('container "c-0" uses "evil.io/aaa');
  });
});

describe('warn and audit modes stay bounded however many containers fail', () => {
  function modeHandler(action: 'warn' | 'audit') {
    const records: LogRecord[] = [];
    const handler = configuredHandler('validate', validateImages, { VALIDATION_ACTION: action }, { log: (record) => records.push(record) });
    return { handler, records };
  }

  /** A Pod with `count` failing containers, with long names and long images to stress the bounds. */
  function failingPod(count: number): AdmissionRequest {
    return podRequest(
      podWithContainers(count, `docker.io/library/${'n'.repeat(150)}:1`, (i) => `container-with-a-rather-long-name-${'x'.repeat(40)}-${i}`),
    );
  }

  for (const count of [1, 8, 9, 10, 11, 5000]) {
    it(`warn: ${count} failing container(s) give at most 10 warnings, each under 120 characters`, async () => {
      const { handler, records } = modeHandler('warn');
      const result = await handler(restEvent(review(failingPod(count))));
      expect(result.statusCode).toBe(200);
      const response = JSON.parse(result.body).response;
      expect(response.allowed).toBe(true);
      expect(response.status).toBeUndefined();
      const warnings = response.warnings as string[];
      expect(warnings.length).toBeGreaterThanOrEqual(2);
      expect(warnings.length).toBeLessThanOrEqual(10);
      for (const warning of warnings) expect(warning.length).toBeLessThan(120);
      expect(warnings[0]).toBe(SENTENCE);
      // Every failing container is either shown or counted.
      const shown = warnings.filter((warning) => warning.startsWith('container "')).length;
      const counted = Number(/^and (\d+) more/.exec(warnings[warnings.length - 1] ?? '')?.[1] ?? 0);
      expect(shown + counted).toBe(count);
      // The violation is also recorded, bounded, as an audit annotation and in the log line.
      const annotation = Object.values(response.auditAnnotations ?? {}) as string[];
      expect(annotation).toHaveLength(1);
      expect(annotation[0]?.length).toBeLessThan(1024 + SENTENCE.length + 40);
      const line = records.find((record) => record.message === 'admission review');
      expect(line?.decision).toBe('warned');
      expect(String(line?.violation).length).toBeLessThan(1024 + SENTENCE.length + 40);
    });
  }

  it('audit: 5,000 failing containers are allowed with one bounded annotation, no warnings', async () => {
    const { handler, records } = modeHandler('audit');
    const result = await handler(restEvent(review(failingPod(5000))));
    expect(result.statusCode).toBe(200);
    const response = JSON.parse(result.body).response;
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    const annotations = response.auditAnnotations as Record<string, string>;
    expect(Object.keys(annotations)).toEqual(['image-policy-violation']);
    const annotation = annotations['image-policy-violation'] as string;
    expect(annotation.startsWith(`${SENTENCE}: container "container-with-a-rather-long-name-`)).toBe(true);
    expect(annotation.length).toBeGreaterThan(500);
    expect(annotation.length).toBeLessThan(1024 + SENTENCE.length + 40);
    const more = /; and (\d+) more$/.exec(annotation);
    expect(Number(more?.[1])).toBe(5000 - (annotation.match(/container "/g) ?? []).length);
    expect(result.body.length).toBeLessThan(2048);
    const line = records.find((record) => record.message === 'admission review');
    expect(line?.decision).toBe('audited');
    expect(JSON.stringify(line).length).toBeLessThan(4096);
  });

  it('the tutorial Pod in warn mode: one sentence and one container', async () => {
    const { handler } = modeHandler('warn');
    const result = await handler(restEvent(review(podRequest(tutorialPod()))));
    expect(JSON.parse(result.body).response.warnings).toEqual([SENTENCE, 'container "python" uses "python:3.9-slim"']);
  });
});
