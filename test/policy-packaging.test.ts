/**
 * The policy file's delivery (scripts/policy-packaging.cjs, DESIGN "Fleet policy", Delivery):
 * `serverless package` checks the file and ships it as JSON in each zip, refuses an invalid file
 * with `file:line:column` and a policy param with the file field to use; the deploy guard's
 * policy checks on their own.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPolicyFile } from '../lib/cli/policy-file';
import { ROOT, type RunResult, extractZip, runServerless, serviceCopy } from './support/serverless';

const require = createRequire(import.meta.url);
const packaging = require('../scripts/policy-packaging.cjs') as {
  refusePolicyParams: (cli: unknown, config: unknown) => void;
  exampleRegistryFields: (document: unknown) => string[];
  assertPolicyDeployable: (template: unknown, options: { stage: string; allowExampleRegistry?: string }) => void;
};

const output = (result: RunResult) => `${result.stdout}\n${result.stderr}`;

describe('serverless package with a policy file', () => {
  const dirs: string[] = [];
  let fleet: RunResult;
  let fleetDir: string;
  let invalid: RunResult;
  let param: RunResult;

  beforeAll(async () => {
    fleetDir = serviceCopy('policy-fleet');
    const invalidDir = serviceCopy('policy-invalid');
    const paramDir = serviceCopy('policy-param');
    dirs.push(fleetDir, invalidDir, paramDir);
    writeFileSync(join(invalidDir, 'bad-policy.yaml'), 'version: 1\ndefaults:\n  validationAction: Deny\nclusters:\n  prod-eu:\n    imageMirrors: { docker.io: docker.io/mirror }\n');
    [fleet, invalid, param] = await Promise.all([
      runServerless(['package', '--package', 'out', '--param=policyFile=examples/policies/fleet.yaml'], fleetDir, 120_000),
      runServerless(['package', '--package', 'out', '--param=policyFile=bad-policy.yaml'], invalidDir, 120_000),
      runServerless(['package', '--package', 'out', '--param=validationAction=warn'], paramDir, 120_000),
    ]);
  }, 150_000);
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('puts the policy into each zip as the JSON of the file, and records its version in the template', () => {
    expect(fleet.code, output(fleet)).toBe(0);
    const check = checkPolicyFile(join(ROOT, 'examples/policies/fleet.yaml'));
    for (const name of ['mutate', 'validate']) {
      const dir = join(fleetDir, `unzipped-${name}`);
      expect(extractZip(join(fleetDir, 'out', `${name}.zip`), dir).sort()).toEqual([`functions/${name}.js`, 'policy.json']);
      expect(JSON.parse(readFileSync(join(dir, 'policy.json'), 'utf8'))).toEqual(check.document);
    }
    const template = JSON.parse(readFileSync(join(fleetDir, 'out', 'cloudformation-template-update-stack.json'), 'utf8'));
    expect(template.Metadata.AdmissionWebhooksPolicy).toEqual({ policyFile: 'examples/policies/fleet.yaml', policyVersion: check.version, exampleRegistry: ['defaults.allowedRegistries', 'namespaces.team-a-*.allowedRegistries'] });
    // The expired exception of the example is a warning, not an error.
    expect(output(fleet)).toContain('examples/policies/fleet.yaml:39:14: warning: exceptions[1].expires: exception legacy-tools expired on 2024-06-30');
  });

  it('refuses an invalid policy file with every problem as file:line:column: field: message', () => {
    expect(invalid.code).not.toBe(0);
    const text = output(invalid);
    expect(text).toContain('the policy file is not valid:');
    expect(text).toContain('bad-policy.yaml:3:21: defaults.validationAction: must be one of deny, warn, audit, got "Deny"');
    expect(text).toContain('bad-policy.yaml:6:19: clusters.prod-eu.imageMirrors: has target "docker.io/mirror", which overlaps the source "docker.io"');
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
