/**
 * Binds each cluster to where it calls from (DESIGN "Cluster identity"): when the token matched a
 * cluster whose policy entry lists `sourceIps` or `vpcEndpointIds`, a request from another
 * address, or through another VPC endpoint (or none), is refused with exactly the 403 of a wrong
 * token, so the caller cannot tell that the token was right. The refusal is an OriginMismatch,
 * which the webhook logs and counts (SourceMismatch) with the cluster and the address.
 *
 * The lists are compiled once, at start-up, into Node's BlockList (IPv4 and IPv6 subnets, no
 * library in the bundle). BlockList.check parses the address text on every call (1.3 µs measured,
 * a fifth of a warm review), and a cluster calls from a handful of addresses, so each binding
 * remembers its verdict per address: a review of a bound cluster then pays two map lookups, an
 * unbound one a single lookup (`npm run bench`, "Origin check per review").
 */
import { BlockList, isIP } from 'node:net';
import type { ClusterOrigin } from '../policies/fleet/cluster-origins';
import { HttpError } from '../common/status';
import { type Authenticate, type RequestOrigin, WRONG_TOKEN } from './caller-auth';

/** A right token from the wrong place: answered as a wrong token, logged as what it is. */
export class OriginMismatch extends HttpError {
  constructor(
    readonly cluster: string,
    readonly origin: RequestOrigin,
  ) {
    super(403, WRONG_TOKEN);
    this.name = 'OriginMismatch';
  }
}

/** Addresses remembered per cluster before the memo starts again (a flood of other addresses only costs itself time). */
const MEMO_LIMIT = 1024;

interface Binding {
  /** Whether the request came from one of the cluster's addresses; undefined: any address will do. */
  fromAddress: ((sourceIp: string | undefined) => boolean) | undefined;
  endpoints: ReadonlySet<string> | undefined;
}

function addressCheck(blocks: NonNullable<ClusterOrigin['sourceIps']>): (sourceIp: string | undefined) => boolean {
  const list = new BlockList();
  for (const { address, family, prefix } of blocks) list.addSubnet(address, prefix, family);
  const memo = new Map<string, boolean>();
  return (sourceIp) => {
    if (sourceIp === undefined) return false;
    let allowed = memo.get(sourceIp);
    if (allowed === undefined) {
      const family = isIP(sourceIp);
      allowed = family !== 0 && list.check(sourceIp, family === 4 ? 'ipv4' : 'ipv6');
      if (memo.size >= MEMO_LIMIT) memo.clear();
      memo.set(sourceIp, allowed);
    }
    return allowed;
  };
}

function compile(origin: ClusterOrigin): Binding {
  return { fromAddress: origin.sourceIps && addressCheck(origin.sourceIps), endpoints: origin.vpcEndpointIds && new Set(origin.vpcEndpointIds) };
}

function isAllowed({ fromAddress, endpoints }: Binding, { sourceIp, vpceId }: RequestOrigin): boolean {
  if (fromAddress && !fromAddress(sourceIp)) return false;
  return !endpoints || (vpceId !== undefined && endpoints.has(vpceId));
}

/** `authenticate`, refusing a bound cluster's token from anywhere but where `origins` says it calls from. */
export function bindCallerOrigins(authenticate: Authenticate, origins: ReadonlyMap<string, ClusterOrigin>): Authenticate {
  if (origins.size === 0) return authenticate;
  const bindings = new Map([...origins].map(([cluster, origin]) => [cluster, compile(origin)]));
  return async (token, budgetMs, origin = {}) => {
    const caller = await authenticate(token, budgetMs, origin);
    const binding = caller.cluster === undefined ? undefined : bindings.get(caller.cluster);
    if (binding && !isAllowed(binding, origin)) throw new OriginMismatch(caller.cluster as string, origin);
    return caller;
  };
}
