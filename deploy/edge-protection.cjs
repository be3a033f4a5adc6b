// AWS WAF in front of the API stage (added to the template by the stage plugin, on unless the
// `wafEnabled` param is false). WAF is evaluated before API Gateway's throttling, so what it blocks
// never uses up the stage's share that the clusters need. The rules, in order:
//   0. SourceIpAllowList (only with `allowedSourceIps`): block every other source address.
//   1. AWSManagedRulesAmazonIpReputationList: AWS's list of addresses known for bots and attacks.
//   2. RateLimitPerSourceIp: block an address that sends more than `wafRateLimitPerIp` requests in
//      a minute, with 429. Addresses on the allow-list are not counted (a scope-down statement):
//      several clusters behind one NAT address would otherwise share one address's limit, far below
//      the stage throttle, and be blocked together.
//   3. OnlyWebhookRoutes: block anything but `POST /mutate/<one segment>` and
//      `POST /validate/<one segment>`, with 403.
// No rule looks at the body: WAF sees only its first 8-64 KB, and a large Pod review must never be
// refused for its size (Lambda's own 6 MB limit applies, with a clear 413).
// No rule samples requests: a sampled request keeps its URI path, `/validate/<token>`, for three
// hours for anyone who may read WAF data. The CloudWatch metrics stay.
'use strict';

const { parseSourceIps } = require('./resource-policy.cjs');
const { positiveNumber } = require('./settings.cjs');

const WEB_ACL = 'WebhookWebAcl';
const ROUTE_PATTERN = '^/(mutate|validate)/[^/]+$';
const RATE_WINDOW_SECONDS = 60;

const status = (code, message) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message });
const visibility = (metricName) => ({ SampledRequestsEnabled: false, CloudWatchMetricsEnabled: true, MetricName: metricName });
const block = (code, body) => ({ Block: { CustomResponse: { ResponseCode: code, CustomResponseBodyKey: body } } });
const asIs = [{ Priority: 0, Type: 'NONE' }];

/** `allowedSourceIps` entries as WAF IP set addresses (CIDR blocks), split by family. */
function ipSets(sourceIps) {
  const v4 = [];
  const v6 = [];
  for (const entry of sourceIps) {
    const v6Entry = entry.includes(':');
    const cidr = entry.includes('/') ? entry : `${entry}/${v6Entry ? 128 : 32}`;
    (v6Entry ? v6 : v4).push(cidr);
  }
  return [
    ['WebhookAllowedIpv4', 'IPV4', v4],
    ['WebhookAllowedIpv6', 'IPV6', v6],
  ].filter(([, , addresses]) => addresses.length > 0);
}

/** A statement matching every address of the IP sets, or undefined without an allow-list. */
function allowedAddresses(sets) {
  const references = sets.map(([logicalId]) => ({ IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [logicalId, 'Arn'] } } }));
  if (references.length === 0) return undefined;
  return references.length === 1 ? references[0] : { OrStatement: { Statements: references } };
}

const allowListRule = (allowed) => ({
  Name: 'SourceIpAllowList',
  Action: block(403, 'SourceNotAllowed'),
  Statement: { NotStatement: { Statement: allowed } },
  VisibilityConfig: visibility('SourceIpAllowList'),
});

const reputationRule = () => ({
  Name: 'AWSManagedRulesAmazonIpReputationList',
  OverrideAction: { None: {} },
  Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' } },
  VisibilityConfig: visibility('AWSManagedRulesAmazonIpReputationList'),
});

/**
 * With an allow-list, the listed addresses are not counted: they meet only the stage throttle. (Rule
 * 0 has blocked every other address by then, so the rule counts nothing; the scope-down keeps a
 * trusted address out of it whatever the order of the rules.)
 */
const rateRule = (limit, allowed) => ({
  Name: 'RateLimitPerSourceIp',
  Action: block(429, 'RateLimited'),
  Statement: {
    RateBasedStatement: {
      Limit: limit,
      EvaluationWindowSec: RATE_WINDOW_SECONDS,
      AggregateKeyType: 'IP',
      ...(allowed ? { ScopeDownStatement: { NotStatement: { Statement: allowed } } } : {}),
    },
  },
  VisibilityConfig: visibility('RateLimitPerSourceIp'),
});

const routeRule = () => ({
  Name: 'OnlyWebhookRoutes',
  Action: block(403, 'NotAWebhookRoute'),
  Statement: {
    NotStatement: {
      Statement: {
        AndStatement: {
          Statements: [
            { ByteMatchStatement: { FieldToMatch: { Method: {} }, PositionalConstraint: 'EXACTLY', SearchString: 'POST', TextTransformations: asIs } },
            { RegexMatchStatement: { FieldToMatch: { UriPath: {} }, RegexString: ROUTE_PATTERN, TextTransformations: asIs } },
          ],
        },
      },
    },
  },
  VisibilityConfig: visibility('OnlyWebhookRoutes'),
});

/**
 * Adds the web ACL, its association with the stage and, for an allow-list, its IP sets.
 * `name` names the ACL and its metrics (`admission-webhooks-<stage>`); `stageId` is the stage resource.
 */
function addEdgeProtection(template, { name, stageId, restApiId, rateLimitPerIp, allowedSourceIps }) {
  const resources = template.Resources;
  const limit = positiveNumber(rateLimitPerIp, 'wafRateLimitPerIp', { integer: true });
  if (limit < 10) throw new Error(`custom.webhookStage.wafRateLimitPerIp must be at least 10 (AWS WAF's minimum), got ${limit}`);
  const sets = ipSets(parseSourceIps(allowedSourceIps));
  for (const [logicalId, version, addresses] of sets) {
    resources[logicalId] = {
      Type: 'AWS::WAFv2::IPSet',
      Properties: { Name: `${name}-allowed-${version.toLowerCase()}`, Scope: 'REGIONAL', IPAddressVersion: version, Addresses: addresses },
    };
  }
  const allowed = allowedAddresses(sets);
  const rules = [...(allowed ? [allowListRule(allowed)] : []), reputationRule(), rateRule(limit, allowed), routeRule()];
  resources[WEB_ACL] = {
    Type: 'AWS::WAFv2::WebACL',
    Properties: {
      Name: name,
      Description: 'Admission webhooks: only POST /mutate/<token> and /validate/<token>, per-address rate limit, IP reputation',
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: rules.map((rule, priority) => ({ ...rule, Priority: priority })),
      CustomResponseBodies: {
        NotAWebhookRoute: {
          ContentType: 'APPLICATION_JSON',
          Content: status(403, 'refused by AWS WAF: only POST /mutate/<token> and POST /validate/<token> are served'),
        },
        RateLimited: { ContentType: 'APPLICATION_JSON', Content: status(429, 'refused by AWS WAF: too many requests from this address') },
        ...(sets.length > 0
          ? { SourceNotAllowed: { ContentType: 'APPLICATION_JSON', Content: status(403, 'refused by AWS WAF: this source address is not allowed') } }
          : {}),
      },
      VisibilityConfig: visibility(name),
    },
  };
  resources.WebhookWebAclAssociation = {
    Type: 'AWS::WAFv2::WebACLAssociation',
    // The stage must exist before WAF can be attached to it.
    DependsOn: stageId,
    Properties: {
      ResourceArn: { 'Fn::Sub': `arn:\${AWS::Partition}:apigateway:\${AWS::Region}::/restapis/\${${restApiId}}/stages/\${${stageId}}` },
      WebACLArn: { 'Fn::GetAtt': [WEB_ACL, 'Arn'] },
    },
  };
}

module.exports = { addEdgeProtection, ROUTE_PATTERN, WEB_ACL };
