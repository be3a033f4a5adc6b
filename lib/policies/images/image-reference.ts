/**
 * Container image references, parsed the way container runtimes parse them
 * (the distribution `reference` grammar with Docker's normalisation), and the
 * registry allow-list. A string-prefix check is a known bypass
 * (`registry.example.com.evil.io/x`), so matching here is on the parsed host
 * and on whole repository path segments.
 */

export interface ImageReference {
  /**
   * Registry host, with `:port` if any, lower-cased (host names compare case-insensitively);
   * `docker.io` when the image names none.
   */
  registry: string;
  /** Repository path inside the registry, e.g. `library/nginx`. */
  repository: string;
  tag?: string;
  digest?: string;
}

export type ImageParseResult = { ok: true; reference: ImageReference } | { ok: false; reason: string };

export interface RegistryRule {
  /** Lower-cased host with `:port` if any. */
  host: string;
  /** Repository path prefix matched on whole segments; empty for the whole registry. */
  pathPrefix: string;
}

const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
/** The limit counts the repository path only, not the host (distribution/reference v0.6.0 and later). */
const REPOSITORY_PATH_LENGTH_MAX = 255;
const OFFICIAL_REPOSITORY_PREFIX = 'library/';

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN_AND_PORT = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const REPOSITORY_PATH = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const DIGEST_HEX_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Whether the first path component names a registry rather than a Docker Hub
 * namespace: it contains `.` or `:`, is `localhost`, or has an upper-case letter.
 */
function looksLikeRegistry(component: string): boolean {
  return /[.:]/.test(component) || component === 'localhost' || component !== component.toLowerCase();
}

/** An allow-list or mirror rule's host: lower-cased, with the legacy Docker Hub name read as `docker.io`. */
function normaliseRuleHost(host: string): string {
  const lower = host.toLowerCase();
  return lower === LEGACY_DEFAULT_REGISTRY ? DEFAULT_REGISTRY : lower;
}

function failure(reason: string): ImageParseResult {
  return { ok: false, reason };
}

function checkDigest(digest: string): string | undefined {
  const match = DIGEST.exec(digest);
  if (!match) return `digest "${digest}" is not of the form algorithm:hex`;
  const [, algorithm = '', hex = ''] = match;
  const length = DIGEST_HEX_LENGTHS[algorithm];
  if (length === undefined) return `digest algorithm "${algorithm}" is not supported`;
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    return `${algorithm} digest must be ${length} lower-case hexadecimal characters`;
  }
  return undefined;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function parseImageReference(image: string): ImageParseResult {
  if (image === '') return failure('image is empty');
  if (image.trim() !== image) return failure('image has leading or trailing whitespace');
  if (/\s/.test(image)) return failure('image contains whitespace');

  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const digestProblem = checkDigest(digest);
    if (digestProblem) return failure(digestProblem);
  }

  // The runtime's Docker Hub normalisation applies only to the exact lower-case spellings: an
  // image whose host is written `Docker.io` keeps its path as written (no `library/`), although
  // its host still compares as `docker.io`.
  const slash = rest.indexOf('/');
  let host = DEFAULT_REGISTRY;
  let remainder = rest;
  if (slash !== -1 && looksLikeRegistry(rest.slice(0, slash))) {
    host = rest.slice(0, slash);
    if (!DOMAIN_AND_PORT.test(host)) return failure(`registry "${host}" is not a valid host[:port]`);
    if (host === LEGACY_DEFAULT_REGISTRY) host = DEFAULT_REGISTRY;
    remainder = rest.slice(slash + 1);
  }

  // A tag follows the last ':' that comes after the last '/'.
  let tag: string | undefined;
  const colon = remainder.lastIndexOf(':');
  if (colon > remainder.lastIndexOf('/')) {
    tag = remainder.slice(colon + 1);
    remainder = remainder.slice(0, colon);
    if (!isValidTag(tag)) return failure(`tag "${tag}" is not valid`);
  }

  if (remainder === '') return failure('repository name is empty');
  if (remainder !== remainder.toLowerCase()) return failure(`repository name "${remainder}" must be lowercase`);
  if (!REPOSITORY_PATH.test(remainder)) return failure(`repository name "${remainder}" is not valid`);
  if (host === DEFAULT_REGISTRY && !remainder.includes('/')) {
    if (/^[a-f0-9]{64}$/.test(remainder)) return failure('repository name cannot be a 64-character hexadecimal string');
    remainder = `${OFFICIAL_REPOSITORY_PREFIX}${remainder}`;
  }
  if (remainder.length > REPOSITORY_PATH_LENGTH_MAX) {
    return failure(`repository path must not be longer than ${REPOSITORY_PATH_LENGTH_MAX} characters`);
  }

  const reference: ImageReference = { registry: host.toLowerCase(), repository: remainder };
  if (tag !== undefined) reference.tag = tag;
  if (digest !== undefined) reference.digest = digest;
  return { ok: true, reference };
}

/**
 * Parses one allow-list entry: a registry host (with port if any), optionally
 * followed by a repository path prefix. Throws an Error naming the problem.
 */
export function parseRegistryRule(entry: string): RegistryRule {
  const trimmed = entry.trim().replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const host = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const pathPrefix = slash === -1 ? '' : trimmed.slice(slash + 1);
  if (!DOMAIN_AND_PORT.test(host) || !(/[.:]/.test(host) || host.toLowerCase() === 'localhost')) {
    throw new Error(
      `"${entry}" is not a registry: expected a host such as registry.example.com or localhost:5000, optionally followed by /path`,
    );
  }
  if (pathPrefix !== '' && !REPOSITORY_PATH.test(pathPrefix)) {
    throw new Error(`"${entry}" has an invalid repository path "${pathPrefix}" (lower-case path segments, no tag or digest)`);
  }
  return { host: normaliseRuleHost(host), pathPrefix };
}

/** Whether `path` is `prefix` or lies under it, on whole segments (`team` covers `team/app`, not `teamx`). */
export function isUnderPath(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}

/** Whether the rule covers a repository of a registry: host equal, path under the rule's prefix. */
export function ruleCovers(rule: RegistryRule, registry: string, repository: string): boolean {
  return rule.host === registry && isUnderPath(repository, rule.pathPrefix);
}

export function isAllowedImage(reference: ImageReference, rules: readonly RegistryRule[]): boolean {
  return rules.some((rule) => ruleCovers(rule, reference.registry, reference.repository));
}

/** The host without its `:port` (`[::1]:5000` -> `[::1]`). */
function withoutPort(host: string): string {
  return host.replace(/:[0-9]+$/, '');
}

/**
 * Why an image that no rule allows is a near miss, briefly, or undefined when it is not one:
 * its host is an allowed host but for the port, or its host is allowed but its path is outside
 * every allowed path prefix of that host.
 */
export function nearMissReason(reference: ImageReference, rules: readonly RegistryRule[]): string | undefined {
  const sameHost = rules.filter((rule) => rule.host === reference.registry);
  if (sameHost.length > 0) return `${reference.repository} is outside ${sameHost.map(formatRegistryRule).join(', ')}`;
  const otherPort = rules.find((rule) => withoutPort(rule.host) === withoutPort(reference.registry));
  if (otherPort) return `${reference.registry} is not ${otherPort.host}: the port is part of the registry name`;
  return undefined;
}

export function formatRegistryRule(rule: RegistryRule): string {
  return rule.pathPrefix === '' ? rule.host : `${rule.host}/${rule.pathPrefix}`;
}

/** The reference written out in full: `host/path[:tag][@digest]`. */
export function formatImageReference(reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`;
  return `${reference.registry}/${reference.repository}${tag}${digest}`;
}
