// Who may reach the API, and the REST API's resource policy that says so (set on the API by the stage
// plugin, deploy/serverless-webhook-stage.cjs; WAF's allow-list takes the same addresses).
//
// Public API (endpointType public): the addresses are the `allowedSourceIps` stage param when set;
// else, when every cluster of the policy file lists `sourceIps`, their union (DESIGN "Cluster
// identity"), so the addresses are written once, in the policy; else none. No addresses: no
// statements, so the API has no IP condition (anyone who knows a token path can call it; the token
// is what authenticates the caller). Otherwise: allow everyone, then deny every source address
// outside the list. An explicit Deny always wins in API Gateway's evaluation, so this is the usual
// allow-list shape. IPv4 and IPv6 addresses or CIDR blocks are accepted; anything else stops the
// package with a message naming the param.
//
// Private API (endpointType private): only requests through the VPC endpoints the clusters list
// (`vpcEndpointIds`) may invoke (aws:SourceVpce); there must be at least one. No IP condition: a
// request through a VPC endpoint has no public source address (aws:SourceIp is absent), so an
// allow-list would deny every call; the functions still check each cluster's own sourceIps.
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

/** Only requests through one of these VPC endpoints may invoke. */
function vpcEndpointStatements(vpcEndpointIds) {
  return [{ Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*', Condition: { StringEquals: { 'aws:SourceVpce': vpcEndpointIds } } }];
}

/**
 * Who may reach an API of `endpointType` (public or private): the addresses WAF admits
 * (`sourceIps`), the VPC endpoints (`vpcEndpointIds`), the resource policy's statements, and where
 * they came from (undefined: anyone). `allowedSourceIps` is the param (a string); `origins` the
 * union of the clusters' lists (deploy/policy-packaging.cjs). Throws where the two disagree.
 */
function edgeAccess(endpointType, allowedSourceIps, origins) {
  const given = parseSourceIps(allowedSourceIps);
  const vpcEndpointIds = origins?.vpcEndpointIds ?? [];
  if (endpointType === 'private') {
    if (given.length > 0) {
      throw new Error('allowedSourceIps cannot be used with endpointType private: a request through a VPC endpoint has no public source address, so the allow-list would refuse every call. Bind clusters with vpcEndpointIds (and sourceIps) in the policy file');
    }
    if (vpcEndpointIds.length === 0) {
      throw new Error('endpointType private needs the VPC endpoints the clusters call through: list them as clusters.<name>.vpcEndpointIds in the policy file (param policyFile)');
    }
    return { sourceIps: [], vpcEndpointIds, statements: vpcEndpointStatements(vpcEndpointIds), from: "the policy's clusters (vpcEndpointIds)" };
  }
  if (vpcEndpointIds.length > 0) {
    throw new Error(
      `the policy binds clusters to VPC endpoints (${vpcEndpointIds.join(', ')}), which reach only a private API: every call of theirs to the public API would be refused. ` +
        'Package with --param=endpointType=private, or remove vpcEndpointIds from the policy file',
    );
  }
  const sourceIps = given.length > 0 ? given : (origins?.sourceIps ?? []);
  const from = given.length > 0 ? 'the allowedSourceIps param' : sourceIps.length > 0 ? "the policy's clusters (sourceIps)" : undefined;
  return { sourceIps, vpcEndpointIds, statements: policyStatements(sourceIps), from };
}

/** The API's `Policy` property: the statements as a policy document, or '' (none) as the framework writes it. */
function resourcePolicy(statements) {
  return statements.length === 0 ? '' : { Version: '2012-10-17', Statement: statements };
}

module.exports = { parseSourceIps, policyStatements, edgeAccess, resourcePolicy };
