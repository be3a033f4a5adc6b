/**
 * The `mutate` policy: image pull policy and image pull secrets for new Pods.
 * It fills in only what is unset (idempotent, never overriding the user),
 * except in `enforce` mode, which gives every container `Always` as the
 * upstream AlwaysPullImages admission plugin does.
 */
import type { AdmissionRequest } from '../admission/admission-review';
import type { Config } from './config';
import { type Operation, appendUnique, fillIfEmpty, setValue } from './json-patch';
import { field, isObject } from '../common/json';
import { type ContainerEntry, containersOf, imageVolumesOf, podSpecOf } from './pod-spec';
import { type Decision, allow, requestKind, requestNamespace } from './decision';

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

function pullSecretOperations(spec: Record<string, unknown>, namespace: string | undefined, config: Config): Operation[] {
  const { all, names } = config.imagePullSecretNamespaces;
  if (!all && (namespace === undefined || !names.has(namespace))) return [];
  const secrets = config.imagePullSecrets.map((name) => ({ name }));
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
    patch = [
      ...pullPolicyOperations(containersOf(spec), config),
      ...imageVolumeOperations(spec, config),
      ...pullSecretOperations(spec, namespace, config),
    ];
  } else if (
    request.operation === 'UPDATE' &&
    request.subResource === 'ephemeralcontainers' &&
    config.imagePullPolicyMode === 'enforce'
  ) {
    patch = pullPolicyOperations(addedEphemeralContainers(request), config);
  }
  return patch.length > 0 ? { allowed: true, patch } : allow();
}
