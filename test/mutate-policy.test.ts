/** The mutate policy as a pure function of request and configuration (no HTTP). */
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../lib/admission/admission-review';
import { loadConfig } from '../lib/policies/fleet/config';
import { applyChecked } from '../lib/policies/json-patch';
import { mutatePod } from '../lib/policies/mutate';
import { podRequest } from './support/reviews';

type Env = Record<string, string>;

function pod(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'p' }): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

/** The patch mutate returns (empty for none), checked to apply to the request's object. */
function patchFor(request: AdmissionRequest, env: Env = {}) {
  const decision = mutatePod(request, loadConfig(env));
  expect(decision.allowed).toBe(true);
  if (!decision.allowed) return [];
  if (decision.patch) {
    expect(decision.patch.length).toBeGreaterThan(0);
    applyChecked(request.object as Record<string, unknown>, decision.patch);
  }
  return decision.patch ?? [];
}

/** The object after mutate's patch. */
function mutated(request: AdmissionRequest, env: Env = {}): Record<string, unknown> {
  return applyChecked(request.object as Record<string, unknown>, patchFor(request, env));
}

const SECRET = { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] };

describe('mutate with the default configuration', () => {
  it('fills imagePullPolicy in every container list and adds the pull secret', () => {
    const request = podRequest(
      pod({
        containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y', imagePullPolicy: 'IfNotPresent' }],
        initContainers: [{ name: 'i', image: 'z' }],
      }),
    );
    expect(patchFor(request)).toEqual([
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/initContainers/0/imagePullPolicy', value: 'Always' },
      SECRET,
    ]);
  });

  it('never overrides a pull policy the user set', () => {
    const request = podRequest(
      pod({
        containers: [
          { name: 'a', image: 'x', imagePullPolicy: 'Never' },
          { name: 'b', image: 'y', imagePullPolicy: 'IfNotPresent' },
        ],
        imagePullSecrets: [{ name: 'registry-credentials' }],
      }),
    );
    expect(patchFor(request)).toEqual([]);
    expect(mutatePod(request, loadConfig({}))).toEqual({ allowed: true });
  });

  it.each([
    ['empty', ''],
    ['null', null],
  ])('counts an %s imagePullPolicy as unset', (_, value) => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'x', imagePullPolicy: value }], imagePullSecrets: [] }));
    expect(patchFor(request)).toContainEqual({ op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' });
    expect((mutated(request).spec as { containers: unknown[] }).containers).toEqual([
      { name: 'a', image: 'x', imagePullPolicy: 'Always' },
    ]);
  });

  it('uses DEFAULT_IMAGE_PULL_POLICY', () => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'x' }] }));
    expect(patchFor(request, { DEFAULT_IMAGE_PULL_POLICY: 'IfNotPresent' })[0]).toEqual({
      op: 'add',
      path: '/spec/containers/0/imagePullPolicy',
      value: 'IfNotPresent',
    });
  });

  it('leaves the pull policy alone when DEFAULT_IMAGE_PULL_POLICY is empty', () => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'x' }] }));
    expect(patchFor(request, { DEFAULT_IMAGE_PULL_POLICY: '' })).toEqual([SECRET]);
  });

  it('appends pull secrets without adding one twice', () => {
    const request = podRequest(pod({ containers: [], imagePullSecrets: [{ name: 'mine' }, { name: 'b' }] }));
    expect(patchFor(request, { IMAGE_PULL_SECRETS: 'a,b,a' })).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'a' } },
    ]);
    expect((mutated(request, { IMAGE_PULL_SECRETS: 'a,b,a' }).spec as { imagePullSecrets: unknown }).imagePullSecrets).toEqual([
      { name: 'mine' },
      { name: 'b' },
      { name: 'a' },
    ]);
  });

  it('creates imagePullSecrets where it is null', () => {
    expect(patchFor(podRequest(pod({ containers: [], imagePullSecrets: null })))).toEqual([SECRET]);
  });

  it('adds no pull secrets when IMAGE_PULL_SECRETS is empty', () => {
    expect(patchFor(podRequest(pod({ containers: [{ name: 'a', image: 'x', imagePullPolicy: 'Always' }] })), { IMAGE_PULL_SECRETS: '' })).toEqual([]);
  });

  it('is idempotent: a second pass over the patched Pod adds nothing', () => {
    const request = podRequest(
      pod({ containers: [{ name: 'a', image: 'x', imagePullPolicy: '' }, { name: 'b', image: 'y' }], initContainers: [{ name: 'i', image: 'z' }] }),
    );
    const once = mutated(request);
    expect(patchFor({ ...request, object: once })).toEqual([]);
  });
});

describe('which Pods mutate touches', () => {
  const plain = () => pod({ containers: [{ name: 'a', image: 'x' }] });

  it.each(['UPDATE', 'DELETE', 'CONNECT', undefined])('leaves a Pod alone on %s', (operation) => {
    const request = podRequest(plain(), { operation, oldObject: plain() });
    expect(mutatePod(request, loadConfig({}))).toEqual({ allowed: true });
  });

  it('leaves a CREATE of a subresource alone', () => {
    const request = podRequest(plain(), { subResource: 'binding' });
    expect(mutatePod(request, loadConfig({}))).toEqual({ allowed: true });
  });

  it.each([
    [{ group: 'apps', version: 'v1', kind: 'Deployment' }],
    [{ group: '', version: 'v1', kind: 'PodTemplate' }],
    [{ group: 'example.com', version: 'v1', kind: 'Pod' }],
    [{ group: '', version: 'v1', kind: 'ConfigMap' }],
  ])('leaves other kinds alone: %j', (kind) => {
    const request = podRequest({ ...plain(), kind: kind.kind }, { kind });
    expect(mutatePod(request, loadConfig({}))).toEqual({ allowed: true });
  });

  it('takes the kind from the object when the request has none', () => {
    const request = podRequest(plain(), { kind: undefined });
    expect(patchFor(request).length).toBe(2);
    const deployment = podRequest({ apiVersion: 'apps/v1', kind: 'Deployment', spec: { containers: [{ image: 'x' }] } }, { kind: undefined });
    expect(patchFor(deployment)).toEqual([]);
  });

  it('allows a CREATE without an object or spec untouched', () => {
    expect(patchFor(podRequest(null as never))).toEqual([]);
    expect(patchFor(podRequest({ apiVersion: 'v1', kind: 'Pod', metadata: {} }))).toEqual([]);
  });
});

describe('namespaces', () => {
  const plain = (metadata: Record<string, unknown> = { name: 'p' }) =>
    pod({ containers: [{ name: 'a', image: 'x', imagePullPolicy: 'IfNotPresent' }] }, metadata);

  it('adds secrets only in the listed namespaces', () => {
    const env = { IMAGE_PULL_SECRET_NAMESPACES: 'default,team-a' };
    expect(patchFor(podRequest(plain(), { namespace: 'team-a' }), env)).toEqual([SECRET]);
    expect(patchFor(podRequest(plain(), { namespace: 'default' }), env)).toEqual([SECRET]);
    expect(patchFor(podRequest(plain(), { namespace: 'team-b' }), env)).toEqual([]);
  });

  it('adds secrets in every namespace with *', () => {
    expect(patchFor(podRequest(plain(), { namespace: 'anything' }), { IMAGE_PULL_SECRET_NAMESPACES: '*' })).toEqual([SECRET]);
  });

  it('still fills the pull policy outside the secret namespaces', () => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'x' }] }), { namespace: 'elsewhere' });
    expect(patchFor(request)).toEqual([{ op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' }]);
  });

  it('uses request.namespace when metadata.namespace is absent (a new Pod, generateName)', () => {
    const request = podRequest(plain({ generateName: 'web-' }), { namespace: 'default', name: undefined });
    expect(patchFor(request)).toEqual([SECRET]);
  });

  it('prefers request.namespace over metadata.namespace', () => {
    expect(patchFor(podRequest(plain({ name: 'p', namespace: 'other' }), { namespace: 'default' }))).toEqual([SECRET]);
    expect(patchFor(podRequest(plain({ name: 'p', namespace: 'default' }), { namespace: 'other' }))).toEqual([]);
  });

  it('falls back to metadata.namespace when the request has none', () => {
    expect(patchFor(podRequest(plain({ name: 'p', namespace: 'default' }), { namespace: undefined }))).toEqual([SECRET]);
    expect(patchFor(podRequest(plain({ name: 'p' }), { namespace: undefined }))).toEqual([]);
  });

  it('leaves exempt namespaces alone entirely', () => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'x' }] }), { namespace: 'kube-system' });
    const all = { IMAGE_PULL_SECRET_NAMESPACES: '*' };
    expect(patchFor(request, all)).toEqual([]);
    expect(patchFor(request, { ...all, IMAGE_PULL_POLICY_MODE: 'enforce' })).toEqual([]);
    expect(patchFor(podRequest(pod({ containers: [{ name: 'a', image: 'x' }] }), { namespace: 'ops' }), { ...all, EXEMPT_NAMESPACES: 'ops' })).toEqual([]);
    expect(patchFor(request, { ...all, EXEMPT_NAMESPACES: '' }).length).toBe(2);
  });
});

describe('IMAGE_PULL_POLICY_MODE=enforce', () => {
  const enforce = { IMAGE_PULL_POLICY_MODE: 'enforce' };

  it('gives every container of a new Pod Always, overriding what was set', () => {
    const request = podRequest(
      pod({
        containers: [
          { name: 'a', image: 'x', imagePullPolicy: 'IfNotPresent' },
          { name: 'b', image: 'y', imagePullPolicy: 'Always' },
          { name: 'c', image: 'z' },
        ],
        initContainers: [{ name: 'i', image: 'w', imagePullPolicy: 'Never' }],
        imagePullSecrets: [{ name: 'registry-credentials' }],
      }),
    );
    expect(patchFor(request, enforce)).toEqual([
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/containers/2/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/initContainers/0/imagePullPolicy', value: 'Always' },
    ]);
    const spec = mutated(request, enforce).spec as { containers: Array<{ imagePullPolicy: string }>; initContainers: Array<{ imagePullPolicy: string }> };
    expect([...spec.containers, ...spec.initContainers].map((c) => c.imagePullPolicy)).toEqual(['Always', 'Always', 'Always', 'Always']);
  });

  it('wins over DEFAULT_IMAGE_PULL_POLICY, even an empty one', () => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'x' }], imagePullSecrets: [{ name: 'registry-credentials' }] }));
    for (const policy of ['IfNotPresent', 'Never', '']) {
      expect(patchFor(request, { ...enforce, DEFAULT_IMAGE_PULL_POLICY: policy })).toEqual([
        { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      ]);
    }
  });

  it('gives image volumes pullPolicy Always too, and leaves them alone in default mode', () => {
    const request = podRequest(
      pod({
        containers: [{ name: 'a', image: 'x', imagePullPolicy: 'Always' }],
        imagePullSecrets: [{ name: 'registry-credentials' }],
        volumes: [
          { name: 'model', image: { reference: 'registry.example.com/model:1', pullPolicy: 'IfNotPresent' } },
          { name: 'cache', emptyDir: {} },
          { name: 'data', image: { reference: 'registry.example.com/data:1' } },
        ],
      }),
    );
    expect(patchFor(request, enforce)).toEqual([
      { op: 'add', path: '/spec/volumes/0/image/pullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/volumes/2/image/pullPolicy', value: 'Always' },
    ]);
    expect(patchFor({ ...request, object: mutated(request, enforce) }, enforce)).toEqual([]);
    expect(patchFor(request)).toEqual([]);
  });

  it('is idempotent', () => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'x', imagePullPolicy: 'Never' }] }));
    expect(patchFor({ ...request, object: mutated(request, enforce) }, enforce)).toEqual([]);
  });

  describe('UPDATE of pods/ephemeralcontainers', () => {
    const running = (ephemeral: unknown[]) =>
      pod({ containers: [{ name: 'app', image: 'x', imagePullPolicy: 'IfNotPresent' }], ephemeralContainers: ephemeral });
    const debugRequest = () =>
      podRequest(
        running([
          { name: 'debug-1', image: 'busybox', imagePullPolicy: 'IfNotPresent' },
          { name: 'debug-2', image: 'busybox', imagePullPolicy: 'IfNotPresent' },
          { name: 'debug-3', image: 'busybox' },
        ]),
        {
          operation: 'UPDATE',
          subResource: 'ephemeralcontainers',
          oldObject: running([{ name: 'debug-1', image: 'busybox', imagePullPolicy: 'IfNotPresent' }]),
        },
      );

    it('gives only the newly added ephemeral containers Always', () => {
      expect(patchFor(debugRequest(), enforce)).toEqual([
        { op: 'add', path: '/spec/ephemeralContainers/1/imagePullPolicy', value: 'Always' },
        { op: 'add', path: '/spec/ephemeralContainers/2/imagePullPolicy', value: 'Always' },
      ]);
    });

    it('treats every ephemeral container as new when the old Pod had none', () => {
      const request = { ...debugRequest(), oldObject: pod({ containers: [{ name: 'app', image: 'x' }] }) };
      expect(patchFor(request, enforce).map((operation) => operation.path)).toEqual([
        '/spec/ephemeralContainers/0/imagePullPolicy',
        '/spec/ephemeralContainers/1/imagePullPolicy',
        '/spec/ephemeralContainers/2/imagePullPolicy',
      ]);
    });

    it('is left alone in the default mode', () => {
      expect(patchFor(debugRequest())).toEqual([]);
    });

    it('leaves other UPDATEs alone even in enforce mode', () => {
      expect(patchFor({ ...debugRequest(), subResource: undefined }, enforce)).toEqual([]);
      expect(patchFor({ ...debugRequest(), subResource: 'status' }, enforce)).toEqual([]);
    });
  });
});

describe('IMAGE_MIRRORS', () => {
  const ECR = '111122223333.dkr.ecr.eu-west-1.amazonaws.com';
  const SHA256 = 'ab'.repeat(32);
  const mirrors = { IMAGE_MIRRORS: `docker.io=${ECR}/docker-hub,public.example.org=${ECR}/public`, IMAGE_PULL_SECRETS: '', DEFAULT_IMAGE_PULL_POLICY: '' };
  const imagesOf = (object: Record<string, unknown>) => {
    const spec = object.spec as Record<string, Array<Record<string, any>>>;
    return {
      containers: (spec.containers ?? []).map((c) => c.image),
      initContainers: (spec.initContainers ?? []).map((c) => c.image),
      ephemeralContainers: (spec.ephemeralContainers ?? []).map((c) => c.image),
      volumes: (spec.volumes ?? []).map((v) => v.image?.reference),
    };
  };

  it('rewrites every container, init container, ephemeral container and image volume of a new Pod, keeping tag and digest', () => {
    const request = podRequest(
      pod({
        containers: [
          { name: 'web', image: 'nginx:1.27' },
          { name: 'ours', image: 'registry.example.com/team/app:1' },
          { name: 'pinned', image: `public.example.org/team/tool:2@sha256:${SHA256}` },
        ],
        initContainers: [{ name: 'setup', image: 'busybox' }],
        ephemeralContainers: [{ name: 'debug', image: `busybox@sha256:${SHA256}` }],
        volumes: [
          { name: 'model', image: { reference: 'public.example.org/models/m:v1' } },
          { name: 'cache', emptyDir: {} },
        ],
      }),
    );
    expect(patchFor(request, mirrors)).toEqual([
      { op: 'add', path: '/spec/containers/0/image', value: `${ECR}/docker-hub/library/nginx:1.27` },
      { op: 'add', path: '/spec/containers/2/image', value: `${ECR}/public/team/tool:2@sha256:${SHA256}` },
      { op: 'add', path: '/spec/initContainers/0/image', value: `${ECR}/docker-hub/library/busybox` },
      { op: 'add', path: '/spec/ephemeralContainers/0/image', value: `${ECR}/docker-hub/library/busybox@sha256:${SHA256}` },
      { op: 'add', path: '/spec/volumes/0/image/reference', value: `${ECR}/public/models/m:v1` },
    ]);
    expect(imagesOf(mutated(request, mirrors))).toEqual({
      containers: [`${ECR}/docker-hub/library/nginx:1.27`, 'registry.example.com/team/app:1', `${ECR}/public/team/tool:2@sha256:${SHA256}`],
      initContainers: [`${ECR}/docker-hub/library/busybox`],
      ephemeralContainers: [`${ECR}/docker-hub/library/busybox@sha256:${SHA256}`],
      volumes: [`${ECR}/public/models/m:v1`, undefined],
    });
  });

  it('is idempotent: a second pass over the mirrored Pod changes nothing', () => {
    const request = podRequest(pod({ containers: [{ name: 'web', image: 'nginx:1.27' }], volumes: [{ name: 'm', image: { reference: 'public.example.org/m:1' } }] }));
    const env = { ...mirrors, IMAGE_PULL_SECRETS: 'registry-credentials', DEFAULT_IMAGE_PULL_POLICY: 'Always' };
    const once = mutated(request, env);
    expect(patchFor({ ...request, object: once }, env)).toEqual([]);
  });

  it('leaves unparseable and non-string images alone, for validate to deny', () => {
    const request = podRequest(pod({ containers: [{ name: 'a', image: 'Nginx' }, { name: 'b', image: '' }, { name: 'c' }, { name: 'd', image: 7 }] }));
    expect(patchFor(request, mirrors)).toEqual([]);
  });

  it('applies together with the pull policy and the pull secret', () => {
    const request = podRequest(pod({ containers: [{ name: 'web', image: 'nginx:1.27' }] }));
    expect(patchFor(request, { IMAGE_MIRRORS: `docker.io=${ECR}/docker-hub` })).toEqual([
      { op: 'add', path: '/spec/containers/0/image', value: `${ECR}/docker-hub/library/nginx:1.27` },
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      SECRET,
    ]);
  });

  it('never rewrites a controller\'s pod template, nor a Pod on UPDATE or in an exempt namespace', () => {
    const template = { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } };
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template } };
    expect(patchFor(podRequest(deployment, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), mirrors)).toEqual([]);
    const podTemplate = { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 't' }, template };
    expect(patchFor(podRequest(podTemplate, { kind: { group: '', version: 'v1', kind: 'PodTemplate' } }), mirrors)).toEqual([]);
    const plain = pod({ containers: [{ name: 'web', image: 'nginx:1.27' }] });
    expect(patchFor(podRequest(plain, { operation: 'UPDATE', oldObject: plain }), mirrors)).toEqual([]);
    expect(patchFor(podRequest(plain, { namespace: 'kube-system' }), mirrors)).toEqual([]);
  });

  describe('UPDATE of pods/ephemeralcontainers', () => {
    const running = (ephemeral: unknown[]) =>
      pod({ containers: [{ name: 'app', image: `${ECR}/docker-hub/library/nginx:1.27`, imagePullPolicy: 'IfNotPresent' }], ephemeralContainers: ephemeral });
    const debugRequest = () =>
      podRequest(
        running([
          { name: 'debug-1', image: 'busybox', imagePullPolicy: 'IfNotPresent' },
          { name: 'debug-2', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent' },
        ]),
        { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: running([{ name: 'debug-1', image: 'busybox', imagePullPolicy: 'IfNotPresent' }]) },
      );

    it('rewrites only the newly added ephemeral containers, in default mode too', () => {
      expect(patchFor(debugRequest(), mirrors)).toEqual([
        { op: 'add', path: '/spec/ephemeralContainers/1/image', value: `${ECR}/docker-hub/library/busybox:1.36` },
      ]);
    });

    it('with enforce, also gives them Always', () => {
      expect(patchFor(debugRequest(), { ...mirrors, IMAGE_PULL_POLICY_MODE: 'enforce' })).toEqual([
        { op: 'add', path: '/spec/ephemeralContainers/1/image', value: `${ECR}/docker-hub/library/busybox:1.36` },
        { op: 'add', path: '/spec/ephemeralContainers/1/imagePullPolicy', value: 'Always' },
      ]);
    });
  });
});
