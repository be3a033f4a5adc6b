// The REST API's resource policy, from the `allowedSourceIps` stage param (serverless.yml
// `provider.apiGateway.resourcePolicy: ${file(./scripts/resource-policy.cjs):statements}`).
//
// Empty param: no statements, so the API has no IP condition (anyone who knows a token path can call
// it; the token is what authenticates the caller). Otherwise: allow everyone, then deny every source
// address outside the list. An explicit Deny always wins in API Gateway's evaluation, so this is the
// usual allow-list shape. IPv4 and IPv6 addresses or CIDR blocks are accepted; anything else stops
// the package with a message naming the param.
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

module.exports = {
  parseSourceIps,
  policyStatements,
  /** Variable resolver: called by the framework with its `resolveVariable`. */
  async statements({ resolveVariable }) {
    return policyStatements(parseSourceIps(await resolveVariable('param:allowedSourceIps')));
  },
};
