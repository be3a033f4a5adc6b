/**
 * `serverless package` with the default params and no AWS credentials, and the
 * CloudFormation template it writes: functions, routes, custom domain, DNS,
 * IAM, logs, throttling, WAF, alarms, dashboard and outputs (serverless.yml).
 * Also the pieces of serverless.yml that only show with other params
 * (`serverless print`) and the local plugin's modules on their own.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPolicyFile } from '../lib/cli/policy-file';
import { DEFAULTS } from '../lib/policies/fleet/config';
import { type CloudFormationTemplate, type PackagedService, ROOT, type RunResult, packagedService, runServerless, serviceCopy } from './support/serverless';

const require = createRequire(import.meta.url);
const stagePlugin = require('../deploy/serverless-webhook-stage.cjs') as {
  addStage: (template: CloudFormationTemplate, settings: Record<string, unknown>) => void;
  addOperations: (template: CloudFormationTemplate, settings: Record<string, unknown>, names: Record<string, unknown>) => void;
};
const customDomain = require('../deploy/custom-domain.cjs') as { endpointTypeOf: (value: unknown) => string };
const settings = require('../deploy/settings.cjs') as { instanceCount: (value: unknown, name: string) => number };
const resourcePolicy = require('../deploy/resource-policy.cjs') as {
  parseSourceIps: (value: unknown) => string[];
  policyStatements: (ips: string[]) => unknown[];
  edgeAccess: (
    endpointType: string,
    allowedSourceIps: unknown,
    origins: { sourceIps?: string[]; vpcEndpointIds?: string[] } | undefined,
  ) => { sourceIps: string[]; vpcEndpointIds: string[]; statements: unknown[]; from: string | undefined };
  resourcePolicy: (statements: unknown[]) => unknown;
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

/** Every WAF VisibilityConfig anywhere under `node`. */
function visibilityConfigs(node: unknown, found: Record<string, unknown>[] = []) {
  if (Array.isArray(node)) node.forEach((item) => visibilityConfigs(item, found));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'VisibilityConfig') found.push(value as Record<string, unknown>);
      visibilityConfigs(value, found);
    }
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
      // Our code is about 10 KiB of it, the bundled Secrets Manager client about 65 KiB (esbuild.config.cjs
      // says why it is bundled); test/packaged-bundle.test.ts checks that only GetSecretValue came along,
      // without the default credential chain (about 40 KiB more).
      expect(bytes).toBeLessThan(100_000);
    }
    expect(service.log).not.toMatch(/credential/i);
  });

  it.each([
    ['mutate', 'MutateLambdaFunction'],
    ['validate', 'ValidateLambdaFunction'],
  ])('defines the %s function: nodejs24.x on arm64, its handler, memory and a timeout above the cluster timeout', (name, logicalId) => {
    const fn = resource(logicalId);
    expect(fn.Type).toBe('AWS::Lambda::Function');
    expect(fn.Properties).toMatchObject({
      Handler: `functions/${name}.handler`,
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 6,
    });
    expect(fn.Properties?.Code.S3Key).toMatch(new RegExp(`/${name}\\.zip$`));
  });

  it('bundles for the Node.js of the runtime: esbuild.config.cjs target follows provider.runtime', () => {
    const runtime = String(resource('MutateLambdaFunction').Properties?.Runtime);
    const { target } = (require('../esbuild.config.cjs') as () => { target: string })();
    expect(target).toBe(runtime.replace(/^nodejs(\d+)\.x$/, 'node$1'));
  });

  it("gives each function the policy file inside its zip, the stage's token secret (authentication on) and the cache TTL, and no policy variable", () => {
    const expected = { POLICY_FILE: 'policy.json', WEBHOOK_TOKEN_SECRET_ID: 'admission-webhooks/dev/token', SECRET_CACHE_TTL_SECONDS: DEFAULTS.SECRET_CACHE_TTL_SECONDS };
    for (const logicalId of ['MutateLambdaFunction', 'ValidateLambdaFunction']) {
      expect(resource(logicalId).Properties?.Environment.Variables).toEqual(expected);
    }
  });

  it('records the policy file and its version in the template, and that it still allows the example registry', () => {
    const check = checkPolicyFile(join(ROOT, 'policy.yaml'));
    expect(template.Metadata).toEqual({
      AdmissionWebhooksPolicy: { policyFile: 'policy.yaml', policyVersion: check.version, exampleRegistry: ['defaults.allowedRegistries'] },
    });
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

  it('throttles the stage for a fleet (2,500 requests/s, bursts of 5,000), and the stage serves the current deployment', () => {
    const stage = resource('ApiGatewayStage');
    const [[deploymentId, deployment] = ['', undefined], ...more] = resourcesOfType('AWS::ApiGateway::Deployment');
    expect(more).toEqual([]);
    expect(deployment?.Properties?.StageName).toBeUndefined();
    expect(stage.Type).toBe('AWS::ApiGateway::Stage');
    expect(stage.Properties).toEqual({
      RestApiId: { Ref: 'ApiGatewayRestApi' },
      DeploymentId: { Ref: deploymentId },
      StageName: 'dev',
      MethodSettings: [{ ResourcePath: '/*', HttpMethod: '*', ThrottlingRateLimit: 2500, ThrottlingBurstLimit: 5000 }],
    });
  });

  it('names the token secret once: the functions read the stage\'s secret, and the one IAM resource is derived from that name in any partition', () => {
    const ids = ['MutateLambdaFunction', 'ValidateLambdaFunction'].map((id) => resource(id).Properties?.Environment.Variables.WEBHOOK_TOKEN_SECRET_ID);
    expect(ids).toEqual(['admission-webhooks/dev/token', 'admission-webhooks/dev/token']);
    const resources = iamStatements().filter((statement) => actionsOf(statement).includes('secretsmanager:GetSecretValue')).flatMap((statement) => [statement.Resource].flat());
    // The partition, region and account come from the stack, so the same template deploys to aws, aws-cn or aws-us-gov.
    expect(resources).toEqual([{ 'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${ids[0]}-??????` }]);
  });

  it('puts an AWS WAF web ACL on the stage: IP reputation, a per-address rate limit, only POST /mutate/<segment> and /validate/<segment>', () => {
    const [[aclId, acl] = ['', undefined], ...more] = resourcesOfType('AWS::WAFv2::WebACL');
    expect(more).toEqual([]);
    const properties = acl?.Properties as Record<string, any>;
    expect(properties).toMatchObject({ Name: 'admission-webhooks-dev', Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    expect(properties.VisibilityConfig).toEqual({ SampledRequestsEnabled: false, CloudWatchMetricsEnabled: true, MetricName: 'admission-webhooks-dev' });
    const rules = properties.Rules as Record<string, any>[];
    expect(rules.map((rule) => [rule.Priority, rule.Name])).toEqual([
      [0, 'AWSManagedRulesAmazonIpReputationList'],
      [1, 'RateLimitPerSourceIp'],
      [2, 'OnlyWebhookRoutes'],
    ]);
    for (const rule of rules) expect(rule.VisibilityConfig).toEqual({ SampledRequestsEnabled: false, CloudWatchMetricsEnabled: true, MetricName: rule.Name });
    expect(rules[0]?.Statement).toEqual({ ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' } });
    expect(rules[1]?.Statement).toEqual({ RateBasedStatement: { Limit: 6000, EvaluationWindowSec: 60, AggregateKeyType: 'IP' } });
    expect(rules[1]?.Action.Block.CustomResponse.ResponseCode).toBe(429);
    const routeCheck = rules[2]?.Statement.NotStatement.Statement.AndStatement.Statements;
    expect(routeCheck[0].ByteMatchStatement).toMatchObject({ FieldToMatch: { Method: {} }, PositionalConstraint: 'EXACTLY', SearchString: 'POST' });
    const pattern = new RegExp(routeCheck[1].RegexMatchStatement.RegexString);
    expect(routeCheck[1].RegexMatchStatement.FieldToMatch).toEqual({ UriPath: {} });
    for (const path of ['/mutate/0123abcd', '/validate/local-test-token']) expect(pattern.test(path), path).toBe(true);
    for (const path of ['/', '/mutate', '/mutate/', '/validate/a/b', '/mutate/a/', '/other/token', '//mutate/a', '/validatex/a']) expect(pattern.test(path), path).toBe(false);
    // No rule reads the body, so no review is refused for its size (WAF sees only its first 8-64 KB).
    expect(JSON.stringify(properties)).not.toMatch(/"(Body|JsonBody|SizeConstraintStatement|OversizeHandling)"/);
    // The blocks answer with Kubernetes Status bodies, which kubectl shows as the reason.
    for (const [, body] of Object.entries(properties.CustomResponseBodies as Record<string, { Content: string }>)) {
      expect(JSON.parse(body.Content)).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure' });
    }
    const association = resource('WebhookWebAclAssociation');
    expect(association.Type).toBe('AWS::WAFv2::WebACLAssociation');
    expect([association.DependsOn].flat()).toEqual(['ApiGatewayStage']);
    expect(association.Properties).toEqual({
      ResourceArn: { 'Fn::Sub': 'arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${ApiGatewayRestApi}/stages/${ApiGatewayStage}' },
      WebACLArn: { 'Fn::GetAtt': [aclId, 'Arn'] },
    });
  });

  it('samples no request in any visibility configuration of the web ACL (the URI path carries the token), and keeps every metric', () => {
    const configs = visibilityConfigs(template);
    // The web ACL's own and one per rule.
    expect(configs).toHaveLength(4);
    for (const config of configs) expect(config).toMatchObject({ SampledRequestsEnabled: false, CloudWatchMetricsEnabled: true });
  });

  it('alarms on 5XX, latency p99 above 4,000 ms (80% of timeoutSeconds 5), Lambda errors and throttles, 503s, secret read failures, 403 bursts, source mismatches and WAF blocks', () => {
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties as Record<string, any>);
    const summary = alarms.filter((alarm) => !alarm.Metrics).map((alarm) => {
      const dimensions = Object.fromEntries(alarm.Dimensions.map((d: { Name: string; Value: unknown }) => [d.Name, d.Value]));
      const who = dimensions.webhook ?? dimensions.FunctionName ?? dimensions.ApiName ?? dimensions.WebACL;
      return `${alarm.Namespace} ${alarm.MetricName} ${who} ${alarm.Statistic ?? alarm.ExtendedStatistic} ${alarm.ComparisonOperator === 'GreaterThanThreshold' ? '>' : '>='} ${alarm.Threshold}/${alarm.Period}s`;
    });
    expect(summary.sort()).toEqual(
      [
        'AWS/ApiGateway 5XXError dev-admission-webhooks Sum >= 1/60s',
        'AWS/ApiGateway Latency dev-admission-webhooks p99 > 4000/60s',
        'AWS/Lambda Errors admission-webhooks-dev-mutate Sum >= 1/60s',
        'AWS/Lambda Errors admission-webhooks-dev-validate Sum >= 1/60s',
        'AWS/Lambda Throttles admission-webhooks-dev-mutate Sum >= 1/60s',
        'AWS/Lambda Throttles admission-webhooks-dev-validate Sum >= 1/60s',
        'AdmissionWebhooks AuthUnavailable mutate Sum >= 1/60s',
        'AdmissionWebhooks AuthUnavailable validate Sum >= 1/60s',
        'AdmissionWebhooks SecretReadFailures mutate Sum >= 1/60s',
        'AdmissionWebhooks SecretReadFailures validate Sum >= 1/60s',
        'AdmissionWebhooks Forbidden mutate Sum >= 50/300s',
        'AdmissionWebhooks Forbidden validate Sum >= 50/300s',
        'AdmissionWebhooks SourceMismatch mutate Sum >= 1/60s',
        'AdmissionWebhooks SourceMismatch validate Sum >= 1/60s',
        'AWS/WAFV2 BlockedRequests admission-webhooks-dev Sum >= 1000/300s',
      ].sort(),
    );
    expect(alarms).toHaveLength(16);
    const apiAlarm = alarms.find((alarm) => alarm.MetricName === 'Latency');
    expect(apiAlarm?.Dimensions).toEqual([{ Name: 'ApiName', Value: resourcesOfType('AWS::ApiGateway::RestApi')[0]?.[1].Properties?.Name }, { Name: 'Stage', Value: 'dev' }]);
    const wafAlarm = alarms.find((alarm) => alarm.Namespace === 'AWS/WAFV2');
    expect(wafAlarm?.Dimensions).toEqual([{ Name: 'WebACL', Value: 'admission-webhooks-dev' }, { Name: 'Region', Value: { Ref: 'AWS::Region' } }, { Name: 'Rule', Value: 'ALL' }]);
    const topic = { 'Fn::If': ['CreateAlarmTopic', { Ref: 'AlarmTopic' }, ''] };
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({ AlarmActions: [topic], OKActions: [topic], TreatMissingData: 'notBreaching' });
      expect(alarm.AlarmName).toMatch(/^admission-webhooks-dev-[a-z0-9-]+$/);
    }
  });

  it('alarms on the stage\'s 4XXError less the functions\' 403s and WAF\'s blocks (metric math): what is left is the throttle\'s 429s', () => {
    const alarm = resource('Api4xxAlarm').Properties as Record<string, any>;
    expect(alarm).toMatchObject({
      AlarmName: 'admission-webhooks-dev-api-4xx',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 2,
      Threshold: 5,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    // The same topic as every other alarm.
    const topic = { 'Fn::If': ['CreateAlarmTopic', { Ref: 'AlarmTopic' }, ''] };
    expect(alarm.AlarmActions).toEqual([topic]);
    expect(alarm.OKActions).toEqual([topic]);
    // A metric math alarm has its metrics in Metrics only.
    for (const property of ['Namespace', 'MetricName', 'Statistic', 'Period']) expect(alarm).not.toHaveProperty(property);
    const api = resourcesOfType('AWS::ApiGateway::RestApi')[0]?.[1].Properties?.Name;
    const stat = (namespace: string, metric: string, dimensions: Record<string, unknown>) => ({
      Metric: { Namespace: namespace, MetricName: metric, Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })) },
      Period: 60,
      Stat: 'Sum',
    });
    expect(alarm.Metrics).toEqual([
      { Id: 'api4xx', MetricStat: stat('AWS/ApiGateway', '4XXError', { ApiName: api, Stage: 'dev' }), ReturnData: false },
      { Id: 'forbiddenMutate', MetricStat: stat('AdmissionWebhooks', 'Forbidden', { webhook: 'mutate' }), ReturnData: false },
      { Id: 'forbiddenValidate', MetricStat: stat('AdmissionWebhooks', 'Forbidden', { webhook: 'validate' }), ReturnData: false },
      {
        Id: 'wafBlocked',
        MetricStat: stat('AWS/WAFV2', 'BlockedRequests', { WebACL: 'admission-webhooks-dev', Region: { Ref: 'AWS::Region' }, Rule: 'ALL' }),
        ReturnData: false,
      },
      {
        Id: 'refused',
        Expression: 'FILL(api4xx, 0) - FILL(forbiddenMutate, 0) - FILL(forbiddenValidate, 0) - FILL(wafBlocked, 0)',
        Label: expect.stringContaining('stage throttle'),
        ReturnData: true,
      },
    ]);
  });

  it('notifies a topic it creates (no e-mail subscription by default), chosen by CloudFormation Conditions', () => {
    const conditions = (template as { Conditions?: Record<string, unknown> }).Conditions;
    expect(conditions).toEqual({
      CreateAlarmTopic: { 'Fn::Equals': ['', ''] },
      SubscribeAlarmEmail: { 'Fn::And': [{ Condition: 'CreateAlarmTopic' }, { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] }] },
    });
    expect(resource('AlarmTopic')).toMatchObject({ Type: 'AWS::SNS::Topic', Condition: 'CreateAlarmTopic' });
    expect(resource('AlarmEmailSubscription')).toMatchObject({
      Type: 'AWS::SNS::Subscription',
      Condition: 'SubscribeAlarmEmail',
      Properties: { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: '' },
    });
  });

  it('has a dashboard with the same figures per webhook, and the reviews per fleet cluster found by SEARCH', () => {
    const [[, dashboard] = ['', undefined], ...more] = resourcesOfType('AWS::CloudWatch::Dashboard');
    expect(more).toEqual([]);
    expect(dashboard?.Properties?.DashboardName).toBe('admission-webhooks-dev');
    const text = dashboard?.Properties?.DashboardBody['Fn::Sub'] as string;
    expect(text.match(/\$\{[^}]*\}/g)?.every((variable) => variable === '${AWS::Region}')).toBe(true);
    const body = JSON.parse(text.replaceAll('${AWS::Region}', 'eu-west-1'));
    const series: unknown[][] = body.widgets.flatMap((widget: any) => widget.properties.metrics);
    // CloudWatch takes each entry as an array; an expression's holds one object.
    for (const line of series) expect(Array.isArray(line), JSON.stringify(line)).toBe(true);
    const hidden = (line: unknown[]) => line.some((part: any) => part?.visible === false);
    const named = (namespace: string, metric: string) =>
      series.filter((line) => line[0] === namespace && line[1] === metric && !hidden(line)).map((line) => line[3]);
    for (const metric of ['Allowed', 'Denied', 'Patched', 'Forbidden', 'SourceMismatch', 'AuthUnavailable', 'SecretReadFailures']) {
      expect(named('AdmissionWebhooks', metric), metric).toEqual(['mutate', 'validate']);
    }
    for (const metric of ['Invocations', 'Errors', 'Throttles', 'Duration']) {
      expect(named('AWS/Lambda', metric), metric).toEqual(['admission-webhooks-dev-mutate', 'admission-webhooks-dev-validate']);
    }
    for (const metric of ['Count', '5XXError', 'Latency']) expect(named('AWS/ApiGateway', metric).length, metric).toBeGreaterThan(0);
    expect(named('AWS/WAFV2', 'BlockedRequests')).toEqual(['admission-webhooks-dev', 'admission-webhooks-dev', 'admission-webhooks-dev', 'admission-webhooks-dev']);
    const expressions = series.flatMap((line: any[]) => line.filter((part) => part?.expression).map((part) => part.expression));
    expect(expressions).toEqual([
      'FILL(api4xx, 0) - FILL(forbiddenMutate, 0) - FILL(forbiddenValidate, 0) - FILL(wafBlocked, 0)',
      `SEARCH('{AdmissionWebhooks,cluster,webhook} MetricName="Allowed"', 'Sum', 300)`,
      `SEARCH('{AdmissionWebhooks,cluster,webhook} MetricName="Denied"', 'Sum', 300)`,
      `SEARCH('{AdmissionWebhooks,cluster,webhook} MetricName="SourceMismatch"', 'Sum', 300)`,
    ]);
    // The 4XX alarm's figure, from the same hidden series as the alarm, with its threshold.
    const refused = body.widgets.find((widget: any) => widget.properties.title.startsWith('API 4XX not from the functions or WAF'));
    expect(refused.properties.metrics.filter(hidden).map((line: unknown[]) => line.slice(0, 2).join(' '))).toEqual([
      'AWS/ApiGateway 4XXError',
      'AdmissionWebhooks Forbidden',
      'AdmissionWebhooks Forbidden',
      'AWS/WAFV2 BlockedRequests',
    ]);
    expect(refused.properties.annotations.horizontal[0].value).toBe(5);
    const latency = body.widgets.find((widget: any) => widget.properties.title.startsWith('API latency'));
    expect(latency.properties.annotations.horizontal[0].value).toBe(4000);
    for (const widget of body.widgets) expect(widget.properties.region).toBe('eu-west-1');
  });

  it('creates no provisioned concurrency with provisionedConcurrency 0 (the default)', () => {
    expect(resourcesOfType('AWS::Lambda::Alias')).toEqual([]);
    expect(JSON.stringify(template)).not.toContain('ProvisionedConcurrency');
    for (const [, method] of routes()) expect(JSON.stringify(method.Integration.Uri)).not.toContain('Alias');
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
  let invalidIps: RunResult;

  beforeAll(async () => {
    dir = serviceCopy('print');
    const print = (args: string[]) => runServerless(['print', '--format', 'json', ...args], dir, 60_000);
    [prod, invalid, invalidIps] = await Promise.all([
      print([
        '--stage',
        'prod',
        '--param=allowedSourceIps=203.0.113.0/24, 2001:db8::/32',
        '--param=webhookTokenSecretId=admission-webhooks/prod/token',
        '--param=provisionedConcurrency=2',
      ]),
      print(['--param=provisionedConcurrency=two']),
      // Checked by the stage plugin when the command starts (it builds the resource policy).
      print(['--param=allowedSourceIps=203.0.113.300']),
    ]);
  }, 90_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('switches the execute-api URL off, and leaves the resource policy to the stage plugin (it reads the policy file)', () => {
    expect(prod.code, prod.stderr).toBe(0);
    const { apiGateway } = JSON.parse(prod.stdout).provider;
    expect(apiGateway.disableDefaultEndpoint).toBe(true);
    expect(apiGateway).not.toHaveProperty('resourcePolicy');
    expect(JSON.parse(prod.stdout).custom.webhookStage.allowedSourceIps).toBe('203.0.113.0/24, 2001:db8::/32');
  });

  it('takes params from the command line, the token secret among them', () => {
    expect(prod.code, prod.stderr).toBe(0);
    expect(JSON.parse(prod.stdout).provider.environment).toEqual({ WEBHOOK_TOKEN_SECRET_ID: 'admission-webhooks/prod/token', SECRET_CACHE_TTL_SECONDS: '300' });
  });

  it('gives each function provisionedConcurrency as a number from the stage param', () => {
    expect(prod.code, prod.stderr).toBe(0);
    const { functions } = JSON.parse(prod.stdout);
    expect([functions.mutate.provisionedConcurrency, functions.validate.provisionedConcurrency]).toEqual([2, 2]);
  });

  it('stops on an allow-list entry that is not an address, or a provisionedConcurrency that is not a count, naming the param', () => {
    expect(invalid.code).not.toBe(0);
    expect(invalidIps.code).not.toBe(0);
    expect(`${invalidIps.stdout}${invalidIps.stderr}`).toContain('allowedSourceIps has "203.0.113.300"');
    expect(`${invalid.stdout}${invalid.stderr}`).toContain('the provisionedConcurrency param must be a whole number of instances (0 for none), got "two"');
  });
});

describe('the local plugin and resolver', () => {
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

  it('admits the allowedSourceIps param, else the union of the clusters\' sourceIps, else every address, as a resource policy that denies the rest', () => {
    const union = { sourceIps: ['203.0.113.10/32', '2001:db8:10::/56'], vpcEndpointIds: [] };
    const edge = (allowedSourceIps: unknown, origins: Parameters<typeof resourcePolicy.edgeAccess>[2]) => {
      const { sourceIps, from, statements } = resourcePolicy.edgeAccess('public', allowedSourceIps, origins);
      expect(statements).toEqual(resourcePolicy.policyStatements(sourceIps));
      return { sourceIps, from };
    };
    expect(edge('192.0.2.0/24', union)).toEqual({ sourceIps: ['192.0.2.0/24'], from: 'the allowedSourceIps param' });
    expect(edge('', union)).toEqual({ sourceIps: union.sourceIps, from: "the policy's clusters (sourceIps)" });
    expect(edge('', { vpcEndpointIds: [] })).toEqual({ sourceIps: [], from: undefined });
    expect(edge(undefined, undefined)).toEqual({ sourceIps: [], from: undefined });
    expect(resourcePolicy.resourcePolicy(resourcePolicy.policyStatements([]))).toBe('');
    expect(resourcePolicy.resourcePolicy(resourcePolicy.policyStatements(['203.0.113.0/24', '2001:db8::/32']))).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' },
        {
          Effect: 'Deny',
          Principal: '*',
          Action: 'execute-api:Invoke',
          Resource: 'execute-api:/*',
          Condition: { NotIpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] } },
        },
      ],
    });
  });

  it('admits a private API only through the clusters\' VPC endpoints, and refuses what cannot serve', () => {
    const origins = { vpcEndpointIds: ['vpce-0123abcd'] };
    expect(resourcePolicy.edgeAccess('private', '', { ...origins, sourceIps: ['203.0.113.7/32'] })).toEqual({
      sourceIps: [],
      vpcEndpointIds: ['vpce-0123abcd'],
      statements: [{ Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*', Condition: { StringEquals: { 'aws:SourceVpce': ['vpce-0123abcd'] } } }],
      from: "the policy's clusters (vpcEndpointIds)",
    });
    expect(() => resourcePolicy.edgeAccess('private', '', { vpcEndpointIds: [] })).toThrow(/endpointType private needs the VPC endpoints/);
    expect(() => resourcePolicy.edgeAccess('private', '203.0.113.0/24', origins)).toThrow(/allowedSourceIps cannot be used with endpointType private/);
    expect(() => resourcePolicy.edgeAccess('public', '', origins)).toThrow(/binds clusters to VPC endpoints \(vpce-0123abcd\), which reach only a private API/);
    expect(() => customDomain.endpointTypeOf('internal')).toThrow('custom.webhookStage.endpointType must be public or private, got "internal"');
    expect(customDomain.endpointTypeOf(' private ')).toBe('private');
  });

  it('parses allow-lists of IPv4 and IPv6 addresses and blocks, and nothing else', () => {
    expect(resourcePolicy.parseSourceIps('')).toEqual([]);
    expect(resourcePolicy.policyStatements([])).toEqual([]);
    expect(resourcePolicy.parseSourceIps(' 198.51.100.7 ,10.0.0.0/8,2001:db8::1/128,')).toEqual(['198.51.100.7', '10.0.0.0/8', '2001:db8::1/128']);
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/']) {
      expect(() => resourcePolicy.parseSourceIps(bad), bad).toThrow(/allowedSourceIps/);
    }
  });

  describe('production operations (addOperations) with other settings', () => {
    const DEFAULT_SETTINGS = {
      wafEnabled: 'true',
      wafRateLimitPerIp: '6000',
      allowedSourceIps: '',
      alarmsEnabled: 'true',
      alarmTopicArn: '',
      alarmEmail: '',
      webhookTimeoutSeconds: '5',
      forbiddenAlarmThreshold: '50',
      wafBlockedAlarmThreshold: '1000',
    };
    const NAMES = { service: 'admission-webhooks', functions: [{ webhook: 'mutate', functionName: 'f-mutate' }, { webhook: 'validate', functionName: 'f-validate' }] };
    const build = (overrides: Record<string, string>) => {
      const built: CloudFormationTemplate & { Conditions?: Record<string, unknown> } = {
        Resources: {
          ApiGatewayRestApi: { Type: 'AWS::ApiGateway::RestApi', Properties: { Name: 'prod-admission-webhooks' } },
          ApiGatewayStage: { Type: 'AWS::ApiGateway::Stage', Properties: { StageName: 'prod' } },
        },
      };
      stagePlugin.addOperations(built, { ...DEFAULT_SETTINGS, ...overrides }, NAMES);
      return built;
    };
    const types = (built: CloudFormationTemplate) => Object.values(built.Resources).map((r) => r.Type);

    it('turns WAF and the alarms off with their params, and keeps the dashboard', () => {
      const built = build({ wafEnabled: 'false', alarmsEnabled: 'false' });
      expect(types(built).filter((type) => /WAFv2|Alarm|SNS/.test(type))).toEqual([]);
      expect(types(built)).toContain('AWS::CloudWatch::Dashboard');
      expect(built.Resources.WebhookDashboard?.Properties?.DashboardBody['Fn::Sub']).not.toContain('AWS/WAFV2');
      // Without WAF there is no WAF alarm either.
      const alarmsOnly = build({ wafEnabled: 'false' });
      expect(JSON.stringify(alarmsOnly.Resources)).not.toContain('AWS/WAFV2');
      expect(types(alarmsOnly).filter((type) => type === 'AWS::CloudWatch::Alarm')).toHaveLength(15);
      // Without WAF the 4XX alarm has no WAF blocks to subtract.
      expect(alarmsOnly.Resources.Api4xxAlarm?.Properties?.Metrics.at(-1).Expression).toBe('FILL(api4xx, 0) - FILL(forbiddenMutate, 0) - FILL(forbiddenValidate, 0)');
    });

    it('notifies an existing topic given as alarmTopicArn, or subscribes alarmEmail to the new one', () => {
      const existing = build({ alarmTopicArn: 'arn:aws:sns:eu-west-1:111122223333:on-call' });
      expect(existing.Conditions?.CreateAlarmTopic).toEqual({ 'Fn::Equals': ['arn:aws:sns:eu-west-1:111122223333:on-call', ''] });
      expect(existing.Resources.Api5xxAlarm?.Properties?.AlarmActions).toEqual([
        { 'Fn::If': ['CreateAlarmTopic', { Ref: 'AlarmTopic' }, 'arn:aws:sns:eu-west-1:111122223333:on-call'] },
      ]);
      const mailed = build({ alarmEmail: 'oncall@example.com' });
      expect(mailed.Conditions?.SubscribeAlarmEmail).toEqual({
        'Fn::And': [{ Condition: 'CreateAlarmTopic' }, { 'Fn::Not': [{ 'Fn::Equals': ['oncall@example.com', ''] }] }],
      });
      expect(mailed.Resources.AlarmEmailSubscription?.Properties?.Endpoint).toBe('oncall@example.com');
    });

    it('sets the latency alarm at 80% of the clusters\' timeoutSeconds', () => {
      expect(build({ webhookTimeoutSeconds: '10' }).Resources.ApiLatencyP99Alarm?.Properties?.Threshold).toBe(8000);
      expect(build({}).Resources.ApiLatencyP99Alarm?.Properties?.Threshold).toBe(4000);
    });

    it('with allowedSourceIps, blocks every other address in WAF first, before any throttling', () => {
      const built = build({ allowedSourceIps: '198.51.100.7, 203.0.113.0/24, 2001:db8::/32' });
      expect(built.Resources.WebhookAllowedIpv4?.Properties).toMatchObject({ Scope: 'REGIONAL', IPAddressVersion: 'IPV4', Addresses: ['198.51.100.7/32', '203.0.113.0/24'] });
      expect(built.Resources.WebhookAllowedIpv6?.Properties).toMatchObject({ IPAddressVersion: 'IPV6', Addresses: ['2001:db8::/32'] });
      const [first] = built.Resources.WebhookWebAcl?.Properties?.Rules;
      expect(first).toMatchObject({ Name: 'SourceIpAllowList', Priority: 0, Action: { Block: { CustomResponse: { ResponseCode: 403 } } } });
      expect(first.Statement.NotStatement.Statement.OrStatement.Statements).toEqual([
        { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': ['WebhookAllowedIpv4', 'Arn'] } } },
        { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': ['WebhookAllowedIpv6', 'Arn'] } } },
      ]);
      const configs = visibilityConfigs(built.Resources.WebhookWebAcl);
      expect(configs).toHaveLength(5);
      for (const config of configs) expect(config.SampledRequestsEnabled).toBe(false);
      const onlyV4 = build({ allowedSourceIps: '198.51.100.7' }).Resources.WebhookWebAcl?.Properties?.Rules[0];
      expect(onlyV4.Statement.NotStatement.Statement).toEqual({ IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': ['WebhookAllowedIpv4', 'Arn'] } } });
    });

    it('with allowedSourceIps, the per-address rate rule counts only other addresses: clusters behind one listed NAT address meet only the stage throttle', () => {
      const rules = (sourceIps: string) => build({ allowedSourceIps: sourceIps }).Resources.WebhookWebAcl?.Properties?.Rules as Record<string, any>[];
      const rateOf = (list: Record<string, any>[]) => list.find((rule) => rule.Name === 'RateLimitPerSourceIp')!.Statement.RateBasedStatement;
      const listed = rules('198.51.100.7, 2001:db8::/32');
      expect(rateOf(listed)).toEqual({
        Limit: 6000,
        EvaluationWindowSec: 60,
        AggregateKeyType: 'IP',
        // Exactly the addresses the allow-list rule lets through are left out of the count.
        ScopeDownStatement: { NotStatement: { Statement: listed[0]!.Statement.NotStatement.Statement } },
      });
      expect(rateOf(rules('198.51.100.7')).ScopeDownStatement).toEqual({
        NotStatement: { Statement: { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': ['WebhookAllowedIpv4', 'Arn'] } } } },
      });
      // Without an allow-list no address is trusted, and every one is counted.
      expect(rateOf(rules(''))).not.toHaveProperty('ScopeDownStatement');
    });

    it.each([
      [{ wafEnabled: 'yes' }, /wafEnabled must be true or false/],
      [{ alarmsEnabled: '' }, /alarmsEnabled must be true or false/],
      [{ wafRateLimitPerIp: '5' }, /wafRateLimitPerIp must be at least 10/],
      [{ wafRateLimitPerIp: '1e3x' }, /wafRateLimitPerIp must be a positive whole number/],
      [{ alarmEmail: 'not-an-address' }, /alarmEmail must be empty or an e-mail address/],
      [{ alarmTopicArn: 'on-call' }, /alarmTopicArn must be empty or an SNS topic ARN/],
      [{ webhookTimeoutSeconds: '31' }, /webhookTimeoutSeconds must be at most 30/],
      [{ forbiddenAlarmThreshold: '0' }, /forbiddenAlarmThreshold must be a positive whole number/],
    ])('stops on %o with a message naming the setting', (overrides, message) => {
      expect(() => build(overrides as Record<string, string>)).toThrow(message);
    });
  });

  it('reads provisionedConcurrency as a whole number of instances', () => {
    expect(settings.instanceCount('0', 'provisionedConcurrency')).toBe(0);
    expect(settings.instanceCount(' 3 ', 'provisionedConcurrency')).toBe(3);
    expect(settings.instanceCount(2, 'provisionedConcurrency')).toBe(2);
    for (const bad of ['', '-1', '1.5', 'two']) expect(() => settings.instanceCount(bad, 'provisionedConcurrency'), bad).toThrow(/provisionedConcurrency/);
  });
});
