import { describe, expect, it } from 'vitest';
import { handler as mutateHandler } from '../functions/mutate';
import { handler as validateHandler } from '../functions/validate';
import { type Config, ConfigError, type ConfigVariable, DEFAULTS, loadConfig, loadSettings } from '../lib/policies/fleet/config';
import type { LogRecord } from '../lib/common/log';
import { mutatePod } from '../lib/policies/mutate';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import { podRequest, restEvent, review, tutorialPod } from './support/reviews';

/** The ConfigError thrown by loading `env`, or a failure if it loads. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
    loadSettings(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('defaults', () => {
  it('matches the configuration table of the design', () => {
    const config = loadConfig({});
    expect(config).toEqual<Config>({
      allowedRegistries: [{ host: 'registry.example.com', pathPrefix: '' }],
      imagePullSecrets: [{ name: 'registry-credentials' }],
      imagePullSecretNamespaces: { all: false, names: new Set(['default']) },
      defaultImagePullPolicy: 'Always',
      imagePullPolicyMode: 'default',
      validationAction: 'deny',
      exemptNamespaces: new Set(['kube-system']),
      imageMirrors: [],
      disallowedTags: new Set(),
      requireDigest: false,
      exceptions: [],
    });
    expect(loadSettings({})).toEqual({ tokenSecretId: undefined, secretCacheTtlSeconds: 300, policyFile: undefined });
  });

  it('documents a default for every variable', () => {
    expect(Object.keys(DEFAULTS).sort()).toEqual(
      [
        'ALLOWED_REGISTRIES',
        'DEFAULT_IMAGE_PULL_POLICY',
        'DISALLOWED_TAGS',
        'EXEMPT_NAMESPACES',
        'IMAGE_MIRRORS',
        'IMAGE_PULL_POLICY_MODE',
        'IMAGE_PULL_SECRETS',
        'IMAGE_PULL_SECRET_NAMESPACES',
        'POLICY_FILE',
        'REQUIRE_DIGEST',
        'SECRET_CACHE_TTL_SECONDS',
        'VALIDATION_ACTION',
        'WEBHOOK_TOKEN_SECRET_ID',
      ].sort(),
    );
  });
});

describe('valid custom values', () => {
  it('ALLOWED_REGISTRIES: comma-separated hosts with ports and path prefixes, spaces and a trailing comma tolerated', () => {
    expect(loadConfig({ ALLOWED_REGISTRIES: ' registry.example.com/team , localhost:5000, 123456789012.dkr.ecr.eu-west-1.amazonaws.com,' }).allowedRegistries).toEqual([
      { host: 'registry.example.com', pathPrefix: 'team' },
      { host: 'localhost:5000', pathPrefix: '' },
      { host: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', pathPrefix: '' },
    ]);
  });

  it('IMAGE_PULL_SECRETS: a list of secret names, or none', () => {
    expect(loadConfig({ IMAGE_PULL_SECRETS: 'ecr-pull, ghcr.io-pull' }).imagePullSecrets).toEqual([{ name: 'ecr-pull' }, { name: 'ghcr.io-pull' }]);
    expect(loadConfig({ IMAGE_PULL_SECRETS: '' }).imagePullSecrets).toEqual([]);
  });

  it('IMAGE_PULL_SECRET_NAMESPACES: a list, or * for all', () => {
    expect(loadConfig({ IMAGE_PULL_SECRET_NAMESPACES: 'default,team-a' }).imagePullSecretNamespaces).toEqual({
      all: false,
      names: new Set(['default', 'team-a']),
    });
    expect(loadConfig({ IMAGE_PULL_SECRET_NAMESPACES: '*' }).imagePullSecretNamespaces).toEqual({ all: true, names: new Set() });
    expect(loadConfig({ IMAGE_PULL_SECRET_NAMESPACES: ' * ' }).imagePullSecretNamespaces.all).toBe(true);
  });

  it.each(['Always', 'IfNotPresent', 'Never'] as const)('DEFAULT_IMAGE_PULL_POLICY: %s', (policy) => {
    expect(loadConfig({ DEFAULT_IMAGE_PULL_POLICY: policy }).defaultImagePullPolicy).toBe(policy);
  });

  it('DEFAULT_IMAGE_PULL_POLICY: empty disables filling it in', () => {
    expect(loadConfig({ DEFAULT_IMAGE_PULL_POLICY: '' }).defaultImagePullPolicy).toBeUndefined();
    expect(loadConfig({ DEFAULT_IMAGE_PULL_POLICY: '  ' }).defaultImagePullPolicy).toBeUndefined();
  });

  it.each(['default', 'enforce'] as const)('IMAGE_PULL_POLICY_MODE: %s', (mode) => {
    expect(loadConfig({ IMAGE_PULL_POLICY_MODE: mode }).imagePullPolicyMode).toBe(mode);
  });

  it.each(['deny', 'warn', 'audit'] as const)('VALIDATION_ACTION: %s', (action) => {
    expect(loadConfig({ VALIDATION_ACTION: action }).validationAction).toBe(action);
  });

  it('EXEMPT_NAMESPACES: a list, or none', () => {
    expect(loadConfig({ EXEMPT_NAMESPACES: 'kube-system, kube-public,monitoring' }).exemptNamespaces).toEqual(
      new Set(['kube-system', 'kube-public', 'monitoring']),
    );
    expect(loadConfig({ EXEMPT_NAMESPACES: '' }).exemptNamespaces).toEqual(new Set());
  });

  it('IMAGE_MIRRORS: source=target rules with ports, IPv6 hosts and path prefixes, spaces and a trailing comma tolerated', () => {
    expect(
      loadConfig({ IMAGE_MIRRORS: ' docker.io = 111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub , [::1]:5000=localhost:5000/mirror/,' })
        .imageMirrors,
    ).toEqual([
      {
        source: { host: 'docker.io', pathPrefix: '' },
        target: { host: '111122223333.dkr.ecr.eu-west-1.amazonaws.com', pathPrefix: 'docker-hub' },
      },
      { source: { host: '[::1]:5000', pathPrefix: '' }, target: { host: 'localhost:5000', pathPrefix: 'mirror' } },
    ]);
    expect(loadConfig({ IMAGE_MIRRORS: '' }).imageMirrors).toEqual([]);
  });

  it('DISALLOWED_TAGS: a list of tags, or none', () => {
    expect(loadConfig({ DISALLOWED_TAGS: 'latest, dev,Latest' }).disallowedTags).toEqual(new Set(['latest', 'dev', 'Latest']));
    expect(loadConfig({ DISALLOWED_TAGS: '' }).disallowedTags).toEqual(new Set());
  });

  it('REQUIRE_DIGEST: true or false', () => {
    expect(loadConfig({ REQUIRE_DIGEST: 'true' }).requireDigest).toBe(true);
    expect(loadConfig({ REQUIRE_DIGEST: ' false ' }).requireDigest).toBe(false);
  });

  it('WEBHOOK_TOKEN_SECRET_ID: a name or an ARN turns authentication on; empty leaves it off', () => {
    expect(loadSettings({ WEBHOOK_TOKEN_SECRET_ID: 'admission/webhook-token' }).tokenSecretId).toBe('admission/webhook-token');
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:admission/webhook-token-AbCdEf';
    expect(loadSettings({ WEBHOOK_TOKEN_SECRET_ID: ` ${arn} ` }).tokenSecretId).toBe(arn);
    expect(loadSettings({ WEBHOOK_TOKEN_SECRET_ID: '' }).tokenSecretId).toBeUndefined();
    expect(loadSettings({ WEBHOOK_TOKEN_SECRET_ID: '   ' }).tokenSecretId).toBeUndefined();
  });

  it('SECRET_CACHE_TTL_SECONDS: whole seconds', () => {
    expect(loadSettings({ SECRET_CACHE_TTL_SECONDS: '60' }).secretCacheTtlSeconds).toBe(60);
    expect(loadSettings({ SECRET_CACHE_TTL_SECONDS: ' 3600 ' }).secretCacheTtlSeconds).toBe(3600);
  });
});

describe('invalid values fail with a ConfigError naming the variable', () => {
  it.each<[ConfigVariable, string, RegExp]>([
    ['ALLOWED_REGISTRIES', '', /is empty/],
    ['ALLOWED_REGISTRIES', ' , ', /is empty/],
    ['ALLOWED_REGISTRIES', 'nginx', /"nginx" is not a registry/],
    ['ALLOWED_REGISTRIES', 'registry.example.com,http://x.io', /"http:\/\/x.io" is not a registry/],
    ['ALLOWED_REGISTRIES', 'x.io/a:tag', /invalid repository path "a:tag"/],
    ['IMAGE_PULL_SECRETS', 'Registry_Credentials', /"Registry_Credentials", which is not a valid secret name/],
    ['IMAGE_PULL_SECRETS', 'ok,-bad', /"-bad"/],
    ['IMAGE_PULL_SECRET_NAMESPACES', 'Default', /"Default", which is not a valid namespace name/],
    ['IMAGE_PULL_SECRET_NAMESPACES', 'default,*', /"\*" alone/],
    ['IMAGE_PULL_SECRET_NAMESPACES', 'a.b', /"a.b", which is not a valid namespace name/],
    ['DEFAULT_IMAGE_PULL_POLICY', 'always', /must be one of Always, IfNotPresent, Never, got "always"/],
    ['IMAGE_PULL_POLICY_MODE', 'override', /must be one of default, enforce, got "override"/],
    ['IMAGE_PULL_POLICY_MODE', '', /got ""/],
    ['VALIDATION_ACTION', 'block', /must be one of deny, warn, audit, got "block"/],
    ['VALIDATION_ACTION', 'Deny', /got "Deny"/],
    ['EXEMPT_NAMESPACES', 'kube_system', /"kube_system", which is not a valid namespace name/],
    ['IMAGE_MIRRORS', 'docker.io', /"docker.io", which is not of the form source=target/],
    ['IMAGE_MIRRORS', 'docker.io=a.io=b.io', /"docker.io=a.io=b.io", which is not of the form source=target/],
    ['IMAGE_MIRRORS', 'docker.io=', /"docker.io=", whose target "" is not a registry/],
    ['IMAGE_MIRRORS', 'nginx=mirror.example.com', /"nginx=mirror.example.com", whose source "nginx" is not a registry/],
    ['IMAGE_MIRRORS', 'docker.io=mirror.example.com/Hub', /whose target "mirror.example.com\/Hub" has an invalid repository path "Hub"/],
    ['IMAGE_MIRRORS', 'docker.io=mirror.example.com:443/x:1', /whose target .* has an invalid repository path "x:1"/],
    ['IMAGE_MIRRORS', 'docker.io=docker.io/mirror', /target "docker.io\/mirror", which overlaps the source "docker.io": an image mirrored there could be rewritten again/],
    ['IMAGE_MIRRORS', 'docker.io=mirror.example.com,mirror.example.com/team=registry.example.com', /target "mirror.example.com", which overlaps the source "mirror.example.com\/team"/],
    ['IMAGE_MIRRORS', 'a.io=mirror.example.com/a,mirror.example.com/a/b=registry.example.com', /target "mirror.example.com\/a", which overlaps the source "mirror.example.com\/a\/b"/],
    ['IMAGE_MIRRORS', 'docker.io=mirror.example.com,index.docker.io=other.example.com', /source "docker.io" twice/],
    ['DISALLOWED_TAGS', 'latest,-dev', /"-dev", which is not a valid image tag/],
    ['DISALLOWED_TAGS', 'a b', /"a b", which is not a valid image tag/],
    ['REQUIRE_DIGEST', 'yes', /must be true or false, got "yes"/],
    ['REQUIRE_DIGEST', 'True', /got "True"/],
    ['REQUIRE_DIGEST', '', /got ""/],
    ['WEBHOOK_TOKEN_SECRET_ID', 'my webhook token', /secret name or ARN/],
    ['WEBHOOK_TOKEN_SECRET_ID', 'token"}', /secret name or ARN/],
    ['SECRET_CACHE_TTL_SECONDS', '5m', /whole number of seconds, got "5m"/],
    ['SECRET_CACHE_TTL_SECONDS', '-1', /whole number/],
    ['SECRET_CACHE_TTL_SECONDS', '1.5', /whole number/],
    ['SECRET_CACHE_TTL_SECONDS', '', /whole number/],
  ])('%s=%j', (variable, value, problem) => {
    const error = configError({ [variable]: value });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.name).toBe('ConfigError');
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
    expect(error.message).toMatch(problem);
  });
});

describe('configuredHandler', () => {
  it.each<[ConfigVariable, string]>([
    ['ALLOWED_REGISTRIES', 'nginx'],
    ['VALIDATION_ACTION', 'block'],
    ['IMAGE_PULL_POLICY_MODE', 'always'],
    ['SECRET_CACHE_TTL_SECONDS', 'soon'],
    ['IMAGE_MIRRORS', 'docker.io=docker.io/library/mirror'],
    ['REQUIRE_DIGEST', 'maybe'],
  ])('throws at construction for %s=%j', (variable, value) => {
    for (const [name, policy] of [
      ['mutate', mutatePod],
      ['validate', validateImages],
    ] as const) {
      expect(() => configuredHandler(name, policy, { [variable]: value }, { log: () => {} })).toThrow(ConfigError);
      expect(() => configuredHandler(name, policy, { [variable]: value }, { log: () => {} })).toThrow(variable);
    }
  });

  it('builds a working handler from a valid environment, warning once that authentication is off', async () => {
    const records: LogRecord[] = [];
    const handler = configuredHandler('validate', validateImages, { ALLOWED_REGISTRIES: 'docker.io/library' }, {
      log: (record) => records.push(record),
    });
    for (let i = 0; i < 2; i += 1) {
      const result = await handler(restEvent(review(podRequest(tutorialPod()))));
      expect(JSON.parse(result.body).response.allowed).toBe(true);
    }
    const warnings = records.filter((record) => record.level === 'WARN');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/WEBHOOK_TOKEN_SECRET_ID/);
  });

  it('passes the configuration to the policy', async () => {
    const handler = configuredHandler('mutate', mutatePod, { IMAGE_PULL_SECRETS: 'other', DEFAULT_IMAGE_PULL_POLICY: '' }, { log: () => {} });
    const result = await handler(restEvent(review(podRequest(tutorialPod()))));
    const patch = JSON.parse(Buffer.from(JSON.parse(result.body).response.patch, 'base64').toString('utf8'));
    expect(patch).toEqual([{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'other' }] }]);
  });

  it('is what functions/ export', () => {
    expect(typeof mutateHandler).toBe('function');
    expect(typeof validateHandler).toBe('function');
  });
});
