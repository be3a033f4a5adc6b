/**
 * Configuration from environment variables: the runtime settings (caller authentication, the
 * policy file) and, without a policy file, the policy itself (the no-file form of DESIGN "Fleet
 * policy"). The policy variables are read into the document a policy file would write for them,
 * then compiled by the same field compilers as the file, so both forms accept the same values and
 * give the same policy version. Invalid values throw a ConfigError naming the variable, at start-up.
 */
import type { PolicyException } from './exceptions';
import {
  type FieldName,
  FIELD_COMPILERS,
  type PolicyFields,
  Problems,
  DNS_LABEL,
  DNS_SUBDOMAIN,
  PULL_POLICIES,
  PULL_POLICY_MODES,
  VALIDATION_ACTIONS,
  type PullPolicy,
  type PullPolicyMode,
  type ValidationAction,
} from './policy-fields';

export { DNS_LABEL, DNS_SUBDOMAIN, PULL_POLICIES, PULL_POLICY_MODES, VALIDATION_ACTIONS };
export type { PullPolicy, PullPolicyMode, ValidationAction };

/** The effective policy of one review: its fields, and the exceptions of its cluster and namespace. */
export interface Config extends PolicyFields {
  exceptions: readonly PolicyException[];
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
  POLICY_FILE: '',
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

/** Comma-separated entries, trimmed; empty entries (such as a trailing comma) are dropped. */
const list = (text: string): string[] =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

/** `source=target` entries as the file's map; an entry that is not a pair is an error of the variable. */
function mirrorMap(text: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of list(text)) {
    const sides = entry.split('=');
    if (sides.length !== 2) throw new ConfigError('IMAGE_MIRRORS', `has "${entry}", which is not of the form source=target (registry[/path]=registry[/path])`);
    const [source = '', target = ''] = sides.map((side) => side.trim());
    if (Object.hasOwn(map, source)) throw new ConfigError('IMAGE_MIRRORS', `has source "${source}" twice: give each source one target`);
    map[source] = target;
  }
  return map;
}

function booleanOf(text: string): boolean | string {
  const value = text.trim();
  return value === 'true' ? true : value === 'false' ? false : value;
}

/** Each policy variable, its field, and how its text is written in the policy file. */
export const POLICY_VARIABLES: ReadonlyArray<{ variable: ConfigVariable; field: FieldName; toFile: (text: string) => unknown }> = [
  { variable: 'ALLOWED_REGISTRIES', field: 'allowedRegistries', toFile: list },
  { variable: 'IMAGE_PULL_SECRETS', field: 'imagePullSecrets', toFile: list },
  { variable: 'IMAGE_PULL_SECRET_NAMESPACES', field: 'imagePullSecretNamespaces', toFile: list },
  { variable: 'DEFAULT_IMAGE_PULL_POLICY', field: 'defaultImagePullPolicy', toFile: (text) => (text.trim() === '' ? null : text.trim()) },
  { variable: 'IMAGE_PULL_POLICY_MODE', field: 'imagePullPolicyMode', toFile: (text) => text.trim() },
  { variable: 'VALIDATION_ACTION', field: 'validationAction', toFile: (text) => text.trim() },
  { variable: 'EXEMPT_NAMESPACES', field: 'exemptNamespaces', toFile: list },
  { variable: 'IMAGE_MIRRORS', field: 'imageMirrors', toFile: mirrorMap },
  { variable: 'DISALLOWED_TAGS', field: 'disallowedTags', toFile: list },
  { variable: 'REQUIRE_DIGEST', field: 'requireDigest', toFile: booleanOf },
];

/**
 * The policy document the variables stand for: `{version: 1, defaults: {...}}` with the fields
 * whose variables are set (even to empty), written as the file would write them. Its version is
 * the policy version of the no-file form.
 */
export function policyDocumentFromEnv(env: Environment): { version: 1; defaults: Record<string, unknown> } {
  const defaults: Record<string, unknown> = {};
  for (const { variable, field, toFile } of POLICY_VARIABLES) {
    const text = env[variable];
    if (text !== undefined) defaults[field] = toFile(text);
  }
  return { version: 1, defaults };
}

/** The policy fields of the variables, each variable unset taking the design's default. */
export function loadConfig(env: Environment = process.env): Config {
  const fields: Partial<Record<FieldName, unknown>> = {};
  for (const { variable, field, toFile } of POLICY_VARIABLES) {
    const problems = new Problems();
    const value = toFile(env[variable] ?? DEFAULTS[variable]);
    const compiled = FIELD_COMPILERS[field](value, [field], problems);
    const [problem] = problems.list;
    if (problem) throw new ConfigError(variable, problem.path.length > 1 ? `has ${problem.message}` : problem.message);
    fields[field] = compiled;
  }
  return { ...(fields as unknown as PolicyFields), exceptions: [] };
}

/** The settings of the functions that are not policy. */
export interface Settings {
  /** Undefined when caller authentication is off. */
  tokenSecretId: string | undefined;
  secretCacheTtlSeconds: number;
  /** The policy file; undefined for the no-file form (the policy variables). */
  policyFile: string | undefined;
}

function cacheTtl(env: Environment): number {
  const value = (env.SECRET_CACHE_TTL_SECONDS ?? DEFAULTS.SECRET_CACHE_TTL_SECONDS).trim();
  if (!/^\d{1,6}$/.test(value)) throw new ConfigError('SECRET_CACHE_TTL_SECONDS', `must be a whole number of seconds, got "${value}"`);
  return Number(value);
}

/** A Secrets Manager secret name or ARN (the characters either may contain). */
const SECRET_ID = /^[A-Za-z0-9/_+=.@:-]{1,2048}$/;

function secretId(env: Environment): string | undefined {
  const value = (env.WEBHOOK_TOKEN_SECRET_ID ?? '').trim();
  if (value === '') return undefined;
  if (!SECRET_ID.test(value)) {
    throw new ConfigError('WEBHOOK_TOKEN_SECRET_ID', 'must be a Secrets Manager secret name or ARN (letters, digits and /_+=.@:-)');
  }
  return value;
}

/**
 * The policy file, if any. With one, the policy variables must be unset or empty: two sources
 * of one policy would leave nobody sure which one a cluster gets.
 */
function policyFile(env: Environment): string | undefined {
  const file = (env.POLICY_FILE ?? '').trim();
  if (file === '') return undefined;
  if (!/\.(json|ya?ml)$/.test(file)) throw new ConfigError('POLICY_FILE', `must name a .json, .yaml or .yml file, got "${file}"`);
  const set = POLICY_VARIABLES.filter(({ variable }) => (env[variable] ?? '').trim() !== '').map(({ variable }) => variable);
  if (set.length > 0) {
    throw new ConfigError(
      'POLICY_FILE',
      `is set, and so ${set.length === 1 ? 'is' : 'are'} ${set.join(', ')}: with a policy file, set ${set.length === 1 ? 'that field' : 'those fields'} in the file and leave the variable${set.length === 1 ? '' : 's'} unset`,
    );
  }
  return file;
}

export function loadSettings(env: Environment = process.env): Settings {
  return { tokenSecretId: secretId(env), secretCacheTtlSeconds: cacheTtl(env), policyFile: policyFile(env) };
}
