/**
 * Real manifests from the Kubernetes website (test/fixtures/corpus, CC BY 4.0,
 * see its SOURCES.md) through both handlers, as CREATE reviews in API Gateway
 * events, with the default configuration, with one that allows the corpus's
 * registries, and with every corpus registry mirrored into one allowed mirror.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyPatch, deepClone, validate as patchProblem } from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { handler as mutate } from '../functions/mutate';
import { handler as validate } from '../functions/validate';
import type { AdmissionRequest } from '../lib/admission/admission-review';
import { admissionRequest } from '../lib/transport/admission-event';
import type { GatewayEvent, GatewayResult } from '../lib/transport/http';
import { mutatePod } from '../lib/policies/mutate';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import { decodedPatch, restEvent, review } from './support/reviews';

type Json = Record<string, any>;

const ROOT = join(import.meta.dirname, 'fixtures', 'corpus');
const SENTENCE = 'Invalid image. Images must come from registry.example.com';
const EXEMPT_NAMESPACE = 'kube-system';
const PULL_SECRET = 'registry-credentials';

/** Files kept as found that are not YAML, with the first error the `yaml` package reports. */
const UNPARSEABLE: Record<string, string> = {
  'controllers/job-pod-failure-policy-ignore.yaml': 'TAB_AS_INDENT',
  'pods/inject/envars-file-container.yaml': 'BAD_DQ_ESCAPE',
  'pods/inject/pod-multiple-secret-env-variable.yaml': 'TAB_AS_INDENT',
};

/** Pods that break the Pod schema as written (an old revision of the example); mutate must not add problems. */
const SCHEMA_INVALID_PODS: Record<string, string> = {
  'pods/pod-with-node-affinity.yaml#0':
    'data/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution must be object',
};

/** Placeholder images that are not image references at all. */
const UNPARSEABLE_IMAGES = ['<your-private-image>'];

/** Every registry the corpus pulls from (host as a container runtime reads the reference). */
const CORPUS_REGISTRIES = [
  'docker.io',
  'gcr.io',
  'k8s.gcr.io',
  'mcr.microsoft.com',
  'quay.io',
  'registry.k8s.io',
  'us-docker.pkg.dev',
  'us.gcr.io',
];

/** Where the pod spec is, by `group/kind`: written out here rather than taken from lib/. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  '/Pod': ['spec'],
  '/PodTemplate': ['template', 'spec'],
  '/ReplicationController': ['spec', 'template', 'spec'],
  'apps/Deployment': ['spec', 'template', 'spec'],
  'apps/ReplicaSet': ['spec', 'template', 'spec'],
  'apps/StatefulSet': ['spec', 'template', 'spec'],
  'apps/DaemonSet': ['spec', 'template', 'spec'],
  'batch/Job': ['spec', 'template', 'spec'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

const LISTS = [
  ['containers', 'container'],
  ['initContainers', 'init container'],
  ['ephemeralContainers', 'ephemeral container'],
] as const;

interface Workload {
  /** `file#index` of the document in its file. */
  id: string;
  object: Json;
  group: string;
  version: string;
  kind: string;
  namespace: string;
  spec: Json;
  containers: Puller[];
  /** Containers, then image volumes (`volumes[].image.reference`): everything that pulls an image. */
  pullers: Puller[];
}

interface Puller {
  label: string;
  name: string;
  image: unknown;
  container: Json;
}

const yamlFiles = (readdirSync(ROOT, { recursive: true }) as string[])
  .filter((file) => file.endsWith('.yaml'))
  .map((file) => file.split('\\').join('/'))
  .sort();

const parseErrors: Record<string, string> = {};
const workloads: Workload[] = [];
const otherKinds: string[] = [];

for (const file of yamlFiles) {
  const documents = parseAllDocuments(readFileSync(join(ROOT, file), 'utf8'));
  const error = documents.flatMap((document) => document.errors)[0];
  if (error) {
    parseErrors[file] = error.code;
    continue;
  }
  documents.forEach((document, index) => {
    const object = document.toJS() as Json | null;
    if (object === null || typeof object !== 'object') return;
    const apiVersion = String(object.apiVersion ?? '');
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const path = POD_SPEC_PATHS[`${group}/${object.kind}`];
    if (!path) {
      otherKinds.push(String(object.kind));
      return;
    }
    const spec = path.reduce<any>((node, key) => node?.[key], object) as Json;
    const containers = LISTS.flatMap(([list, label]) =>
      ((spec?.[list] ?? []) as Json[]).map((container) => ({ label, name: container.name, image: container.image, container })),
    );
    const imageVolumes = ((spec?.volumes ?? []) as Json[])
      .filter((volume) => volume.image)
      .map((volume) => ({ label: 'image volume', name: volume.name, image: volume.image.reference, container: volume }));
    workloads.push({
      id: `${file}#${index}`,
      object,
      group: group as string,
      version: version as string,
      kind: object.kind,
      namespace: object.metadata?.namespace ?? 'default',
      spec,
      containers,
      pullers: [...containers, ...imageVolumes],
    });
  });
}

const pods = workloads.filter((workload) => workload.group === '' && workload.kind === 'Pod');

/** The registry host of an image and the rest of it, by the container runtimes' rule; undefined for a placeholder. */
function splitImage(image: string): { host: string; rest: string } | undefined {
  if (UNPARSEABLE_IMAGES.includes(image)) return undefined;
  const slash = image.indexOf('/');
  const first = slash === -1 ? '' : image.slice(0, slash);
  if (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase()) {
    return { host: first.toLowerCase() === 'index.docker.io' ? 'docker.io' : first.toLowerCase(), rest: image.slice(slash + 1) };
  }
  return { host: 'docker.io', rest: image };
}

const registryOf = (image: string): string | undefined => splitImage(image)?.host;

function uidOf(workload: Workload, pass = 0): string {
  const index = workloads.indexOf(workload);
  return `00000000-0000-4000-8${pass}00-${String(index).padStart(12, '0')}`;
}

/** A CREATE of `object` in the workload's namespace. */
function createRequest(workload: Workload, object: Json, uid: string): AdmissionRequest {
  return admissionRequest(object, { uid, namespace: workload.namespace });
}

type Handler = (event: GatewayEvent) => Promise<GatewayResult>;

/** Sends the review and checks the envelope every answer shares; returns the parsed body. */
async function send(handler: Handler, request: AdmissionRequest, path: string): Promise<Json> {
  const result = await handler(restEvent(review(request), { path, resource: path.replace(/[^/]+$/, '{token}') }));
  expect(result.statusCode).toBe(200);
  expect(result.headers?.['content-type']).toBe('application/json');
  const body = JSON.parse(result.body) as Json;
  expect(body.apiVersion).toBe('admission.k8s.io/v1');
  expect(body.kind).toBe('AdmissionReview');
  expect(body.response.uid).toBe(request.uid);
  expect(typeof body.response.allowed).toBe('boolean');
  expect(Object.keys(body.response).filter((key) => !['uid', 'allowed', 'status', 'patchType', 'patch', 'warnings', 'auditAnnotations'].includes(key))).toEqual([]);
  if (body.response.allowed) expect(body.response.status).toBeUndefined();
  else expect(body.response.status).toEqual({ code: 403, message: expect.any(String) });
  expect(body.response.patchType === undefined).toBe(body.response.patch === undefined);
  if (body.response.patch !== undefined) expect(body.response.patchType).toBe('JSONPatch');
  body.decodedPatch = decodedPatch(result.body);
  return body;
}

/** The Pod schema's verdict: undefined when valid, else the error message. */
function schemaProblem(object: Json): string | undefined {
  try {
    new Pod(object as ConstructorParameters<typeof Pod>[0]).validate();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The description of one container whose image is not allowed, as the denial names it. */
function offence({ label, name, image }: Puller): RegExp | string {
  const who = `${label} "${name}" uses ${JSON.stringify(image)}`;
  return typeof image === 'string' && UNPARSEABLE_IMAGES.includes(image) ? new RegExp(`^${escape(who)} \\(.+\\)$`) : who;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Checks a denial message: the sentence, then every offence in order up to the bound, then a count of the rest. */
function expectDenialNaming(message: string, sentence: string, offences: (RegExp | string)[]): void {
  expect(message.startsWith(`${sentence}: `)).toBe(true);
  const parts = message.slice(sentence.length + 2).split('; ');
  const more = /^and (\d+) more$/.exec(parts.at(-1) ?? '');
  const named = more ? parts.slice(0, -1) : parts;
  expect(named.length + (more ? Number(more[1]) : 0)).toBe(offences.length);
  expect(named.length).toBeGreaterThan(0);
  named.forEach((part, index) => {
    const wanted = offences[index] as RegExp | string;
    if (typeof wanted === 'string') expect(part).toBe(wanted);
    else expect(part).toMatch(wanted);
  });
  // Cut at about 1 KiB, and only when the full list would not fit.
  expect(message.length).toBeLessThanOrEqual(sentence.length + 2 + 1024 + '; and 9999 more'.length);
  if (more) expect(`${sentence}: ${offences.join('; ')}`.length).toBeGreaterThan(1024);
}

const quiet = () => {};
const corpusRegistries = configuredHandler('validate', validateImages, { ALLOWED_REGISTRIES: CORPUS_REGISTRIES.join(',') }, { log: quiet });

describe('the corpus', () => {
  it('is the attributed selection: every YAML file is listed in SOURCES.md, and every listed file is here', () => {
    const listed = [...readFileSync(join(ROOT, 'SOURCES.md'), 'utf8').matchAll(/^\| ([^ |]+\.yaml) \| kubernetes\/website:/gm)].map(
      (match) => match[1],
    );
    expect(listed.sort()).toEqual(yamlFiles);
    expect(yamlFiles.length).toBe(150);
  });

  it('has exactly these files that do not parse as YAML (kept unmodified, never sent to the handlers)', () => {
    expect(parseErrors).toEqual(UNPARSEABLE);
  });

  it('has a workload document in every file that parses', () => {
    const files = new Set(workloads.map((workload) => workload.id.split('#')[0]));
    expect(yamlFiles.filter((file) => !(file in parseErrors) && !files.has(file))).toEqual([]);
  });

  it('covers every workload kind but PodTemplate, in and out of exempt namespaces', () => {
    const count = (kind: string) => workloads.filter((workload) => workload.kind === kind).length;
    expect(workloads.length).toBe(148);
    expect(
      Object.fromEntries(['Pod', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicationController', 'PodTemplate'].map((kind) => [kind, count(kind)])),
    ).toEqual({ Pod: 85, Deployment: 30, ReplicaSet: 2, StatefulSet: 6, DaemonSet: 10, Job: 12, CronJob: 1, ReplicationController: 2, PodTemplate: 0 });
    expect(workloads.filter((workload) => workload.namespace === EXEMPT_NAMESPACE).length).toBeGreaterThan(0);
    expect(otherKinds.length).toBeGreaterThan(0);
  });

  it('pulls from exactly the listed registries, none of them the allowed one', () => {
    const images = workloads.flatMap((workload) => workload.pullers.map((puller) => puller.image));
    expect(images.every((image) => typeof image === 'string')).toBe(true);
    const registries = new Set(images.map((image) => registryOf(image as string)).filter((host) => host !== undefined));
    expect([...registries].sort()).toEqual(CORPUS_REGISTRIES);
    expect(images.filter((image) => UNPARSEABLE_IMAGES.includes(image as string)).length).toBe(UNPARSEABLE_IMAGES.length);
    // One Pod pulls an image volume, from a registry that its container does not use.
    const volumes = workloads.flatMap((workload) => workload.pullers.filter((puller) => puller.label === 'image volume'));
    expect(volumes.map((puller) => puller.image)).toEqual(['quay.io/crio/artifact:v2']);
  });

  it('is checked against the Pod schema, with only the listed Pods invalid as written', () => {
    const invalid = Object.fromEntries(
      pods.flatMap((pod) => {
        const problem = schemaProblem(pod.object);
        return problem === undefined ? [] : [[pod.id, problem]];
      }),
    );
    expect(invalid).toEqual(SCHEMA_INVALID_PODS);
  });
});

describe.each(workloads.map((workload) => [`${workload.id} ${workload.kind}/${workload.object.metadata?.name ?? '?'}`, workload] as const))(
  '%s',
  (_, workload) => {
    const exempt = workload.namespace === EXEMPT_NAMESPACE;
    const isPod = workload.group === '' && workload.kind === 'Pod';

    it('mutate: the expected defaults, a patch that applies and keeps the schema, nothing on a second pass', async () => {
      const body = await send(mutate, createRequest(workload, workload.object, uidOf(workload)), '/mutate/t');
      expect(body.response.allowed).toBe(true);
      if (!isPod || exempt) {
        expect(body.response.patch).toBeUndefined();
        return;
      }
      const patch = (body.decodedPatch ?? []) as Operation[];
      const original = deepClone(workload.object) as Json;
      expect(patchProblem(patch, original)).toBeUndefined();
      const patched = applyPatch(original, patch, true, false).newDocument as Json;
      expect(original).toEqual(workload.object);

      // Every container has a pull policy: its own where it set one, else Always.
      for (const [list] of LISTS) {
        const before = (workload.object.spec[list] ?? []) as Json[];
        const after = (patched.spec[list] ?? []) as Json[];
        expect(after.map((container) => container.imagePullPolicy)).toEqual(
          before.map((container) => (container.imagePullPolicy ? container.imagePullPolicy : 'Always')),
        );
      }
      // The pull secret is added in the default namespace only, after the ones already listed.
      const secrets = (workload.object.spec.imagePullSecrets ?? undefined) as Json[] | undefined;
      if (workload.namespace === 'default') {
        const present = secrets?.some((secret) => secret.name === PULL_SECRET);
        expect(patched.spec.imagePullSecrets).toEqual(present ? secrets : [...(secrets ?? []), { name: PULL_SECRET }]);
      } else {
        expect(patched.spec.imagePullSecrets).toEqual(secrets);
      }
      // Nothing else changes.
      const strip = (pod: Json) => {
        const copy = deepClone(pod) as Json;
        delete copy.spec.imagePullSecrets;
        for (const [list] of LISTS) for (const container of copy.spec[list] ?? []) delete container.imagePullPolicy;
        return copy;
      };
      expect(strip(patched)).toEqual(strip(workload.object));
      expect(patch.length === 0).toBe(JSON.stringify(patched) === JSON.stringify(workload.object));
      expect(body.response.patch === undefined).toBe(patch.length === 0);

      expect(schemaProblem(patched)).toBe(SCHEMA_INVALID_PODS[workload.id]);

      const again = await send(mutate, createRequest(workload, patched, uidOf(workload, 1)), '/mutate/t');
      expect(again.response).toEqual({ uid: uidOf(workload, 1), allowed: true });
    });

    it('validate: denied naming every container and image volume, unless in an exempt namespace', async () => {
      const body = await send(validate, createRequest(workload, workload.object, uidOf(workload)), '/validate/t');
      expect(body.response.patch).toBeUndefined();
      if (exempt || workload.pullers.length === 0) {
        expect(body.response).toEqual({ uid: uidOf(workload), allowed: true });
        return;
      }
      expect(body.response.allowed).toBe(false);
      expectDenialNaming(body.response.status.message, SENTENCE, workload.pullers.map(offence));
    });

    it('validate with the corpus registries allowed: allowed, but for placeholder images', async () => {
      const body = await send(corpusRegistries, createRequest(workload, workload.object, uidOf(workload)), '/validate/t');
      const placeholders = workload.pullers.filter((puller) => UNPARSEABLE_IMAGES.includes(puller.image as string));
      if (exempt || placeholders.length === 0) {
        expect(body.response).toEqual({ uid: uidOf(workload), allowed: true });
        return;
      }
      expect(body.response.allowed).toBe(false);
      expectDenialNaming(
        body.response.status.message,
        `Invalid image. Images must come from ${CORPUS_REGISTRIES.join(', ')}`,
        placeholders.map(offence),
      );
    });
  },
);

describe('validate with one corpus registry left out of the allowed list', () => {
  it.each(CORPUS_REGISTRIES)('without %s, denies exactly the workloads that pull from it', async (left) => {
    const allowed = CORPUS_REGISTRIES.filter((host) => host !== left);
    const handler = configuredHandler('validate', validateImages, { ALLOWED_REGISTRIES: allowed.join(',') }, { log: quiet });
    const denied: string[] = [];
    for (const workload of workloads) {
      const body = await send(handler, createRequest(workload, workload.object, uidOf(workload)), '/validate/t');
      if (!body.response.allowed) denied.push(workload.id);
    }
    const expected = workloads
      .filter((workload) => workload.namespace !== EXEMPT_NAMESPACE)
      .filter((workload) =>
        workload.pullers.some((puller) => {
          const host = registryOf(puller.image as string);
          return host === undefined || host === left;
        }),
      )
      .map((workload) => workload.id);
    expect(denied).toEqual(expected);
    expect(denied.length).toBeGreaterThan(0);
  });
});

describe('a Pod with every container of the corpus', () => {
  const containers = workloads.flatMap((workload) => workload.containers.filter((entry) => entry.label === 'container'));
  const initContainers = workloads.flatMap((workload) => workload.containers.filter((entry) => entry.label === 'init container'));
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'everything' },
    spec: {
      containers: containers.map((entry) => entry.container),
      initContainers: initContainers.map((entry) => entry.container),
    },
  };
  const workload: Workload = {
    id: 'everything',
    object: pod,
    group: '',
    version: 'v1',
    kind: 'Pod',
    namespace: 'default',
    spec: pod.spec,
    containers: [...containers, ...initContainers],
    pullers: [...containers, ...initContainers],
  };

  it('is denied with a message cut at about 1 KiB that counts the containers left out', async () => {
    const body = await send(validate, createRequest(workload, pod, 'everything-uid'), '/validate/t');
    expect(body.response.allowed).toBe(false);
    const message: string = body.response.status.message;
    expect(message).toMatch(/; and \d+ more$/);
    expectDenialNaming(message, SENTENCE, workload.pullers.map(offence));
  });

  it('gets a patch that applies, and none on a second pass', async () => {
    const body = await send(mutate, createRequest(workload, pod, 'everything-uid'), '/mutate/t');
    const patch = body.decodedPatch as Operation[];
    const unset = workload.containers.filter((entry) => !entry.container.imagePullPolicy).length;
    expect(unset).toBeGreaterThan(100);
    expect(patch.filter((op) => op.path.endsWith('/imagePullPolicy')).length).toBe(unset);
    expect(patch.filter((op) => op.path === '/spec/imagePullSecrets')).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: PULL_SECRET }] },
    ]);
    expect(patch.length).toBe(unset + 1);
    const patched = applyPatch(deepClone(pod), patch, true, false).newDocument;
    const again = await send(mutate, createRequest(workload, patched, 'everything-uid-2'), '/mutate/t');
    expect(again.response).toEqual({ uid: 'everything-uid-2', allowed: true });
  });
});

describe('with every corpus registry mirrored into one allowed mirror', () => {
  const MIRROR = 'mirror.example.com';
  const env = {
    IMAGE_MIRRORS: CORPUS_REGISTRIES.map((host) => `${host}=${MIRROR}/${host}`).join(','),
    ALLOWED_REGISTRIES: MIRROR,
  };
  const mirroredMutate = configuredHandler('mutate', mutatePod, env, { log: quiet });
  const mirroredValidate = configuredHandler('validate', validateImages, env, { log: quiet });

  /** Where the mirror serves an image: its host and the rest as written, with library/ for a one-segment Docker Hub name. */
  function mirrorOfImage(image: string): string | undefined {
    const split = splitImage(image);
    if (!split) return undefined;
    const official = split.host === 'docker.io' && !(split.rest.split(/[:@]/)[0] ?? '').includes('/');
    return `${MIRROR}/${split.host}/${official ? 'library/' : ''}${split.rest}`;
  }

  const mutated = new Map<string, Json>();

  it.each([
    ['allowed', MIRROR],
    ['not allowed', 'registry.example.com'],
  ])('judges each controller as the Pods its template makes after mutate, with the mirror %s', async (_, allowed) => {
    const handlers = {
      mutate: configuredHandler('mutate', mutatePod, { ...env, ALLOWED_REGISTRIES: allowed }, { log: quiet }),
      validate: configuredHandler('validate', validateImages, { ...env, ALLOWED_REGISTRIES: allowed }, { log: quiet }),
    };
    const controllers = workloads.filter((workload) => !(workload.group === '' && workload.kind === 'Pod') && workload.pullers.length > 0);
    expect(controllers.length).toBeGreaterThan(50);
    const verdicts: boolean[] = [];
    for (const workload of controllers) {
      const ofController = await send(handlers.validate, createRequest(workload, workload.object, uidOf(workload)), '/validate/t');
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'from-template-' }, spec: deepClone(workload.spec) };
      const patch = (await send(handlers.mutate, createRequest(workload, pod, uidOf(workload, 1)), '/mutate/t')).decodedPatch ?? [];
      const created = applyPatch(deepClone(pod), patch as Operation[], true, false).newDocument;
      const ofPod = await send(handlers.validate, createRequest(workload, created, uidOf(workload, 2)), '/validate/t');
      expect(ofPod.response.allowed, workload.id).toBe(ofController.response.allowed);
      verdicts.push(ofPod.response.allowed);
    }
    // Mostly allowed into the allowed mirror, mostly denied otherwise (exempt namespaces aside).
    expect(verdicts.filter((verdict) => verdict === (allowed === MIRROR)).length).toBeGreaterThan(controllers.length / 2);
  });

  describe.each(workloads.map((workload) => [workload.id, workload] as const))('%s', (_, workload) => {
    const exempt = workload.namespace === EXEMPT_NAMESPACE;
    const isPod = workload.group === '' && workload.kind === 'Pod';
    const placeholders = workload.pullers.filter((puller) => UNPARSEABLE_IMAGES.includes(puller.image as string));

    it('mutate: rewrites every image of a Pod into the mirror, keeping tags and digests; nothing on a second pass; templates untouched', async () => {
      const body = await send(mirroredMutate, createRequest(workload, workload.object, uidOf(workload)), '/mutate/t');
      expect(body.response.allowed).toBe(true);
      if (!isPod || exempt) {
        expect(body.response.patch).toBeUndefined();
        return;
      }
      const patched = applyPatch(deepClone(workload.object), (body.decodedPatch ?? []) as Operation[], true, false).newDocument as Json;
      const images = (object: Json) => [
        ...LISTS.flatMap(([list]) => ((object.spec[list] ?? []) as Json[]).map((container) => container.image)),
        ...((object.spec.volumes ?? []) as Json[]).filter((volume) => volume.image).map((volume) => volume.image.reference),
      ];
      expect(images(patched)).toEqual(images(workload.object).map((image: string) => mirrorOfImage(image) ?? image));
      expect(schemaProblem(patched)).toBe(SCHEMA_INVALID_PODS[workload.id]);
      const again = await send(mirroredMutate, createRequest(workload, patched, uidOf(workload, 1)), '/mutate/t');
      expect(again.response).toEqual({ uid: uidOf(workload, 1), allowed: true });
      mutated.set(workload.id, patched);
    });

    it('validate: a template is judged as mirrored and a Pod after mutate: allowed, but for placeholder images; a Pod that skipped mutate is denied', async () => {
      const object = isPod && !exempt ? mutated.get(workload.id) : workload.object;
      expect(object).toBeDefined();
      const body = await send(mirroredValidate, createRequest(workload, object ?? {}, uidOf(workload)), '/validate/t');
      if (exempt || placeholders.length === 0) expect(body.response).toEqual({ uid: uidOf(workload), allowed: true });
      else expectDenialNaming(body.response.status.message, `Invalid image. Images must come from ${MIRROR}`, placeholders.map(offence));

      if (!isPod || exempt || workload.pullers.length === 0) return;
      const unmutated = await send(mirroredValidate, createRequest(workload, workload.object, uidOf(workload, 1)), '/validate/t');
      expectDenialNaming(unmutated.response.status.message, `Invalid image. Images must come from ${MIRROR}`, workload.pullers.map(offence));
    });
  });
});
