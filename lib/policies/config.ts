/**
 * Configuration from environment variables, with the defaults of the design.
 * Invalid values throw a ConfigError naming the variable, at start-up.
 */
import { type RegistryRule, isValidTag, parseRegistryRule } from './image-reference';
import { type MirrorRule, parseMirrorRules } from './image-mirrors';

export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];
export const PULL_POLICY_MODES = ['default', 'enforce'] as const;
export type PullPolicyMode = (typeof PULL_POLICY_MODES)[number];
export const VALIDATION_ACTIONS = ['deny', 'warn', 'audit'] as const;
export type ValidationAction = (typeof VALIDATION_ACTIONS)[number];

export interface Config {
  allowedRegistries: RegistryRule[];
  imagePullSecrets: string[];
  /** Namespaces whose Pods get the pull secrets; `all` when configured as `*`. */
  imagePullSecretNamespaces: { all: boolean; names: ReadonlySet<string> };
  /** Undefined when filling in a pull policy is disabled. */
  defaultImagePullPolicy: PullPolicy | undefined;
  imagePullPolicyMode: PullPolicyMode;
  validationAction: ValidationAction;
  exemptNamespaces: ReadonlySet<string>;
  /** Rules `source=target` that mutate applies to new Pods' images; empty for none. */
  imageMirrors: MirrorRule[];
  /** Tags validate refuses (an image with neither tag nor digest counts as `latest`). */
  disallowedTags: ReadonlySet<string>;
  /** Whether validate refuses images that are not pinned by digest. */
  requireDigest: boolean;
  /** Undefined when caller authentication is off. */
  tokenSecretId: string | undefined;
  secretCacheTtlSeconds: number;
}

export const DEFAULTS = {
  ALLOWED_REGISTRIES: 'registry.example.com',
  IMAGE_PULL_SECRETS: 'registry-credentials',
  IMAGE_PULL_SECRET_NAMESPACES: 'default',
  DEFAULT_IMAGE_PULL_POLICY: 'Always',
  IMAGE_PULL_POLICY_MODE: 'default',
  VALIDATION_ACTION: 'deny',
  EXEMPT_NAMESPACES: 'kube-system',
  IMAGE_MIRRORS: '',
  DISALLOWED_TAGS: '',
  REQUIRE_DIGEST: 'false',
  WEBHOOK_TOKEN_SECRET_ID: '',
  SECRET_CACHE_TTL_SECONDS: '300',
} as const;

export type ConfigVariable = keyof typeof DEFAULTS;

export class ConfigError extends Error {
  constructor(
    readonly variable: ConfigVariable,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Environment = Readonly<Record<string, string | undefined>>;

/** Kubernetes object-name shapes (RFC 1123 label and subdomain). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function raw(env: Environment, variable: ConfigVariable): string {
  return env[variable] ?? DEFAULTS[variable];
}

/** Comma-separated entries, trimmed; empty entries (such as a trailing comma) are dropped. */
function list(env: Environment, variable: ConfigVariable): string[] {
  return raw(env, variable)
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function oneOf<T extends string>(env: Environment, variable: ConfigVariable, allowed: readonly T[]): T {
  const value = raw(env, variable).trim();
  if (!allowed.includes(value as T)) {
    throw new ConfigError(variable, `must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function names(env: Environment, variable: ConfigVariable, pattern: RegExp, what: string): string[] {
  const entries = list(env, variable);
  for (const entry of entries) {
    if (!pattern.test(entry)) throw new ConfigError(variable, `has "${entry}", which is not a valid ${what}`);
  }
  return entries;
}

function allowedRegistries(env: Environment): RegistryRule[] {
  const entries = list(env, 'ALLOWED_REGISTRIES');
  if (entries.length === 0) throw new ConfigError('ALLOWED_REGISTRIES', 'is empty: name at least one registry');
  return entries.map((entry) => {
    try {
      return parseRegistryRule(entry);
    } catch (error) {
      throw new ConfigError('ALLOWED_REGISTRIES', `has ${(error as Error).message}`);
    }
  });
}

function imageMirrors(env: Environment): MirrorRule[] {
  try {
    return parseMirrorRules(list(env, 'IMAGE_MIRRORS'));
  } catch (error) {
    throw new ConfigError('IMAGE_MIRRORS', `has ${(error as Error).message}`);
  }
}

function disallowedTags(env: Environment): Set<string> {
  const entries = list(env, 'DISALLOWED_TAGS');
  for (const entry of entries) {
    if (!isValidTag(entry)) throw new ConfigError('DISALLOWED_TAGS', `has "${entry}", which is not a valid image tag`);
  }
  return new Set(entries);
}

function pullSecretNamespaces(env: Environment): Config['imagePullSecretNamespaces'] {
  const entries = list(env, 'IMAGE_PULL_SECRET_NAMESPACES');
  if (entries.includes('*')) {
    if (entries.length > 1) throw new ConfigError('IMAGE_PULL_SECRET_NAMESPACES', 'must be "*" alone or a list of namespaces');
    return { all: true, names: new Set() };
  }
  return { all: false, names: new Set(names(env, 'IMAGE_PULL_SECRET_NAMESPACES', DNS_LABEL, 'namespace name')) };
}

function defaultPullPolicy(env: Environment): PullPolicy | undefined {
  const value = raw(env, 'DEFAULT_IMAGE_PULL_POLICY').trim();
  return value === '' ? undefined : oneOf(env, 'DEFAULT_IMAGE_PULL_POLICY', PULL_POLICIES);
}

function cacheTtl(env: Environment): number {
  const value = raw(env, 'SECRET_CACHE_TTL_SECONDS').trim();
  if (!/^\d{1,6}$/.test(value)) throw new ConfigError('SECRET_CACHE_TTL_SECONDS', `must be a whole number of seconds, got "${value}"`);
  return Number(value);
}

/** A Secrets Manager secret name or ARN (the characters either may contain). */
const SECRET_ID = /^[A-Za-z0-9/_+=.@:-]{1,2048}$/;

function secretId(env: Environment): string | undefined {
  const value = raw(env, 'WEBHOOK_TOKEN_SECRET_ID').trim();
  if (value === '') return undefined;
  if (!SECRET_ID.test(value)) {
    throw new ConfigError('WEBHOOK_TOKEN_SECRET_ID', 'must be a Secrets Manager secret name or ARN (letters, digits and /_+=.@:-)');
  }
  return value;
}

export function loadConfig(env: Environment = process.env): Config {
  return {
    allowedRegistries: allowedRegistries(env),
    imagePullSecrets: names(env, 'IMAGE_PULL_SECRETS', DNS_SUBDOMAIN, 'secret name'),
    imagePullSecretNamespaces: pullSecretNamespaces(env),
    defaultImagePullPolicy: defaultPullPolicy(env),
    imagePullPolicyMode: oneOf(env, 'IMAGE_PULL_POLICY_MODE', PULL_POLICY_MODES),
    validationAction: oneOf(env, 'VALIDATION_ACTION', VALIDATION_ACTIONS),
    exemptNamespaces: new Set(names(env, 'EXEMPT_NAMESPACES', DNS_LABEL, 'namespace name')),
    imageMirrors: imageMirrors(env),
    disallowedTags: disallowedTags(env),
    requireDigest: oneOf(env, 'REQUIRE_DIGEST', ['true', 'false']) === 'true',
    tokenSecretId: secretId(env),
    secretCacheTtlSeconds: cacheTtl(env),
  };
}
