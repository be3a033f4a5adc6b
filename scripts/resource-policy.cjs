// The addresses the edge admits, and the REST API's resource policy built from them (set on the API
// by the stage plugin, scripts/serverless-webhook-stage.cjs; WAF's allow-list takes the same list).
//
// The addresses: the `allowedSourceIps` stage param when set; else, when every cluster of the policy
// file lists `sourceIps`, their union (DESIGN "Cluster identity"), so the addresses are written once,
// in the policy; else none. No addresses: no statements, so the API has no IP condition (anyone who
// knows a token path can call it; the token is what authenticates the caller). Otherwise: allow
// everyone, then deny every source address outside the list. An explicit Deny always wins in API
// Gateway's evaluation, so this is the usual allow-list shape. IPv4 and IPv6 addresses or CIDR
// blocks are accepted; anything else stops the package with a message naming the param.
'use strict';

const net = require('node:net');

function parseSourceIps(value) {
  const text = value == null ? '' : String(value);
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const family = net.isIP(address ?? '');
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new Error(`allowedSourceIps has "${entry}", which is not an IPv4 or IPv6 address or CIDR block`);
    }
  }
  return entries;
}

function policyStatements(sourceIps) {
  if (sourceIps.length === 0) return [];
  return [
    { Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' },
    {
      Effect: 'Deny',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: 'execute-api:/*',
      Condition: { NotIpAddress: { 'aws:SourceIp': sourceIps } },
    },
  ];
}

/**
 * The addresses the edge admits and where they come from: the `allowedSourceIps` param (a string),
 * else `origins.sourceIps` (the union of the clusters' blocks, scripts/policy-packaging.cjs), else none.
 */
function edgeSourceIps(allowedSourceIps, origins) {
  const given = parseSourceIps(allowedSourceIps);
  if (given.length > 0) return { sourceIps: given, from: 'the allowedSourceIps param' };
  if (origins?.sourceIps) return { sourceIps: origins.sourceIps, from: "the policy's clusters (sourceIps)" };
  return { sourceIps: [], from: undefined };
}

/** The API's `Policy` property: the statements as a policy document, or '' (none) as the framework writes it. */
function resourcePolicy(statements) {
  return statements.length === 0 ? '' : { Version: '2012-10-17', Statement: statements };
}

module.exports = { parseSourceIps, policyStatements, edgeSourceIps, resourcePolicy };
