/**
 * The packaged CloudFormation templates (the shared `serverless package` runs: the default public
 * variant, and the private variant, endpointType private) against AWS's published resource
 * schemas, as the CDK ships them in `@aws-cdk/aws-service-spec`: every resource type exists, every
 * property (nested ones too) is one the type has, with a value of its type and, for enumerations,
 * an allowed value; required properties are present; and every Ref, Fn::GetAtt, Condition and
 * DependsOn names something that exists. Values built by intrinsic functions are only checked for
 * those references.
 */
import { createRequire } from 'node:module';
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import type { SpecDatabase } from '@aws-cdk/service-spec-types';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CloudFormationTemplate, PRIVATE_VARIANT, packagedService } from './support/serverless';

const edgeProtection = createRequire(import.meta.url)('../deploy/edge-protection.cjs') as {
  addEdgeProtection: (template: CloudFormationTemplate, options: Record<string, string>) => void;
};

type Template = CloudFormationTemplate & { Conditions?: Record<string, unknown>; Parameters?: Record<string, unknown> };
type PropertyType = { type: string; reference?: { $ref: string }; element?: PropertyType; types?: PropertyType[]; allowedValues?: string[] };
type Property = { type: PropertyType; required?: boolean };

let db: SpecDatabase;
const templates: Record<'public' | 'private', Template> = {} as Record<'public' | 'private', Template>;

beforeAll(async () => {
  // Loaded once: ~1 s and ~180 MB (a 2.6 MB gzipped JSON database of every resource type).
  let publicVariant: { template: Template };
  let privateVariant: { template: Template };
  [db, publicVariant, privateVariant] = await Promise.all([loadAwsServiceSpec(), packagedService(), packagedService(PRIVATE_VARIANT)]);
  templates.public = publicVariant.template;
  templates.private = privateVariant.template;
}, 150_000);

const isIntrinsic = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && /^(Ref|Fn::.+)$/.test(Object.keys(value)[0]!);

function resourceSpec(type: string) {
  const found = db.lookup('resource', 'cloudFormationType', 'equals', type);
  return found.length === 1 ? found[0] : undefined;
}

/** The problems of one value against its schema type, each with its path. */
function checkValue(value: unknown, type: PropertyType, path: string): string[] {
  if (isIntrinsic(value)) return [];
  switch (type.type) {
    case 'string':
    case 'date-time': {
      if (!['string', 'number', 'boolean'].includes(typeof value)) return [`${path}: expected a string, got ${JSON.stringify(value)}`];
      if (type.allowedValues && !type.allowedValues.includes(String(value))) return [`${path}: "${value}" is not one of ${type.allowedValues.join(', ')}`];
      return [];
    }
    case 'number':
    case 'integer':
      return typeof value === 'number' || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) ? [] : [`${path}: expected a number, got ${JSON.stringify(value)}`];
    case 'boolean':
      return typeof value === 'boolean' || value === 'true' || value === 'false' ? [] : [`${path}: expected a boolean, got ${JSON.stringify(value)}`];
    case 'json':
    case 'null':
      return [];
    case 'tag':
      return typeof value === 'object' && value !== null && 'Key' in value && 'Value' in value ? [] : [`${path}: expected a tag`];
    case 'array':
      return Array.isArray(value) ? value.flatMap((item, index) => checkValue(item, type.element!, `${path}[${index}]`)) : [`${path}: expected a list`];
    case 'map':
      return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.entries(value).flatMap(([key, item]) => checkValue(item, type.element!, `${path}.${key}`))
        : [`${path}: expected a map`];
    case 'union': {
      const results = type.types!.map((alternative) => checkValue(value, alternative, path));
      return results.some((problems) => problems.length === 0) ? [] : results.flat();
    }
    case 'ref': {
      const definition = db.get('typeDefinition', type.reference!.$ref) as unknown as { name: string; properties: Record<string, Property> };
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected a ${definition.name} object`];
      return checkProperties(value as Record<string, unknown>, definition.properties, path);
    }
    default:
      return [`${path}: unknown schema type ${type.type}`];
  }
}

function checkProperties(values: Record<string, unknown>, properties: Record<string, Property>, path: string): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    const property = properties[name];
    if (!property) problems.push(`${path}.${name}: no such property`);
    else problems.push(...checkValue(value, property.type, `${path}.${name}`));
  }
  for (const [name, property] of Object.entries(properties)) {
    if (property.required && !(name in values)) problems.push(`${path}.${name}: required, missing`);
  }
  return problems;
}

const PSEUDO = new Set(['AWS::AccountId', 'AWS::Partition', 'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix', 'AWS::NoValue', 'AWS::NotificationARNs']);

/** Every Ref, Fn::GetAtt, Fn::Sub variable and Condition in `node` that names nothing in `template`. */
function danglingReferences(template: Template, node: unknown, path: string): string[] {
  const resources = template.Resources;
  const known = (name: string) => PSEUDO.has(name) || name in resources || name in (template.Parameters ?? {});
  const getAtt = (target: string, attribute: string) => {
    const spec = resources[target] && resourceSpec(resources[target]!.Type);
    if (!spec) return [`${path}: Fn::GetAtt of unknown resource ${target}`];
    return attribute in spec.attributes ? [] : [`${path}: ${target} (${resources[target]!.Type}) has no attribute ${attribute}`];
  };
  if (Array.isArray(node)) return node.flatMap((item, index) => danglingReferences(template, item, `${path}[${index}]`));
  if (typeof node !== 'object' || node === null) return [];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'Ref' && typeof value === 'string' && !known(value)) problems.push(`${path}: Ref to unknown ${value}`);
    if (key === 'Fn::GetAtt') {
      const [target, attribute] = Array.isArray(value) ? value : String(value).split('.');
      problems.push(...getAtt(String(target), String(attribute)));
    }
    if (key === 'Fn::Sub') {
      const text = Array.isArray(value) ? value[0] : value;
      const variables = Array.isArray(value) ? (value[1] ?? {}) : {};
      for (const [, name] of String(text).matchAll(/\$\{([^!}][^}]*)\}/g)) {
        const [target, attribute] = name!.split('.');
        if (target! in variables) continue;
        if (attribute) problems.push(...getAtt(target!, attribute));
        else if (!known(target!)) problems.push(`${path}: Fn::Sub variable \${${name}} names nothing`);
      }
    }
    if (key === 'Condition' && typeof value === 'string' && !(value in (template.Conditions ?? {}))) problems.push(`${path}: unknown condition ${value}`);
    problems.push(...danglingReferences(template, value, `${path}.${key}`));
  }
  return problems;
}

describe.each(['public', 'private'] as const)('the packaged template (%s variant) against the AWS resource schemas', (variant) => {
  it('uses only resource types that exist', () => {
    const template = templates[variant];
    const types = [...new Set(Object.values(template.Resources).map((resource) => resource.Type))];
    expect(types.length).toBeGreaterThan(15);
    expect(types.filter((type) => !resourceSpec(type))).toEqual([]);
  });

  it('gives every resource only properties its type has, of the right types and allowed values, and every required one', () => {
    const problems = Object.entries(templates[variant].Resources).flatMap(([logicalId, resource]) =>
      checkProperties(resource.Properties ?? {}, resourceSpec(resource.Type)!.properties as Record<string, Property>, logicalId),
    );
    expect(problems).toEqual([]);
  });

  it('refers only to resources, attributes, parameters and conditions that exist', () => {
    const template = templates[variant];
    const problems = [
      ...danglingReferences(template, template.Resources, 'Resources'),
      ...danglingReferences(template, template.Outputs ?? {}, 'Outputs'),
      ...danglingReferences(template, template.Conditions ?? {}, 'Conditions'),
    ];
    for (const [logicalId, resource] of Object.entries(template.Resources)) {
      for (const target of [resource.DependsOn ?? []].flat()) if (!(target in template.Resources)) problems.push(`${logicalId}: DependsOn unknown ${target}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('the schema check', () => {
  it('covers the private variant\'s own resource types', () => {
    const types = new Set(Object.values(templates.private.Resources).map((resource) => resource.Type));
    for (const type of ['AWS::ApiGateway::DomainNameV2', 'AWS::ApiGateway::BasePathMappingV2', 'AWS::ApiGateway::DomainNameAccessAssociation']) expect(types, type).toContain(type);
  });

  it('gives the web ACL built with an allow-list (its rule, IP sets, and the rate rule scoped down from it) only properties its type has', () => {
    const built: Template = { Resources: {} };
    edgeProtection.addEdgeProtection(built, { name: 'x', stageId: 'ApiGatewayStage', restApiId: 'ApiGatewayRestApi', rateLimitPerIp: '6000', allowedSourceIps: '198.51.100.7, 2001:db8::/32' });
    const rate = built.Resources.WebhookWebAcl!.Properties!.Rules.find((rule: { Name: string }) => rule.Name === 'RateLimitPerSourceIp');
    expect(rate.Statement.RateBasedStatement.ScopeDownStatement).toBeDefined();
    const problems = Object.entries(built.Resources).flatMap(([logicalId, resource]) =>
      checkProperties(resource.Properties ?? {}, resourceSpec(resource.Type)!.properties as Record<string, Property>, logicalId),
    );
    expect(problems).toEqual([]);
  });

  it('catches what it is for: an unknown type, a misspelt or missing property, a bad enumeration value, a wrong attribute', () => {
    const problemsOf = (type: string, properties: Record<string, unknown>) =>
      checkProperties(properties, resourceSpec(type)!.properties as Record<string, Property>, 'X');
    expect(resourceSpec('AWS::WAFv2::WebAcl')).toBeUndefined();
    expect(problemsOf('AWS::SNS::Subscription', { Protocol: 'email', TopicARN: 'x' })).toEqual(['X.TopicARN: no such property', 'X.TopicArn: required, missing']);
    const acl = structuredClone(templates.public.Resources.WebhookWebAcl!.Properties!);
    acl.Rules[0].VisibilityConfig.MetricNames = 'x';
    acl.Scope = 'GLOBAL';
    expect(problemsOf('AWS::WAFv2::WebACL', acl)).toEqual([
      'X.Scope: "GLOBAL" is not one of CLOUDFRONT, REGIONAL',
      'X.Rules[0].VisibilityConfig.MetricNames: no such property',
    ]);
    expect(danglingReferences(templates.public, { 'Fn::GetAtt': ['WebhookWebAcl', 'Arnn'] }, 'Y')).toEqual(['Y: WebhookWebAcl (AWS::WAFv2::WebACL) has no attribute Arnn']);
    expect(problemsOf('AWS::ApiGateway::DomainNameAccessAssociation', { DomainNameArn: 'x', AccessAssociationSource: 'vpce-0123abcd', AccessAssociationSourceType: 'VPC' })).toEqual([
      'X.AccessAssociationSourceType: "VPC" is not one of VPCE',
    ]);
  });
});
