/**
 * What binding a cluster to where it calls from (DESIGN "Cluster identity") adds to each review:
 * the authentication step of a review, with the token's match already made, for a cluster the
 * policy does not bind, and for bound clusters called from an IPv4 and an IPv6 address, in
 * nanoseconds per review (median of rounds). Nothing here reads a secret or the network.
 */
import { performance } from 'node:perf_hooks';
import type { Authenticate } from '../lib/auth/caller-auth';
import { bindCallerOrigins } from '../lib/auth/caller-origin';
import { checkPolicyDocument } from '../lib/policies/fleet/policy-document';
import { largeFleetPolicy } from './fleet-start';
import { median } from './stats';

export interface OriginCheckReport {
  /** Nanoseconds per review: authentication alone (no binding), and with the bindings of 200 clusters. */
  nsPerReview: Record<'withoutBinding' | 'unboundCluster' | 'boundIpv4' | 'boundIpv6', number>;
}

/** Times `calls` awaited calls of `authenticate`, `rounds` times; the median in nanoseconds per call. */
async function timed(authenticate: Authenticate, origin: { sourceIp: string }, calls: number, rounds: number): Promise<number> {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    for (let call = 0; call < calls; call += 1) await authenticate('t', 1000, origin);
    samples.push(((performance.now() - started) * 1e6) / calls);
  }
  return median(samples);
}

export async function originChecks(calls = 20_000, rounds = 15): Promise<OriginCheckReport> {
  const { policy } = checkPolicyDocument(largeFleetPolicy());
  if (!policy) throw new Error('the bench fleet policy is not valid');
  const origins = new Map([...policy.clusters].map(([name, layer]) => [name, layer.origin]));
  const matching = (cluster: string): Authenticate => async () => ({ cluster });
  const bound = (cluster: string) => bindCallerOrigins(matching(cluster), origins);
  const series = {
    withoutBinding: [matching('cluster-7'), '198.51.7.7'],
    unboundCluster: [bound('a-cluster-the-policy-does-not-bind'), '198.51.7.7'],
    boundIpv4: [bound('cluster-7'), '203.0.7.20'],
    boundIpv6: [bound('cluster-7'), '2001:db8:7:ff::1'],
  } as const;
  for (const [name, [authenticate, sourceIp]] of Object.entries(series)) {
    // Every series must take its intended path: bound clusters from their own addresses pass.
    await authenticate('t', 1000, { sourceIp }).catch((error: unknown) => {
      throw new Error(`origin check ${name} refused its own address: ${String(error)}`);
    });
  }
  const nsPerReview = {} as OriginCheckReport['nsPerReview'];
  for (const [name, [authenticate, sourceIp]] of Object.entries(series)) nsPerReview[name as keyof typeof series] = await timed(authenticate, { sourceIp }, calls, rounds);
  return { nsPerReview };
}
