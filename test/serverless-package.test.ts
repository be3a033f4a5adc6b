/**
 * `serverless package` with the default params and no AWS credentials, and the
 * CloudFormation template it writes: functions, routes, custom domain, DNS,
 * IAM, logs, throttling and outputs (serverless.yml). Also the pieces of
 * serverless.yml that only show with other params (`serverless print`) and the
 * local plugin's checks.
 */
import { rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../lib/policies/config';
import { type CloudFormationTemplate, type PackagedService, type RunResult, packagedService, runServerless, serviceCopy } from './support/serverless';

const require = createRequire(import.meta.url);
const stagePlugin = require('../scripts/serverless-webhook-stage.cjs') as {
  addStage: (template: CloudFormationTemplate, settings: Record<string, unknown>) => void;
  assertAuthenticationOn: (environment: Record<string, string> | undefined) => void;
};
const resourcePolicy = require('../scripts/resource-policy.cjs') as {
  parseSourceIps: (value: unknown) => string[];
  policyStatements: (ips: string[]) => unknown[];
};

const SECRET_ARN =
  'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:admission-webhooks/dev/token-??????';

let service: PackagedService;
let template: CloudFormationTemplate;

beforeAll(async () => {
  service = await packagedService();
  template = service.template;
}, 150_000);

function resourcesOfType(type: string) {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function resource(logicalId: string) {
  const found = template.Resources[logicalId];
  if (!found) throw new Error(`no resource ${logicalId} in the template`);
  return found;
}

/** `POST /mutate/{token}` for each API Gateway method, its path built from the resources' PathParts. */
function routes(): Map<string, Record<string, any>> {
  const pathOf = (id: unknown): string => {
    if (typeof id === 'object' && id !== null && 'Fn::GetAtt' in id) return ''; // the API's root resource
    const ref = (id as { Ref?: string }).Ref;
    const part = resource(ref as string).Properties as Record<string, any>;
    return `${pathOf(part.ParentId)}/${part.PathPart}`;
  };
  return new Map(
    resourcesOfType('AWS::ApiGateway::Method').map(([, method]) => [
      `${method.Properties?.HttpMethod} ${pathOf(method.Properties?.ResourceId)}`,
      method.Properties as Record<string, any>,
    ]),
  );
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

function iamStatements(): Statement[] {
  const roles = resourcesOfType('AWS::IAM::Role');
  const policies = resourcesOfType('AWS::IAM::Policy');
  return [
    ...roles.flatMap(([, role]) => (role.Properties?.Policies ?? []).flatMap((policy: any) => policy.PolicyDocument.Statement)),
    ...policies.flatMap(([, policy]) => policy.Properties?.PolicyDocument.Statement ?? []),
  ];
}

const actionsOf = (statement: Statement) => [statement.Action].flat();

/** Every IAM-style statement (an object with `Effect` and `Action`) anywhere in the template. */
function allStatements(node: unknown, found: (Statement & { Condition?: unknown })[] = []) {
  if (Array.isArray(node)) node.forEach((item) => allStatements(item, found));
  else if (node && typeof node === 'object') {
    if ('Effect' in node && ('Action' in node || 'NotAction' in node)) found.push(node as Statement);
    for (const value of Object.values(node)) allStatements(value, found);
  }
  return found;
}

describe('serverless package (default params, no credentials)', () => {
  it('writes one zip per function and prints their sizes', () => {
    const sizes = (['mutate', 'validate'] as const).map((name) => ({ name, bytes: statSync(service.zip(name)).size }));
    // Straight to stderr: the console of passing tests is silenced (vitest.config.ts), and the sizes are wanted in CI output.
    process.stderr.write(`packaged zips: ${sizes.map(({ name, bytes }) => `${name}.zip ${bytes} bytes`).join(', ')}\n`);
    for (const { bytes } of sizes) {
      expect(bytes).toBeGreaterThan(1000);
      // The AWS SDK stays out (the runtime provides it); bundled, each zip is over 100 KB.
      expect(bytes).toBeLessThan(60_000);
    }
    expect(service.log).not.toMatch(/credential/i);
  });

  it.each([
    ['mutate', 'MutateLambdaFunction'],
    ['validate', 'ValidateLambdaFunction'],
  ])('defines the %s function: nodejs22.x on arm64, its handler, memory and a timeout above the cluster timeout', (name, logicalId) => {
    const fn = resource(logicalId);
    expect(fn.Type).toBe('AWS::Lambda::Function');
    expect(fn.Properties).toMatchObject({
      Handler: `functions/${name}.handler`,
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 6,
    });
    expect(fn.Properties?.Code.S3Key).toMatch(new RegExp(`/${name}\\.zip$`));
  });

  it('gives each function every configuration variable with the default of the design (authentication off until a secret is named)', () => {
    const expected = { ...DEFAULTS };
    for (const logicalId of ['MutateLambdaFunction', 'ValidateLambdaFunction']) {
      const variables = resource(logicalId).Properties?.Environment.Variables;
      expect(Object.keys(variables).sort()).toEqual(Object.keys(DEFAULTS).sort());
      expect(variables).toEqual(expected);
    }
  });

  it('routes POST /mutate/{token} and POST /validate/{token}, and nothing else, to the matching function', () => {
    const found = routes();
    expect([...found.keys()].sort()).toEqual(['POST /mutate/{token}', 'POST /validate/{token}']);
    for (const [route, method] of found) {
      const target = route.includes('/mutate/') ? 'MutateLambdaFunction' : 'ValidateLambdaFunction';
      expect(method.Integration.Type).toBe('AWS_PROXY');
      expect(JSON.stringify(method.Integration.Uri)).toContain(`"Fn::GetAtt":["${target}","Arn"]`);
      expect(method.AuthorizationType).toBe('NONE');
    }
  });

  it('is a regional REST API with the execute-api endpoint disabled and, with no allow-list, no resource policy', () => {
    const [[, api] = ['', undefined]] = resourcesOfType('AWS::ApiGateway::RestApi');
    expect(api?.Properties).toMatchObject({
      DisableExecuteApiEndpoint: true,
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    expect(JSON.stringify(api?.Properties?.Policy ?? '')).not.toContain('SourceIp');
  });

  it('serves the API on a regional custom domain with TLS 1.2 and the certificate param', () => {
    const [[domainId, domain] = ['', undefined], ...others] = resourcesOfType('AWS::ApiGateway::DomainName');
    expect(others).toEqual([]);
    expect(domain?.Properties).toEqual({
      DomainName: 'webhooks.example.com',
      RegionalCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
      SecurityPolicy: 'TLS_1_2',
      EndpointConfiguration: { Types: ['REGIONAL'], IpAddressType: 'dualstack' },
    });
    const mappings = resourcesOfType('AWS::ApiGateway::BasePathMapping');
    expect(mappings).toHaveLength(1);
    const [, mapping] = mappings[0]!;
    expect(mapping.Properties).toEqual({ DomainName: { Ref: domainId }, RestApiId: { Ref: 'ApiGatewayRestApi' }, Stage: 'dev' });
    expect([mapping.DependsOn].flat()).toEqual(['ApiGatewayStage']);
  });

  it('points A and AAAA alias records in the hosted zone at the regional domain', () => {
    const records = resourcesOfType('AWS::Route53::RecordSet').map(([, record]) => record.Properties);
    expect(records.map((record) => record?.Type).sort()).toEqual(['A', 'AAAA']);
    for (const record of records) {
      expect(record).toEqual({
        HostedZoneId: 'Z00000000000000000000',
        Name: 'webhooks.example.com',
        Type: record?.Type,
        AliasTarget: {
          DNSName: { 'Fn::GetAtt': ['WebhookDomainName', 'RegionalDomainName'] },
          HostedZoneId: { 'Fn::GetAtt': ['WebhookDomainName', 'RegionalHostedZoneId'] },
          EvaluateTargetHealth: false,
        },
      });
    }
  });

  it('allows only secretsmanager:GetSecretValue on the token secret, besides the function logs, and no "*" action anywhere', () => {
    const statements = iamStatements();
    const secretStatements = statements.filter((statement) => actionsOf(statement).some((action) => action.startsWith('secretsmanager:')));
    expect(secretStatements).toEqual([{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [{ 'Fn::Sub': SECRET_ARN }] }]);
    for (const statement of statements) {
      for (const action of actionsOf(statement)) {
        expect(action === 'secretsmanager:GetSecretValue' || /^logs:[A-Za-z]+$/.test(action), action).toBe(true);
      }
    }
    // No statement anywhere in the template allows a wildcard action.
    const allows = allStatements(template).filter((statement) => statement.Effect !== 'Deny');
    expect(allows.length).toBeGreaterThan(3);
    expect(allows.flatMap(actionsOf).filter((action) => action.includes('*'))).toEqual([]);
    // The one wildcard is the framework's deployment bucket policy denying every S3 call without TLS.
    const denies = allStatements(template).filter((statement) => statement.Effect === 'Deny');
    expect(denies).toEqual([
      expect.objectContaining({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': false } } }),
    ]);
  });

  it('keeps the function logs for 30 days', () => {
    const groups = resourcesOfType('AWS::Logs::LogGroup');
    expect(groups.map(([id]) => id).sort()).toEqual(['MutateLogGroup', 'ValidateLogGroup']);
    for (const [, group] of groups) expect(group.Properties?.RetentionInDays).toBe(30);
  });

  it('throttles the stage, which serves the current deployment', () => {
    const stage = resource('ApiGatewayStage');
    const [[deploymentId, deployment] = ['', undefined], ...more] = resourcesOfType('AWS::ApiGateway::Deployment');
    expect(more).toEqual([]);
    expect(deployment?.Properties?.StageName).toBeUndefined();
    expect(stage.Type).toBe('AWS::ApiGateway::Stage');
    expect(stage.Properties).toEqual({
      RestApiId: { Ref: 'ApiGatewayRestApi' },
      DeploymentId: { Ref: deploymentId },
      StageName: 'dev',
      MethodSettings: [{ ResourcePath: '/*', HttpMethod: '*', ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 }],
    });
  });

  it('outputs the webhook base URL on the custom domain, and not the disabled execute-api URL', () => {
    expect(template.Outputs?.WebhookBaseUrl?.Value).toBe('https://webhooks.example.com');
    expect(template.Outputs).not.toHaveProperty('ServiceEndpoint');
  });
});

describe('serverless.yml with other params (serverless print)', () => {
  let dir: string;
  let prod: RunResult;
  let invalid: RunResult;

  beforeAll(async () => {
    dir = serviceCopy('print');
    const print = (args: string[]) => runServerless(['print', '--format', 'json', '--path', 'provider', ...args], dir, 60_000);
    [prod, invalid] = await Promise.all([
      print([
        '--stage',
        'prod',
        '--param=allowedSourceIps=203.0.113.0/24, 2001:db8::/32',
        '--param=validationAction=warn',
        '--param=webhookTokenSecretId=admission-webhooks/prod/token',
      ]),
      print(['--param=allowedSourceIps=203.0.113.300']),
    ]);
  }, 90_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('turns a source IP allow-list into a resource policy that denies every other address', () => {
    expect(prod.code, prod.stderr).toBe(0);
    const { apiGateway } = JSON.parse(prod.stdout);
    expect(apiGateway.disableDefaultEndpoint).toBe(true);
    expect(apiGateway.resourcePolicy).toEqual([
      { Effect: 'Allow', Principal: '*', Action: ['execute-api:Invoke'], Resource: 'execute-api:/*' },
      {
        Effect: 'Deny',
        Principal: '*',
        Action: ['execute-api:Invoke'],
        Resource: 'execute-api:/*',
        Condition: { NotIpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] } },
      },
    ]);
  });

  it('takes params from the command line, the token secret among them', () => {
    expect(prod.code, prod.stderr).toBe(0);
    expect(JSON.parse(prod.stdout).environment).toMatchObject({
      WEBHOOK_TOKEN_SECRET_ID: 'admission-webhooks/prod/token',
      VALIDATION_ACTION: 'warn',
      ALLOWED_REGISTRIES: 'registry.example.com',
    });
  });

  it('stops on an allow-list entry that is not an address, naming the param', () => {
    expect(invalid.code).not.toBe(0);
    expect(`${invalid.stdout}${invalid.stderr}`).toContain('allowedSourceIps has "203.0.113.300"');
  });
});

describe('the local plugin and resolver', () => {
  it('refuses to deploy with caller authentication off', () => {
    expect(() => stagePlugin.assertAuthenticationOn({ WEBHOOK_TOKEN_SECRET_ID: ' ' })).toThrow(/Refusing to deploy/);
    expect(() => stagePlugin.assertAuthenticationOn({})).toThrow(/WEBHOOK_TOKEN_SECRET_ID/);
    expect(() => stagePlugin.assertAuthenticationOn({ WEBHOOK_TOKEN_SECRET_ID: 'admission-webhooks/prod/token' })).not.toThrow();
  });

  it('rejects throttling limits that are not positive numbers', () => {
    const template = (): CloudFormationTemplate => ({
      Resources: { D: { Type: 'AWS::ApiGateway::Deployment', Properties: { RestApiId: { Ref: 'Api' }, StageName: 'dev' } } },
    });
    expect(() => stagePlugin.addStage(template(), { throttlingRateLimit: '0', throttlingBurstLimit: '10' })).toThrow(/throttlingRateLimit/);
    expect(() => stagePlugin.addStage(template(), { throttlingRateLimit: '5', throttlingBurstLimit: '2.5' })).toThrow(/throttlingBurstLimit/);
    expect(() => stagePlugin.addStage(template(), { throttlingRateLimit: '5' })).toThrow(/throttlingBurstLimit/);
    const ok = template();
    stagePlugin.addStage(ok, { throttlingRateLimit: '2.5', throttlingBurstLimit: '10' });
    expect(ok.Resources.ApiGatewayStage?.Properties?.MethodSettings[0]).toMatchObject({ ThrottlingRateLimit: 2.5, ThrottlingBurstLimit: 10 });
  });

  it('parses allow-lists of IPv4 and IPv6 addresses and blocks, and nothing else', () => {
    expect(resourcePolicy.parseSourceIps('')).toEqual([]);
    expect(resourcePolicy.policyStatements([])).toEqual([]);
    expect(resourcePolicy.parseSourceIps(' 198.51.100.7 ,10.0.0.0/8,2001:db8::1/128,')).toEqual(['198.51.100.7', '10.0.0.0/8', '2001:db8::1/128']);
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/']) {
      expect(() => resourcePolicy.parseSourceIps(bad), bad).toThrow(/allowedSourceIps/);
    }
  });

});
