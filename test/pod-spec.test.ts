import { describe, expect, it } from 'vitest';
import { CONTAINER_LISTS, WORKLOAD_KINDS, containersOf, podSpecOf, podSpecPath } from '../lib/policies/pod-spec';

describe('podSpecPath', () => {
  it.each<[string, string, string[]]>([
    ['', 'Pod', ['spec']],
    ['', 'PodTemplate', ['template', 'spec']],
    ['', 'ReplicationController', ['spec', 'template', 'spec']],
    ['apps', 'Deployment', ['spec', 'template', 'spec']],
    ['apps', 'ReplicaSet', ['spec', 'template', 'spec']],
    ['apps', 'StatefulSet', ['spec', 'template', 'spec']],
    ['apps', 'DaemonSet', ['spec', 'template', 'spec']],
    ['batch', 'Job', ['spec', 'template', 'spec']],
    ['batch', 'CronJob', ['spec', 'jobTemplate', 'spec', 'template', 'spec']],
  ])('finds the pod spec of %s/%s at %j', (group, kind, path) => {
    expect(podSpecPath(group, kind)).toEqual(path);
  });

  it.each<[string, string]>([
    ['', 'Service'],
    ['', 'ConfigMap'],
    ['', 'Deployment'],
    ['extensions', 'Deployment'],
    ['example.com', 'Deployment'],
    ['apps', 'Pod'],
    ['batch', 'Deployment'],
    ['apps', 'deployment'],
    ['', 'pod'],
    ['', ''],
    ['', 'constructor'],
    ['', 'toString'],
    ['', '__proto__'],
  ])('has no pod spec for %j/%j', (group, kind) => {
    expect(podSpecPath(group, kind)).toBeUndefined();
  });

  it('lists every workload kind once', () => {
    expect([...WORKLOAD_KINDS].sort()).toEqual(
      ['CronJob', 'DaemonSet', 'Deployment', 'Job', 'Pod', 'PodTemplate', 'ReplicaSet', 'ReplicationController', 'StatefulSet'].sort(),
    );
  });
});

describe('podSpecOf', () => {
  const cronJob = { spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } } } } };

  it('follows the path to an object', () => {
    expect(podSpecOf(cronJob, ['spec', 'jobTemplate', 'spec', 'template', 'spec'])).toEqual({ containers: [{ name: 'c', image: 'x' }] });
  });

  it.each([
    ['a missing step', { spec: {} }],
    ['a null spec', { spec: { jobTemplate: null } }],
    ['an array spec', { spec: { jobTemplate: { spec: { template: { spec: [] } } } } }],
    ['a string spec', { spec: { jobTemplate: { spec: { template: { spec: 'x' } } } } }],
    ['no object', null],
  ])('is undefined for %s', (_, object) => {
    expect(podSpecOf(object, ['spec', 'jobTemplate', 'spec', 'template', 'spec'])).toBeUndefined();
  });

  it('ignores inherited properties', () => {
    expect(podSpecOf({}, ['constructor'])).toBeUndefined();
    expect(podSpecOf({ spec: {} }, ['spec', 'constructor', 'prototype'])).toBeUndefined();
  });
});

describe('containersOf', () => {
  it('lists containers, then init containers, then ephemeral containers, with their labels', () => {
    const spec = {
      ephemeralContainers: [{ name: 'debug', image: 'busybox' }],
      initContainers: [
        { name: 'setup', image: 'alpine' },
        { name: 'migrate', image: 'flyway' },
      ],
      containers: [
        { name: 'web', image: 'nginx' },
        { name: 'sidecar', image: 'envoy' },
      ],
    };
    expect(containersOf(spec).map(({ list, label, index, name, container }) => [list, label, index, name, container.image])).toEqual([
      ['containers', 'container', 0, 'web', 'nginx'],
      ['containers', 'container', 1, 'sidecar', 'envoy'],
      ['initContainers', 'init container', 0, 'setup', 'alpine'],
      ['initContainers', 'init container', 1, 'migrate', 'flyway'],
      ['ephemeralContainers', 'ephemeral container', 0, 'debug', 'busybox'],
    ]);
  });

  it('gives each entry the container object itself', () => {
    const container = { name: 'web', image: 'nginx' };
    expect(containersOf({ containers: [container] })[0]?.container).toBe(container);
  });

  it('names unnamed containers by index and keeps the index of skipped entries', () => {
    const spec = { containers: [null, { image: 'a' }, 'junk', { name: '', image: 'b' }, { name: 7, image: 'c' }] };
    expect(containersOf(spec).map(({ index, name }) => [index, name])).toEqual([
      [1, '#1'],
      [3, '#3'],
      [4, '#4'],
    ]);
  });

  it('skips lists that are missing, null or not arrays', () => {
    expect(containersOf({ containers: null, initContainers: {}, ephemeralContainers: 'x' })).toEqual([]);
    expect(containersOf({})).toEqual([]);
    expect(containersOf(undefined)).toEqual([]);
  });

  it('reads only own lists, never inherited ones', () => {
    const spec = Object.create({ containers: [{ name: 'ghost', image: 'x' }] }) as Record<string, unknown>;
    expect(containersOf(spec)).toEqual([]);
  });

  it('covers exactly the three container lists', () => {
    expect(CONTAINER_LISTS.map(({ field, label }) => [field, label])).toEqual([
      ['containers', 'container'],
      ['initContainers', 'init container'],
      ['ephemeralContainers', 'ephemeral container'],
    ]);
  });
});
