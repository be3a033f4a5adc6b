/**
 * The edge built from where the clusters call from (DESIGN "Cluster identity"), by `serverless
 * package` in service copies: with the allowedSourceIps param empty and every cluster of the policy
 * listing sourceIps, WAF's allow-list (IPv4 and IPv6 in their own IP sets) and the API's resource
 * policy are their union; the packaged functions refuse a bound cluster's token from elsewhere.
 * With endpointType private: a private API and private custom domain on the clusters' VPC
 * endpoints, and no public DNS; the combinations that cannot serve are refused.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeUnzipped } from './support/bundle';
import { podRequest, restEvent, review } from './support/reviews';
import { SecretsManagerEndpoint, endpointEnvironment } from './support/secrets-manager-endpoint';
import { type CloudFormationTemplate, type PackagedService, PRIVATE_VARIANT, type RunResult, extractZip, packagedService, runServerless, serviceCopy } from './support/serverless';

const output = (result: RunResult) => `${result.stdout}\n${result.stderr}`;

describe('serverless package with a policy whose every cluster lists sourceIps', () => {
  const dirs: string[] = [];
  let bound: RunResult;
  let template: CloudFormationTemplate;
  let unzipped: string;

  beforeAll(async () => {
    const boundDir = serviceCopy('edge-bound');
    unzipped = mkdtempSync(join(tmpdir(), 'admission-webhooks-sls-edge-zips-'));
    dirs.push(boundDir, unzipped);
    [bound] = await Promise.all([runServerless(['package', '--package', 'out', '--param=policyFile=examples/policies/source-bound.yaml'], boundDir, 120_000)]);
    if (bound.code === 0) {
      template = JSON.parse(readFileSync(join(boundDir, 'out', 'cloudformation-template-update-stack.json'), 'utf8'));
      extractZip(join(boundDir, 'out', 'validate.zip'), join(unzipped, 'validate'));
    }
  }, 150_000);
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** examples/policies/source-bound.yaml: prod-eu 203.0.113.10, 203.0.113.11, 2001:db8:10::/56; dev-us 198.51.100.0/28. */
  const UNION = ['203.0.113.10/32', '203.0.113.11/32', '2001:db8:10::/56', '198.51.100.0/28'];

  it("allows in WAF only the union of the clusters' addresses, IPv4 and IPv6 in their own IP sets, before any other rule", () => {
    expect(bound.code, output(bound)).toBe(0);
    expect(template.Resources.WebhookAllowedIpv4?.Properties).toMatchObject({ IPAddressVersion: 'IPV4', Addresses: ['203.0.113.10/32', '203.0.113.11/32', '198.51.100.0/28'] });
    expect(template.Resources.WebhookAllowedIpv6?.Properties).toMatchObject({ IPAddressVersion: 'IPV6', Addresses: ['2001:db8:10::/56'] });
    const [first] = template.Resources.WebhookWebAcl?.Properties?.Rules;
    expect(first).toMatchObject({ Name: 'SourceIpAllowList', Priority: 0 });
    expect(output(bound)).toContain(`The API admits only ${UNION.join(', ')} (WAF allow-list and resource policy), from the policy's clusters (sourceIps)`);
  });

  it('denies every other address in the API resource policy', () => {
    expect(template.Resources.ApiGatewayRestApi?.Properties?.Policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' },
        { Effect: 'Deny', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*', Condition: { NotIpAddress: { 'aws:SourceIp': UNION } } },
      ],
    });
  });

  describe('the packaged validate function, given the fleet token secret', () => {
    const TOKENS = { 'prod-eu': 'prod-eu-token-edge-0123456789', 'dev-us': 'dev-us-token-edge-0123456789' };
    let secrets: SecretsManagerEndpoint;
    beforeAll(async () => {
      secrets = await SecretsManagerEndpoint.start('admission-webhooks/dev/token');
      secrets.setCurrent(JSON.stringify({ tokens: TOKENS }));
    });
    afterAll(async () => secrets?.close());

    const call = async (token: string, sourceIp: string) => {
      const event = restEvent(review(podRequest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'registry.example.com/app:1' }] } })), {
        pathParameters: { token },
      }) as unknown as { requestContext: { identity: Record<string, unknown> } };
      event.requestContext.identity = { ...event.requestContext.identity, sourceIp };
      const variables = template.Resources.ValidateLambdaFunction?.Properties?.Environment.Variables;
      return invokeUnzipped(join(unzipped, 'validate'), 'validate', {
        ...variables,
        ...endpointEnvironment(secrets),
      }, event);
    };

    it('allows prod-eu from a listed address, refuses it from dev-us\'s block as a wrong token, and counts it', async () => {
      const [allowed, elsewhere, wrong] = await Promise.all([
        call(TOKENS['prod-eu'], '203.0.113.10'),
        call(TOKENS['prod-eu'], '198.51.100.1'),
        call('not-a-token-of-the-fleet-0123456789', '203.0.113.10'),
      ]);
      expect(allowed.result.statusCode, allowed.log).toBe(200);
      expect(elsewhere.result).toEqual(wrong.result);
      expect(elsewhere.result.statusCode).toBe(403);
      const line = elsewhere.log.split('\n').find((text) => text.includes('"SourceMismatch"'));
      expect(line && JSON.parse(line)).toMatchObject({ level: 'WARN', webhook: 'validate', cluster: 'prod-eu', sourceIp: '198.51.100.1', SourceMismatch: 1 });
      expect(elsewhere.log).not.toContain(TOKENS['prod-eu']);
    });
  });
});

describe('serverless package with endpointType private', () => {
  const dirs: string[] = [];
  let packaged: PackagedService;
  let template: CloudFormationTemplate;
  let noEndpoints: RunResult;
  /** examples/policies/private-endpoint.yaml: prod-eu vpce-0a1b2c3d4e5f60718, dev-us vpce-1a2b3c4d. */
  const ENDPOINTS = ['vpce-0a1b2c3d4e5f60718', 'vpce-1a2b3c4d'];

  beforeAll(async () => {
    const none = serviceCopy('private-none');
    dirs.push(none);
    [packaged, noEndpoints] = await Promise.all([
      packagedService(PRIVATE_VARIANT),
      runServerless(['package', '--package', 'out', '--param=endpointType=private', '--param=policyFile=examples/policies/fleet.yaml'], none, 120_000),
    ]);
    template = packaged.template;
  }, 150_000);
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const resourcesOfType = (type: string) => Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
  const ONLY_THROUGH_ENDPOINTS = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*', Condition: { StringEquals: { 'aws:SourceVpce': ENDPOINTS } } }],
  };

  it('makes the REST API private, its default endpoint off, admitting only the clusters\' VPC endpoints', () => {
    expect(template.Resources.ApiGatewayRestApi?.Properties).toMatchObject({
      EndpointConfiguration: { Types: ['PRIVATE'], IpAddressType: 'dualstack' },
      DisableExecuteApiEndpoint: true,
      Policy: ONLY_THROUGH_ENDPOINTS,
    });
    expect(packaged.log).toContain(`The private API admits only requests through ${ENDPOINTS.join(', ')} (resource policy and private domain), from the policy's clusters (vpcEndpointIds)`);
  });

  it('serves it on a private custom domain with the same policy, mapped to the stage, associated with each endpoint', () => {
    expect(resourcesOfType('AWS::ApiGateway::DomainName')).toEqual([]);
    expect(template.Resources.WebhookDomainName).toEqual({
      Type: 'AWS::ApiGateway::DomainNameV2',
      Properties: {
        DomainName: 'webhooks.example.com',
        CertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
        SecurityPolicy: 'TLS_1_2',
        EndpointConfiguration: { Types: ['PRIVATE'], IpAddressType: 'dualstack' },
        Policy: ONLY_THROUGH_ENDPOINTS,
      },
    });
    const arn = { 'Fn::GetAtt': ['WebhookDomainName', 'DomainNameArn'] };
    expect(template.Resources.WebhookBasePathMapping).toEqual({
      Type: 'AWS::ApiGateway::BasePathMappingV2',
      DependsOn: 'ApiGatewayStage',
      Properties: { DomainNameArn: arn, RestApiId: { Ref: 'ApiGatewayRestApi' }, Stage: 'dev' },
    });
    expect(Object.fromEntries(resourcesOfType('AWS::ApiGateway::DomainNameAccessAssociation'))).toEqual({
      WebhookDomainAccessVpce0a1b2c3d4e5f60718: { Type: 'AWS::ApiGateway::DomainNameAccessAssociation', Properties: { DomainNameArn: arn, AccessAssociationSource: ENDPOINTS[0], AccessAssociationSourceType: 'VPCE' } },
      WebhookDomainAccessVpce1a2b3c4d: { Type: 'AWS::ApiGateway::DomainNameAccessAssociation', Properties: { DomainNameArn: arn, AccessAssociationSource: ENDPOINTS[1], AccessAssociationSourceType: 'VPCE' } },
    });
    expect(template.Outputs?.WebhookBaseUrl?.Value).toBe('https://webhooks.example.com');
  });

  it('publishes no DNS record (the clusters\' VPCs resolve the name) and no IP allow-list, and keeps WAF on the stage', () => {
    expect(resourcesOfType('AWS::Route53::RecordSet')).toEqual([]);
    expect(resourcesOfType('AWS::WAFv2::IPSet')).toEqual([]);
    expect(template.Resources.WebhookWebAclAssociation?.Properties?.ResourceArn['Fn::Sub']).toContain('/restapis/${ApiGatewayRestApi}/stages/${ApiGatewayStage}');
  });

  it('refuses a private API that no cluster lists an endpoint for (the other refusals: test/serverless-package.test.ts)', () => {
    expect(noEndpoints.code, output(noEndpoints)).not.toBe(0);
    expect(output(noEndpoints)).toContain('endpointType private needs the VPC endpoints the clusters call through: list them as clusters.<name>.vpcEndpointIds in the policy file');
    expect(output(noEndpoints)).not.toContain('Service packaged');
  });
});
