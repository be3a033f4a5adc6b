/**
 * Where a cluster calls from (DESIGN "Cluster identity"): `clusters.<c>.sourceIps` and
 * `clusters.<c>.vpcEndpointIds` checked with `file:line:column`, cluster-only, the warning for a
 * fleet bound only in part, and the union packaging builds the edge from.
 */
import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPolicyText, problemLine } from '../lib/cli/policy-file';
import { SOURCE_ADDRESS, fleetOrigins } from '../lib/policies/fleet/cluster-origins';

function linesOf(text: string): string[] {
  const check = checkPolicyText(text, 'p.yaml');
  return [...check.problems.map((problem) => problemLine('p.yaml', problem)), ...check.warnings.map((warning) => problemLine('p.yaml', warning, 'warning'))];
}

function originsOf(text: string) {
  const check = checkPolicyText(text, 'p.yaml');
  expect(check.problems).toEqual([]);
  return fleetOrigins(check.policy!.clusters);
}

describe('sourceIps and vpcEndpointIds in the policy file', () => {
  it.each<[string, string, string[]]>([
    [
      'an address that is not one, at the entry',
      'version: 1\nclusters:\n  prod-eu:\n    sourceIps: [203.0.113.0/24, 203.0.113.300]\n',
      ['p.yaml:4:33: clusters.prod-eu.sourceIps[1]: "203.0.113.300", which is not an IPv4 or IPv6 address or CIDR block (203.0.113.7, 203.0.113.0/28, 2001:db8::/56)'],
    ],
    [
      'blocks with bits set after the prefix, and every address',
      'version: 1\nclusters:\n  prod-eu:\n    sourceIps:\n      - 203.0.113.7/24\n      - "2001:db8::1/64"\n      - 0.0.0.0/0\n',
      [
        'p.yaml:5:9: clusters.prod-eu.sourceIps[0]: "203.0.113.7/24" has bits set after its /24 prefix: write the block as 203.0.113.0/24, or the one address as 203.0.113.7',
        'p.yaml:6:9: clusters.prod-eu.sourceIps[1]: "2001:db8::1/64" has bits set after its /64 prefix: write the block as 2001:db8::/64, or the one address as 2001:db8::1',
        'p.yaml:7:9: clusters.prod-eu.sourceIps[2]: "0.0.0.0/0" is every address: leave sourceIps out to accept the cluster from anywhere',
      ],
    ],
    [
      'an empty list and a bad endpoint id',
      'version: 1\nclusters:\n  a:\n    vpcEndpointIds: [vpce-0123abcd, VPCE-1]\n    sourceIps: []\n',
      [
        'p.yaml:5:16: clusters.a.sourceIps: is empty: leave sourceIps out to accept the cluster from any address',
        'p.yaml:4:37: clusters.a.vpcEndpointIds[1]: "VPCE-1", which is not a VPC endpoint id (vpce- and 8 or 17 lower-case hex digits)',
      ],
    ],
    [
      'a string instead of a list',
      'version: 1\nclusters:\n  a: { sourceIps: 203.0.113.7 }\n',
      ['p.yaml:3:19: clusters.a.sourceIps: must be a list, got "203.0.113.7"'],
    ],
    [
      'cluster-only fields in defaults and namespace entries',
      'version: 1\ndefaults:\n  sourceIps: [203.0.113.7]\nnamespaces:\n  web: { vpcEndpointIds: [vpce-0123abcd] }\nclusters:\n  a: { namespaces: { web: { sourceIps: [203.0.113.7] } } }\n',
      [
        'p.yaml:3:3: defaults.sourceIps: sourceIps binds one cluster to where it calls from: set it under clusters.<name>',
        'p.yaml:5:10: namespaces.web.vpcEndpointIds: vpcEndpointIds binds one cluster to where it calls from: set it under clusters.<name>',
        'p.yaml:7:29: clusters.a.namespaces.web.sourceIps: sourceIps binds one cluster to where it calls from: set it under clusters.<name>',
      ],
    ],
  ])('refuses %s', (_, text, expected) => {
    expect(linesOf(text)).toEqual(expected);
  });

  it('warns of each cluster without sourceIps when others have them, at its key; not when none or all have them', () => {
    expect(linesOf('version: 1\nclusters:\n  a:\n    sourceIps: [203.0.113.7]\n  b:\n  c: { validationAction: warn }\n')).toEqual([
      'p.yaml:5:3: warning: clusters.b: cluster b lists no sourceIps, while a does: its token is accepted from any address, and the edge allow-list is built from the policy only when every cluster lists them',
      'p.yaml:6:3: warning: clusters.c: cluster c lists no sourceIps, while a does: its token is accepted from any address, and the edge allow-list is built from the policy only when every cluster lists them',
    ]);
    expect(linesOf('version: 1\nclusters:\n  a: {}\n  b: { vpcEndpointIds: [vpce-0123abcd] }\n')).toEqual([]);
    expect(linesOf('version: 1\nclusters:\n  a: { sourceIps: [203.0.113.7] }\n  b: { sourceIps: ["::1"] }\n')).toEqual([]);
  });

  it('is part of the policy version, as every field is', () => {
    const version = (text: string) => checkPolicyText(text, 'p.yaml').version;
    expect(version('version: 1\nclusters:\n  a: { sourceIps: [203.0.113.7] }\n')).not.toBe(version('version: 1\nclusters:\n  a: { sourceIps: [203.0.113.8] }\n'));
  });
});

describe('fleetOrigins: what packaging builds the edge from', () => {
  it('is the union of every cluster\'s blocks, each in one spelling, once', () => {
    const origins = originsOf(
      'version: 1\nclusters:\n  a: { sourceIps: [203.0.113.7, "2001:DB8:0:0::/56", 198.51.100.0/28], vpcEndpointIds: [vpce-0123abcd] }\n' +
        '  b: { sourceIps: [203.0.113.7/32, "2001:db8::/56", "fe80::1"], vpcEndpointIds: [vpce-0123abcd, vpce-0123456789abcdef0] }\n',
    );
    expect(origins).toEqual({
      sourceIps: ['203.0.113.7/32', '2001:db8::/56', '198.51.100.0/28', 'fe80::1/128'],
      vpcEndpointIds: ['vpce-0123abcd', 'vpce-0123456789abcdef0'],
      withoutSourceIps: [],
    });
  });

  it('has no address list unless every cluster lists addresses', () => {
    expect(originsOf('version: 1\nclusters:\n  a: { sourceIps: [203.0.113.7] }\n  b: {}\n')).toEqual({ sourceIps: undefined, vpcEndpointIds: [], withoutSourceIps: ['b'] });
    expect(originsOf('version: 1\n')).toEqual({ sourceIps: undefined, vpcEndpointIds: [], withoutSourceIps: [] });
  });
});

describe('SOURCE_ADDRESS, the pattern the validator and the schema share', () => {
  it('accepts every IPv4 address in dotted decimal, with and without a prefix', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 1, max: 32 }), (address, prefix) => {
        expect(SOURCE_ADDRESS.test(address), address).toBe(true);
        expect(SOURCE_ADDRESS.test(`${address}/${prefix}`)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts every IPv6 address without an embedded IPv4 tail, with and without a prefix', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 1, max: 128 }), (address, prefix) => {
        expect(SOURCE_ADDRESS.test(address), address).toBe(!address.includes('.'));
        expect(SOURCE_ADDRESS.test(`${address}/${prefix}`)).toBe(!address.includes('.'));
      }),
      { numRuns: 300 },
    );
  });

  it('accepts nothing Node does not take for an address', () => {
    const pieces = fc.array(fc.constantFrom('0', '1', '9', '25', '255', '256', 'a', 'F', 'ffff', '.', ':', '::'), { maxLength: 12 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(pieces, (text) => {
        if (SOURCE_ADDRESS.test(text)) expect(isIP(text), text).not.toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});
