import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { handler as mutate } from '../functions/mutate';
import { handler as validate } from '../functions/validate';
import { admissionRequest, gatewayEvent } from '../lib/transport/admission-event';
import type { GatewayEvent } from '../lib/transport/http';
import {
  type Io,
  UsageError,
  main,
  makeEvent,
  numberedPath,
  parseArguments,
  workloadDocuments,
} from '../scripts/make-event';
import { decodedPatch } from './support/reviews';

const ROOT = join(import.meta.dirname, '..');
const CORPUS = join(ROOT, 'test', 'fixtures', 'corpus');

const TUTORIAL_YAML = `apiVersion: v1
kind: Pod
metadata:
  name: python-app
spec:
  containers:
    - name: python
      image: python:3.9-slim
`;

const MIXED_YAML = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{ port: 80 }]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: nginx:1.27 }]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  generateName: report-
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{ name: report, image: registry.example.com/report:1 }]
`;

/** An in-memory Io: files by path, everything written collected. */
function memoryIo(files: Record<string, string> = {}) {
  const out = { stdout: '', stderr: '', written: {} as Record<string, string> };
  const io: Io = {
    stdout: (text) => {
      out.stdout += text;
    },
    stderr: (text) => {
      out.stderr += text;
    },
    readFile: (path) => {
      if (!(path in files)) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
      return files[path] as string;
    },
    writeFile: (path, text) => {
      out.written[path] = text;
    },
  };
  return { io, out };
}

function bodyOf(event: any): any {
  return JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body);
}

describe('parseArguments', () => {
  it('reads the function, the manifest and the defaults', () => {
    expect(parseArguments(['mutate', 'pod.yaml'])).toEqual({
      fn: 'mutate',
      manifest: 'pod.yaml',
      operation: 'CREATE',
      httpApi: false,
      base64: false,
      all: false,
    });
  });

  it('reads every option, in any order and with --name=value', () => {
    expect(
      parseArguments(['--http-api', 'validate', '--namespace', 'team-a', 'pod.yaml', '--operation=update', '--base64', '--all', '-o', 'out.json']),
    ).toEqual({
      fn: 'validate',
      manifest: 'pod.yaml',
      namespace: 'team-a',
      operation: 'UPDATE',
      httpApi: true,
      base64: true,
      all: true,
      output: 'out.json',
    });
  });

  it.each([
    [['deploy', 'pod.yaml'], 'unknown function "deploy": use mutate or validate'],
    [[], 'the function is missing: give mutate or validate, then the manifest file'],
    [['--all'], 'the function is missing: give mutate or validate, then the manifest file'],
    [['mutate'], 'the manifest is missing: give a YAML file after the function (- for standard input)'],
    [['mutate', 'a.yaml', 'b.yaml'], 'one manifest at a time: "b.yaml" is one argument too many'],
    [['mutate', 'pod.yaml', '--operation', 'DELETE'], '--operation must be CREATE or UPDATE, got "DELETE"'],
    [['mutate', 'pod.yaml', '--namespace'], '--namespace needs a value'],
    [['mutate', 'pod.yaml', '-o', '--base64'], '-o needs a value'],
    [['mutate', 'pod.yaml', '--dry-run'], 'unknown option --dry-run'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArguments(argv)).toThrow(new UsageError(message));
  });
});

describe('workloadDocuments', () => {
  it('keeps the workload documents, in order, and skips the rest', () => {
    const documents = workloadDocuments(MIXED_YAML);
    expect(documents.map((document) => document.kind)).toEqual(['Deployment', 'CronJob']);
  });

  it('reads the KYAML flow style of the corpus', () => {
    const [pod] = workloadDocuments(readFileSync(join(CORPUS, 'pods/image-volumes.yaml'), 'utf8'));
    expect(pod).toMatchObject({ kind: 'Pod', spec: { containers: [{ name: 'shell', image: 'debian' }] } });
  });

  it('refuses YAML that does not parse, naming the file and the line', () => {
    const text = readFileSync(join(CORPUS, 'pods/inject/pod-multiple-secret-env-variable.yaml'), 'utf8');
    expect(() => workloadDocuments(text, 'secret-env.yaml')).toThrow(
      new UsageError('secret-env.yaml is not valid YAML: Tabs are not allowed as indentation at line 15, column 1'),
    );
  });

  it('refuses a manifest without a workload', () => {
    expect(() => workloadDocuments('apiVersion: v1\nkind: Service\nmetadata: {name: web}\n', 'svc.yaml')).toThrow(UsageError);
    expect(() => workloadDocuments('', 'empty.yaml')).toThrow(/empty\.yaml has no workload document/);
    expect(() => workloadDocuments('just a string', 'scalar.yaml')).toThrow(/scalar\.yaml has no workload document/);
  });
});

describe('the AdmissionReview', () => {
  const [deployment, cronJob] = workloadDocuments(MIXED_YAML) as [Record<string, any>, Record<string, any>];

  it('wraps the object as an API server does, namespace from the metadata', () => {
    const review = bodyOf(makeEvent('mutate', deployment, { uid: 'u-1' }));
    expect(review).toEqual({
      kind: 'AdmissionReview',
      apiVersion: 'admission.k8s.io/v1',
      request: {
        uid: 'u-1',
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        resource: { group: 'apps', version: 'v1', resource: 'deployments' },
        requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
        name: 'web',
        namespace: 'shop',
        operation: 'CREATE',
        userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
        object: deployment,
        oldObject: null,
        dryRun: false,
        options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-create', fieldValidation: 'Strict' },
      },
    });
  });

  it('uses default without a namespace, sends no name for generateName, and leaves the object as written', () => {
    const request = admissionRequest(cronJob) as Record<string, any>;
    expect(request.namespace).toBe('default');
    expect(request).not.toHaveProperty('name');
    expect(request.resource).toEqual({ group: 'batch', version: 'v1', resource: 'cronjobs' });
    expect(request.object).toBe(cronJob);
    expect(request.object.metadata).not.toHaveProperty('namespace');
    expect(request.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('takes --namespace, and refuses one that contradicts the manifest', () => {
    expect(bodyOf(makeEvent('mutate', cronJob, { namespace: 'team-a' })).request.namespace).toBe('team-a');
    expect(bodyOf(makeEvent('mutate', deployment, { namespace: 'shop' })).request.namespace).toBe('shop');
    expect(() => makeEvent('mutate', deployment, { namespace: 'team-a' })).toThrow(
      new UsageError('the namespace from the manifest (shop) does not match the namespace team-a'),
    );
  });

  it('sends the object as its own old object on UPDATE, with UpdateOptions', () => {
    const request = admissionRequest(deployment, { operation: 'UPDATE' }) as Record<string, any>;
    expect(request.operation).toBe('UPDATE');
    expect(request.oldObject).toBe(deployment);
    expect(request.options.kind).toBe('UpdateOptions');
  });
});

describe('gatewayEvent and makeEvent', () => {
  const pod = workloadDocuments(TUTORIAL_YAML)[0] as Record<string, any>;
  const fixed = { uid: '0df28fbd-5f5f-11e8-bc74-36e6bb280816', requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadb007', time: new Date('2025-11-27T09:00:07Z') };

  it('builds the saved tutorial event of events/ exactly', () => {
    const saved = JSON.parse(readFileSync(join(ROOT, 'events', 'mutate-tutorial-pod.json'), 'utf8'));
    expect(makeEvent('mutate', pod, { ...fixed, namespace: 'default' })).toEqual(saved);
  });

  it('builds a REST event the mutate handler answers with the tutorial patch', async () => {
    const event = makeEvent('mutate', pod) as any;
    expect(event).toMatchObject({
      httpMethod: 'POST',
      resource: '/mutate/{token}',
      path: '/mutate/local-test-token',
      pathParameters: { token: 'local-test-token' },
      queryStringParameters: { timeout: '10s' },
      headers: { 'Content-Type': 'application/json' },
      requestContext: { stage: 'dev', resourcePath: '/mutate/{token}', httpMethod: 'POST' },
      isBase64Encoded: false,
    });
    expect(event.headers['Content-Length']).toBe(String(Buffer.byteLength(event.body)));
    const result = await mutate(event as GatewayEvent);
    expect(result.statusCode).toBe(200);
    expect(decodedPatch(result.body)).toEqual([
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] },
    ]);
  });

  it('builds a base64 HTTP API event the validate handler answers', async () => {
    const event = makeEvent('validate', pod, { httpApi: true, base64: true, uid: 'u-2' }) as any;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /validate/{token}',
      rawPath: '/validate/local-test-token',
      rawQueryString: 'timeout=10s',
      requestContext: { http: { method: 'POST', path: '/validate/local-test-token' }, stage: '$default' },
      isBase64Encoded: true,
    });
    expect(bodyOf(event).request.uid).toBe('u-2');
    const result = await validate(event as GatewayEvent);
    expect(JSON.parse(result.body).response).toEqual({
      uid: 'u-2',
      allowed: false,
      status: { code: 403, message: 'Invalid image. Images must come from registry.example.com: container "python" uses "python:3.9-slim"' },
    });
  });

  it('sends a string body as it is, and no query string for timeout null', () => {
    const event = gatewayEvent('mutate', '{"not": "a review"', { timeout: null }) as any;
    expect(event.body).toBe('{"not": "a review"');
    expect(event.queryStringParameters).toBeNull();
    expect(event.multiValueQueryStringParameters).toBeNull();
  });
});

describe('numberedPath', () => {
  it.each([
    ['out.json', 2, 'out-2.json'],
    ['events/x.JSON', 1, 'events/x-1.JSON'],
    ['out', 3, 'out-3.json'],
  ])('%s #%d is %s', (output, number, expected) => {
    expect(numberedPath(output, number)).toBe(expected);
  });
});

describe('main', () => {
  it('prints the event of the first workload document', () => {
    const { io, out } = memoryIo({ 'mixed.yaml': MIXED_YAML });
    expect(main(['validate', 'mixed.yaml'], io)).toBe(0);
    const event = JSON.parse(out.stdout);
    expect(bodyOf(event).request.object.kind).toBe('Deployment');
    expect(event.path).toBe('/validate/local-test-token');
    expect(out.stderr).toBe('');
  });

  it('prints every workload document with --all, as an array', () => {
    const { io, out } = memoryIo({ 'mixed.yaml': MIXED_YAML });
    expect(main(['mutate', 'mixed.yaml', '--all', '--http-api'], io)).toBe(0);
    const events = JSON.parse(out.stdout);
    expect(events.map((event: any) => bodyOf(event).request.kind.kind)).toEqual(['Deployment', 'CronJob']);
    expect(events.every((event: any) => event.version === '2.0')).toBe(true);
  });

  it('writes -o, one numbered file per document with --all', () => {
    const { io, out } = memoryIo({ 'mixed.yaml': MIXED_YAML });
    expect(main(['mutate', 'mixed.yaml', '-o', 'one.json'], io)).toBe(0);
    expect(main(['mutate', 'mixed.yaml', '--all', '--operation', 'UPDATE', '-o', 'many.json'], io)).toBe(0);
    expect(Object.keys(out.written)).toEqual(['one.json', 'many-1.json', 'many-2.json']);
    expect(bodyOf(JSON.parse(out.written['many-2.json'] as string)).request).toMatchObject({ operation: 'UPDATE', kind: { kind: 'CronJob' } });
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe('wrote one.json\nwrote many-1.json\nwrote many-2.json\n');
  });

  it.each([
    [['deploy', 'pod.yaml'], 'make-event: unknown function "deploy": use mutate or validate'],
    [['mutate', 'missing.yaml'], 'make-event: cannot read missing.yaml: no such file or directory (ENOENT)'],
    [['mutate', 'bad.yaml'], 'make-event: bad.yaml is not valid YAML: '],
    [['mutate', 'service.yaml'], 'make-event: service.yaml has no workload document'],
    [['mutate', 'mixed.yaml', '--namespace', 'team-a'], 'make-event: the namespace from the manifest (shop) does not match'],
  ])('exits with 2 and a clear message for %j', (argv, message) => {
    const { io, out } = memoryIo({
      'bad.yaml': 'kind: Pod\nspec: [unclosed\n',
      'service.yaml': 'apiVersion: v1\nkind: Service\n',
      'mixed.yaml': MIXED_YAML,
    });
    expect(main(argv, io)).toBe(2);
    expect(out.stderr.startsWith(message)).toBe(true);
    expect(out.stderr).toContain('usage: make-event <mutate|validate> <manifest.yaml>');
    expect(out.stdout).toBe('');
    expect(out.written).toEqual({});
  });

  it('prints the usage for --help', () => {
    const { io, out } = memoryIo();
    expect(main(['--help'], io)).toBe(0);
    expect(out.stdout).toMatch(/^usage: make-event/);
  });
});

describe('make-event as a process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'make-event-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'scripts', 'make-event.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });

  it('writes an event from a corpus manifest that the handler denies, and exits 2 on a bad one', async () => {
    const output = join(dir, 'not-yet-a-folder', 'event.json'); // -o makes the folder, as the README's my-events/
    const ok = run('validate', join(CORPUS, 'application/deployment.yaml'), '-o', output);
    expect(ok.stderr).toBe(`wrote ${output}\n`);
    expect(ok.status).toBe(0);
    const event = JSON.parse(readFileSync(output, 'utf8'));
    const result = await validate(event);
    expect(JSON.parse(result.body).response).toMatchObject({
      uid: bodyOf(event).request.uid,
      allowed: false,
      status: { code: 403, message: expect.stringMatching(/^Invalid image\. Images must come from registry\.example\.com: container "nginx" uses "nginx:/) },
    });

    const bad = run('validate', join(CORPUS, 'controllers/job-pod-failure-policy-ignore.yaml'));
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/job-pod-failure-policy-ignore\.yaml is not valid YAML: Tabs are not allowed as indentation at line 24/);
  });
});

describe('the examples of docs/local-development.md', () => {
  const readme = readFileSync(join(ROOT, 'docs', 'local-development.md'), 'utf8');
  const examples = [...readme.matchAll(/^npm run make-event -- (.+?)(?:\s+#.*)?$/gm)].map((match) => match[1]!.split(/\s+/));

  it('write their events outside events/, so npm test stays green after a reader runs them', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
    const outputs = examples.map((argv) => parseArguments(argv).output).filter((output) => output !== undefined);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) expect(output, output).not.toMatch(/^(\.\/)?events\//);
  });
});
