/**
 * Each cluster bound to where it calls from (DESIGN "Cluster identity"): bindCallerOrigins on its
 * own, then end to end through a `validate` handler built by configuredHandler with a fleet token
 * secret (the real SDK client against the local Secrets Manager endpoint) and a policy whose
 * clusters list sourceIps or vpcEndpointIds: the right token from an unlisted address or VPC
 * endpoint gets exactly the wrong token's answer, a SourceMismatch metric and a WARN line with the
 * cluster and the address, never the token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Authenticate, type Caller, WRONG_TOKEN } from '../lib/auth/caller-auth';
import { OriginMismatch, bindCallerOrigins } from '../lib/auth/caller-origin';
import { readPolicyFileWithPositions } from '../lib/cli/policy-file';
import type { LogRecord } from '../lib/common/log';
import { checkPolicyText } from '../lib/cli/policy-file';
import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';
import type { GatewayEvent } from '../lib/transport/http';
import { httpApiEvent, podRequest, restEvent, review } from './support/reviews';
import { type SecretsManagerEndpoint, startSecretsManagerEndpoint, useEndpointEnvironment } from './support/secrets-manager-endpoint';
import { recordsCounting } from './support/emf';

/** The origins a policy text binds its clusters to. */
function originsOf(text: string) {
  const check = checkPolicyText(text, 'p.yaml');
  expect(check.problems).toEqual([]);
  return new Map([...check.policy!.clusters].map(([name, layer]) => [name, layer.origin]));
}

const BOUND = originsOf(
  'version: 1\nclusters:\n' +
    '  prod-eu: { sourceIps: [203.0.113.10, 198.51.100.0/28, "2001:db8:10::/56"] }\n' +
    '  private: { vpcEndpointIds: [vpce-0a1b2c3d4e5f60718, vpce-1a2b3c4d] }\n' +
    '  both: { sourceIps: [10.0.0.0/16], vpcEndpointIds: [vpce-1a2b3c4d] }\n' +
    '  free: {}\n',
);

/** An authenticate that matched `cluster`'s token, and records the origin it was given. */
function matched(caller: Caller): Authenticate & { seen: unknown[] } {
  const seen: unknown[] = [];
  return Object.assign(async (_token: string | undefined, _budget: number, origin?: unknown) => {
    seen.push(origin);
    return caller;
  }, { seen });
}

describe('bindCallerOrigins', () => {
  const outcome = async (cluster: string | undefined, origin: { sourceIp?: string; vpceId?: string }) => {
    try {
      await bindCallerOrigins(matched(cluster === undefined ? {} : { cluster }), BOUND)('t', 1000, origin);
      return 'allowed';
    } catch (error) {
      expect(error).toBeInstanceOf(OriginMismatch);
      expect(error).toMatchObject({ statusCode: 403, message: WRONG_TOKEN, cluster, origin });
      return 'refused';
    }
  };

  it.each<[string, string | undefined, { sourceIp?: string; vpceId?: string }, string]>([
    ['a listed address', 'prod-eu', { sourceIp: '203.0.113.10' }, 'allowed'],
    ['an address in a listed IPv4 block', 'prod-eu', { sourceIp: '198.51.100.15' }, 'allowed'],
    ['an address in a listed IPv6 block, written another way', 'prod-eu', { sourceIp: '2001:DB8:10:FF::1' }, 'allowed'],
    ['the next address after a block', 'prod-eu', { sourceIp: '198.51.100.16' }, 'refused'],
    ['an unlisted address', 'prod-eu', { sourceIp: '203.0.113.11' }, 'refused'],
    ['an IPv6 address outside the block', 'prod-eu', { sourceIp: '2001:db8:11::1' }, 'refused'],
    ['no address at all', 'prod-eu', {}, 'refused'],
    ['something that is not an address', 'prod-eu', { sourceIp: 'test-invoke-source-ip' }, 'refused'],
    ['a listed endpoint', 'private', { sourceIp: '10.1.2.3', vpceId: 'vpce-1a2b3c4d' }, 'allowed'],
    ['another endpoint', 'private', { sourceIp: '10.1.2.3', vpceId: 'vpce-99999999' }, 'refused'],
    ['no endpoint (the public domain)', 'private', { sourceIp: '203.0.113.10' }, 'refused'],
    ['both listed, both right', 'both', { sourceIp: '10.0.4.5', vpceId: 'vpce-1a2b3c4d' }, 'allowed'],
    ['both listed, the address wrong', 'both', { sourceIp: '10.1.4.5', vpceId: 'vpce-1a2b3c4d' }, 'refused'],
    ['both listed, the endpoint wrong', 'both', { sourceIp: '10.0.4.5', vpceId: 'vpce-0a1b2c3d4e5f60718' }, 'refused'],
    ['a cluster the policy does not bind', 'free', { sourceIp: '192.0.2.1' }, 'allowed'],
    ['a cluster the policy does not name', 'staging', {}, 'allowed'],
    ['a caller without a cluster (a single-token secret)', undefined, {}, 'allowed'],
  ])('%s: %s', async (_, cluster, origin, expected) => {
    expect(await outcome(cluster, origin)).toBe(expected);
  });

  it('passes the origin on, and leaves authenticate as it is when the policy binds no cluster', async () => {
    const inner = matched({ cluster: 'prod-eu' });
    await bindCallerOrigins(inner, BOUND)('t', 1000, { sourceIp: '203.0.113.10' });
    expect(inner.seen).toEqual([{ sourceIp: '203.0.113.10' }]);
    expect(bindCallerOrigins(inner, new Map())).toBe(inner);
  });

  it('gives the same verdict for an address however often it calls, and after many other addresses', async () => {
    const bound = bindCallerOrigins(matched({ cluster: 'prod-eu' }), BOUND);
    const verdict = (sourceIp: string) => bound('t', 1000, { sourceIp }).then(() => 'allowed', () => 'refused');
    for (let round = 0; round < 3; round += 1) {
      expect(await verdict('198.51.100.15')).toBe('allowed');
      expect(await verdict('198.51.100.16')).toBe('refused');
    }
    for (let host = 0; host < 1100; host += 1) expect(await verdict(`192.0.${host >> 8}.${host & 0xff}`)).toBe('refused');
    expect(await verdict('198.51.100.15')).toBe('allowed');
    expect(await verdict('198.51.100.16')).toBe('refused');
  });

  it('refuses what authenticate refuses, before looking at the origin', async () => {
    const refusing: Authenticate = async () => {
      throw new Error('wrong token');
    };
    await expect(bindCallerOrigins(refusing, BOUND)('t', 1000, { sourceIp: '203.0.113.10' })).rejects.toThrow('wrong token');
  });
});

describe('end to end: a validate handler with a fleet secret and a policy that binds its clusters', () => {
  const TOKENS = { 'prod-eu': 'tok-origin-prod-eu-5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a', 'dev-us': 'tok-origin-dev-us-8e6c4a2f0d8b6e4c2a0f8d6b4e2c0a8f' };
  const WRONG = 'tok-origin-wrong-1f3d5b7a9c1e3f5d7b9a1c3e5f7d9b1a';
  let endpoint: SecretsManagerEndpoint;
  let restore: () => void;

  beforeAll(async () => {
    endpoint = await startSecretsManagerEndpoint('admission-webhooks/dev/token');
    endpoint.setCurrent(JSON.stringify({ tokens: TOKENS }));
    restore = useEndpointEnvironment(endpoint);
  });
  afterAll(async () => {
    await endpoint?.close();
    restore?.();
  });

  function handlerFor(policyFile: string) {
    const logs: LogRecord[] = [];
    const handler = configuredHandler('validate', validateImages, { WEBHOOK_TOKEN_SECRET_ID: 'admission-webhooks/dev/token', POLICY_FILE: policyFile }, {
      log: (record) => logs.push(JSON.parse(JSON.stringify(record))),
      readPolicyFile: readPolicyFileWithPositions,
    });
    return { handler, logs };
  }

  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'registry.example.com/app:1' }] } };
  const body = review(podRequest(pod));
  /** A REST event with `token` from `sourceIp` (and through `vpceId`). */
  const rest = (token: string, sourceIp: string, vpceId?: string): GatewayEvent => {
    const event = restEvent(body, { pathParameters: { token } }) as unknown as { requestContext: { identity: Record<string, unknown> } };
    event.requestContext.identity = { ...event.requestContext.identity, sourceIp, ...(vpceId ? { vpceId } : {}) };
    return event as unknown as GatewayEvent;
  };
  const httpApi = (token: string, sourceIp: string): GatewayEvent => {
    const event = httpApiEvent(body, { pathParameters: { token } }) as unknown as { requestContext: { http: Record<string, unknown> } };
    event.requestContext.http = { ...event.requestContext.http, sourceIp };
    return event as unknown as GatewayEvent;
  };

  it('allows prod-eu from its NAT address; from elsewhere answers exactly as to a wrong token, and counts it', async () => {
    const { handler, logs } = handlerFor('examples/policies/source-bound.yaml');
    const allowed = await handler(rest(TOKENS['prod-eu'], '203.0.113.11'));
    expect(allowed.statusCode).toBe(200);
    expect(JSON.parse(allowed.body).response.allowed).toBe(true);

    const wrongToken = await handler(rest(WRONG, '203.0.113.11'));
    const elsewhere = await handler(rest(TOKENS['prod-eu'], '192.0.2.44'));
    expect(wrongToken.statusCode).toBe(403);
    expect(elsewhere).toEqual(wrongToken);
    expect(JSON.parse(elsewhere.body).message).toBe(WRONG_TOKEN);

    const [counted, ...more] = recordsCounting(logs, 'SourceMismatch');
    expect(more).toEqual([]);
    expect(counted).toMatchObject({ level: 'WARN', webhook: 'validate', statusCode: 403, cluster: 'prod-eu', sourceIp: '192.0.2.44', SourceMismatch: 1 });
    expect(counted?.reason).toBe('the token of cluster prod-eu, from an address or VPC endpoint the policy does not bind it to');
    expect((counted?._aws as { CloudWatchMetrics: unknown }).CloudWatchMetrics).toEqual([
      { Namespace: 'AdmissionWebhooks', Dimensions: [['webhook'], ['webhook', 'cluster']], Metrics: [{ Name: 'SourceMismatch', Unit: 'Count' }] },
    ]);
    // The wrong token is a Forbidden; the mismatch is not counted twice.
    expect(recordsCounting(logs, 'Forbidden')).toHaveLength(1);
    for (const record of logs) for (const token of [...Object.values(TOKENS), WRONG]) expect(JSON.stringify(record)).not.toContain(token);
  });

  it('binds dev-us to its own block, over HTTP API events too', async () => {
    const { handler, logs } = handlerFor('examples/policies/source-bound.yaml');
    expect((await handler(httpApi(TOKENS['dev-us'], '198.51.100.3'))).statusCode).toBe(200);
    // prod-eu's address is not dev-us's.
    expect((await handler(httpApi(TOKENS['dev-us'], '203.0.113.10'))).statusCode).toBe(403);
    expect(recordsCounting(logs, 'SourceMismatch')).toMatchObject([{ cluster: 'dev-us', sourceIp: '203.0.113.10' }]);
  });

  it('binds a cluster to its VPC endpoints: another endpoint, or none, is refused the same way', async () => {
    const { handler, logs } = handlerFor('examples/policies/private-endpoint.yaml');
    expect((await handler(rest(TOKENS['dev-us'], '10.0.3.7', 'vpce-1a2b3c4d'))).statusCode).toBe(200);
    const wrongToken = await handler(rest(WRONG, '10.0.3.7', 'vpce-1a2b3c4d'));
    expect(await handler(rest(TOKENS['dev-us'], '10.0.3.7', 'vpce-0a1b2c3d4e5f60718'))).toEqual(wrongToken);
    expect(await handler(rest(TOKENS['dev-us'], '203.0.113.10'))).toEqual(wrongToken);
    expect(recordsCounting(logs, 'SourceMismatch')).toMatchObject([
      { cluster: 'dev-us', sourceIp: '10.0.3.7', vpceId: 'vpce-0a1b2c3d4e5f60718' },
      { cluster: 'dev-us', sourceIp: '203.0.113.10' },
    ]);
  });

  it('leaves a policy without bindings as it was: any address is accepted', async () => {
    const { handler, logs } = handlerFor('examples/policies/fleet.yaml');
    expect((await handler(rest(TOKENS['prod-eu'], '192.0.2.44'))).statusCode).toBe(200);
    expect(recordsCounting(logs, 'SourceMismatch')).toEqual([]);
  });
});
