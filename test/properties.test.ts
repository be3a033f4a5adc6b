/**
 * Property tests (fast-check): the mutate patch applies, never overrides the
 * user and is idempotent; image parsing never throws and its registry is the
 * only host an allow-list rule can match; mirror rewriting is idempotent and
 * lands in its target, and validate judges a controller as the Pods it makes.
 */
import fc from 'fast-check';
import { type Operation, applyPatch, validate as validatePatch } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../lib/admission/admission-review';
import { type Config, loadConfig } from '../lib/policies/fleet/config';
import { type RegistryRule, isAllowedImage, parseImageReference, parseRegistryRule } from '../lib/policies/images/image-reference';
import { parseMirrorRules } from '../lib/policies/images/image-mirrors';
import { mutatePod } from '../lib/policies/mutate';
import { validateImages } from '../lib/policies/validate';
import { admissionResponse } from '../lib/transport/admission-response';
import { podRequest } from './support/reviews';

const RUNS = { numRuns: 200 };

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------
// Generated Pods and configurations

const NAMESPACES = ['default', 'team-a', 'kube-system', 'other'];
const SECRET_NAMES = ['registry-credentials', 'a', 'b', 'ecr-pull'];

const containerArb = fc.record(
  {
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
    image: fc.constantFrom('nginx', 'python:3.7', 'registry.example.com/team/web:1', 'busybox@sha256:' + 'ab'.repeat(32), ''),
    imagePullPolicy: fc.constantFrom<unknown>('Always', 'IfNotPresent', 'Never', '', null),
    ports: fc.array(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 2 }),
  },
  { requiredKeys: ['name', 'image'] },
);

const containerListArb = (min: number) => fc.array(containerArb, { minLength: min, maxLength: 4 });

const pullSecretsArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.array(fc.record({ name: fc.constantFrom(...SECRET_NAMES) }), { maxLength: 4 }),
);

const podArb = fc
  .record({
    containers: containerListArb(1),
    initContainers: fc.option(containerListArb(0), { nil: undefined }),
    imagePullSecrets: pullSecretsArb,
    metadataNamespace: fc.option(fc.constantFrom(...NAMESPACES), { nil: undefined }),
    requestNamespace: fc.option(fc.constantFrom(...NAMESPACES), { nil: undefined }),
    withName: fc.boolean(),
  })
  .map(({ containers, initContainers, imagePullSecrets, metadataNamespace, requestNamespace, withName }) => {
    const spec: Json = { containers };
    if (initContainers !== undefined) spec.initContainers = initContainers;
    if (imagePullSecrets !== undefined) spec.imagePullSecrets = imagePullSecrets;
    const metadata: Json = withName ? { name: 'p', labels: { app: 'x' } } : { generateName: 'p-' };
    if (metadataNamespace !== undefined) metadata.namespace = metadataNamespace;
    const object = { apiVersion: 'v1', kind: 'Pod', metadata, spec };
    return podRequest(object, { namespace: requestNamespace, name: withName ? 'p' : undefined });
  });

const envArb = (mode: 'default' | 'enforce') =>
  fc
    .record({
      IMAGE_PULL_SECRETS: fc.constantFrom('registry-credentials', 'a,b', 'a,registry-credentials,a', ''),
      IMAGE_PULL_SECRET_NAMESPACES: fc.constantFrom('default', '*', 'team-a,default', 'other'),
      DEFAULT_IMAGE_PULL_POLICY: fc.constantFrom('Always', 'IfNotPresent', 'Never', ''),
      EXEMPT_NAMESPACES: fc.constantFrom('kube-system', ''),
    })
    .map((env) => loadConfig({ ...env, IMAGE_PULL_POLICY_MODE: mode }));

/** The patch mutate returns for `request`, or an empty one. */
function patchOf(request: AdmissionRequest, config: Config): Operation[] {
  const decision = mutatePod(request, config);
  if (!decision.allowed) throw new Error('mutate denied a request');
  return decision.patch ?? [];
}

/** Applies like the API server would: validating, on a copy. */
function applied(object: Json, patch: Operation[]): Json {
  expect(validatePatch(patch, object)).toBeUndefined();
  return applyPatch(structuredClone(object), structuredClone(patch), true, false).newDocument;
}

const isUnset = (value: unknown): boolean => value === undefined || value === null || value === '';

/**
 * Every value of `original` is still in `patched`; arrays may only grow at the end. Unset values
 * may be filled: null anywhere (Kubernetes reads a null field as absent) and an empty pull policy.
 */
function expectPreserved(original: unknown, patched: unknown, path = ''): void {
  if (Array.isArray(original)) {
    expect(Array.isArray(patched), path).toBe(true);
    const list = patched as unknown[];
    expect(list.length, path).toBeGreaterThanOrEqual(original.length);
    original.forEach((item, index) => expectPreserved(item, list[index], `${path}/${index}`));
  } else if (typeof original === 'object' && original !== null) {
    expect(typeof patched === 'object' && patched !== null && !Array.isArray(patched), path).toBe(true);
    for (const [key, value] of Object.entries(original)) {
      if (value === null || (key === 'imagePullPolicy' && isUnset(value))) continue;
      expectPreserved(value, (patched as Json)[key], `${path}/${key}`);
    }
  } else {
    expect(patched, path).toBe(original);
  }
}

const ALLOWED_PATH = /^\/spec\/(?:(?:containers|initContainers)\/\d+\/imagePullPolicy|imagePullSecrets(?:\/-)?)$/;

describe('mutate on any generated Pod', () => {
  it('(default mode) gives a patch that applies, never changes a set value, and is idempotent', () => {
    fc.assert(
      fc.property(podArb, envArb('default'), (request, config) => {
        const object = request.object as Json;
        const before = structuredClone(object);
        const patch = patchOf(request, config);
        expect(object, 'the policy must not mutate the request').toEqual(before);
        for (const operation of patch) {
          expect(operation.op).toBe('add');
          expect(operation.path).toMatch(ALLOWED_PATH);
        }
        const after = applied(object, patch);
        expectPreserved(object, after);

        // The response builder accepts the patch, and its encoded form is the same patch.
        const response = admissionResponse(request, mutatePod(request, config));
        if (patch.length > 0) expect(JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8'))).toEqual(patch);
        else expect(response.patch).toBeUndefined();

        expect(patchOf({ ...request, object: after }, config)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('(default mode) fills every unset pull policy and lists every configured secret once, where it applies', () => {
    fc.assert(
      fc.property(podArb, envArb('default'), (request, config) => {
        const after = applied(request.object as Json, patchOf(request, config));
        const namespace = request.namespace ?? ((request.object as Json).metadata as Json).namespace;
        const exempt = typeof namespace === 'string' && config.exemptNamespaces.has(namespace);
        const spec = after.spec as { containers: Json[]; initContainers?: Json[]; imagePullSecrets?: unknown };
        if (!exempt && config.defaultImagePullPolicy) {
          for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) expect(isUnset(container.imagePullPolicy)).toBe(false);
        }
        const selected = config.imagePullSecretNamespaces.all || (typeof namespace === 'string' && config.imagePullSecretNamespaces.names.has(namespace));
        if (!exempt && selected && config.imagePullSecrets.length > 0) {
          const names = (spec.imagePullSecrets as Array<{ name: string }>).map((secret) => secret.name);
          for (const { name } of config.imagePullSecrets) expect(names).toContain(name);
          const added = names.slice(((request.object as Json).spec as { imagePullSecrets?: unknown[] }).imagePullSecrets?.length ?? 0);
          expect(new Set(added).size).toBe(added.length);
        }
      }),
      RUNS,
    );
  });

  it('(enforce mode) gives a patch that applies, sets every container to Always, and is idempotent', () => {
    fc.assert(
      fc.property(podArb, envArb('enforce'), (request, config) => {
        const object = request.object as Json;
        const patch = patchOf(request, config);
        const after = applied(object, patch);
        const namespace = request.namespace ?? (object.metadata as Json).namespace;
        if (!(typeof namespace === 'string' && config.exemptNamespaces.has(namespace))) {
          const spec = after.spec as { containers: Json[]; initContainers?: Json[] };
          for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) expect(container.imagePullPolicy).toBe('Always');
        }
        expect(patchOf({ ...request, object: after }, config)).toEqual([]);
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------
// Image references

/** Fragments that make up look-alike and malformed references far more often than random text. */
const PIECES = [
  'registry.example.com',
  'REGISTRY.EXAMPLE.COM',
  'evil.io',
  'docker.io',
  'index.docker.io',
  'localhost',
  '[::1]',
  '/',
  '/',
  ':',
  ':5000',
  '@',
  '@sha256:',
  'ab'.repeat(32),
  '.',
  '-',
  '_',
  '__',
  'x',
  'team',
  'X',
  'latest',
  ' ',
  '\t',
  '%',
  'é',
];

/** `usual` nine times in ten, else `rare`. */
const often = <T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: usual, weight: 9 }, { arbitrary: rare, weight: 1 });

/** host, separator, path, tag and digest: mostly well-formed references, many of them look-alikes. */
const structuredImageArb = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('registry.example.com', 'REGISTRY.example.com', 'registry.example.com:5000', 'registry.example.com.evil.io'),
      fc.constantFrom('evil.io', 'docker.io', 'index.docker.io', 'localhost', 'localhost:5000', '[::1]:5000', 'team', 'Team'),
      fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 4 }).map((pieces) => pieces.join('')),
    ),
    often(fc.constant('/'), fc.constantFrom('', '.', ':', '@', '//')),
    fc.array(often(fc.constantFrom('x', 'team', 'app', 'registry.example.com', 'a.b', 'a__b', 'a-b'), fc.constantFrom('UP', '', '-')), {
      minLength: 1,
      maxLength: 3,
    }),
    often(fc.constantFrom('', ':1', ':latest', ':v1.2', ':5000'), fc.constantFrom(':', ':-x')),
    often(fc.constantFrom('', `@sha256:${'ab'.repeat(32)}`), fc.constantFrom('@sha256:abc', `@SHA256:${'ab'.repeat(32)}`)),
  )
  .map(([host, separator, path, tag, digest]) => `${host}${separator}${path.join('/')}${tag}${digest}`);

const imageLikeArb = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom(...PIECES), { maxLength: 10 }).map((pieces) => pieces.join('')),
  structuredImageArb,
  structuredImageArb,
);

const RULE_HOSTS = [
  'registry.example.com',
  'registry.example.com:5000',
  'registry.example.com.evil.io',
  'example.com',
  'evil.io',
  'docker.io',
  'localhost',
  'localhost:5000',
  '[::1]',
  '[::1]:5000',
];

describe('parseImageReference on arbitrary strings', () => {
  it('never throws, and gives either a reference or a non-empty reason', () => {
    fc.assert(
      fc.property(imageLikeArb, (image) => {
        const result = parseImageReference(image);
        if (result.ok) {
          expect(result.reference.registry).not.toBe('');
          expect(result.reference.repository).not.toBe('');
        } else {
          expect(result.reason.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('reports a registry R that a rule matches only when the rule host is exactly R', () => {
    fc.assert(
      fc.property(imageLikeArb, fc.constantFrom(...RULE_HOSTS), fc.constantFrom('', 'team', 'library'), (image, host, prefix) => {
        const result = parseImageReference(image);
        if (!result.ok) return;
        const { reference } = result;
        const registry = reference.registry;
        expect(registry).toBe(registry.toLowerCase());

        // A rule for R itself matches every image of R.
        expect(isAllowedImage(reference, [{ host: registry, pathPrefix: '' }])).toBe(true);

        // Any other rule host matches only if it is exactly R.
        const rule: RegistryRule = parseRegistryRule(prefix ? `${host}/${prefix}` : host);
        if (isAllowedImage(reference, [rule])) expect(rule.host).toBe(registry);
        if (rule.host !== registry) expect(isAllowedImage(reference, [rule])).toBe(false);
        else if (rule.pathPrefix === '') expect(isAllowedImage(reference, [rule])).toBe(true);

        // A near miss of R is never R.
        for (const nearMiss of [`${registry}.evil.io`, `evil.${registry}`, `${registry}:1`, registry.slice(0, -1)]) {
          expect(isAllowedImage(reference, [{ host: nearMiss, pathPrefix: '' }])).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('allows an image for registry.example.com only when it literally starts with that host and a slash', () => {
    const rules = [parseRegistryRule('registry.example.com')];
    fc.assert(
      fc.property(imageLikeArb, (image) => {
        const result = parseImageReference(image);
        if (result.ok && isAllowedImage(result.reference, rules)) {
          expect(image.toLowerCase().startsWith('registry.example.com/')).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------
// Registry mirrors

/** Sources are drawn mostly from these, targets mostly from the others; some hosts are both. */
const SOURCE_HOSTS = ['docker.io', 'public.example.org', 'registry.example.com', 'registry.example.com:5000', '[::1]:5000'];
const TARGET_HOSTS = ['mirror.example.com', 'mirror.example.com:8443', 'localhost:5000', '[fd00::1]:443', 'registry.example.com'];
const MIRROR_HOSTS = [...new Set([...SOURCE_HOSTS, ...TARGET_HOSTS])];
const MIRROR_PREFIXES = ['', 'team', 'team/sub', 'library', 'cache', 'docker-hub/x'];

const registrySideArb = (hosts: readonly string[], prefixes: readonly string[]) =>
  fc
    .tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...hosts) }, { weight: 1, arbitrary: fc.constantFrom(...MIRROR_HOSTS) }), fc.constantFrom(...prefixes))
    .map(([host, prefix]) => (prefix === '' ? host : `${host}/${prefix}`));

/** A valid IMAGE_MIRRORS value: random rules, each kept only if the set stays valid (no target under a source). */
const mirrorsArb = fc
  .array(fc.tuple(registrySideArb(SOURCE_HOSTS, ['', '', '', 'team', 'team/sub', 'library']), registrySideArb(TARGET_HOSTS, MIRROR_PREFIXES)), {
    minLength: 1,
    maxLength: 5,
  })
  .map((pairs) =>
    pairs
      .map(([source, target]) => `${source}=${target}`)
      .reduce<string[]>((kept, entry) => {
        try {
          parseMirrorRules([...kept, entry]);
          return [...kept, entry];
        } catch {
          return kept;
        }
      }, []),
  );

/**
 * Images mostly under the hosts and prefixes the rules are drawn from (so that rules often cover
 * them, and often only nearly), Docker Hub short names, and a few that do not parse.
 */
const mirrorImageArb = fc.oneof(
  { weight: 6, arbitrary: fc
    .tuple(
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...SOURCE_HOSTS) }, { weight: 1, arbitrary: fc.constantFrom(...MIRROR_HOSTS, 'Docker.io', 'index.docker.io', 'evil.io') }),
      fc.constantFrom(...MIRROR_PREFIXES, 'teamx', 'team/subx'),
      fc.array(fc.constantFrom('app', 'sub', 'x'), { minLength: 1, maxLength: 2 }),
      fc.constantFrom('', ':1.27', ':latest'),
      fc.constantFrom('', `@sha256:${'ab'.repeat(32)}`),
    )
    .map(([host, prefix, rest, tag, digest]) => `${host}/${[prefix, ...rest].filter((part) => part !== '').join('/')}${tag}${digest}`) },
  { weight: 2, arbitrary: fc.constantFrom('nginx', 'nginx:1.27', 'bitnami/redis:7', `busybox@sha256:${'cd'.repeat(32)}`) },
  { weight: 1, arbitrary: fc.constantFrom('Nginx', '', '<your-private-image>') },
);

const mirrorSpecArb = fc
  .record({
    containers: fc.array(fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd'), image: mirrorImageArb }), { minLength: 1, maxLength: 2 }),
    initContainers: fc.array(fc.record({ name: fc.constantFrom('i', 'j'), image: mirrorImageArb }), { maxLength: 1 }),
    ephemeralContainers: fc.array(fc.record({ name: fc.constantFrom('e'), image: mirrorImageArb }), { maxLength: 1 }),
    volumes: fc.array(fc.record({ name: fc.constantFrom('v', 'w'), image: fc.record({ reference: mirrorImageArb }) }), { maxLength: 1 }),
  })
  .map((spec) => ({ ...spec, containers: spec.containers.map((container, index) => ({ ...container, name: `${container.name}${index}` })) }));

/** Every image of a pod spec, by where it is, in the order validate names them. */
function imageSlots(spec: Json): Array<{ where: string; image: unknown }> {
  const lists = ['containers', 'initContainers', 'ephemeralContainers'].flatMap((list) =>
    ((spec[list] ?? []) as Json[]).map((container, index) => ({ where: `${list}/${index}`, image: container.image })),
  );
  const volumes = ((spec.volumes ?? []) as Json[]).map((volume, index) => ({ where: `volumes/${index}`, image: (volume.image as Json).reference }));
  return [...lists, ...volumes];
}

describe('mutate with IMAGE_MIRRORS on any generated Pod and mirror set', () => {
  it('rewrites into the target of the longest covering source, keeping tag and digest, and a second pass changes nothing', () => {
    let rewrites = 0;
    fc.assert(
      fc.property(mirrorSpecArb, mirrorsArb, fc.constantFrom<'default' | 'enforce'>('default', 'enforce'), (spec, mirrors, mode) => {
        const config = loadConfig({ IMAGE_MIRRORS: mirrors.join(','), IMAGE_PULL_POLICY_MODE: mode });
        const request = podRequest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec });
        const after = applied(request.object as Json, patchOf(request, config));
        expect(patchOf({ ...request, object: after }, config)).toEqual([]);

        const before = imageSlots(spec);
        const rewritten = imageSlots(after.spec as Json);
        before.forEach(({ where, image }, index) => {
          const now = rewritten[index]?.image;
          const parsed = typeof image === 'string' ? parseImageReference(image) : undefined;
          // The covering source with the longest path prefix, found here without the policy's code.
          const rule = parsed?.ok
            ? config.imageMirrors
                .filter(({ source }) => isAllowedImage(parsed.reference, [source]))
                .sort((a, b) => b.source.pathPrefix.length - a.source.pathPrefix.length)[0]
            : undefined;
          if (now === image) return;
          rewrites += 1;
          // Only a parseable image under a source changes, and it parses to the rule's target.
          expect(parsed?.ok, where).toBe(true);
          expect(rule, where).toBeDefined();
          const result = parseImageReference(now as string);
          expect(result.ok, `${where}: ${String(now)}`).toBe(true);
          if (!result.ok || !parsed?.ok || !rule) return;
          expect(result.reference.registry).toBe(rule.target.host);
          const rest = rule.source.pathPrefix === '' ? parsed.reference.repository : parsed.reference.repository.slice(rule.source.pathPrefix.length + 1);
          expect(result.reference.repository).toBe([rule.target.pathPrefix, rest].filter((part) => part !== '').join('/'));
          expect(result.reference.tag).toBe(parsed.reference.tag);
          expect(result.reference.digest).toBe(parsed.reference.digest);
          expect(config.imageMirrors.some(({ source }) => isAllowedImage(result.reference, [source]))).toBe(false);
        });
      }),
      RUNS,
    );
    // The generators are meant to hit the rules often: the property is not vacuous.
    expect(rewrites).toBeGreaterThan(RUNS.numRuns / 4);
  });
});

describe('validate of a controller and of the Pods its template makes, after mutate', () => {
  const who = (message: string) =>
    message
      .slice(message.indexOf(': ') + 2)
      .split('; ')
      .map((part) => part.replace(/ (uses|has) .*$/, ''));

  it('agree: both allowed, or both denied for the same rule sentence and the same containers and volumes', () => {
    const verdicts = { allowed: 0, denied: 0 };
    fc.assert(
      fc.property(
        mirrorSpecArb,
        mirrorsArb,
        fc.constantFrom(
          'registry.example.com',
          'mirror.example.com,registry.example.com:5000/team',
          'mirror.example.com:8443/team,[::1]:5000',
          'docker.io,public.example.org',
          // Every host but the public ones: allowed exactly when everything public is mirrored.
          TARGET_HOSTS.join(','),
          TARGET_HOSTS.join(','),
          // Every host: denied only for images that do not parse, and for the tag and digest rules.
          MIRROR_HOSTS.join(','),
        ),
        fc.constantFrom('', '', 'latest'),
        fc.constantFrom('false', 'false', 'true'),
        (spec, mirrors, allowed, tags, digest) => {
          const config = loadConfig({ IMAGE_MIRRORS: mirrors.join(','), ALLOWED_REGISTRIES: allowed, DISALLOWED_TAGS: tags, REQUIRE_DIGEST: digest });
          const template = { metadata: { labels: { app: 'web' } }, spec: { ...spec, ephemeralContainers: undefined } };
          const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: {}, template } };
          const ofDeployment = validateImages(podRequest(deployment, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), config);

          const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-' }, spec: structuredClone(template.spec) };
          const created = podRequest(pod, { name: undefined });
          const ofPod = validateImages({ ...created, object: applied(pod, patchOf(created, config)) }, config);

          expect(ofPod.allowed).toBe(ofDeployment.allowed);
          verdicts[ofPod.allowed ? 'allowed' : 'denied'] += 1;
          if (ofPod.allowed || ofDeployment.allowed) return;
          expect(ofPod.message.split(': ')[0]).toBe(ofDeployment.message.split(': ')[0]);
          expect(who(ofPod.message)).toEqual(who(ofDeployment.message));
        },
      ),
      RUNS,
    );
    expect(verdicts.allowed).toBeGreaterThan(RUNS.numRuns / 40);
    expect(verdicts.denied).toBeGreaterThan(RUNS.numRuns / 4);
  });
});
