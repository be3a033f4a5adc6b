/**
 * The fleet policy document (DESIGN "Fleet policy"), checked and compiled once: every field by
 * its compiler (lib/policies/fleet/policy-fields.ts), every layer's keys, the exceptions. The input is
 * the parsed file (plain JSON values: the function bundle reads the JSON that packaging wrote);
 * problems carry the path of the offending key or value, which the YAML reader of the tools turns
 * into `file:line:column`.
 */
import { type RegistryRule } from '../images/image-reference';
import { endOfDay } from './exceptions';
import { type ClusterOrigin, ORIGIN_FIELDS, compileOrigin, fleetOrigins, withoutOriginFields } from './cluster-origins';
import { isObject } from '../../common/json';
import {
  FIELD_NAMES,
  type FieldPath,
  NAMESPACE_FIELDS,
  type PolicyFields,
  type PolicyProblem,
  Problems,
  compileFields,
  describe,
  listOf,
  registryRules,
} from './policy-fields';

/** The namespace entries of one `namespaces` map: exact names, and prefixes longest first. */
export interface NamespaceLayers {
  exact: ReadonlyMap<string, Partial<PolicyFields>>;
  prefixes: ReadonlyArray<{ prefix: string; fields: Partial<PolicyFields> }>;
}

export interface ClusterLayer {
  fields: Partial<PolicyFields>;
  namespaces: NamespaceLayers;
  /** Where the cluster calls from (DESIGN "Cluster identity"); empty: anywhere. */
  origin: ClusterOrigin;
}

/** A namespace pattern of an exception or a `namespaces` key: a name, or a prefix before `*`. */
export interface NamespacePattern {
  name: string;
  prefix: boolean;
}

export interface ExceptionRule {
  name: string;
  reason: string;
  expires: string;
  endsAt: number;
  /** Undefined: every cluster. */
  clusters: ReadonlySet<string> | undefined;
  /** Undefined: every namespace. */
  namespaces: readonly NamespacePattern[] | undefined;
  images: RegistryRule[];
}

export interface CompiledPolicy {
  defaults: Partial<PolicyFields>;
  namespaces: NamespaceLayers;
  clusters: ReadonlyMap<string, ClusterLayer>;
  exceptions: readonly ExceptionRule[];
}

export interface PolicyCheck {
  /** Undefined when there are problems. */
  policy: CompiledPolicy | undefined;
  problems: PolicyProblem[];
  /** Not errors: exceptions already expired or ending within 14 days, clusters left unbound where others are bound. */
  warnings: PolicyProblem[];
}

export const POLICY_VERSION = 1;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Exceptions ending within this time are reported, so nobody is surprised when one ends. */
const EXPIRY_NOTICE_MS = 14 * DAY_MS;
export const TOP_LEVEL_KEYS = ['version', 'defaults', 'namespaces', 'clusters', 'exceptions'];
export const EXCEPTION_KEYS = ['name', 'reason', 'expires', 'clusters', 'namespaces', 'images'];
/** EKS cluster names (letters, digits, - and _, at most 100), and dots. */
export const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
export const NAMESPACE_PATTERN = /^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?|(?:[a-z0-9][-a-z0-9]{0,61})?\*)$/;
export const EXCEPTION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function namespacePattern(key: string): NamespacePattern {
  return key.endsWith('*') ? { name: key.slice(0, -1), prefix: true } : { name: key, prefix: false };
}

export function matchesNamespace(pattern: NamespacePattern, namespace: string): boolean {
  return pattern.prefix ? namespace.startsWith(pattern.name) : namespace === pattern.name;
}

function mapAt(value: unknown, path: FieldPath, problems: Problems): Record<string, unknown> | undefined {
  return isObject(value) ? value : problems.add(path, `must be a map, got ${describe(value)}`);
}

function checkNamespaceKey(key: string, path: FieldPath, problems: Problems): boolean {
  if (NAMESPACE_PATTERN.test(key)) return true;
  problems.add(path, `"${key}" is not a namespace name or a prefix ending in * (lower-case letters, digits and -; * alone: every namespace)`, true);
  return false;
}

function namespaceLayers(value: unknown, path: FieldPath, problems: Problems): NamespaceLayers {
  const exact = new Map<string, Partial<PolicyFields>>();
  const prefixes: { prefix: string; fields: Partial<PolicyFields> }[] = [];
  const map = value === undefined ? {} : mapAt(value, path, problems) ?? {};
  for (const [key, entry] of Object.entries(map)) {
    const at = [...path, key];
    if (!checkNamespaceKey(key, at, problems)) continue;
    const layer = mapAt(entry, at, problems);
    if (!layer) continue;
    const fields = compileFields(withoutOriginFields(layer, at, problems), at, problems, NAMESPACE_FIELDS);
    const pattern = namespacePattern(key);
    if (pattern.prefix) prefixes.push({ prefix: pattern.name, fields });
    else exact.set(key, fields);
  }
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  return { exact, prefixes };
}

function clusterLayers(value: unknown, problems: Problems): Map<string, ClusterLayer> {
  const clusters = new Map<string, ClusterLayer>();
  const map = value === undefined ? {} : mapAt(value, ['clusters'], problems) ?? {};
  for (const [name, entry] of Object.entries(map)) {
    const at = ['clusters', name];
    if (!CLUSTER_NAME.test(name)) {
      problems.add(at, `"${name}" is not a cluster name (letters, digits, ., - and _, at most 100; as in the fleet token secret)`, true);
      continue;
    }
    const layer = mapAt(entry ?? {}, at, problems);
    if (!layer) continue;
    clusters.set(name, {
      fields: compileFields(layer, at, problems, FIELD_NAMES, ['namespaces', ...ORIGIN_FIELDS]),
      namespaces: namespaceLayers(layer.namespaces, [...at, 'namespaces'], problems),
      origin: compileOrigin(layer, at, problems),
    });
  }
  return clusters;
}

/** A non-empty list of names or patterns that `valid` accepts, described as `what` in problems. */
function names(valid: RegExp, what: string) {
  return listOf((text, at, problems) => (valid.test(text) ? text : problems.add(at, `"${text}" is not ${what}`)), 'leave the field out to cover all');
}

function requiredString(entry: Record<string, unknown>, key: string, path: FieldPath, problems: Problems, why: string): string | undefined {
  const value = entry[key];
  if (value === undefined) return problems.add(path, `needs ${key}: ${why}`);
  if (typeof value !== 'string' || value.trim() === '') return problems.add([...path, key], `must be a non-empty string, got ${describe(value)}`);
  return value;
}

function exceptionRule(entry: unknown, path: FieldPath, problems: Problems, warnings: Problems, now: number): ExceptionRule | undefined {
  const map = mapAt(entry, path, problems);
  if (!map) return undefined;
  const before = problems.list.length;
  for (const key of Object.keys(map)) {
    if (!EXCEPTION_KEYS.includes(key)) problems.add([...path, key], `unknown field "${key}": an exception has ${EXCEPTION_KEYS.join(', ')}`, true);
  }
  const name = requiredString(map, 'name', path, problems, 'a unique name, shown in logs and messages');
  if (name !== undefined && !EXCEPTION_NAME.test(name)) problems.add([...path, 'name'], `"${name}" is not a valid name (letters, digits, ., - and _, at most 63)`);
  const reason = requiredString(map, 'reason', path, problems, 'why the exception exists (a ticket, an owner)');
  const expires = requiredString(map, 'expires', path, problems, 'the last day it applies, YYYY-MM-DD (UTC)');
  const endsAt = expires === undefined ? undefined : endOfDay(expires);
  if (expires !== undefined && endsAt === undefined) problems.add([...path, 'expires'], `"${expires}" is not a date: write YYYY-MM-DD (the last day the exception applies, UTC)`);
  const clusters = map.clusters === undefined ? undefined : names(CLUSTER_NAME, 'a cluster name')(map.clusters, [...path, 'clusters'], problems);
  const namespaces =
    map.namespaces === undefined ? undefined : names(NAMESPACE_PATTERN, 'a namespace name or a prefix ending in *')(map.namespaces, [...path, 'namespaces'], problems);
  const images = map.images === undefined ? problems.add(path, 'needs images: the image rules it lets through (registry[/path])') : registryRules('name at least one image rule')(map.images, [...path, 'images'], problems);
  if (problems.list.length !== before || name === undefined || reason === undefined || expires === undefined || endsAt === undefined || !images) return undefined;
  if (now >= endsAt) warnings.add([...path, 'expires'], `exception ${name} expired on ${expires}: it no longer applies; remove it`);
  else if (endsAt - now <= EXPIRY_NOTICE_MS) {
    const days = Math.ceil((endsAt - now) / DAY_MS) - 1;
    warnings.add([...path, 'expires'], `exception ${name} expires on ${expires} (${days === 0 ? 'its last day is today' : `in ${days} day${days === 1 ? '' : 's'}`}): renew it or fix what it lets through`);
  }
  return {
    name,
    reason,
    expires,
    endsAt,
    clusters: clusters && new Set(clusters),
    namespaces: namespaces?.map(namespacePattern),
    images,
  };
}

function exceptionRules(value: unknown, problems: Problems, warnings: Problems, now: number): ExceptionRule[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return problems.add(['exceptions'], `must be a list, got ${describe(value)}`) ?? [];
  const rules: ExceptionRule[] = [];
  const seen = new Map<string, number>();
  value.forEach((entry, index) => {
    const name = isObject(entry) && typeof entry.name === 'string' ? entry.name : undefined;
    if (name !== undefined) {
      const first = seen.get(name);
      if (first !== undefined) problems.add(['exceptions', index, 'name'], `"${name}" is already the name of exceptions[${first}]: names must be unique`);
      else seen.set(name, index);
    }
    const rule = exceptionRule(entry, ['exceptions', index], problems, warnings, now);
    if (rule) rules.push(rule);
  });
  return rules;
}

/** A cluster without sourceIps in a fleet whose other clusters list them: its token works from anywhere. */
function warnUnbound(clusters: ReadonlyMap<string, ClusterLayer>, warnings: Problems): void {
  const { withoutSourceIps } = fleetOrigins(clusters);
  const bound = [...clusters.keys()].filter((name) => !withoutSourceIps.includes(name));
  for (const name of withoutSourceIps) {
    warnings.add(
      ['clusters', name],
      `cluster ${name} lists no sourceIps, while ${bound.join(', ')} ${bound.length === 1 ? 'does' : 'do'}: its token is accepted from any address, and the edge allow-list is built from the policy only when every cluster lists them`,
      true,
    );
  }
}

/** Checks and compiles a parsed policy document; `now` judges which exceptions have expired. */
export function checkPolicyDocument(document: unknown, now: number = Date.now()): PolicyCheck {
  const problems = new Problems();
  const warnings = new Problems();
  if (!isObject(document)) {
    problems.add([], `a policy must be a map with version: ${POLICY_VERSION}, got ${describe(document)}`);
    return { policy: undefined, problems: problems.list, warnings: warnings.list };
  }
  for (const key of Object.keys(document)) {
    if (!TOP_LEVEL_KEYS.includes(key)) problems.add([key], `unknown field "${key}": a policy has ${TOP_LEVEL_KEYS.join(', ')}`, true);
  }
  if (document.version === undefined) problems.add([], `needs version: ${POLICY_VERSION}`);
  else if (document.version !== POLICY_VERSION) problems.add(['version'], `must be ${POLICY_VERSION}, got ${describe(document.version)}`);
  const defaultsMap = document.defaults === undefined ? {} : mapAt(document.defaults, ['defaults'], problems) ?? {};
  const policy: CompiledPolicy = {
    defaults: compileFields(withoutOriginFields(defaultsMap, ['defaults'], problems), ['defaults'], problems, FIELD_NAMES),
    namespaces: namespaceLayers(document.namespaces, ['namespaces'], problems),
    clusters: clusterLayers(document.clusters, problems),
    exceptions: exceptionRules(document.exceptions, problems, warnings, now),
  };
  warnUnbound(policy.clusters, warnings);
  return { policy: problems.list.length === 0 ? policy : undefined, problems: problems.list, warnings: warnings.list };
}
