/**
 * The reviews the benchmark sends, as API Gateway REST (payload 1.0) events,
 * built with the same helpers as the test suites.
 */
import type { GatewayEvent } from '../lib/transport/http';
import { podRequest, restEvent, review, tutorialPod } from '../test/support/reviews';

export interface Payload {
  name: string;
  /** Containers in the object's pod spec. */
  containers: number;
  event: GatewayEvent;
}

/** A container as a controller would write it, without `imagePullPolicy` so that `mutate` fills it. */
function container(index: number): Record<string, unknown> {
  return {
    name: `app-${index}`,
    image: `registry.example.com/team/app-${index}:1.${index}.0`,
    ports: [{ containerPort: 8080 + index, protocol: 'TCP' }],
    env: [{ name: 'LOG_LEVEL', value: 'info' }],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
  };
}

/** A Pod of `count` containers, all from the allowed registry and none with a pull policy. */
export function podWithContainers(count: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${count}`, namespace: 'default', labels: { app: 'bench' } },
    spec: { containers: Array.from({ length: count }, (_, index) => container(index)) },
  };
}

export function deployment(): Record<string, unknown> {
  const template = podWithContainers(2);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: template.spec },
    },
  };
}

export function tutorialPayload(): Payload {
  return { name: 'tutorial Pod', containers: 1, event: restEvent(review(podRequest(tutorialPod()))) };
}

export function podPayload(count: number): Payload {
  return { name: `Pod, ${count} containers`, containers: count, event: restEvent(review(podRequest(podWithContainers(count)))) };
}

export function deploymentPayload(): Payload {
  const request = podRequest(deployment(), {
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'web',
  });
  return { name: 'Deployment', containers: 2, event: restEvent(review(request)) };
}
