/**
 * The tools on the fleet policy file (DESIGN "Fleet policy": tools, impact before rollout):
 * `review --policy FILE [--cluster C]`, `review --policy NEW --compare OLD`, `policy check` and
 * `policy show`, in-process as the bin runs them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR, run } from '../lib/cli/main';
import { checkPolicyFile } from '../lib/cli/policy-file';
import { policyCheck } from '../lib/cli/policy-commands';

const FLEET = 'test/fixtures/policies/fleet.yaml';
const PODS = 'test/fixtures/policies/pods.yaml';
const DEFAULT_POLICY = 'policy.yaml';

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { env, stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), readStdin: () => '', stdinIsTTY: false });
  return { code, stdout, stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'cli-policy-'));
const file = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

describe('review --policy FILE --cluster NAME', () => {
  it('judges as that cluster would: prod-eu denies, dev-us warns, the exception applies in debug namespaces', async () => {
    const prod = await cli(['review', '-f', PODS, '--policy', FLEET, '--cluster', 'prod-eu', '-o', 'json']);
    expect(prod.code).toBe(EXIT_DENIED);
    const report = JSON.parse(prod.stdout);
    expect(report.policyVersion).toBe(checkPolicyFile(FLEET).version);
    expect(report.cluster).toBe('prod-eu');
    const verdicts = Object.fromEntries(report.results.map((result: { name: string; verdict: string }) => [result.name, result.verdict]));
    expect(verdicts).toEqual({ 'team-app': 'denied', debug: 'allowed', tools: 'denied' });
    const debug = report.results.find((result: { name: string }) => result.name === 'debug');
    expect(debug.warnings).toEqual(['allowed by exception busybox-debug until 2999-12-31']);
    expect(debug.object.spec.containers[0].image).toBe('111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/busybox:1.36');

    const dev = await cli(['review', '-f', PODS, '--policy', FLEET, '--cluster', 'dev-us']);
    expect(dev.code).toBe(EXIT_ALLOWED);
    expect(dev.stdout).toContain('111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:1.36');
    expect(dev.stdout).toMatch(/policy test\/fixtures\/policies\/fleet.yaml, version [0-9a-f]{12}, cluster dev-us\n$/);
  });

  it('holds a namespace to its narrower registry list, and lets an expired exception lapse', async () => {
    const { stdout } = await cli(['review', '-f', PODS, '--policy', FLEET, '--cluster', 'prod-eu']);
    expect(stdout).toContain('Images must come from registry.example.com/team-a: container "app" uses "registry.example.com/team-b/app:1.0"');
    expect(stdout).toContain('container "cli" uses "quay.example.org/tools/cli:2"');
  });

  it('takes the namespace from the object, else --namespace', async () => {
    const pod = file('pod.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  containers: [{ name: c, image: "registry.example.com/team-b/x:1" }]\n');
    expect((await cli(['review', '-f', pod, '--policy', FLEET])).code).toBe(EXIT_ALLOWED);
    expect((await cli(['review', '-f', pod, '--policy', FLEET, '-n', 'team-a-x'])).code).toBe(EXIT_DENIED);
  });

  it('warns of a cluster the policy does not name, and judges it with the defaults', async () => {
    const outcome = await cli(['review', '-f', PODS, '--policy', FLEET, '--cluster', 'staging']);
    expect(outcome.stderr).toContain('warning: the policy names no cluster "staging" (it has prod-eu, dev-us)');
    expect(outcome.code).toBe(EXIT_DENIED);
  });

  it('exits 2 on an invalid policy, with every problem at its file:line:column, reviewing nothing', async () => {
    const bad = file('bad.yaml', 'version: 1\ndefaults:\n  validationAction: block\n  requireDigest: maybe\n');
    const outcome = await cli(['review', '-f', PODS, '--policy', bad]);
    expect(outcome.code).toBe(EXIT_ERROR);
    expect(outcome.stdout).toBe('');
    expect(outcome.stderr).toContain(`${bad}:3:21: defaults.validationAction: must be one of deny, warn, audit, got "block"`);
    expect(outcome.stderr).toContain(`${bad}:4:18: defaults.requireDigest: must be true or false, got "maybe"`);
  });

  it('refuses a policy flag beside --policy, --cluster or --compare without it, and a policy variable in the environment', async () => {
    expect(await cli(['review', '-f', PODS, '--policy', FLEET, '--validation-action', 'warn'])).toMatchObject({
      code: EXIT_ERROR,
      stderr: expect.stringContaining('--policy and --validation-action both set the policy'),
    });
    expect((await cli(['review', '-f', PODS, '--cluster', 'prod-eu'])).stderr).toContain('--cluster needs --policy FILE');
    expect((await cli(['review', '-f', PODS, '--compare', FLEET])).stderr).toContain('--compare needs --policy FILE');
    expect(await cli(['review', '-f', PODS, '--policy', FLEET], { ALLOWED_REGISTRIES: 'ghcr.io' })).toMatchObject({
      code: EXIT_ERROR,
      stderr: expect.stringContaining('POLICY_FILE is set, and so is ALLOWED_REGISTRIES'),
    });
  });
});

describe('review --policy NEW --compare OLD', () => {
  it('lists every object whose verdict or patch changes and exits 1 when one goes from allowed to denied', async () => {
    const outcome = await cli(['review', '-f', PODS, '--policy', FLEET, '--cluster', 'prod-eu', '--compare', DEFAULT_POLICY, '-o', 'json']);
    expect(outcome.code).toBe(EXIT_DENIED);
    const report = JSON.parse(outcome.stdout);
    expect(report.policies).toEqual({
      new: { file: FLEET, version: checkPolicyFile(FLEET).version },
      old: { file: DEFAULT_POLICY, version: checkPolicyFile(DEFAULT_POLICY).version },
    });
    const changes = Object.fromEntries(report.changes.map((change: { name: string }) => [change.name, change]));
    // Allowed under the default policy (registry.example.com), denied by the team's narrower path.
    expect(changes['team-app']).toMatchObject({ verdictChanged: true, newlyDenied: true, old: { verdict: 'allowed' }, new: { verdict: 'denied' } });
    // Denied under the default policy (Docker Hub), let through by the exception, rewritten to the mirror.
    expect(changes.debug).toMatchObject({ verdictChanged: true, newlyDenied: false, patchChanged: true, old: { verdict: 'denied' }, new: { verdict: 'allowed' } });
    // Denied under both: only listed where its patch changes.
    expect(changes.tools).toBeUndefined();
    expect(report.summary).toEqual({ objects: 3, changed: 2, newlyDenied: 1, errors: 0 });
  });

  it('exits 0 when nothing goes from allowed to denied, also when objects are denied under both', async () => {
    const same = await cli(['review', '-f', PODS, '--policy', DEFAULT_POLICY, '--compare', DEFAULT_POLICY]);
    expect(same.code).toBe(EXIT_ALLOWED);
    expect(same.stdout).toMatch(/3 objects, 0 changed, 0 newly denied\n$/);
    const looser = await cli(['review', '-f', PODS, '--policy', DEFAULT_POLICY, '--compare', FLEET]);
    expect(looser.code).toBe(EXIT_ALLOWED);
    expect(looser.stdout).toContain('Pod/team-app (namespace team-a-web): denied -> allowed');
  });

  it('exits 2 for an invalid old policy or unreadable input', async () => {
    const bad = file('old.yaml', 'version: 2\n');
    expect(await cli(['review', '-f', PODS, '--policy', FLEET, '--compare', bad])).toMatchObject({ code: EXIT_ERROR, stderr: expect.stringContaining(`${bad}:1:10: version: must be 1`) });
    const broken = file('broken.yaml', 'kind: [\n');
    expect((await cli(['review', '-f', broken, '--policy', FLEET, '--compare', DEFAULT_POLICY])).code).toBe(EXIT_ERROR);
  });
});

describe('policy check FILE', () => {
  it('exits 0 for a valid file, naming its version, with expired exceptions as warnings', async () => {
    const outcome = await cli(['policy', 'check', FLEET]);
    expect(outcome.code).toBe(EXIT_ALLOWED);
    expect(outcome.stdout).toBe(`${FLEET}: valid, version ${checkPolicyFile(FLEET).version}; 2 clusters, 2 exceptions\n`);
    expect(outcome.stderr).toMatch(/^test\/fixtures\/policies\/fleet.yaml:\d+:\d+: warning: exceptions\[1\]\.expires: exception old-tools expired on 2001-01-01/);
  });

  it('lists exceptions that end within 14 days', () => {
    const soon = file('soon.yaml', 'version: 1\nexceptions:\n  - { name: soon, reason: r, expires: 2026-12-10, images: [x.io] }\n');
    const outcome = policyCheck(soon, Date.UTC(2026, 11, 4));
    expect(outcome.code).toBe(0);
    expect(outcome.stderr).toBe(`${soon}:3:39: warning: exceptions[0].expires: exception soon expires on 2026-12-10 (in 6 days): renew it or fix what it lets through\n`);
  });

  it('exits 1 for an invalid file with every problem, 2 for a file it cannot read', async () => {
    const bad = file('check-bad.yaml', 'version: 1\ndefaults: { colour: blue, requireDigest: 1 }\n');
    const outcome = await cli(['policy', 'check', bad]);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.split('\n').filter((line) => line.startsWith(bad))).toHaveLength(3);
    expect(outcome.stderr).toContain(`${bad}: invalid, 2 problems`);
    expect((await cli(['policy', 'check', join(tmp, 'none.yaml')])).code).toBe(2);
    expect((await cli(['policy', 'check'])).stderr).toContain('policy check needs the policy file');
    expect((await cli(['policy', 'lint', FLEET])).stderr).toContain('unknown policy command "lint"');
  });

  it('exits 1 for a source address that is not one, and 0 with a warning naming each cluster left unbound', async () => {
    const bad = file('check-cidr.yaml', 'version: 1\nclusters:\n  prod-eu: { sourceIps: [203.0.113.0/33] }\n');
    const refused = await cli(['policy', 'check', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${bad}:3:26: clusters.prod-eu.sourceIps[0]: "203.0.113.0/33", which is not an IPv4 or IPv6 address or CIDR block`);
    const partly = file('check-partly.yaml', 'version: 1\nclusters:\n  prod-eu: { sourceIps: [203.0.113.7] }\n  dev-us: {}\n  staging: {}\n');
    const outcome = await cli(['policy', 'check', partly]);
    expect(outcome.code).toBe(0);
    expect(outcome.stderr.split('\n').filter(Boolean)).toEqual([
      `${partly}:4:3: warning: clusters.dev-us: cluster dev-us lists no sourceIps, while prod-eu does: its token is accepted from any address, and the edge allow-list is built from the policy only when every cluster lists them`,
      `${partly}:5:3: warning: clusters.staging: cluster staging lists no sourceIps, while prod-eu does: its token is accepted from any address, and the edge allow-list is built from the policy only when every cluster lists them`,
    ]);
  });
});

describe('policy show FILE', () => {
  it('prints the effective policy of a cluster and namespace as YAML, with the version', async () => {
    const outcome = await cli(['policy', 'show', FLEET, '--cluster', 'prod-eu', '--namespace', 'team-a-web']);
    expect(outcome.code).toBe(0);
    const shown = parse(outcome.stdout);
    expect(shown).toMatchObject({
      version: checkPolicyFile(FLEET).version,
      cluster: 'prod-eu',
      namespace: 'team-a-web',
      policy: {
        allowedRegistries: ['registry.example.com/team-a'],
        requireDigest: true,
        validationAction: 'deny',
        imageMirrors: { 'docker.io': '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub' },
        defaultImagePullPolicy: 'Always',
      },
      exceptions: [{ name: 'old-tools', expires: '2001-01-01', active: false, images: ['quay.example.org/tools'] }],
    });
    const defaults = parse((await cli(['policy', 'show', FLEET])).stdout);
    expect(defaults).toMatchObject({ cluster: null, namespace: null, policy: { requireDigest: false, imageMirrors: {} } });
  });

  it("shows where a bound cluster calls from, as the file writes it; nothing for a cluster or a caller it does not bind", async () => {
    const bound = 'examples/policies/source-bound.yaml';
    expect(parse((await cli(['policy', 'show', bound, '--cluster', 'prod-eu'])).stdout).policy.sourceIps).toEqual(['203.0.113.10', '203.0.113.11', '2001:db8:10::/56']);
    expect(parse((await cli(['policy', 'show', 'examples/policies/private-endpoint.yaml', '--cluster', 'dev-us'])).stdout).policy.vpcEndpointIds).toEqual(['vpce-1a2b3c4d']);
    expect(parse((await cli(['policy', 'show', bound])).stdout).policy).not.toHaveProperty('sourceIps');
    expect(parse((await cli(['policy', 'show', FLEET, '--cluster', 'prod-eu'])).stdout).policy).not.toHaveProperty('sourceIps');
  });
});
