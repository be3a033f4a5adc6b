/**
 * The fleet policy in the functions (DESIGN "Fleet policy"): each cluster's effective policy for
 * the review's namespace, exceptions in validate (never in mutate), pull secrets by registry, and
 * the version, cluster and exceptions on every review's log line.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPolicyFileWithPositions } from '../lib/cli/policy-file';
import type { LogRecord } from '../lib/common/log';
import { ConfigError, loadConfig } from '../lib/policies/fleet/config';
import { createFleetPolicy } from '../lib/policies/fleet/fleet-policy';
import { mutatePod } from '../lib/policies/mutate';
import { checkPolicyDocument } from '../lib/policies/fleet/policy-document';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import { podRequest, restEvent, review } from './support/reviews';
import { type SecretsManagerEndpoint, startSecretsManagerEndpoint, useEndpointEnvironment } from './support/secrets-manager-endpoint';

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.UTC(2026, 11, 4, 12);

const POLICY = {
  version: 1,
  defaults: {
    allowedRegistries: ['registry.example.com', '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub', '111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub'],
    imagePullSecrets: ['registry-credentials', { name: 'ecr-creds', registries: ['111122223333.dkr.ecr.eu-west-1.amazonaws.com'] }],
    imagePullSecretNamespaces: ['*'],
    disallowedTags: ['latest'],
  },
  namespaces: { 'team-a-*': { allowedRegistries: ['registry.example.com/team-a'] } },
  clusters: {
    'prod-eu': {
      requireDigest: true,
      imageMirrors: { 'docker.io': '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub' },
      namespaces: { sandbox: { validationAction: 'warn' } },
    },
    'dev-us': { validationAction: 'warn', imageMirrors: { 'docker.io': '111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub' } },
  },
  exceptions: [
    { name: 'busybox-debug', reason: 'OPS-123', expires: '2026-12-31', clusters: ['dev-us', 'prod-eu'], namespaces: ['debug-*'], images: ['docker.io/library/busybox'] },
    { name: 'quay-tools', reason: 'OPS-7', expires: '2026-12-04', images: ['quay.example.org/tools'] },
  ],
};

function fleet() {
  const { policy, problems } = checkPolicyDocument(POLICY, NOW);
  expect(problems).toEqual([]);
  if (!policy) throw new Error('invalid');
  return createFleetPolicy(policy, 'v', loadConfig({}));
}

const pod = (images: string[], namespace = 'web', extra: Record<string, unknown> = {}) =>
  podRequest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace }, spec: { containers: images.map((image, index) => ({ name: `c${index}`, image, imagePullPolicy: 'Always' })), ...extra } }, { namespace });

const deployment = (image: string, namespace: string) =>
  podRequest(
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace }, spec: { template: { spec: { containers: [{ name: 'c', image }] } } } },
    { namespace, kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } },
  );

describe('validate with exceptions', () => {
  const policies = fleet();
  const judge = (request: ReturnType<typeof pod>, cluster: string, now = NOW) => validateImages(request, policies.configFor(cluster, request.namespace), now);
  const ecr = (region: string, image: string) => `111122223333.dkr.ecr.${region}.amazonaws.com/docker-hub/${image}`;

  it('lets an image under an active exception through, with a warning naming the exception and its expiry', () => {
    expect(judge(pod([ecr('us-east-1', 'library/busybox:1.36')], 'debug-1'), 'dev-us')).toEqual({
      allowed: true,
      warnings: ['allowed by exception busybox-debug until 2026-12-31'],
      exceptions: ['busybox-debug'],
    });
  });

  it('matches the image as written (a template) and as the cluster mirrors rewrite it (a Pod after mutate)', () => {
    expect(judge(deployment('busybox:1.36', 'debug-1'), 'dev-us')).toMatchObject({ allowed: true, exceptions: ['busybox-debug'] });
    expect(judge(pod([ecr('eu-west-1', 'library/busybox@sha256:' + 'a'.repeat(64))], 'debug-1'), 'prod-eu')).toMatchObject({ allowed: true, exceptions: ['busybox-debug'] });
  });

  it('applies only in its clusters and namespaces', () => {
    expect(judge(deployment('busybox:1.36', 'web'), 'prod-eu')).toMatchObject({ allowed: false });
    expect(judge(deployment('busybox:1.36', 'debug-1'), 'staging')).toMatchObject({ allowed: false });
    expect(validateImages(deployment('busybox:1.36', 'debug-1'), policies.configFor(undefined, 'debug-1'), NOW)).toMatchObject({ allowed: false });
  });

  it('ends after the last day of expires, UTC, judged at review time', () => {
    const request = pod(['quay.example.org/tools/cli:2'], 'web');
    const endOfDay = Date.UTC(2026, 11, 5);
    expect(judge(request, 'dev-us', endOfDay - 1)).toMatchObject({ allowed: true, exceptions: ['quay-tools'] });
    const after = judge(request, 'dev-us', endOfDay);
    expect(after).toMatchObject({ allowed: true, violation: expect.stringContaining('quay.example.org/tools/cli:2') });
    expect(after).not.toHaveProperty('exceptions');
    expect(judge(request, 'prod-eu', endOfDay + DAY)).toMatchObject({ allowed: false });
  });

  it('judges the other images as usual and still lists the exceptions used', () => {
    const decision = judge(pod(['quay.example.org/tools/cli:2', 'ghcr.io/x/y:1'], 'web'), 'prod-eu');
    expect(decision).toMatchObject({ allowed: false, exceptions: ['quay-tools'] });
    expect(decision.allowed === false && decision.message).toContain('ghcr.io/x/y:1');
    expect(decision.allowed === false && decision.message).not.toContain('quay.example.org');
    const warned = judge(pod(['quay.example.org/tools/cli:2', 'ghcr.io/x/y:1'], 'web'), 'dev-us');
    expect(warned).toMatchObject({ allowed: true, exceptions: ['quay-tools'] });
    expect(warned.allowed && warned.warnings?.[0]).toBe('allowed by exception quay-tools until 2026-12-04');
  });

  it('never changes what mutate does', () => {
    const request = pod(['busybox:1.36'], 'debug-1');
    const config = policies.configFor('dev-us', 'debug-1');
    expect(mutatePod(request, config)).toEqual(mutatePod(request, { ...config, exceptions: [] }));
  });
});

describe('per-cluster and per-namespace policy', () => {
  const policies = fleet();

  it('denies in one cluster what it warns in another', () => {
    const request = pod(['ghcr.io/x/y:1']);
    expect(validateImages(request, policies.configFor('prod-eu', 'web'), NOW)).toMatchObject({ allowed: false });
    expect(validateImages(request, policies.configFor('dev-us', 'web'), NOW)).toMatchObject({ allowed: true, warnings: expect.any(Array) });
    expect(validateImages(request, policies.configFor('prod-eu', 'sandbox'), NOW)).toMatchObject({ allowed: true, warnings: expect.any(Array) });
  });

  it("rewrites to each cluster's own mirror", () => {
    const request = pod(['nginx:1.27']);
    const imageOf = (cluster: string) => mutatePod(request, policies.configFor(cluster, 'web'));
    expect(imageOf('prod-eu')).toMatchObject({ patch: expect.arrayContaining([{ op: 'add', path: '/spec/containers/0/image', value: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/nginx:1.27' }]) });
    expect(imageOf('dev-us')).toMatchObject({ patch: expect.arrayContaining([{ op: 'add', path: '/spec/containers/0/image', value: '111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27' }]) });
  });

  it("honours a namespace's narrower registry list", () => {
    const request = pod(['registry.example.com/team-b/app:1'], 'team-a-web');
    const decision = validateImages(request, policies.configFor('prod-eu', 'team-a-web'), NOW);
    expect(decision).toMatchObject({ allowed: false });
    expect(decision.allowed === false && decision.message).toMatch(/^Invalid image. Images must come from registry.example.com\/team-a: /);
    expect(validateImages(pod(['registry.example.com/team-a/app:1'], 'team-a-web'), policies.configFor('dev-us', 'team-a-web'), NOW)).toEqual({ allowed: true });
  });
});

describe('pull secrets by registry', () => {
  const policies = fleet();
  const secretsAdded = (request: ReturnType<typeof pod>, cluster: string) => {
    const decision = mutatePod(request, policies.configFor(cluster, request.namespace));
    const operation = decision.allowed ? decision.patch?.find((op) => op.path.startsWith('/spec/imagePullSecrets')) : undefined;
    return operation ? (operation.value as { name: string }[]).map((secret) => secret.name) : [];
  };

  it('adds a secret with registries only to Pods with an image under them, after mirror rewriting', () => {
    expect(secretsAdded(pod(['nginx:1.27']), 'prod-eu')).toEqual(['registry-credentials', 'ecr-creds']);
    expect(secretsAdded(pod(['111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/nginx:1.27']), 'dev-us')).toEqual(['registry-credentials', 'ecr-creds']);
    expect(secretsAdded(pod(['nginx:1.27']), 'dev-us')).toEqual(['registry-credentials']);
    expect(secretsAdded(pod(['registry.example.com/app:1']), 'prod-eu')).toEqual(['registry-credentials']);
  });

  it('looks at init containers and image volumes too', () => {
    const request = pod(['registry.example.com/app:1'], 'web', {
      initContainers: [{ name: 'init', image: 'busybox:1.36', imagePullPolicy: 'Always' }],
    });
    expect(secretsAdded(request, 'prod-eu')).toEqual(['registry-credentials', 'ecr-creds']);
  });
});

describe('configuredHandler with a policy file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-policy-'));
  afterAll(() => undefined);
  const file = join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(POLICY));

  function handlerFor(cluster: string | undefined, env: Record<string, string> = {}) {
    const records: LogRecord[] = [];
    const handler = configuredHandler('validate', validateImages, { POLICY_FILE: file, ...env }, {
      log: (record) => records.push(record),
      authenticate: async () => (cluster === undefined ? {} : { cluster }),
    });
    return { handler, records };
  }

  it("applies the matched cluster's policy and logs the version, the cluster and the exceptions", async () => {
    const { handler, records } = handlerFor('dev-us');
    const result = await handler(restEvent(review(pod(['quay.example.org/tools/cli:2'], 'web'))));
    const response = JSON.parse(result.body).response;
    const today = new Date().toISOString().slice(0, 10);
    const line = records.find((record) => record.message === 'admission review');
    expect(line).toMatchObject({ cluster: 'dev-us', policyVersion: expect.stringMatching(/^[0-9a-f]{12}$/) });
    if (today <= '2026-12-04') {
      expect(response).toMatchObject({ allowed: true, warnings: ['allowed by exception quay-tools until 2026-12-04'] });
      expect(line).toMatchObject({ exceptions: ['quay-tools'], Excepted: 1 });
    } else {
      expect(response).toMatchObject({ allowed: true, warnings: expect.arrayContaining([expect.stringMatching(/^Invalid image/)]) });
      expect(line).toMatchObject({ Excepted: 0 });
    }
  });

  it('refuses a policy file beside a policy variable, naming both', () => {
    expect(() => handlerFor(undefined, { VALIDATION_ACTION: 'warn' })).toThrow(/POLICY_FILE is set, and so is VALIDATION_ACTION/);
    expect(() => handlerFor(undefined, { VALIDATION_ACTION: '' })).not.toThrow();
  });

  it('refuses an invalid policy at start-up, naming the field', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, clusters: { 'prod-eu': { validationAction: 'block' } } }));
    expect(() => configuredHandler('validate', validateImages, { POLICY_FILE: bad })).toThrow(ConfigError);
    expect(() => configuredHandler('validate', validateImages, { POLICY_FILE: bad })).toThrow(/clusters.prod-eu.validationAction: must be one of deny, warn, audit, got "block"/);
  });

  it('reads JSON only in the functions, and says so for YAML', () => {
    const yaml = join(dir, 'policy.yaml');
    writeFileSync(yaml, 'version: 1\n');
    expect(() => configuredHandler('validate', validateImages, { POLICY_FILE: yaml })).toThrow(/is not JSON: the functions read the JSON that packaging writes/);
    expect(() => configuredHandler('validate', validateImages, { POLICY_FILE: join(dir, 'missing.json') })).toThrow(/cannot be read/);
    expect(() => configuredHandler('validate', validateImages, { POLICY_FILE: yaml }, { readPolicyFile: readPolicyFileWithPositions })).not.toThrow();
  });

  it('gives the no-file form a version too, from the variables', async () => {
    const records: LogRecord[] = [];
    const handler = configuredHandler('validate', validateImages, { VALIDATION_ACTION: 'warn' }, { log: (record) => records.push(record) });
    await handler(restEvent(review(pod(['registry.example.com/app:1']))));
    const other: LogRecord[] = [];
    await configuredHandler('validate', validateImages, {}, { log: (record) => other.push(record) })(restEvent(review(pod(['registry.example.com/app:1']))));
    const versionOf = (lines: LogRecord[]) => lines.find((record) => record.message === 'admission review')?.policyVersion;
    expect(versionOf(records)).toMatch(/^[0-9a-f]{12}$/);
    expect(versionOf(records)).not.toBe(versionOf(other));
  });
});

describe('a policy naming a cluster the token secret has no token for', () => {
  let endpoint: SecretsManagerEndpoint;
  let restore: () => void;
  beforeAll(async () => {
    endpoint = await startSecretsManagerEndpoint('fleet/tokens');
    restore = useEndpointEnvironment(endpoint);
  });
  afterAll(async () => {
    restore?.();
    await endpoint?.close();
  });

  it('is logged once at start-up, naming those clusters, and the named ones still get in', async () => {
    endpoint.setCurrent(JSON.stringify({ tokens: { 'prod-eu': 'prod-eu-token-0123456789' } }));
    const dir = mkdtempSync(join(tmpdir(), 'fleet-missing-'));
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify(POLICY));
    const records: LogRecord[] = [];
    const handler = configuredHandler('validate', validateImages, { POLICY_FILE: file, WEBHOOK_TOKEN_SECRET_ID: endpoint.secretName }, { log: (record) => records.push(record) });
    const event = () => restEvent(review(pod(['registry.example.com/app@sha256:' + 'a'.repeat(64)])), { pathParameters: { token: 'prod-eu-token-0123456789' } });
    for (let i = 0; i < 3; i += 1) expect((await handler(event())).statusCode).toBe(200);
    const warnings = records.filter((record) => record.level === 'WARN' && String(record.message).includes('no token for'));
    expect(warnings).toEqual([expect.objectContaining({ clusters: ['dev-us'], webhook: 'validate', policyVersion: expect.stringMatching(/^[0-9a-f]{12}$/) })]);
    expect(records.find((record) => record.message === 'admission review')).toMatchObject({ cluster: 'prod-eu' });
  });
});
