/**
 * The policy's fields, each checked and compiled from its value as the policy file writes it
 * (YAML or JSON types): one compiler per field, shared by the file (lib/policies/fleet/policy-document.ts)
 * and the environment variables (lib/policies/fleet/config.ts), so both forms accept exactly the same
 * values. A compiler records every problem it finds, with the path of the offending value, and
 * returns undefined for a value it cannot use.
 */
import { type RegistryRule, isValidTag, parseRegistryRule } from '../images/image-reference';
import { type MirrorRule, parseMirrorRules } from '../images/image-mirrors';
import { isObject } from '../../common/json';

export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];
export const PULL_POLICY_MODES = ['default', 'enforce'] as const;
export type PullPolicyMode = (typeof PULL_POLICY_MODES)[number];
export const VALIDATION_ACTIONS = ['deny', 'warn', 'audit'] as const;
export type ValidationAction = (typeof VALIDATION_ACTIONS)[number];

/** Kubernetes object-name shapes (RFC 1123 label and subdomain). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Where a value sits in the policy document: keys and list indices from the top. */
export type FieldPath = readonly (string | number)[];

export interface PolicyProblem {
  path: FieldPath;
  message: string;
  /** The problem is the key at `path` (an unknown field), not its value. */
  onKey?: boolean;
}

/** Collects problems; a compiler keeps going after one, so a check reports them all at once. */
export class Problems {
  readonly list: PolicyProblem[] = [];
  add(path: FieldPath, message: string, onKey = false): undefined {
    this.list.push(onKey ? { path, message, onKey } : { path, message });
    return undefined;
  }
}

/** `clusters.prod-eu.imageMirrors`, `exceptions[2].expires`, `namespaces["team-a-*"]`. */
export function formatPath(path: FieldPath): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      if (/^[A-Za-z0-9_-]+$/.test(segment)) return index === 0 ? segment : `.${segment}`;
      return `[${JSON.stringify(segment)}]`;
    })
    .join('');
}

/** An image pull secret mutate adds; with `registries`, only to Pods with an image under one of them. */
export interface PullSecret {
  name: string;
  registries?: RegistryRule[];
}

/** The compiled value of every policy field. */
export interface PolicyFields {
  allowedRegistries: RegistryRule[];
  imagePullSecrets: PullSecret[];
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
}

export type FieldName = keyof PolicyFields;

type Compiler<T> = (value: unknown, path: FieldPath, problems: Problems) => T | undefined;

const quote = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value)));

/**
 * A list of strings, each checked by `entry`; undefined (with a problem) for anything else. With
 * `nonEmpty`, an empty list is a problem too: `is empty: <nonEmpty>` (what to write instead).
 */
export function listOf<T>(entry: (text: string, path: FieldPath, problems: Problems) => T | undefined, nonEmpty?: string): Compiler<T[]> {
  return (value, path, problems) => {
    if (!Array.isArray(value)) return problems.add(path, `must be a list, got ${describe(value)}`);
    if (nonEmpty !== undefined && value.length === 0) return problems.add(path, `is empty: ${nonEmpty}`);
    const before = problems.list.length;
    const items = value.map((item, index) =>
      typeof item === 'string' ? entry(item, [...path, index], problems) : problems.add([...path, index], `must be a string, got ${describe(item)}`),
    );
    return problems.list.length === before ? (items as T[]) : undefined;
  };
}

/** What a value is, for messages: `a number (5)`, `a map`, `null`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isObject(value)) return 'a map';
  if (typeof value === 'string') return quote(value);
  return `${typeof value === 'number' ? 'a number' : typeof value === 'boolean' ? 'a boolean' : typeof value} (${String(value)})`;
}

function named(pattern: RegExp, what: string) {
  return (text: string, path: FieldPath, problems: Problems): string | undefined =>
    pattern.test(text) ? text : problems.add(path, `"${text}", which is not a valid ${what}`);
}

const NAMESPACE_NAME = named(DNS_LABEL, 'namespace name');

const registryRule = (text: string, path: FieldPath, problems: Problems): RegistryRule | undefined => {
  try {
    return parseRegistryRule(text);
  } catch (error) {
    return problems.add(path, (error as Error).message);
  }
};

/** A non-empty list of registry rules; `nonEmpty` says what to write instead of an empty one. */
export const registryRules = (nonEmpty: string): Compiler<RegistryRule[]> => listOf(registryRule, nonEmpty);

function oneOf<T extends string>(allowed: readonly T[]): Compiler<T> {
  return (value, path, problems) =>
    typeof value === 'string' && allowed.includes(value as T)
      ? (value as T)
      : problems.add(path, `must be one of ${allowed.join(', ')}, got ${typeof value === 'string' ? quote(value) : describe(value)}`);
}

const allowedRegistries = registryRules('name at least one registry');

const pullSecret = (item: unknown, path: FieldPath, problems: Problems): PullSecret | undefined => {
  if (typeof item === 'string') {
    const name = named(DNS_SUBDOMAIN, 'secret name')(item, path, problems);
    return name === undefined ? undefined : { name };
  }
  if (!isObject(item)) return problems.add(path, `must be a secret name or {name, registries}, got ${describe(item)}`);
  const before = problems.list.length;
  for (const key of Object.keys(item)) {
    if (key !== 'name' && key !== 'registries') problems.add([...path, key], `unknown field "${key}": an entry has name and registries`, true);
  }
  const name =
    typeof item.name === 'string'
      ? named(DNS_SUBDOMAIN, 'secret name')(item.name, [...path, 'name'], problems)
      : problems.add(item.name === undefined ? path : [...path, 'name'], 'needs a name: the secret to add');
  const registries =
    item.registries === undefined
      ? problems.add(path, 'needs registries: the registries whose images need the secret')
      : registryRules('name at least one registry, or write the bare secret name to add it to every Pod')(item.registries, [...path, 'registries'], problems);
  return problems.list.length === before && name !== undefined && registries ? { name, registries } : undefined;
};

const imagePullSecrets: Compiler<PullSecret[]> = (value, path, problems) => {
  if (!Array.isArray(value)) return problems.add(path, `must be a list, got ${describe(value)}`);
  const before = problems.list.length;
  const secrets = value.map((item, index) => pullSecret(item, [...path, index], problems));
  return problems.list.length === before ? (secrets as PullSecret[]) : undefined;
};

const imagePullSecretNamespaces: Compiler<PolicyFields['imagePullSecretNamespaces']> = (value, path, problems) => {
  if (Array.isArray(value) && value.includes('*')) {
    if (value.length > 1) return problems.add(path, 'must be "*" alone or a list of namespaces');
    return { all: true, names: new Set() };
  }
  const names = listOf(NAMESPACE_NAME)(value, path, problems);
  return names && { all: false, names: new Set(names) };
};

const defaultImagePullPolicy: Compiler<PullPolicy | null> = (value, path, problems) =>
  value === null ? null : oneOf(PULL_POLICIES)(value, path, problems);

const exemptNamespaces: Compiler<ReadonlySet<string>> = (value, path, problems) => {
  const names = listOf(NAMESPACE_NAME)(value, path, problems);
  return names && new Set(names);
};

/** `source: target` pairs, as `source=target` entries for the one mirror-rule parser. */
const imageMirrors: Compiler<MirrorRule[]> = (value, path, problems) => {
  if (!isObject(value)) return problems.add(path, `must be a map of source: target, got ${describe(value)}`);
  const entries: string[] = [];
  for (const [source, target] of Object.entries(value)) {
    if (typeof target !== 'string') problems.add([...path, source], `must be a registry (host[/path]), got ${describe(target)}`);
    else entries.push(`${source}=${target}`);
  }
  if (entries.length !== Object.keys(value).length) return undefined;
  try {
    return parseMirrorRules(entries);
  } catch (error) {
    return problems.add(path, `has ${(error as Error).message}`);
  }
};

const disallowedTags: Compiler<ReadonlySet<string>> = (value, path, problems) => {
  const tags = listOf((text, at, found) => (isValidTag(text) ? text : found.add(at, `"${text}", which is not a valid image tag`)))(value, path, problems);
  return tags && new Set(tags);
};

const requireDigest: Compiler<boolean> = (value, path, problems) =>
  typeof value === 'boolean' ? value : problems.add(path, `must be true or false, got ${describe(value)}`);

/** Every field's compiler; `defaultImagePullPolicy` compiles null (off) to undefined. */
export const FIELD_COMPILERS: { readonly [F in FieldName]: Compiler<PolicyFields[F]> } = {
  allowedRegistries,
  imagePullSecrets,
  imagePullSecretNamespaces,
  defaultImagePullPolicy: (value, path, problems) => {
    const policy = defaultImagePullPolicy(value, path, problems);
    return policy === null ? undefined : policy;
  },
  imagePullPolicyMode: oneOf(PULL_POLICY_MODES),
  validationAction: oneOf(VALIDATION_ACTIONS),
  exemptNamespaces,
  imageMirrors,
  disallowedTags,
  requireDigest,
};

export const FIELD_NAMES = Object.keys(FIELD_COMPILERS) as FieldName[];

/** The fields a namespace entry may set: the ones validate judges by, never mutate's. */
export const NAMESPACE_FIELDS: readonly FieldName[] = ['allowedRegistries', 'disallowedTags', 'requireDigest', 'validationAction'];

/**
 * Compiles the fields one layer (a map) sets. Keys in `otherKeys` belong to the caller (a
 * cluster's `namespaces`); any other key that is not in `fields` is a problem naming `layer`'s
 * allowed fields. `defaultImagePullPolicy: null` is kept as set (to off).
 */
export function compileFields(
  layer: Record<string, unknown>,
  path: FieldPath,
  problems: Problems,
  fields: readonly FieldName[],
  otherKeys: readonly string[] = [],
): Partial<PolicyFields> {
  const compiled: Partial<Record<FieldName, unknown>> = {};
  for (const [key, value] of Object.entries(layer)) {
    if (otherKeys.includes(key)) continue;
    if (!(fields as readonly string[]).includes(key)) {
      problems.add([...path, key], `unknown field "${key}": this map may set ${[...fields, ...otherKeys].join(', ')}`, true);
      continue;
    }
    const name = key as FieldName;
    const before = problems.list.length;
    const result = FIELD_COMPILERS[name](value, [...path, key], problems);
    if (problems.list.length === before) compiled[name] = result;
  }
  return compiled as Partial<PolicyFields>;
}
