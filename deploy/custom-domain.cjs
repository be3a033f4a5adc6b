// The API's endpoint and its custom domain (added by the stage plugin), in the variant the
// `endpointType` param chooses (DESIGN "Cluster identity"):
// - public (default): a regional REST API behind a REGIONAL custom domain (TLS 1.2, IPv4 and IPv6),
//   its base path mapping, and Route 53 A and AAAA aliases in the public hosted zone `hostedZoneId`.
// - private: a PRIVATE REST API (only dual-stack is supported there) reachable only through the
//   execute-api interface VPC endpoints the policy's clusters list (`clusters.<c>.vpcEndpointIds`):
//   its resource policy admits only those endpoints (aws:SourceVpce), and so does the private custom
//   domain name (AWS::ApiGateway::DomainNameV2, TLS 1.2), which gets a base path mapping
//   (AWS::ApiGateway::BasePathMappingV2) and one access association per endpoint
//   (AWS::ApiGateway::DomainNameAccessAssociation). No Route 53 record: the name must resolve inside
//   the clusters' VPCs, through a private hosted zone there (docs/deploy.md "Networking").
// Either way the execute-api URL stays switched off (serverless.yml `disableDefaultEndpoint`), so
// the custom domain is the only way in, and the output WebhookBaseUrl is https://<domainName>.
'use strict';

const DOMAIN = 'WebhookDomainName';
const MAPPING = 'WebhookBasePathMapping';
const ENDPOINT_TYPES = ['public', 'private'];

function endpointTypeOf(value) {
  const text = String(value ?? '').trim();
  if (!ENDPOINT_TYPES.includes(text)) throw new Error(`custom.webhookStage.endpointType must be public or private, got "${text}"`);
  return text;
}

function aliasRecord(type, { domainName, hostedZoneId }) {
  return {
    Type: 'AWS::Route53::RecordSet',
    Properties: {
      HostedZoneId: hostedZoneId,
      Name: domainName,
      Type: type,
      AliasTarget: {
        DNSName: { 'Fn::GetAtt': [DOMAIN, 'RegionalDomainName'] },
        HostedZoneId: { 'Fn::GetAtt': [DOMAIN, 'RegionalHostedZoneId'] },
        EvaluateTargetHealth: false,
      },
    },
  };
}

function publicDomain(resources, { domainName, certificateArn, hostedZoneId, restApiId, stageId, stageName }) {
  resources[DOMAIN] = {
    Type: 'AWS::ApiGateway::DomainName',
    Properties: {
      DomainName: domainName,
      RegionalCertificateArn: certificateArn,
      SecurityPolicy: 'TLS_1_2',
      // IPv4 and IPv6, so that the AAAA alias has somewhere to point.
      EndpointConfiguration: { Types: ['REGIONAL'], IpAddressType: 'dualstack' },
    },
  };
  resources[MAPPING] = {
    Type: 'AWS::ApiGateway::BasePathMapping',
    DependsOn: stageId,
    Properties: { DomainName: { Ref: DOMAIN }, RestApiId: { Ref: restApiId }, Stage: stageName },
  };
  resources.WebhookDnsRecordIpv4 = aliasRecord('A', { domainName, hostedZoneId });
  resources.WebhookDnsRecordIpv6 = aliasRecord('AAAA', { domainName, hostedZoneId });
}

function privateDomain(resources, { domainName, certificateArn, restApiId, stageId, stageName, vpcEndpointIds, policy }) {
  resources[restApiId].Properties.EndpointConfiguration = { Types: ['PRIVATE'], IpAddressType: 'dualstack' };
  resources[DOMAIN] = {
    Type: 'AWS::ApiGateway::DomainNameV2',
    Properties: {
      DomainName: domainName,
      CertificateArn: certificateArn,
      SecurityPolicy: 'TLS_1_2',
      EndpointConfiguration: { Types: ['PRIVATE'], IpAddressType: 'dualstack' },
      // The private domain has a policy of its own: the API's, admitting only the clusters' endpoints.
      Policy: policy,
    },
  };
  resources[MAPPING] = {
    Type: 'AWS::ApiGateway::BasePathMappingV2',
    DependsOn: stageId,
    Properties: { DomainNameArn: { 'Fn::GetAtt': [DOMAIN, 'DomainNameArn'] }, RestApiId: { Ref: restApiId }, Stage: stageName },
  };
  for (const id of vpcEndpointIds) {
    resources[`WebhookDomainAccess${id[0].toUpperCase()}${id.slice(1).replace('-', '')}`] = {
      Type: 'AWS::ApiGateway::DomainNameAccessAssociation',
      Properties: { DomainNameArn: { 'Fn::GetAtt': [DOMAIN, 'DomainNameArn'] }, AccessAssociationSource: id, AccessAssociationSourceType: 'VPCE' },
    };
  }
}

/**
 * Adds the custom domain of `endpointType` and the output WebhookBaseUrl; for `private`, also makes
 * the REST API private, and gives the domain `policy` (the API's resource policy, on
 * `vpcEndpointIds`) and an access association per endpoint. `restApiId` and `stageId` are logical
 * ids; `stageName` is the stage the domain maps to.
 */
function addCustomDomain(template, { endpointType, domainName, certificateArn, hostedZoneId, restApiId, stageId, stageName, vpcEndpointIds, policy }) {
  const options = { domainName, certificateArn, hostedZoneId, restApiId, stageId, stageName, vpcEndpointIds, policy };
  if (endpointType === 'private') privateDomain(template.Resources, options);
  else publicDomain(template.Resources, options);
  template.Outputs = {
    ...template.Outputs,
    WebhookBaseUrl: { Description: 'Base URL of the webhooks; register <base>/mutate/<token> and <base>/validate/<token>', Value: `https://${domainName}` },
  };
}

module.exports = { addCustomDomain, endpointTypeOf };
