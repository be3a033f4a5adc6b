/**
 * The fleet policy file (DESIGN "Fleet policy"): every error of the design's list with its
 * position and a message that says what to change, the layering, and the version.
 */
import { describe, expect, it } from 'vitest';
import { checkPolicyText, problemLine } from '../lib/cli/policy-file';
import { loadConfig, policyDocumentFromEnv } from '../lib/policies/fleet/config';
import { createFleetPolicy } from '../lib/policies/fleet/fleet-policy';
import { checkPolicyDocument } from '../lib/policies/fleet/policy-document';
import { canonicalJson, policyVersion } from '../lib/policies/fleet/policy-version';

const NOW = Date.UTC(2026, 11, 4, 12);

/** The problems of a policy text, as `line:column: field: message` (the file name left out). */
function problemsOf(text: string): string[] {
  const check = checkPolicyText(text, 'p.yaml', NOW);
  return check.problems.map((problem) => problemLine('p.yaml', problem).replace(/^p\.yaml:/, ''));
}

function fleetOf(text: string) {
  const check = checkPolicyText(text, 'p.yaml', NOW);
  expect(check.problems).toEqual([]);
  if (!check.policy || !check.version) throw new Error('expected a valid policy');
  return createFleetPolicy(check.policy, check.version, loadConfig({}));
}

describe('policy file errors: file:line:column, the field, what to change', () => {
  it.each<[string, string, string]>([
    ['an unknown top-level field', 'version: 1\npolicies: {}\n', '2:1: policies: unknown field "policies": a policy has version, defaults, namespaces, clusters, exceptions'],
    ['no version', 'defaults: {}\n', '1:1: needs version: 1'],
    ['another version', 'version: 2\n', '1:10: version: must be 1, got a number (2)'],
    ['an unknown field in defaults', 'version: 1\ndefaults:\n  validationActions: warn\n', '3:3: defaults.validationActions: unknown field "validationActions"'],
    ['a wrong type', 'version: 1\ndefaults:\n  requireDigest: "true"\n', '3:18: defaults.requireDigest: must be true or false, got "true"'],
    ['YAML 1.1 yes is a string in YAML 1.2', 'version: 1\ndefaults:\n  requireDigest: yes\n', '3:18: defaults.requireDigest: must be true or false, got "yes"'],
    ['a list given as a string', 'version: 1\ndefaults:\n  allowedRegistries: registry.example.com\n', '3:22: defaults.allowedRegistries: must be a list, got "registry.example.com"'],
    ['an empty registry list', 'version: 1\ndefaults:\n  allowedRegistries: []\n', '3:22: defaults.allowedRegistries: is empty: name at least one registry'],
    ['a bad registry, at the entry', 'version: 1\ndefaults:\n  allowedRegistries:\n    - registry.example.com\n    - nginx\n', '5:7: defaults.allowedRegistries[1]: "nginx" is not a registry'],
    ['a bad action', 'version: 1\ndefaults:\n  validationAction: Deny\n', '3:21: defaults.validationAction: must be one of deny, warn, audit, got "Deny"'],
    ['a bad pull policy', 'version: 1\ndefaults:\n  defaultImagePullPolicy: always\n', 'must be one of Always, IfNotPresent, Never, got "always"'],
    ['a bad namespace', 'version: 1\ndefaults:\n  exemptNamespaces: [Kube-System]\n', '3:22: defaults.exemptNamespaces[0]: "Kube-System", which is not a valid namespace name'],
    ['a bad tag', 'version: 1\ndefaults:\n  disallowedTags: ["-x"]\n', '"-x", which is not a valid image tag'],
    ['overlapping mirrors, at the cluster map', 'version: 1\nclusters:\n  prod-eu:\n    imageMirrors: { docker.io: docker.io/mirror }\n', '4:19: clusters.prod-eu.imageMirrors: has target "docker.io/mirror", which overlaps the source "docker.io"'],
    ['a mirror target that is not a registry', 'version: 1\ndefaults:\n  imageMirrors: { docker.io: nginx }\n', 'defaults.imageMirrors: has "docker.io=nginx", whose target "nginx" is not a registry'],
    ['mirrors as a list', 'version: 1\ndefaults:\n  imageMirrors: [docker.io=mirror.example.com]\n', '3:17: defaults.imageMirrors: must be a map of source: target, got a list'],
    ['a field a namespace entry may not set', 'version: 1\nnamespaces:\n  team-a: { imagePullSecrets: [x] }\n', '3:13: namespaces.team-a.imagePullSecrets: unknown field "imagePullSecrets": this map may set allowedRegistries, disallowedTags, requireDigest, validationAction'],
    ['a bad namespace key', 'version: 1\nnamespaces:\n  "team_a*": {}\n', '3:3: namespaces["team_a*"]: "team_a*" is not a namespace name or a prefix ending in *'],
    ['a bad cluster name', 'version: 1\nclusters:\n  "prod eu": {}\n', '3:3: clusters["prod eu"]: "prod eu" is not a cluster name'],
    ['a pull secret entry without registries', 'version: 1\ndefaults:\n  imagePullSecrets: [{ name: ecr }]\n', '3:22: defaults.imagePullSecrets[0]: needs registries'],
    ['a pull secret entry with a bad registry', 'version: 1\ndefaults:\n  imagePullSecrets: [{ name: ecr, registries: [ecr] }]\n', 'defaults.imagePullSecrets[0].registries[0]: "ecr" is not a registry'],
    ['an exception without reason', 'version: 1\nexceptions:\n  - name: a\n    expires: 2027-01-31\n    images: [docker.io/library/busybox]\n', '3:5: exceptions[0]: needs reason: why the exception exists'],
    ['an exception without expires', 'version: 1\nexceptions:\n  - name: a\n    reason: r\n    images: [docker.io/library/busybox]\n', '3:5: exceptions[0]: needs expires: the last day it applies, YYYY-MM-DD (UTC)'],
    ['an exception without images', 'version: 1\nexceptions:\n  - { name: a, reason: r, expires: 2027-01-31 }\n', 'exceptions[0]: needs images'],
    ['a date that does not exist', 'version: 1\nexceptions:\n  - { name: a, reason: r, expires: 2027-02-30, images: [x.io] }\n', 'exceptions[0].expires: "2027-02-30" is not a date'],
    ['an unknown exception field', 'version: 1\nexceptions:\n  - { name: a, reason: r, expires: 2027-01-31, images: [x.io], cluster: [dev] }\n', 'exceptions[0].cluster: unknown field "cluster": an exception has name, reason, expires, clusters, namespaces, images'],
    ['a duplicate exception name', 'version: 1\nexceptions:\n  - { name: a, reason: r, expires: 2027-01-31, images: [x.io] }\n  - { name: a, reason: r, expires: 2027-01-31, images: [y.io] }\n', '4:13: exceptions[1].name: "a" is already the name of exceptions[0]: names must be unique'],
    ['a duplicate key (YAML)', 'version: 1\ndefaults: {}\ndefaults: {}\n', '3:1: defaults: appears twice in this map: keep one'],
    ['a duplicate key in a nested map', 'version: 1\ndefaults:\n  requireDigest: true\n  requireDigest: false\n', '4:3: defaults.requireDigest: appears twice in this map: keep one'],
    ['not YAML at all', 'version: 1\ndefaults: [\n', ''],
    ['not a map', '- version: 1\n', '1:1: a policy must be a map with version: 1, got a list'],
  ])('%s', (_, text, expected) => {
    const problems = problemsOf(text);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toContain(expected);
  });

  it('reports every problem of a file in one run, in a form editors understand', () => {
    const problems = problemsOf('version: 1\ndefaults:\n  validationAction: block\n  requireDigest: maybe\nclusters:\n  prod: { colour: blue }\n');
    expect(problems).toHaveLength(3);
    for (const problem of problems) expect(problem).toMatch(/^\d+:\d+: [a-zA-Z.[\]"-]+: /);
  });

  it('warns of an exception already expired, but accepts the file', () => {
    const check = checkPolicyText('version: 1\nexceptions:\n  - { name: old, reason: r, expires: 2026-12-03, images: [x.io] }\n', 'p.yaml', NOW);
    expect(check.problems).toEqual([]);
    expect(check.warnings.map((warning) => problemLine('p.yaml', warning))).toEqual([
      'p.yaml:3:38: exceptions[0].expires: exception old expired on 2026-12-03: it no longer applies; remove it',
    ]);
  });

  it('warns of an exception that ends within 14 days, counting its last day', () => {
    const warningsFor = (expires: string) =>
      checkPolicyText(`version: 1\nexceptions:\n  - { name: soon, reason: r, expires: ${expires}, images: [x.io] }\n`, 'p.yaml', NOW).warnings.map((warning) => warning.message);
    expect(warningsFor('2026-12-04')).toEqual(['exception soon expires on 2026-12-04 (its last day is today): renew it or fix what it lets through']);
    expect(warningsFor('2026-12-05')).toEqual(['exception soon expires on 2026-12-05 (in 1 day): renew it or fix what it lets through']);
    expect(warningsFor('2026-12-17')).toEqual(['exception soon expires on 2026-12-17 (in 13 days): renew it or fix what it lets through']);
    expect(warningsFor('2026-12-19')).toEqual([]);
  });

  it('reads expires: 2027-01-31 as the string it is in YAML 1.2', () => {
    const check = checkPolicyText('version: 1\nexceptions:\n  - { name: a, reason: r, expires: 2027-01-31, images: [x.io] }\n', 'p.yaml', NOW);
    expect((check.document as { exceptions: { expires: unknown }[] }).exceptions[0]?.expires).toBe('2027-01-31');
  });
});

describe('layers: defaults, clusters.<c>, namespaces, clusters.<c>.namespaces', () => {
  const fleet = fleetOf(`version: 1
defaults:
  allowedRegistries: [registry.example.com]
  validationAction: deny
  disallowedTags: [latest]
namespaces:
  "*": { disallowedTags: [dev] }
  "team-*": { allowedRegistries: [registry.example.com/team] }
  "team-a-*": { allowedRegistries: [registry.example.com/team-a] }
  team-a-special: { allowedRegistries: [special.example.com] }
clusters:
  prod-eu:
    requireDigest: true
    validationAction: deny
    namespaces:
      sandbox: { validationAction: warn }
      "team-a-*": { requireDigest: false }
  dev-us:
    validationAction: warn
    exemptNamespaces: [kube-system, monitoring]
`);
  const registries = (cluster: string | undefined, namespace: string) => fleet.configFor(cluster, namespace).allowedRegistries.map((rule) => `${rule.host}/${rule.pathPrefix}`);

  it('gives a cluster its own fields over the defaults, whole fields replaced', () => {
    expect(fleet.configFor('prod-eu', 'web')).toMatchObject({ requireDigest: true, validationAction: 'deny' });
    expect(fleet.configFor('dev-us', 'web')).toMatchObject({ requireDigest: false, validationAction: 'warn', exemptNamespaces: new Set(['kube-system', 'monitoring']) });
  });

  it('keeps every built-in default the file leaves out', () => {
    expect(fleet.configFor('dev-us', 'web')).toMatchObject({ defaultImagePullPolicy: 'Always', imagePullPolicyMode: 'default', imagePullSecrets: [{ name: 'registry-credentials' }] });
  });

  it('resolves a namespace map: the exact name, then the longest prefix, then *', () => {
    expect(registries('dev-us', 'team-a-special')).toEqual(['special.example.com/']);
    expect(registries('dev-us', 'team-a-web')).toEqual(['registry.example.com/team-a']);
    expect(registries('dev-us', 'team-b')).toEqual(['registry.example.com/team']);
    expect(registries('dev-us', 'web')).toEqual(['registry.example.com/']);
    expect(fleet.configFor('dev-us', 'web').disallowedTags).toEqual(new Set(['dev']));
  });

  it("applies the cluster's namespace entry over the top-level one, each resolved on its own", () => {
    expect(fleet.configFor('prod-eu', 'sandbox')).toMatchObject({ validationAction: 'warn', requireDigest: true });
    const teamA = fleet.configFor('prod-eu', 'team-a-web');
    expect(teamA).toMatchObject({ requireDigest: false, validationAction: 'deny' });
    expect(registries('prod-eu', 'team-a-web')).toEqual(['registry.example.com/team-a']);
    expect(fleet.configFor('dev-us', 'sandbox').validationAction).toBe('warn');
  });

  it('gives a caller that matched no cluster of the file the defaults and the namespace layers', () => {
    for (const cluster of [undefined, 'staging-ap']) {
      expect(fleet.configFor(cluster, 'sandbox')).toMatchObject({ validationAction: 'deny', requireDigest: false });
      expect(registries(cluster, 'team-a-web')).toEqual(['registry.example.com/team-a']);
    }
  });

  it('computes a namespace once and looks it up after', () => {
    expect(fleet.configFor('prod-eu', 'team-a-web')).toBe(fleet.configFor('prod-eu', 'team-a-web'));
  });

  it('lists the clusters the policy names', () => {
    expect(fleet.clusters).toEqual(['prod-eu', 'dev-us']);
  });
});

describe('version', () => {
  it('is the SHA-256 of the canonical JSON of the file as written, its first 12 hex digits', () => {
    const document = { version: 1, defaults: { validationAction: 'warn', allowedRegistries: ['b.io', 'a.io'] } };
    expect(canonicalJson(document)).toBe('{"defaults":{"allowedRegistries":["b.io","a.io"],"validationAction":"warn"},"version":1}');
    // printf '%s' '<that string>' | sha256sum | cut -c1-12
    expect(policyVersion(document)).toBe('bbc37c1b3029');
    expect(policyVersion({ defaults: { allowedRegistries: ['b.io', 'a.io'], validationAction: 'warn' }, version: 1 })).toBe(policyVersion(document));
    expect(policyVersion({ ...document, defaults: { ...document.defaults, allowedRegistries: ['a.io', 'b.io'] } })).not.toBe(policyVersion(document));
  });

  it('does not change with comments, quoting or layout, only with what the file says', () => {
    const a = checkPolicyText('version: 1\ndefaults:\n  validationAction: warn\n', 'a', NOW).version;
    const b = checkPolicyText('# a comment\n{"defaults": {"validationAction": "warn"}, "version": 1}\n', 'b', NOW).version;
    const c = checkPolicyText('version: 1\ndefaults:\n  validationAction: deny\n', 'c', NOW).version;
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('without a file, is the version of the file the variables stand for', () => {
    const env = { ALLOWED_REGISTRIES: 'registry.example.com/team, ghcr.io', IMAGE_MIRRORS: 'docker.io=mirror.example.com', REQUIRE_DIGEST: 'true', DEFAULT_IMAGE_PULL_POLICY: '' };
    expect(policyDocumentFromEnv(env)).toEqual({
      version: 1,
      defaults: { allowedRegistries: ['registry.example.com/team', 'ghcr.io'], imageMirrors: { 'docker.io': 'mirror.example.com' }, requireDigest: true, defaultImagePullPolicy: null },
    });
    const file = checkPolicyText(
      'version: 1\ndefaults:\n  allowedRegistries: [registry.example.com/team, ghcr.io]\n  imageMirrors: {docker.io: mirror.example.com}\n  requireDigest: true\n  defaultImagePullPolicy: null\n',
      'p.yaml',
      NOW,
    );
    expect(policyVersion(policyDocumentFromEnv(env))).toBe(file.version);
    expect(policyVersion(policyDocumentFromEnv({}))).toBe(policyVersion({ version: 1, defaults: {} }));
  });
});

describe('checkPolicyDocument (the JSON the functions read)', () => {
  it('names the field without a position', () => {
    const { problems } = checkPolicyDocument({ version: 1, clusters: { 'prod-eu': { validationAction: 'block' } } }, NOW);
    expect(problems).toEqual([{ path: ['clusters', 'prod-eu', 'validationAction'], message: 'must be one of deny, warn, audit, got "block"' }]);
  });
});
