/**
 * Where a cluster calls from (DESIGN "Cluster identity"): `clusters.<c>.sourceIps`, the addresses
 * its API server's webhook calls come from (its NAT gateways' under customer-routed control-plane
 * egress), and `clusters.<c>.vpcEndpointIds`, the execute-api VPC endpoints of its VPC (the
 * private variant). Cluster-only fields: they bind one cluster, so no other layer sets them.
 * Checked and compiled here; the functions match requests against them (lib/auth/caller-origin.ts)
 * and packaging builds the edge from the whole fleet's lists (fleetOrigins).
 */
import { type FieldPath, type Problems, listOf } from './policy-fields';

/** The fields a cluster entry may set besides the policy fields and its `namespaces`. */
export const ORIGIN_FIELDS = ['sourceIps', 'vpcEndpointIds'] as const;
export type OriginField = (typeof ORIGIN_FIELDS)[number];

const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = `${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}`;
const H = '[0-9a-fA-F]{1,4}';
/** RFC 4291 text forms without an embedded IPv4 tail (write IPv4 addresses as IPv4) and without a zone. */
const IPV6 = [
  `(?:${H}:){7}${H}`,
  `(?:${H}:){1,7}:`,
  `(?:${H}:){1,6}:${H}`,
  `(?:${H}:){1,5}(?::${H}){1,2}`,
  `(?:${H}:){1,4}(?::${H}){1,3}`,
  `(?:${H}:){1,3}(?::${H}){1,4}`,
  `(?:${H}:){1,2}(?::${H}){1,5}`,
  `${H}:(?::${H}){1,6}`,
  `:(?:(?::${H}){1,7}|:)`,
].join('|');
/**
 * An IPv4 or IPv6 address, or a CIDR block (`/1` to `/32`, `/1` to `/128`: a /0 would be every
 * address). The schema's pattern is this one (test/policy-schema.test.ts).
 */
export const SOURCE_ADDRESS = new RegExp(`^(?:${IPV4}(?:/(?:[1-9]|[12][0-9]|3[0-2]))?|(?:${IPV6})(?:/(?:[1-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?)$`);
/** An interface VPC endpoint's id, as AWS writes it. */
export const VPC_ENDPOINT_ID = /^vpce-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** One entry of `sourceIps`: its network address (host bits zero, as the validator requires) and prefix. */
export interface AddressBlock {
  /** As written in the file. */
  text: string;
  address: string;
  /** The block in one spelling (lower-case, IPv6 compressed, with its prefix), for the edge's union. */
  cidr: string;
  family: 'ipv4' | 'ipv6';
  prefix: number;
}

export interface ClusterOrigin {
  /** Undefined: the cluster may call from any address. */
  sourceIps?: readonly AddressBlock[];
  /** Undefined: the cluster may call through any endpoint, or none. */
  vpcEndpointIds?: readonly string[];
}

/** The address's 4 or 16 bytes (the text already matched SOURCE_ADDRESS, so it is well formed). */
function addressBytes(address: string, family: AddressBlock['family']): number[] {
  if (family === 'ipv4') return address.split('.').map(Number);
  const groups = (text: string) => (text === '' ? [] : text.split(':').map((group) => Number.parseInt(group, 16)));
  const [head = '', tail] = address.split('::');
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

/** `bytes` with every bit after `prefix` cleared, written back as an address (IPv6 with its longest zero run as ::). */
function networkOf(bytes: readonly number[], prefix: number, family: AddressBlock['family']): string {
  const masked = bytes.map((byte, index) => {
    const bits = Math.min(8, Math.max(0, prefix - index * 8));
    return byte & ((0xff << (8 - bits)) & 0xff);
  });
  if (family === 'ipv4') return masked.join('.');
  const groups = Array.from({ length: 8 }, (_, index) => ((masked[2 * index] ?? 0) << 8) | (masked[2 * index + 1] ?? 0));
  const text = `:${groups.map((group) => group.toString(16)).join(':')}:`;
  const runs = text.match(/(?::0)+:/g) ?? [];
  const longest = runs.reduce((best, run) => (run.length > best.length ? run : best), '');
  return (longest.length > 3 ? text.replace(longest, '::') : text).replace(/^:(?!:)|(?<!:):$/g, '');
}

function addressBlock(text: string, path: FieldPath, problems: Problems): AddressBlock | undefined {
  if (!SOURCE_ADDRESS.test(text)) {
    if (/\/0+$/.test(text)) return problems.add(path, `"${text}" is every address: leave sourceIps out to accept the cluster from anywhere`);
    return problems.add(path, `"${text}", which is not an IPv4 or IPv6 address or CIDR block (203.0.113.7, 203.0.113.0/28, 2001:db8::/56)`);
  }
  const [address = '', prefixText] = text.split('/');
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  const bytes = addressBytes(address, family);
  const prefix = prefixText === undefined ? bytes.length * 8 : Number(prefixText);
  const network = networkOf(bytes, prefix, family);
  if (network !== networkOf(bytes, bytes.length * 8, family)) {
    return problems.add(path, `"${text}" has bits set after its /${prefix} prefix: write the block as ${network}/${prefix}, or the one address as ${address}`);
  }
  return { text, address, family, prefix, cidr: `${network}/${prefix}` };
}

/** The origin fields of one cluster entry (`at` is its path), compiled. */
export function compileOrigin(entry: Record<string, unknown>, at: FieldPath, problems: Problems): ClusterOrigin {
  const origin: { sourceIps?: AddressBlock[]; vpcEndpointIds?: string[] } = {};
  if (entry.sourceIps !== undefined) {
    const blocks = listOf(addressBlock, 'leave sourceIps out to accept the cluster from any address')(entry.sourceIps, [...at, 'sourceIps'], problems);
    if (blocks) origin.sourceIps = blocks;
  }
  if (entry.vpcEndpointIds !== undefined) {
    const ids = listOf(
      (text, path, found) => (VPC_ENDPOINT_ID.test(text) ? text : found.add(path, `"${text}", which is not a VPC endpoint id (vpce- and 8 or 17 lower-case hex digits)`)),
      'leave vpcEndpointIds out to accept the cluster through any endpoint',
    )(entry.vpcEndpointIds, [...at, 'vpcEndpointIds'], problems);
    if (ids) origin.vpcEndpointIds = ids;
  }
  return origin;
}

/** Says where a cluster-only field belongs when another layer sets it; returns the layer without them. */
export function withoutOriginFields(layer: Record<string, unknown>, path: FieldPath, problems: Problems): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(layer)) {
    if ((ORIGIN_FIELDS as readonly string[]).includes(key)) problems.add([...path, key], `${key} binds one cluster to where it calls from: set it under clusters.<name>`, true);
    else rest[key] = value;
  }
  return rest;
}

/** What the fleet's origins give the edge: the union of the lists, and the clusters that list no addresses. */
export interface FleetOrigins {
  /** Every cluster's sourceIps as CIDR blocks, once each, in file order; undefined unless every cluster (at least one) lists some. */
  sourceIps: string[] | undefined;
  /** Every cluster's vpcEndpointIds, once each, in file order. */
  vpcEndpointIds: string[];
  /** Clusters without sourceIps, where others have them (each is accepted from anywhere). */
  withoutSourceIps: string[];
}

export function fleetOrigins(clusters: ReadonlyMap<string, { origin: ClusterOrigin }>): FleetOrigins {
  const entries = [...clusters];
  const withoutSourceIps = entries.filter(([, { origin }]) => !origin.sourceIps).map(([name]) => name);
  const every = entries.length > 0 && withoutSourceIps.length === 0;
  const unique = (lists: (readonly string[] | undefined)[]) => [...new Set(lists.flatMap((list) => list ?? []))];
  return {
    sourceIps: every ? unique(entries.map(([, { origin }]) => origin.sourceIps?.map((block) => block.cidr))) : undefined,
    vpcEndpointIds: unique(entries.map(([, { origin }]) => origin.vpcEndpointIds)),
    withoutSourceIps: withoutSourceIps.length < entries.length ? withoutSourceIps : [],
  };
}
