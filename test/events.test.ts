/**
 * Runs every saved event in events/ through its handler and compares the
 * result with the `<name>.expected.json` beside it: status code, content type
 * and body, with an AdmissionReview's patch decoded into its JSON array. An
 * expected result may name the policy file its scenario needs
 * (`"policy": "examples/policies/no-latest.yaml"`); the handler is then built
 * with it, as a stage packaged with that policyFile would run.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { handler as mutate } from '../functions/mutate';
import { handler as validate } from '../functions/validate';
import type { GatewayEvent, GatewayResult } from '../lib/transport/http';
import { checkPolicyFile, readPolicyFileWithPositions } from '../lib/cli/policy-file';
import { mutatePod } from '../lib/policies/mutate';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import { ROOT } from './support/serverless';

const EVENTS = join(import.meta.dirname, '..', 'events');
const NAME = /^(mutate|validate)-([a-z0-9]+(?:-[a-z0-9]+)*)\.json$/;
const HANDLERS = { mutate, validate };
const POLICIES = { mutate: mutatePod, validate: validateImages };

const files = readdirSync(EVENTS).filter((file) => file.endsWith('.json'));
const eventFiles = files.filter((file) => !file.endsWith('.expected.json')).sort();
const expectedFiles = files.filter((file) => file.endsWith('.expected.json')).sort();
const expectedFor = (file: string) => file.replace(/\.json$/, '.expected.json');

/** Scenarios the project promises to keep (README and `serverless invoke local` examples). */
const REQUIRED = [
  'mutate-tutorial-pod',
  'validate-tutorial-pod',
  'mutate-other-namespace',
  'mutate-pull-settings-already-set',
  'validate-deployment-disallowed-image',
  'validate-update-legacy-pod-labels',
  'validate-ephemeral-container-disallowed',
  'validate-allowed-registry',
  'mutate-http-api',
  'validate-base64-body',
  'mutate-malformed-body',
  'mutate-api-server-review',
  'validate-api-server-review',
  'validate-image-volume-disallowed',
];

function readJson(file: string): any {
  return JSON.parse(readFileSync(join(EVENTS, file), 'utf8'));
}

function headerValue(headers: GatewayResult['headers'], name: string): unknown {
  const entry = Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === name);
  return entry?.[1];
}

/** The result body as JSON, with an AdmissionReview response's base64 patch decoded. */
function decodedBody(result: GatewayResult): any {
  const text = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
  const body = JSON.parse(text);
  if (typeof body?.response?.patch === 'string') {
    body.response.patch = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'));
  }
  return body;
}

/** The request body of an event as JSON, or undefined when it is not JSON. */
function requestBody(event: any): any {
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

describe('events/', () => {
  it('holds the promised scenarios', () => {
    expect(eventFiles.map((file) => file.replace(/\.json$/, ''))).toEqual(expect.arrayContaining(REQUIRED));
  });

  it('names every event <function>-<scenario>.json', () => {
    expect(eventFiles.filter((file) => !NAME.test(file))).toEqual([]);
  });

  it('has an expected result beside every event, and no expected result without its event', () => {
    expect(eventFiles.filter((file) => !expectedFiles.includes(expectedFor(file)))).toEqual([]);
    expect(expectedFiles.filter((file) => !eventFiles.includes(file.replace(/\.expected\.json$/, '.json')))).toEqual([]);
  });
});

describe.each(eventFiles)('%s', (file) => {
  const fn = NAME.exec(file)?.[1] as keyof typeof HANDLERS;
  const event = readJson(file);
  const policy: string | undefined = readJson(expectedFor(file)).policy;
  const handler = policy
    ? configuredHandler(fn, POLICIES[fn], { POLICY_FILE: join(ROOT, policy) }, { log: () => {}, readPolicyFile: readPolicyFileWithPositions })
    : HANDLERS[fn];

  it('names, if any, a valid policy file of the project', () => {
    if (policy !== undefined) expect(checkPolicyFile(join(ROOT, policy)).problems).toEqual([]);
  });

  it('is an API Gateway event for POST /<function>/{token}', () => {
    expect(typeof event.body).toBe('string');
    expect(typeof event.isBase64Encoded).toBe('boolean');
    expect(event.pathParameters?.token).toEqual(expect.any(String));
    const token = event.pathParameters.token;
    if (event.version === '2.0') {
      expect(event.routeKey).toBe(`POST /${fn}/{token}`);
      expect(event.rawPath).toBe(`/${fn}/${token}`);
      expect(event.requestContext.http.method).toBe('POST');
      expect(event.requestContext.stage).toEqual(expect.any(String));
      expect(event.headers['content-type']).toBe('application/json');
    } else {
      expect(event.httpMethod).toBe('POST');
      expect(event.resource).toBe(`/${fn}/{token}`);
      expect(event.path).toBe(`/${fn}/${token}`);
      expect(event.requestContext.resourcePath).toBe(`/${fn}/{token}`);
      expect(event.requestContext.stage).toEqual(expect.any(String));
      expect(event.headers['Content-Type']).toBe('application/json');
      expect(event.multiValueHeaders['Content-Type']).toEqual(['application/json']);
    }
    if (file.endsWith('-http-api.json')) expect(event.version).toBe('2.0');
    if (file.endsWith('-base64-body.json')) expect(event.isBase64Encoded).toBe(true);
    if (file.endsWith('-malformed-body.json')) expect(requestBody(event)).toBeUndefined();
    else expect(requestBody(event)).toMatchObject({ kind: 'AdmissionReview', request: { uid: expect.any(String) } });
  });

  it('gives the expected result', async () => {
    const expected = readJson(expectedFor(file));
    const result = await handler(event as GatewayEvent);
    expect(result.statusCode).toBe(expected.statusCode);
    expect(headerValue(result.headers, 'content-type')).toBe(expected.headers['content-type']);
    expect(decodedBody(result)).toEqual(expected.body);
  });

  it('answers with the uid of its request', async () => {
    const request = requestBody(event)?.request;
    const result = await handler(event as GatewayEvent);
    if (request === undefined) expect(result.statusCode).toBe(400);
    else expect(decodedBody(result).response.uid).toBe(request.uid);
  });
});

describe('the local development doc on the tutorial Pod and the saved events', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'local-development.md'), 'utf8');
  const sectionOf = (heading: string) => {
    const at = doc.indexOf(heading);
    return at === -1 ? '' : doc.slice(at, doc.indexOf('\n## ', at + 1));
  };
  const start = doc.indexOf('## The tutorial Pod, step by step');
  const section = sectionOf('## The tutorial Pod, step by step');
  const block = (language: string) => new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(section)?.[1];

  it('shows the Pod, the patch and the message the saved tutorial events produce', () => {
    expect(start).toBeGreaterThan(-1);
    const mutateEvent = readJson('mutate-tutorial-pod.json');
    expect(parseYaml(block('yaml') ?? '')).toEqual(requestBody(mutateEvent).request.object);
    expect(JSON.parse(block('json') ?? 'null')).toEqual(readJson('mutate-tutorial-pod.expected.json').body.response.patch);
    expect(block('text')?.trim()).toBe(readJson('validate-tutorial-pod.expected.json').body.response.status.message);
  });

  it('lists only scenarios that are in events/, and all of them', () => {
    const rows = sectionOf('## Saved events').split('\n').filter((line) => line.startsWith('| `'));
    const listed = rows.flatMap((row) => [...(row.split(' | ')[0] ?? '').matchAll(/`([a-z0-9-]+)`/g)].map((match) => `${match[1]}.json`));
    expect(listed.sort()).toEqual(eventFiles);
  });
});

describe('the configuration doc on registry mirrors and tag rules', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const section = (heading: string) => {
    const start = doc.indexOf(heading);
    expect(start).toBeGreaterThan(-1);
    return doc.slice(start, doc.indexOf('\n## ', start + 1));
  };

  it('shows the image rewrites the saved mirror event produces', () => {
    const shown = JSON.parse(/```json\n([\s\S]*?)```/.exec(section('## Registry mirrors: an ECR pull-through cache'))?.[1] ?? 'null');
    const patch = readJson('mutate-image-mirrors.expected.json').body.response.patch as Array<{ path: string }>;
    expect(shown).toEqual(patch.filter((operation) => /\/image(\/reference)?$/.test(operation.path)));
    expect(shown.length).toBe(3);
  });

  it('shows the message the saved tag event produces', () => {
    const shown = /```text\n([\s\S]*?)```/.exec(section('## Tag and digest rules'))?.[1]?.trim();
    expect(shown).toBe(readJson('validate-disallowed-tag.expected.json').body.response.status.message);
  });
});
