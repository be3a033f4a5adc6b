/**
 * The fleet policy compiled for lookups, as Kyverno's policy cache keeps its policies: the file is
 * checked and compiled at start-up (lib/policies/fleet/policy-document.ts); each cluster's layers
 * (built-in defaults, `defaults`, `clusters.<c>`) are merged on its first review, and the effective
 * policy of a namespace (then the top-level `namespaces` entry, then the cluster's own) on the
 * first review there, and kept, so a review only looks its policy up. Merging per cluster on first
 * use keeps a large fleet's merges (every cluster against every exception) off the cold start. Each layer
 * replaces whole fields; within a `namespaces` map the exact name wins, then the longest prefix.
 */
import type { Config } from './config';
import type { ClusterLayer, CompiledPolicy, ExceptionRule, NamespaceLayers } from './policy-document';
import { matchesNamespace } from './policy-document';
import { type PolicyException, withMirroredRules } from './exceptions';
import type { PolicyFields } from './policy-fields';
import type { ClusterOrigin } from './cluster-origins';

export interface FleetPolicy {
  version: string;
  /** The clusters the policy names. */
  clusters: readonly string[];
  /** Where each cluster that the policy binds calls from (DESIGN "Cluster identity"). */
  origins: ReadonlyMap<string, ClusterOrigin>;
  /** The effective policy for a review of `cluster` (undefined: no cluster matched) in `namespace`. */
  configFor(cluster: string | undefined, namespace: string | undefined): Config;
}

/** Namespaces remembered per cluster before the memo starts again (a cluster's namespaces are few). */
const MEMO_LIMIT = 4096;

function namespaceEntry(layers: NamespaceLayers | undefined, namespace: string): Partial<PolicyFields> | undefined {
  if (!layers) return undefined;
  return layers.exact.get(namespace) ?? layers.prefixes.find(({ prefix }) => namespace.startsWith(prefix))?.fields;
}

function inCluster(rule: ExceptionRule, cluster: string | undefined): boolean {
  return !rule.clusters || (cluster !== undefined && rule.clusters.has(cluster));
}

function inNamespace(rule: ExceptionRule, namespace: string | undefined): boolean {
  return !rule.namespaces || (namespace !== undefined && rule.namespaces.some((pattern) => matchesNamespace(pattern, namespace)));
}

/** One cluster's lookups (or those of a caller the policy does not name). */
function clusterLookup(policy: CompiledPolicy, builtins: PolicyFields, cluster: string | undefined, layer: ClusterLayer | undefined) {
  const base: PolicyFields = { ...builtins, ...policy.defaults, ...layer?.fields };
  // The cluster's exceptions, their image rules also as this cluster's mirrors rewrite them.
  const exceptions = policy.exceptions
    .filter((rule) => inCluster(rule, cluster))
    .map((rule): [ExceptionRule, PolicyException] => [
      rule,
      { name: rule.name, expires: rule.expires, endsAt: rule.endsAt, images: withMirroredRules(rule.images, base.imageMirrors) },
    ]);
  const exceptionsIn = (namespace: string | undefined) => exceptions.filter(([rule]) => inNamespace(rule, namespace)).map(([, exception]) => exception);
  const clusterWide: Config = { ...base, exceptions: exceptionsIn(undefined) };
  const memo = new Map<string, Config>();
  return (namespace: string | undefined): Config => {
    if (namespace === undefined) return clusterWide;
    let config = memo.get(namespace);
    if (config) return config;
    config = {
      ...base,
      ...namespaceEntry(policy.namespaces, namespace),
      ...namespaceEntry(layer?.namespaces, namespace),
      exceptions: exceptionsIn(namespace),
    };
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(namespace, config);
    return config;
  };
}

export function createFleetPolicy(policy: CompiledPolicy, version: string, builtins: PolicyFields): FleetPolicy {
  // Keyed by the matched cluster: one the file names, one of the token secret it does not name
  // (defaults, but exceptions may still name it), or undefined (no cluster matched). The keys come
  // from authenticated callers only, so they are the token secret's few names.
  const lookups = new Map<string | undefined, ReturnType<typeof clusterLookup>>();
  return {
    version,
    clusters: [...policy.clusters.keys()],
    origins: new Map([...policy.clusters].filter(([, layer]) => layer.origin.sourceIps || layer.origin.vpcEndpointIds).map(([name, layer]) => [name, layer.origin])),
    configFor(cluster, namespace) {
      let lookup = lookups.get(cluster);
      if (!lookup) {
        lookup = clusterLookup(policy, builtins, cluster, cluster === undefined ? undefined : policy.clusters.get(cluster));
        lookups.set(cluster, lookup);
      }
      return lookup(namespace);
    },
  };
}
