/**
 * The policy file's delivery (deploy/policy-packaging.cjs, DESIGN "Fleet policy", Delivery):
 * `serverless package` checks the file and ships it as JSON in each zip, refuses an invalid file
 * with `file:line:column` and a policy param with the file field to use; the deploy guard's
 * policy checks on their own.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPolicyFile } from '../lib/cli/policy-file';
import { invokeUnzipped } from './support/bundle';
import { podRequest, restEvent, review } from './support/reviews';
import { SecretsManagerEndpoint, endpointEnvironment } from './support/secrets-manager-endpoint';
import { ROOT, type RunResult, extractZip, runServerless, serviceCopy } from './support/serverless';

const require = createRequire(import.meta.url);
const packaging = require('../deploy/policy-packaging.cjs') as {
  refusePolicyParams: (cli: unknown, config: unknown) => void;
  exampleRegistryFields: (document: unknown) => string[];
  assertPolicyDeployable: (template: unknown, options: { stage: string; allowExampleRegistry?: string }) => void;
};

const output = (result: RunResult) => `${result.stdout}\n${result.stderr}`;

describe('serverless package with a policy file', () => {
  const dirs: string[] = [];
  let fleet: RunResult;
  let fleetDir: string;
  /** Outside the service copy, whose node_modules would put the SDK on the bundles' module path. */
  let unzipped: string;
  const zipEntries: Record<string, string[]> = {};
  let invalid: RunResult;
  let param: RunResult;

  beforeAll(async () => {
    fleetDir = serviceCopy('policy-fleet');
    const invalidDir = serviceCopy('policy-invalid');
    const paramDir = serviceCopy('policy-param');
    unzipped = mkdtempSync(join(tmpdir(), 'admission-webhooks-sls-policy-zips-'));
    dirs.push(fleetDir, invalidDir, paramDir, unzipped);
    writeFileSync(join(invalidDir, 'bad-policy.yaml'), 'version: 1\ndefaults:\n  validationAction: Deny\nclusters:\n  prod-eu:\n    imageMirrors: { docker.io: docker.io/mirror }\n    sourceIps: [203.0.113.0/24, 203.0.113.0/255]\n');
    [fleet, invalid, param] = await Promise.all([
      runServerless(['package', '--package', 'out', '--param=policyFile=examples/policies/fleet.yaml'], fleetDir, 120_000),
      runServerless(['package', '--package', 'out', '--param=policyFile=bad-policy.yaml'], invalidDir, 120_000),
      runServerless(['package', '--package', 'out', '--param=validationAction=warn'], paramDir, 120_000),
    ]);
    if (fleet.code === 0) for (const name of ['mutate', 'validate']) zipEntries[name] = extractZip(join(fleetDir, 'out', `${name}.zip`), join(unzipped, name));
  }, 150_000);
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('puts the policy into each zip as the JSON of the file, and records its version in the template', () => {
    expect(fleet.code, output(fleet)).toBe(0);
    const check = checkPolicyFile(join(ROOT, 'examples/policies/fleet.yaml'));
    for (const name of ['mutate', 'validate']) {
      const dir = join(unzipped, name);
      expect([...(zipEntries[name] ?? [])].sort()).toEqual([`functions/${name}.js`, 'policy.json']);
      expect(JSON.parse(readFileSync(join(dir, 'policy.json'), 'utf8'))).toEqual(check.document);
    }
    const template = JSON.parse(readFileSync(join(fleetDir, 'out', 'cloudformation-template-update-stack.json'), 'utf8'));
    expect(template.Metadata.AdmissionWebhooksPolicy).toEqual({ policyFile: 'examples/policies/fleet.yaml', policyVersion: check.version, exampleRegistry: ['defaults.allowedRegistries', 'namespaces.team-a-*.allowedRegistries'] });
    // The expired exception of the example is a warning, not an error.
    expect(output(fleet)).toContain('Warning: examples/policies/fleet.yaml:39:14: exceptions[1].expires: exception legacy-tools expired on 2024-06-30');
  });

  describe('the packaged functions, given the fleet token secret', () => {
    const TOKENS = { 'prod-eu': 'prod-eu-token-0123456789', 'dev-us': 'dev-us-token-0123456789' };
    let secrets: SecretsManagerEndpoint;
    beforeAll(async () => {
      secrets = await SecretsManagerEndpoint.start('admission-webhooks/dev/token');
      secrets.setCurrent(JSON.stringify({ tokens: TOKENS }));
    });
    afterAll(async () => secrets?.close());

    const call = async (name: 'mutate' | 'validate', cluster: keyof typeof TOKENS, object: Record<string, unknown>, namespace: string) => {
      const root = join(unzipped, name);
      const template = JSON.parse(readFileSync(join(fleetDir, 'out', 'cloudformation-template-update-stack.json'), 'utf8'));
      const variables = template.Resources[name === 'mutate' ? 'MutateLambdaFunction' : 'ValidateLambdaFunction'].Properties.Environment.Variables;
      const event = restEvent(review(podRequest(object, { namespace })), { pathParameters: { token: TOKENS[cluster] } });
      const { result, log } = await invokeUnzipped(root, name, {
        ...variables,
        ...endpointEnvironment(secrets),
      }, event);
      expect(result.statusCode, log).toBe(200);
      const line = log.split('\n').find((text) => text.includes('"admission review"'));
      return { response: JSON.parse(result.body).response, line: line ? JSON.parse(line) : undefined };
    };
    const pod = (image: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image, imagePullPolicy: 'Always' }] } });
    const version = () => checkPolicyFile(join(ROOT, 'examples/policies/fleet.yaml')).version;

    it('deny in one cluster what they warn in another, naming the cluster and the policy version', async () => {
      const prod = await call('validate', 'prod-eu', pod('ghcr.io/acme/app:1.0'), 'web');
      expect(prod.response).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(prod.line).toMatchObject({ cluster: 'prod-eu', policyVersion: version(), decision: 'denied' });
      const dev = await call('validate', 'dev-us', pod('ghcr.io/acme/app:1.0'), 'web');
      expect(dev.response).toMatchObject({ allowed: true, warnings: expect.arrayContaining([expect.stringMatching(/^Invalid image/)]) });
      expect(dev.line).toMatchObject({ cluster: 'dev-us', policyVersion: version(), decision: 'warned' });
    });

    it("rewrite to each cluster's own mirror", async () => {
      const patchOf = (response: { patch: string }) => JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
      const prod = await call('mutate', 'prod-eu', pod('nginx:1.27'), 'web');
      expect(patchOf(prod.response)).toContainEqual({ op: 'add', path: '/spec/containers/0/image', value: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/nginx:1.27' });
      const dev = await call('mutate', 'dev-us', pod('nginx:1.27'), 'web');
      expect(patchOf(dev.response)).toContainEqual({ op: 'add', path: '/spec/containers/0/image', value: '111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27' });
    });

    it("honour a namespace's narrower registry list", async () => {
      const outside = await call('validate', 'prod-eu', pod('registry.example.com/team-b/app@sha256:' + 'a'.repeat(64)), 'team-a-web');
      expect(outside.response).toMatchObject({ allowed: false, status: { message: expect.stringMatching(/^Invalid image. Images must come from registry.example.com\/team-a:/) } });
      const inside = await call('validate', 'prod-eu', pod('registry.example.com/team-a/app@sha256:' + 'a'.repeat(64)), 'team-a-web');
      expect(inside.response).toMatchObject({ allowed: true });
    });

    it('honour an unexpired exception, and not an expired one', async () => {
      // examples/policies/fleet.yaml: busybox-debug (dev-us, debug-*) until 2027-06-30; legacy-tools ended 2024-06-30.
      const debug = await call('validate', 'dev-us', pod('111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:1.36'), 'debug-1');
      const today = new Date().toISOString().slice(0, 10);
      if (today <= '2027-06-30') {
        expect(debug.response).toEqual(expect.objectContaining({ allowed: true, warnings: ['allowed by exception busybox-debug until 2027-06-30'] }));
        expect(debug.line).toMatchObject({ exceptions: ['busybox-debug'], Excepted: 1 });
      }
      const legacy = await call('validate', 'prod-eu', pod('quay.example.org/tools/cli@sha256:' + 'b'.repeat(64)), 'web');
      expect(legacy.response).toMatchObject({ allowed: false });
      expect(legacy.line).toMatchObject({ Excepted: 0 });
      expect(legacy.line).not.toHaveProperty('exceptions');
    });
  });

  it('refuses an invalid policy file with every problem as file:line:column: field: message', () => {
    expect(invalid.code).not.toBe(0);
    const text = output(invalid);
    expect(text).toContain('the policy file is not valid:');
    expect(text).toContain('bad-policy.yaml:3:21: defaults.validationAction: must be one of deny, warn, audit, got "Deny"');
    expect(text).toContain('bad-policy.yaml:6:19: clusters.prod-eu.imageMirrors: has target "docker.io/mirror", which overlaps the source "docker.io"');
    expect(text).toContain('bad-policy.yaml:7:33: clusters.prod-eu.sourceIps[1]: "203.0.113.0/255", which is not an IPv4 or IPv6 address or CIDR block');
    expect(text).not.toContain('Service packaged');
  });

  it('refuses a policy param, naming the file field to use instead', () => {
    expect(param.code).not.toBe(0);
    expect(output(param)).toContain('--param=validationAction=warn: set defaults.validationAction (or clusters.<cluster>.validationAction) in the policy file instead');
  });
});

describe('the policy checks on their own', () => {
  it('refuses policy params in serverless.yml stage blocks too, and lets other params through', () => {
    expect(() => packaging.refusePolicyParams(['webhookTokenSecretId=x', 'provisionedConcurrency=2'], { default: { wafEnabled: 'true' } })).not.toThrow();
    expect(() => packaging.refusePolicyParams([], { staging: { requireDigest: 'true' } })).toThrow(
      'params.staging.requireDigest in serverless.yml: set defaults.requireDigest (or clusters.<cluster>.requireDigest) in the policy file instead',
    );
  });

  it('finds the example registry in any layer, and where defaults leave the registries out', () => {
    expect(packaging.exampleRegistryFields({ version: 1 })).toEqual(['defaults.allowedRegistries (left out: the built-in default)']);
    expect(
      packaging.exampleRegistryFields({
        version: 1,
        defaults: { allowedRegistries: ['ghcr.io/acme'] },
        namespaces: { 'team-*': { allowedRegistries: ['registry.example.com/team'] } },
        clusters: { dev: { allowedRegistries: ['Registry.Example.com'], namespaces: { x: { allowedRegistries: ['ghcr.io'] } } } },
      }),
    ).toEqual(['namespaces.team-*.allowedRegistries', 'clusters.dev.allowedRegistries']);
    expect(packaging.exampleRegistryFields({ version: 1, defaults: { allowedRegistries: ['registry.example.com.evil.io'] } })).toEqual([]);
  });

  const template = (variables: Record<string, string>, exampleRegistry: string[] = []) => ({
    Metadata: { AdmissionWebhooksPolicy: { policyFile: 'policy.yaml', policyVersion: '0123456789ab', exampleRegistry } },
    Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: variables } } } },
  });
  const good = { WEBHOOK_TOKEN_SECRET_ID: 'team/token', SECRET_CACHE_TTL_SECONDS: '300', POLICY_FILE: 'policy.json' };

  it("refuses a template whose functions would fail their own start-up check, with the function's message", () => {
    expect(() => packaging.assertPolicyDeployable(template(good), { stage: 'prod' })).not.toThrow();
    expect(() => packaging.assertPolicyDeployable(template({ ...good, SECRET_CACHE_TTL_SECONDS: '5m' }), { stage: 'prod' })).toThrow(
      'function Fn would fail to start: Invalid configuration: SECRET_CACHE_TTL_SECONDS must be a whole number of seconds, got "5m"',
    );
    expect(() => packaging.assertPolicyDeployable(template({ ...good, VALIDATION_ACTION: 'warn' }), { stage: 'prod' })).toThrow(/POLICY_FILE is set, and so is VALIDATION_ACTION/);
    expect(() => packaging.assertPolicyDeployable({ Resources: {} }, { stage: 'prod' })).toThrow(/records no policy file/);
  });

  it('refuses the example registry on every stage but local, unless it is meant', () => {
    const withExample = template(good, ['defaults.allowedRegistries']);
    expect(() => packaging.assertPolicyDeployable(withExample, { stage: 'prod' })).toThrow(/Refusing to deploy stage prod: .* allows registry.example.com/);
    expect(() => packaging.assertPolicyDeployable(withExample, { stage: 'prod', allowExampleRegistry: 'true' })).not.toThrow();
    expect(() => packaging.assertPolicyDeployable(withExample, { stage: 'local' })).not.toThrow();
  });
});
