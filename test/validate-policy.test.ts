/** The validate policy as a pure function of request and configuration (no HTTP). */
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, GroupVersionKind } from '../lib/admission/admission-review';
import { loadConfig } from '../lib/policies/fleet/config';
import type { Decision } from '../lib/policies/decision';
import { validateImages } from '../lib/policies/validate';
import { admissionResponse } from '../lib/transport/admission-response';
import { podRequest } from './support/reviews';

type Env = Record<string, string>;
type Spec = Record<string, unknown>;

const SENTENCE = 'Invalid image. Images must come from registry.example.com';
const GOOD = 'registry.example.com/team/web:1.0';

const validate = (request: AdmissionRequest, env: Env = {}): Decision => validateImages(request, loadConfig(env));

function denialOf(decision: Decision): string {
  expect(decision.allowed).toBe(false);
  return decision.allowed ? '' : decision.message;
}

const pod = (spec: Spec): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec });
const template = (spec: Spec) => ({ metadata: { labels: { app: 'web' } }, spec });

/** Every kind validate checks, each with its pod spec where Kubernetes puts it. */
const WORKLOADS: Array<[GroupVersionKind, (spec: Spec) => Record<string, unknown>]> = [
  [{ group: '', version: 'v1', kind: 'Pod' }, pod],
  [{ group: '', version: 'v1', kind: 'PodTemplate' }, (spec) => ({ apiVersion: 'v1', kind: 'PodTemplate', template: template(spec) })],
  [
    { group: '', version: 'v1', kind: 'ReplicationController' },
    (spec) => ({ apiVersion: 'v1', kind: 'ReplicationController', spec: { replicas: 1, template: template(spec) } }),
  ],
  ...(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'] as const).map(
    (kind): [GroupVersionKind, (spec: Spec) => Record<string, unknown>] => [
      { group: 'apps', version: 'v1', kind },
      (spec) => ({ apiVersion: 'apps/v1', kind, spec: { selector: {}, template: template(spec) } }),
    ],
  ),
  [{ group: 'batch', version: 'v1', kind: 'Job' }, (spec) => ({ apiVersion: 'batch/v1', kind: 'Job', spec: { template: template(spec) } })],
  [
    { group: 'batch', version: 'v1', kind: 'CronJob' },
    (spec) => ({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      spec: { schedule: '* * * * *', jobTemplate: { spec: { template: template(spec) } } },
    }),
  ],
];

describe('the denial message', () => {
  it('names the allowed registries, then each offending container and image', () => {
    const request = podRequest(
      pod({
        containers: [
          { name: 'web', image: 'nginx:1.27' },
          { name: 'ok', image: GOOD },
        ],
        initContainers: [{ name: 'setup', image: 'busybox' }],
      }),
    );
    expect(validate(request)).toEqual({
      allowed: false,
      message: 'Invalid image. Images must come from registry.example.com: container "web" uses "nginx:1.27"; init container "setup" uses "busybox"',
    });
  });

  it('lists several allowed registries as configured', () => {
    const request = podRequest(pod({ containers: [{ name: 'web', image: 'nginx' }] }));
    expect(denialOf(validate(request, { ALLOWED_REGISTRIES: 'registry.example.com/team, Mirror.example.org:5000' }))).toBe(
      'Invalid image. Images must come from registry.example.com/team, mirror.example.org:5000: container "web" uses "nginx"',
    );
  });

  it('names an unnamed container by its index', () => {
    expect(denialOf(validate(podRequest(pod({ containers: [{ image: GOOD }, { image: 'nginx' }] }))))).toBe(
      `${SENTENCE}: container "#1" uses "nginx"`,
    );
  });

  it('is cut near 1 KiB with a count of the containers left out', () => {
    const containers = Array.from({ length: 60 }, (_, i) => ({ name: `c${i}`, image: `docker.io/team/image-number-${i}:1.0` }));
    const message = denialOf(validate(podRequest(pod({ containers }))));
    expect(message.startsWith(`${SENTENCE}: container "c0" uses "docker.io/team/image-number-0:1.0"; container "c1"`)).toBe(true);
    expect(message.length).toBeLessThanOrEqual(1024 + SENTENCE.length + 40);
    expect(message.length).toBeGreaterThan(900);
    const more = /; and (\d+) more$/.exec(message);
    expect(more).not.toBeNull();
    const shown = (message.match(/container "c\d+" uses/g) ?? []).length;
    expect(shown + Number(more?.[1])).toBe(60);
  });

  it('keeps a message that fits whole, without a count', () => {
    const containers = Array.from({ length: 5 }, (_, i) => ({ name: `c${i}`, image: `nginx:${i}` }));
    const message = denialOf(validate(podRequest(pod({ containers }))));
    expect(message).not.toMatch(/more$/);
    expect(message.split('; ')).toHaveLength(5);
  });

  it('bounds an absurdly long image', () => {
    const image = `evil.io/${'a'.repeat(5000)}`;
    const message = denialOf(validate(podRequest(pod({ containers: [{ name: 'web', image }, { name: 'b', image: 'nginx' }] }))));
    expect(message.length).toBeLessThan(1200);
    expect(message).toContain('container "b" uses "nginx"');
  });
});

describe('container lists and kinds', () => {
  it.each([
    ['containers', 'container'],
    ['initContainers', 'init container'],
    ['ephemeralContainers', 'ephemeral container'],
  ])('checks %s of a Pod', (list, label) => {
    const request = podRequest(pod({ containers: [{ name: 'ok', image: GOOD }], [list]: [{ name: 'x', image: 'quay.io/x/y' }] }));
    expect(denialOf(validate(request))).toBe(`${SENTENCE}: ${label} "x" uses "quay.io/x/y"`);
  });

  it.each(WORKLOADS)('checks the pod template of %j', (kind, build) => {
    const bad = build({ containers: [{ name: 'web', image: 'nginx:1.27' }], initContainers: [{ name: 'setup', image: 'busybox' }] });
    expect(validate(podRequest(bad, { kind }))).toEqual({
      allowed: false,
      message: `${SENTENCE}: container "web" uses "nginx:1.27"; init container "setup" uses "busybox"`,
    });
    const good = build({ containers: [{ name: 'web', image: GOOD }], initContainers: [{ name: 'setup', image: `${GOOD}-init` }] });
    expect(validate(podRequest(good, { kind }))).toEqual({ allowed: true });
  });

  it.each<GroupVersionKind>([
    { group: '', version: 'v1', kind: 'ConfigMap' },
    { group: 'example.com', version: 'v1', kind: 'Deployment' },
    { group: '', version: 'v1', kind: 'Deployment' },
  ])('leaves other kinds alone: %j', (kind) => {
    const object = { kind: kind.kind, spec: { template: template({ containers: [{ name: 'web', image: 'nginx' }] }) } };
    expect(validate(podRequest(object, { kind }))).toEqual({ allowed: true });
  });

  it('takes the kind from the object when the request has none', () => {
    const deployment = WORKLOADS.find(([kind]) => kind.kind === 'Deployment')?.[1];
    const object = deployment?.({ containers: [{ name: 'web', image: 'nginx' }] }) ?? {};
    expect(validate(podRequest(object, { kind: undefined })).allowed).toBe(false);
  });

  it('allows a workload without a pod spec', () => {
    expect(validate(podRequest({ apiVersion: 'apps/v1', kind: 'Deployment', spec: {} }, { kind: WORKLOADS[3]?.[0] }))).toEqual({ allowed: true });
  });

  it('denies a CREATE without an object', () => {
    expect(denialOf(validate(podRequest(null as never)))).toMatch(/request.object is missing/);
  });

  it.each([
    [{ containers: 'nginx' }, /containers must be a list/],
    [{ containers: [{ name: 'a', image: GOOD }, 'nginx'] }, /containers must contain only objects/],
    [{ initContainers: {} }, /initContainers must be a list/],
  ])('denies malformed container lists %j', (spec, message) => {
    expect(denialOf(validate(podRequest(pod(spec))))).toMatch(message);
  });

  it('names the path of every malformed list', () => {
    expect(denialOf(validate(podRequest(pod({ containers: 'a', initContainers: 'b' }))))).toBe(
      'Invalid Pod: spec.containers must be a list; spec.initContainers must be a list',
    );
  });
});

describe('unparseable images', () => {
  it.each<[unknown, string]>([
    ['', 'container "web" uses "" (image is empty)'],
    [' nginx', 'container "web" uses " nginx" (image has leading or trailing whitespace)'],
    ['registry.example.com/Web', 'container "web" uses "registry.example.com/Web" (repository name "Web" must be lowercase)'],
    ['registry.example.com@evil.io/x', 'container "web" uses "registry.example.com@evil.io/x" (digest "evil.io/x" is not of the form algorithm:hex)'],
    [undefined, 'container "web" has no image'],
    [null, 'container "web" has no image'],
    [42, 'container "web" has an image that is not a string'],
  ])('denies %j with its reason', (image, part) => {
    const request = podRequest(pod({ containers: [{ name: 'web', image }] }));
    expect(denialOf(validate(request))).toBe(`${SENTENCE}: ${part}`);
  });

  it.each(['registry.example.com.evil.io/x', 'docker.io/registry.example.com/x', 'evil.io/registry.example.com/x', 'registry.example.com:5000/x', 'python:3.7'])(
    'denies the look-alike %s',
    (image) => {
      expect(validate(podRequest(pod({ containers: [{ name: 'web', image }] }))).allowed).toBe(false);
    },
  );

  it('allows an upper-case host and a digest', () => {
    const image = `REGISTRY.EXAMPLE.COM/x@sha256:${'ab'.repeat(32)}`;
    expect(validate(podRequest(pod({ containers: [{ name: 'web', image }] })))).toEqual({ allowed: true });
  });
});

describe('operations and subresources', () => {
  const legacy = () => pod({ containers: [{ name: 'web', image: 'nginx:1.27' }] });

  it('on UPDATE, allows a legacy Pod whose images are unchanged (a relabel)', () => {
    const relabelled = { ...legacy(), metadata: { name: 'p', labels: { new: 'label' } } };
    expect(validate(podRequest(relabelled, { operation: 'UPDATE', oldObject: legacy() }))).toEqual({ allowed: true });
  });

  it('on UPDATE, denies only an image the old object did not have', () => {
    const updated = pod({ containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'new', image: 'redis' }] });
    expect(denialOf(validate(podRequest(updated, { operation: 'UPDATE', oldObject: legacy() })))).toBe(
      `${SENTENCE}: container "new" uses "redis"`,
    );
    const retagged = pod({ containers: [{ name: 'web', image: 'nginx:1.28' }] });
    expect(denialOf(validate(podRequest(retagged, { operation: 'UPDATE', oldObject: legacy() })))).toBe(
      `${SENTENCE}: container "web" uses "nginx:1.28"`,
    );
  });

  it('on UPDATE of a Deployment, compares against the old template', () => {
    const [kind, build] = WORKLOADS[3] ?? [];
    if (!kind || !build) throw new Error('no Deployment builder');
    const old = build({ containers: [{ name: 'web', image: 'nginx' }] });
    const scaled = { ...old, spec: { ...(old.spec as Spec), replicas: 3 } };
    expect(validate(podRequest(scaled, { kind, operation: 'UPDATE', oldObject: old }))).toEqual({ allowed: true });
    const changed = build({ containers: [{ name: 'web', image: 'nginx' }, { name: 'x', image: 'busybox' }] });
    expect(denialOf(validate(podRequest(changed, { kind, operation: 'UPDATE', oldObject: old })))).toBe(
      `${SENTENCE}: container "x" uses "busybox"`,
    );
  });

  it('judges every image on UPDATE with no old object', () => {
    expect(validate(podRequest(legacy(), { operation: 'UPDATE', oldObject: null })).allowed).toBe(false);
  });

  it('checks a new ephemeral container added through pods/ephemeralcontainers', () => {
    const withDebug = (image: string) =>
      pod({ containers: [{ name: 'web', image: GOOD }], ephemeralContainers: [{ name: 'debugger', image }] });
    const old = pod({ containers: [{ name: 'web', image: GOOD }] });
    const options = { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: old };
    expect(denialOf(validate(podRequest(withDebug('busybox'), options)))).toBe(`${SENTENCE}: ephemeral container "debugger" uses "busybox"`);
    expect(validate(podRequest(withDebug(`${GOOD}-debug`), options))).toEqual({ allowed: true });
  });

  it.each(['status', 'binding', 'eviction', 'exec', 'log'])('allows the %s subresource', (subResource) => {
    expect(validate(podRequest(legacy(), { operation: 'UPDATE', subResource, oldObject: null }))).toEqual({ allowed: true });
    expect(validate(podRequest(legacy(), { operation: 'CREATE', subResource }))).toEqual({ allowed: true });
  });

  it('allows ephemeralcontainers of a kind other than Pod', () => {
    const [kind, build] = WORKLOADS[3] ?? [];
    const object = build?.({ containers: [{ name: 'web', image: 'nginx' }] }) ?? {};
    expect(validate(podRequest(object, { kind, subResource: 'ephemeralcontainers' }))).toEqual({ allowed: true });
  });

  it.each(['DELETE', 'CONNECT', undefined])('allows %s', (operation) => {
    expect(validate(podRequest(legacy(), { operation, oldObject: legacy() }))).toEqual({ allowed: true });
  });
});

describe('namespaces', () => {
  const bad = () => pod({ containers: [{ name: 'web', image: 'nginx' }] });

  it('leaves exempt namespaces alone', () => {
    expect(validate(podRequest(bad(), { namespace: 'kube-system' }))).toEqual({ allowed: true });
    expect(validate(podRequest(bad(), { namespace: 'ops' }), { EXEMPT_NAMESPACES: 'ops,tools' })).toEqual({ allowed: true });
    expect(validate(podRequest(bad(), { namespace: 'kube-system' }), { EXEMPT_NAMESPACES: 'ops' }).allowed).toBe(false);
  });

  it('uses request.namespace when metadata.namespace is absent, and prefers it', () => {
    expect(validate(podRequest({ ...bad(), metadata: { generateName: 'p-' } }, { namespace: 'kube-system', name: undefined }))).toEqual({ allowed: true });
    expect(validate(podRequest({ ...bad(), metadata: { namespace: 'kube-system' } }, { namespace: 'default' })).allowed).toBe(false);
    expect(validate(podRequest({ ...bad(), metadata: { namespace: 'kube-system' } }, { namespace: undefined }))).toEqual({ allowed: true });
  });
});

describe('VALIDATION_ACTION', () => {
  const request = podRequest(
    pod({ containers: [{ name: 'web', image: 'nginx:1.27' }], initContainers: [{ name: 'setup', image: 'busybox' }] }),
  );
  const message = `${SENTENCE}: container "web" uses "nginx:1.27"; init container "setup" uses "busybox"`;

  it('deny: denies', () => {
    expect(validate(request, { VALIDATION_ACTION: 'deny' })).toEqual({ allowed: false, message });
  });

  it('warn: allows with one warning per offending container', () => {
    const decision = validate(request, { VALIDATION_ACTION: 'warn' });
    expect(decision).toEqual({
      allowed: true,
      warnings: [SENTENCE, 'container "web" uses "nginx:1.27"', 'init container "setup" uses "busybox"'],
      violation: message,
    });
    expect(admissionResponse(request, decision)).toEqual({
      uid: request.uid,
      allowed: true,
      warnings: [SENTENCE, 'container "web" uses "nginx:1.27"', 'init container "setup" uses "busybox"'],
      auditAnnotations: { 'image-policy-violation': message },
    });
  });

  it('warn: keeps each warning under 120 characters and at most 10 of them', () => {
    const containers = Array.from({ length: 25 }, (_, i) => ({ name: `container-${i}`, image: `evil.io/${'x'.repeat(150)}/${i}` }));
    const decision = validate(podRequest(pod({ containers })), { VALIDATION_ACTION: 'warn', ALLOWED_REGISTRIES: `registry.example.com/${'team/'.repeat(25)}x` });
    expect(decision.allowed).toBe(true);
    const warnings = decision.allowed ? (decision.warnings ?? []) : [];
    expect(warnings.length).toBeGreaterThan(1);
    expect(warnings.length).toBeLessThanOrEqual(10);
    for (const warning of warnings) expect(warning.length).toBeLessThan(120);
    expect(warnings.at(-1)).toMatch(/and \d+ more/);
    expect(Number(/and (\d+) more/.exec(warnings.at(-1) ?? '')?.[1]) + warnings.length - 2).toBe(25);
  });

  it('warn: with exactly nine offending containers, shows them all in ten warnings', () => {
    const containers = Array.from({ length: 9 }, (_, i) => ({ name: `c${i}`, image: `nginx:${i}` }));
    const decision = validate(podRequest(pod({ containers })), { VALIDATION_ACTION: 'warn' });
    const warnings = decision.allowed ? (decision.warnings ?? []) : [];
    expect(warnings).toHaveLength(10);
    expect(warnings.at(-1)).toBe('container "c8" uses "nginx:8"');
  });

  it('audit: allows with the violation as an audit annotation and no warnings', () => {
    const decision = validate(request, { VALIDATION_ACTION: 'audit' });
    expect(decision).toEqual({ allowed: true, violation: message });
    expect(admissionResponse(request, decision)).toEqual({
      uid: request.uid,
      allowed: true,
      auditAnnotations: { 'image-policy-violation': message },
    });
  });

  it.each(['warn', 'audit'])('%s: a compliant Pod carries neither warnings nor annotations', (action) => {
    const decision = validate(podRequest(pod({ containers: [{ name: 'web', image: GOOD }] })), { VALIDATION_ACTION: action });
    expect(decision).toEqual({ allowed: true });
  });

  it('deny: the response carries a 403 status with the message', () => {
    expect(admissionResponse(request, validate(request))).toEqual({ uid: request.uid, allowed: false, status: { code: 403, message } });
  });
});

describe('near misses', () => {
  it.each([
    ['registry.example.com:443/team/app', {}, 'registry.example.com:443 is not registry.example.com: the port is part of the registry name'],
    ['registry.example.com/team2/app:1', { ALLOWED_REGISTRIES: 'registry.example.com/team' }, 'team2/app is outside registry.example.com/team'],
    ['Docker.io/evil', { ALLOWED_REGISTRIES: 'docker.io/library' }, 'evil is outside docker.io/library'],
  ])('says why %s misses', (image, env, reason) => {
    const message = denialOf(validate(podRequest(pod({ containers: [{ name: 'web', image }] })), env));
    expect(message).toMatch(new RegExp(`: container "web" uses "${image.replace(/[.]/g, '\\.')}" \\(${reason.replace(/[.]/g, '\\.')}\\)$`));
  });

  it('keeps the bounds with many near misses: about 1 KiB of message, ten warnings under 120 characters', () => {
    const containers = Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, image: `registry.example.com:${5000 + i}/team/app-${i}:1.0` }));
    const request = podRequest(pod({ containers }));
    const message = denialOf(validate(request));
    expect(message.length).toBeLessThanOrEqual(SENTENCE.length + 2 + 1024 + '; and 99 more'.length);
    expect(message).toMatch(/; and \d+ more$/);
    const decision = validate(request, { VALIDATION_ACTION: 'warn' });
    const warnings = decision.allowed ? (decision.warnings ?? []) : [];
    expect(warnings).toHaveLength(10);
    for (const warning of warnings) expect(warning.length).toBeLessThan(120);
  });
});

describe('DISALLOWED_TAGS and REQUIRE_DIGEST', () => {
  const SHA = `sha256:${'ab'.repeat(32)}`;
  const hub = { ALLOWED_REGISTRIES: 'docker.io,registry.example.com' };
  const tags = { ...hub, DISALLOWED_TAGS: 'latest' };
  const digests = { ...hub, REQUIRE_DIGEST: 'true' };
  const single = (image: string) => podRequest(pod({ containers: [{ name: 'web', image }] }));

  it('denies a disallowed tag, with its own sentence when no registry rule fails', () => {
    expect(validate(single('nginx:latest'), tags)).toEqual({
      allowed: false,
      message: 'Invalid image. Images must not use the tag latest: container "web" uses "nginx:latest" (tag "latest" is not allowed)',
    });
    expect(denialOf(validate(single('nginx:dev'), { ...hub, DISALLOWED_TAGS: 'latest,dev' }))).toBe(
      'Invalid image. Images must not use the tags latest, dev: container "web" uses "nginx:dev" (tag "dev" is not allowed)',
    );
  });

  it('counts an image with neither tag nor digest as latest', () => {
    expect(denialOf(validate(single('nginx'), tags))).toBe(
      'Invalid image. Images must not use the tag latest: container "web" uses "nginx" (no tag means "latest", which is not allowed)',
    );
  });

  it('does not judge a digest-pinned image by its tag: the runtime pulls the digest', () => {
    expect(validate(single(`nginx:latest@${SHA}`), tags)).toEqual({ allowed: true });
    expect(validate(single(`nginx@${SHA}`), tags)).toEqual({ allowed: true });
  });

  it('compares tags exactly: Latest is another tag', () => {
    expect(validate(single('nginx:Latest'), tags)).toEqual({ allowed: true });
    expect(validate(single('nginx:1.27'), tags)).toEqual({ allowed: true });
  });

  it('REQUIRE_DIGEST: denies every image without a digest', () => {
    expect(validate(single('nginx:1.27'), digests)).toEqual({
      allowed: false,
      message: 'Invalid image. Images must be pinned by digest: container "web" uses "nginx:1.27" (not pinned by digest)',
    });
    expect(validate(single(`nginx:1.27@${SHA}`), digests)).toEqual({ allowed: true });
    expect(validate(single('nginx:1.27'), { ...hub, REQUIRE_DIGEST: 'false' })).toEqual({ allowed: true });
  });

  it('with both rules, reports the digest: pinning settles both', () => {
    expect(denialOf(validate(single('nginx:latest'), { ...tags, REQUIRE_DIGEST: 'true' }))).toBe(
      'Invalid image. Images must be pinned by digest: container "web" uses "nginx:latest" (not pinned by digest)',
    );
  });

  it('keeps the tutorial sentence when a registry rule fails too, with each reason in its place', () => {
    const request = podRequest(
      pod({
        containers: [
          { name: 'web', image: 'public.example.org/x/web:latest' },
          { name: 'app', image: 'registry.example.com/team/app:latest' },
        ],
        initContainers: [{ name: 'setup', image: 'busybox' }],
        volumes: [{ name: 'model', image: { reference: 'registry.example.com/model' } }],
      }),
    );
    expect(denialOf(validate(request, { DISALLOWED_TAGS: 'latest' }))).toBe(
      `${SENTENCE}: container "web" uses "public.example.org/x/web:latest"; container "app" uses "registry.example.com/team/app:latest" (tag "latest" is not allowed); ` +
        'init container "setup" uses "busybox"; image volume "model" uses "registry.example.com/model" (no tag means "latest", which is not allowed)',
    );
  });

  it('applies the UPDATE rule: only images the old object did not have', () => {
    const old = pod({ containers: [{ name: 'web', image: 'nginx:latest' }] });
    const relabelled = { ...old, metadata: { name: 'p', labels: { a: 'b' } } };
    expect(validate(podRequest(relabelled, { operation: 'UPDATE', oldObject: old }), tags)).toEqual({ allowed: true });
    const added = pod({ containers: [{ name: 'web', image: 'nginx:latest' }, { name: 'new', image: 'redis' }] });
    expect(denialOf(validate(podRequest(added, { operation: 'UPDATE', oldObject: old }), tags))).toBe(
      'Invalid image. Images must not use the tag latest: container "new" uses "redis" (no tag means "latest", which is not allowed)',
    );
  });

  it('takes the same warn and audit actions', () => {
    const message = 'Invalid image. Images must be pinned by digest: container "web" uses "nginx:1.27" (not pinned by digest)';
    expect(validate(single('nginx:1.27'), { ...digests, VALIDATION_ACTION: 'warn' })).toEqual({
      allowed: true,
      warnings: ['Invalid image. Images must be pinned by digest', 'container "web" uses "nginx:1.27" (not pinned by digest)'],
      violation: message,
    });
    expect(validate(single('nginx:1.27'), { ...digests, VALIDATION_ACTION: 'audit' })).toEqual({ allowed: true, violation: message });
  });

  it.each(WORKLOADS)('judges the pod template of %j too', (kind, build) => {
    const bad = build({ containers: [{ name: 'web', image: 'nginx:latest' }] });
    expect(denialOf(validate(podRequest(bad, { kind }), tags))).toBe(
      'Invalid image. Images must not use the tag latest: container "web" uses "nginx:latest" (tag "latest" is not allowed)',
    );
  });
});

describe('IMAGE_MIRRORS', () => {
  const MIRROR = 'mirror.example.com';
  const intoAllowed = { IMAGE_MIRRORS: `docker.io=registry.example.com/docker-hub` };
  const intoOther = { IMAGE_MIRRORS: `docker.io=${MIRROR}/docker-hub` };
  const deployments = WORKLOADS.filter(([kind]) => kind.kind !== 'Pod');

  it.each(deployments)('judges the template of %j as the mirrors will rewrite it: allowed when docker.io is mirrored into an allowed registry', (kind, build) => {
    const object = build({ containers: [{ name: 'web', image: 'nginx:1.27' }], initContainers: [{ name: 'setup', image: 'busybox' }] });
    expect(validate(podRequest(object, { kind }), intoAllowed)).toEqual({ allowed: true });
  });

  it.each(deployments)('denies the template of %j mirrored into a registry that is not allowed, naming the image as written', (kind, build) => {
    const object = build({ containers: [{ name: 'web', image: 'nginx:1.27' }] });
    expect(denialOf(validate(podRequest(object, { kind }), intoOther))).toBe(
      `${SENTENCE}: container "web" uses "nginx:1.27" (mirrored to ${MIRROR}/docker-hub/library/nginx:1.27)`,
    );
    expect(denialOf(validate(podRequest(object, { kind }), {}))).toBe(`${SENTENCE}: container "web" uses "nginx:1.27"`);
  });

  it('judges a Pod as it arrives: mutate has rewritten it already', () => {
    expect(denialOf(validate(podRequest(pod({ containers: [{ name: 'web', image: 'nginx:1.27' }] })), intoAllowed))).toBe(
      `${SENTENCE}: container "web" uses "nginx:1.27"`,
    );
    const mirrored = pod({ containers: [{ name: 'web', image: 'registry.example.com/docker-hub/library/nginx:1.27' }] });
    expect(validate(podRequest(mirrored), intoAllowed)).toEqual({ allowed: true });
  });

  it('judges tags after mirroring, which keeps them', () => {
    const [kind, build] = deployments.find(([gvk]) => gvk.kind === 'Deployment') ?? [];
    if (!kind || !build) throw new Error('no Deployment builder');
    const object = build({ containers: [{ name: 'web', image: 'nginx:latest' }] });
    expect(denialOf(validate(podRequest(object, { kind }), { ...intoAllowed, DISALLOWED_TAGS: 'latest' }))).toBe(
      'Invalid image. Images must not use the tag latest: container "web" uses "nginx:latest" (tag "latest" is not allowed)',
    );
  });

  it('adds the near miss of the mirror target to the message', () => {
    const [kind, build] = deployments.find(([gvk]) => gvk.kind === 'Deployment') ?? [];
    if (!kind || !build) throw new Error('no Deployment builder');
    const object = build({ containers: [{ name: 'web', image: 'nginx:1.27' }] });
    expect(denialOf(validate(podRequest(object, { kind }), { IMAGE_MIRRORS: 'docker.io=registry.example.com:443/hub' }))).toBe(
      `${SENTENCE}: container "web" uses "nginx:1.27" (mirrored to registry.example.com:443/hub/library/nginx:1.27, and ` +
        'registry.example.com:443 is not registry.example.com: the port is part of the registry name)',
    );
  });
});

describe('enforce mode on a Pod UPDATE (as upstream AlwaysPullImages judges it)', () => {
  const ENFORCE = { IMAGE_PULL_POLICY_MODE: 'enforce' };
  const NEW = 'registry.example.com/team/web:2.0';
  const PULL_SENTENCE =
    "Invalid Pod update. In enforce mode a container that gets a new image must have imagePullPolicy Always, and a running Pod's pull policy cannot change; recreate the Pod with the new image instead";
  const running = (policy?: string) => pod({ containers: [{ name: 'web', image: GOOD, ...(policy ? { imagePullPolicy: policy } : {}) }] });
  const setImage = (old: Record<string, unknown>, image: string) => {
    const updated = structuredClone(old) as { spec: { containers: Record<string, unknown>[] } };
    updated.spec.containers[0]!.image = image;
    return updated;
  };
  const update = (old: Record<string, unknown>, object: Record<string, unknown>, overrides: Partial<AdmissionRequest> = {}) =>
    podRequest(object, { operation: 'UPDATE', oldObject: old, ...overrides });

  it('refuses a new image (kubectl set image pod/...) in a container without Always, saying so', () => {
    const old = running('IfNotPresent');
    expect(denialOf(validate(update(old, setImage(old, NEW)), ENFORCE))).toBe(`${PULL_SENTENCE}: container "web" (imagePullPolicy "IfNotPresent")`);
    const unset = running();
    expect(denialOf(validate(update(unset, setImage(unset, NEW)), ENFORCE))).toBe(`${PULL_SENTENCE}: container "web" (imagePullPolicy "unset")`);
  });

  it('refuses it in warn and audit mode too: enforce mode is not a report', () => {
    const old = running('IfNotPresent');
    for (const action of ['warn', 'audit']) {
      expect(validate(update(old, setImage(old, NEW)), { ...ENFORCE, VALIDATION_ACTION: action }).allowed, action).toBe(false);
    }
  });

  it('allows a new image in a container with Always, an update that brings no new image, and any update in default mode', () => {
    const always = running('Always');
    expect(validate(update(always, setImage(always, NEW)), ENFORCE)).toEqual({ allowed: true });
    const old = running('IfNotPresent');
    const relabelled = { ...old, metadata: { name: 'p', labels: { tier: 'web' } } };
    expect(validate(update(old, relabelled), ENFORCE)).toEqual({ allowed: true });
    // An image the Pod already had, moved to another container, is no new image.
    const two = pod({ containers: [{ name: 'a', image: GOOD, imagePullPolicy: 'IfNotPresent' }, { name: 'b', image: NEW, imagePullPolicy: 'IfNotPresent' }] });
    const swapped = pod({ containers: [{ name: 'a', image: NEW, imagePullPolicy: 'IfNotPresent' }, { name: 'b', image: GOOD, imagePullPolicy: 'IfNotPresent' }] });
    expect(validate(update(two, swapped), ENFORCE)).toEqual({ allowed: true });
    expect(validate(update(old, setImage(old, NEW)))).toEqual({ allowed: true });
  });

  it('leaves creates, other kinds, subresources and exempt namespaces to the other rules', () => {
    const old = running('IfNotPresent');
    expect(validate(podRequest(setImage(old, NEW)), ENFORCE)).toEqual({ allowed: true });
    expect(validate(update(old, setImage(old, NEW), { subResource: 'status' }), ENFORCE)).toEqual({ allowed: true });
    expect(validate(update(old, setImage(old, NEW), { namespace: 'kube-system' }), ENFORCE)).toEqual({ allowed: true });
    const [kind, build] = WORKLOADS.find(([gvk]) => gvk.kind === 'Deployment')!;
    const spec = { containers: [{ name: 'web', image: GOOD, imagePullPolicy: 'IfNotPresent' }] };
    const changed = { containers: [{ name: 'web', image: NEW, imagePullPolicy: 'IfNotPresent' }] };
    expect(validate(podRequest(build(changed), { kind, operation: 'UPDATE', oldObject: build(spec) }), ENFORCE)).toEqual({ allowed: true });
  });

  it('names five containers at most, each name cut to a DNS label\'s length, and counts the rest', () => {
    const many = (image: string) =>
      pod({ containers: Array.from({ length: 8 }, (_, index) => ({ name: `${'c'.repeat(100)}${index}`, image: `${image}-${index}`, imagePullPolicy: 'Never' })) });
    const message = denialOf(validate(update(many(GOOD), many(NEW)), ENFORCE));
    expect(message.match(/container "c{63}"/g)).toHaveLength(5);
    expect(message.endsWith('; and 3 more')).toBe(true);
    expect(message.length).toBeLessThan(1024);
  });
});
