/**
 * The `mutate` policy: registry mirrors, image pull policy and image pull
 * secrets for new Pods. It fills in only what is unset (idempotent, never
 * overriding the user), except in `enforce` mode, which gives every container
 * `Always` as the upstream AlwaysPullImages admission plugin does, and the
 * mirrors the operator configured, which rewrite images into their targets
 * (idempotent too: no target can be rewritten again).
 */
import type { AdmissionRequest } from '../admission/admission-review';
import type { Config } from './fleet/config';
import { type Operation, type PointerSegment, appendUnique, fillIfEmpty, setValue } from './json-patch';
import { field, isObject } from '../common/json';
import { type ContainerEntry, type ImageVolumeEntry, containersOf, imageVolumesOf, podSpecOf } from './pod-spec';
import { mirroredImage } from './images/image-mirrors';
import { type ImageReference, isAllowedImage, parseImageReference } from './images/image-reference';
import { type Decision, allow, requestKind, requestNamespace } from './decision';

/** Rewrites every image that falls under a mirror source; unparseable images are left for validate. */
function mirrorOperations(entries: readonly ContainerEntry[], volumes: readonly ImageVolumeEntry[], config: Config): Operation[] {
  const rewrite = (path: PointerSegment[], image: unknown): Operation[] => {
    const mirrored = mirroredImage(image, config.imageMirrors);
    return mirrored === undefined ? [] : setValue(path, image, mirrored);
  };
  return [
    ...entries.flatMap(({ list, index, container }) => rewrite(['spec', list, index, 'image'], container.image)),
    ...volumes.flatMap(({ index, source }) => rewrite(['spec', 'volumes', index, 'image', 'reference'], source.reference)),
  ];
}

function pullPolicyOperations(entries: readonly ContainerEntry[], config: Config): Operation[] {
  return entries.flatMap(({ list, index, container }) => {
    const path = ['spec', list, index, 'imagePullPolicy'];
    if (config.imagePullPolicyMode === 'enforce') return setValue(path, container.imagePullPolicy, 'Always');
    if (config.defaultImagePullPolicy) return fillIfEmpty(path, container.imagePullPolicy, config.defaultImagePullPolicy);
    return [];
  });
}

/** Image volumes are pulled like container images, so `enforce` mode gives them `pullPolicy: Always` too. */
function imageVolumeOperations(spec: Record<string, unknown>, config: Config): Operation[] {
  if (config.imagePullPolicyMode !== 'enforce') return [];
  return imageVolumesOf(spec).flatMap(({ index, source }) =>
    setValue(['spec', 'volumes', index, 'image', 'pullPolicy'], source.pullPolicy, 'Always'),
  );
}

/**
 * The pull secrets for a Pod of a selected namespace: every bare secret, and every secret with
 * registries when one of the Pod's images (after mirror rewriting) is under them.
 */
function pullSecretOperations(
  spec: Record<string, unknown>,
  namespace: string | undefined,
  entries: readonly ContainerEntry[],
  volumes: readonly ImageVolumeEntry[],
  config: Config,
): Operation[] {
  const { all, names } = config.imagePullSecretNamespaces;
  if (!all && (namespace === undefined || !names.has(namespace))) return [];
  // The Pod's images as they will be pulled (after mirror rewriting), parsed once and only when a
  // secret is added by registry.
  let pulled: ImageReference[] | undefined;
  const pulledImages = () =>
    (pulled ??= [...entries.map(({ container }) => container.image), ...volumes.map(({ source }) => source.reference)].flatMap((image) => {
      if (typeof image !== 'string') return [];
      const parsed = parseImageReference(mirroredImage(image, config.imageMirrors) ?? image);
      return parsed.ok ? [parsed.reference] : [];
    }));
  const secrets = config.imagePullSecrets
    .filter(({ registries }) => !registries || pulledImages().some((reference) => isAllowedImage(reference, registries)))
    .map(({ name }) => ({ name }));
  return appendUnique(['spec', 'imagePullSecrets'], spec.imagePullSecrets, secrets, (item) => field(item, 'name'));
}

/** Ephemeral containers present in `object` but not in `oldObject`, matched by name. */
function addedEphemeralContainers(request: AdmissionRequest): ContainerEntry[] {
  const oldNames = new Set(
    containersOf(podSpecOf(request.oldObject, ['spec']))
      .filter((entry) => entry.list === 'ephemeralContainers')
      .map((entry) => entry.name),
  );
  return containersOf(podSpecOf(request.object, ['spec'])).filter(
    (entry) => entry.list === 'ephemeralContainers' && !oldNames.has(entry.name),
  );
}

export function mutatePod(request: AdmissionRequest, config: Config): Decision {
  const namespace = requestNamespace(request);
  const { group, kind } = requestKind(request);
  if (group !== '' || kind !== 'Pod') return allow();
  if (namespace !== undefined && config.exemptNamespaces.has(namespace)) return allow();

  let patch: Operation[] = [];
  if (request.operation === 'CREATE' && !request.subResource) {
    const spec = podSpecOf(request.object, ['spec']);
    if (!spec || !isObject(request.object)) return allow();
    const containers = containersOf(spec);
    const volumes = imageVolumesOf(spec);
    patch = [
      ...mirrorOperations(containers, volumes, config),
      ...pullPolicyOperations(containers, config),
      ...imageVolumeOperations(spec, config),
      ...pullSecretOperations(spec, namespace, containers, volumes, config),
    ];
  } else if (request.operation === 'UPDATE' && request.subResource === 'ephemeralcontainers') {
    const added = addedEphemeralContainers(request);
    patch = [
      ...mirrorOperations(added, [], config),
      ...(config.imagePullPolicyMode === 'enforce' ? pullPolicyOperations(added, config) : []),
    ];
  }
  return patch.length > 0 ? { allowed: true, patch } : allow();
}
