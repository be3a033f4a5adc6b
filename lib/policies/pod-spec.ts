/**
 * Where the pod spec lives in each kind of workload the policies look at, and
 * the container lists inside it.
 */
import { type JsonObject, field, fieldAt, isObject } from '../common/json';

/** Path from the object's root to its pod spec, by API group and kind. */
const POD_SPEC_PATHS: Record<string, readonly string[]> = {
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

export const WORKLOAD_KINDS = Object.keys(POD_SPEC_PATHS).map((key) => key.split('/')[1] as string);

export const CONTAINER_LISTS = [
  { field: 'containers', label: 'container' },
  { field: 'initContainers', label: 'init container' },
  { field: 'ephemeralContainers', label: 'ephemeral container' },
] as const;

export type ContainerListField = (typeof CONTAINER_LISTS)[number]['field'];

export interface ContainerEntry {
  list: ContainerListField;
  /** Human label of the list, e.g. `init container`. */
  label: string;
  index: number;
  container: JsonObject;
  /** The container's `name`, or `#index` where it has none. */
  name: string;
}

/** The path to the pod spec of an object of this group and kind, or undefined for kinds without one. */
export function podSpecPath(group: string, kind: string): readonly string[] | undefined {
  return POD_SPEC_PATHS[`${group}/${kind}`];
}

export function podSpecOf(object: unknown, path: readonly string[]): JsonObject | undefined {
  const spec = fieldAt(object, path);
  return isObject(spec) ? spec : undefined;
}

/** Every container of a pod spec, in list order; entries that are not objects are skipped. */
export function containersOf(spec: JsonObject | undefined): ContainerEntry[] {
  const entries: ContainerEntry[] = [];
  if (!spec) return entries;
  for (const { field: listField, label } of CONTAINER_LISTS) {
    const list = field(spec, listField);
    if (!Array.isArray(list)) continue;
    list.forEach((container, index) => {
      if (!isObject(container)) return;
      const name = typeof container.name === 'string' && container.name !== '' ? container.name : `#${index}`;
      entries.push({ list: listField, label, index, container, name });
    });
  }
  return entries;
}

export interface ImageVolumeEntry {
  index: number;
  /** The volume's `name`, or `#index` where it has none. */
  name: string;
  /** The volume's `image` source: `reference` and `pullPolicy`. */
  source: JsonObject;
}

/**
 * The image volumes of a pod spec (`volumes[].image`, Kubernetes 1.31+): the
 * kubelet pulls them from a registry just like container images.
 */
export function imageVolumesOf(spec: JsonObject | undefined): ImageVolumeEntry[] {
  const volumes = field(spec, 'volumes');
  if (!Array.isArray(volumes)) return [];
  return volumes.flatMap((volume, index) => {
    const source = field(volume, 'image');
    if (!isObject(source)) return [];
    const name = field(volume, 'name');
    return [{ index, name: typeof name === 'string' && name !== '' ? name : `#${index}`, source }];
  });
}
