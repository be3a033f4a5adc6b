// CloudWatch alarms for the webhooks and the SNS topic they notify (added by the stage plugin, on
// unless the `alarmsEnabled` param is false). With `validate` on `failurePolicy: Fail`, every
// refused or failed review is a Pod that could not be created, so most alarms fire on the first
// event. The topic is created (with an e-mail subscription if `alarmEmail` is set) unless
// `alarmTopicArn` names an existing one: CloudFormation Conditions choose.
//
// The custom metrics are those the functions write as EMF records (namespace AdmissionWebhooks,
// dimension `webhook`): Forbidden (403, missing or wrong token), AuthUnavailable (503, token could
// not be checked), SecretReadFailures (a failed read of the token secret), SourceMismatch (a bound
// cluster's token from an address or VPC endpoint the policy does not bind it to; answered as 403).
//
// Requests the stage throttle refuses (429) never reach Lambda and are no WAF block: a REST API
// counts them only in its `4XXError`. That metric also counts the functions' own 403s (alarmed on
// separately, as Forbidden bursts) and WAF's blocks (API Gateway receives every request and asks
// WAF, and logs the blocked ones too). So the 4XX alarm watches `4XXError` less both, by metric
// math: what is left is the throttle's 429s and the rare 400/413 of a review the functions could
// not read, each a review that failed. Should WAF's blocks not be in `4XXError` after all, the
// difference undercounts by them, and the WAF alarm covers that case.
'use strict';

const { positiveNumber, optional } = require('./settings.cjs');

const TOPIC = 'AlarmTopic';
const CREATE_TOPIC = 'CreateAlarmTopic';
const SUBSCRIBE_EMAIL = 'SubscribeAlarmEmail';
const NAMESPACE = 'AdmissionWebhooks';
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const TOPIC_ARN = /^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/**
 * A throttle refuses reviews by the hundred. Below a few a minute the difference is noise: the
 * subtracted metrics come from other sources, and a request at a minute's edge can land in
 * neighbouring minutes of two of them.
 */
const REFUSED_THRESHOLD = 5;

/** The latency alarm's threshold: 80% of the clusters' webhook timeout, in milliseconds. */
const latencyThresholdMs = (timeoutSeconds) => Math.round(timeoutSeconds * 1000 * 0.8);

const dimensionList = (dimensions) => Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value }));

/** A metric math alarm's queries: each metric, hidden, and the expression over them. */
function mathQueries({ expression, label, metrics }, period) {
  return [
    ...metrics.map(({ id, namespace, metric, dimensions }) => ({
      Id: id,
      MetricStat: { Metric: { Namespace: namespace, MetricName: metric, Dimensions: dimensionList(dimensions) }, Period: period, Stat: 'Sum' },
      ReturnData: false,
    })),
    { Id: 'refused', Expression: expression, Label: label, ReturnData: true },
  ];
}

function alarm({ name, description, namespace, metric, dimensions, statistic, math, period = 60, evaluationPeriods = 1, datapoints, threshold, comparison = 'GreaterThanOrEqualToThreshold' }, topic) {
  const percentile = /^p\d/.test(statistic);
  const source = math
    ? { Metrics: mathQueries(math, period) }
    : {
        Namespace: namespace,
        MetricName: metric,
        Dimensions: dimensionList(dimensions),
        ...(percentile ? { ExtendedStatistic: statistic } : { Statistic: statistic }),
        Period: period,
      };
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: name,
      AlarmDescription: description,
      ...source,
      EvaluationPeriods: evaluationPeriods,
      DatapointsToAlarm: datapoints ?? evaluationPeriods,
      Threshold: threshold,
      ComparisonOperator: comparison,
      // No traffic is no problem: a quiet cluster sends no reviews.
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
      OKActions: [topic],
    },
  };
}

const capitalized = (text) => text[0].toUpperCase() + text.slice(1);

/**
 * The 4XX alarm's figure: the stage's `4XXError` less the functions' Forbidden and, with WAF, WAF's
 * blocks (`region`: how the WAF metric's Region dimension is written). Sums per period; FILL, so a
 * period where one metric has no data still subtracts the others.
 */
function refusedByGateway({ api, functions, webAcl, region }) {
  const metrics = [
    { id: 'api4xx', namespace: 'AWS/ApiGateway', metric: '4XXError', dimensions: { ApiName: api.name, Stage: api.stage } },
    ...functions.map(({ webhook }) => ({ id: `forbidden${capitalized(webhook)}`, namespace: NAMESPACE, metric: 'Forbidden', dimensions: { webhook } })),
    ...(webAcl ? [{ id: 'wafBlocked', namespace: 'AWS/WAFV2', metric: 'BlockedRequests', dimensions: { WebACL: webAcl, Region: region, Rule: 'ALL' } }] : []),
  ];
  const [total, ...subtracted] = metrics.map(({ id }) => `FILL(${id}, 0)`);
  return {
    expression: [total, ...subtracted].join(' - '),
    label: 'API 4XX not from the functions or WAF (stage throttle 429s, unreadable reviews)',
    metrics,
  };
}

/**
 * The alarm definitions. `functions`: [{ webhook: 'mutate', functionName }], `api`: { name, stage },
 * `webAcl`: the web ACL's metric name, or undefined without WAF.
 */
function alarmDefinitions({ prefix, api, functions, webAcl, timeoutSeconds, forbiddenThreshold, wafBlockedThreshold }) {
  const apiDimensions = { ApiName: api.name, Stage: api.stage };
  const definitions = [
    {
      id: 'Api4xxAlarm',
      name: `${prefix}-api-4xx`,
      description:
        `API Gateway refused ${REFUSED_THRESHOLD} or more requests a minute, in 2 of the last 5 minutes, that neither the functions (403) nor WAF refused: ` +
        `the stage throttle (429, every cluster together over throttleRateLimit) or reviews the functions could not read (400, 413)${webAcl ? '' : ', or other paths (403; WAF is off)'}`,
      math: refusedByGateway({ api, functions, webAcl, region: { Ref: 'AWS::Region' } }),
      evaluationPeriods: 5,
      datapoints: 2,
      threshold: REFUSED_THRESHOLD,
    },
    {
      id: 'Api5xxAlarm',
      name: `${prefix}-api-5xx`,
      description: 'API Gateway answered 5XX (Lambda error, 503 token unverifiable, 502 bad response) in 2 of the last 5 minutes',
      namespace: 'AWS/ApiGateway',
      metric: '5XXError',
      dimensions: apiDimensions,
      statistic: 'Sum',
      evaluationPeriods: 5,
      datapoints: 2,
      threshold: 1,
    },
    {
      id: 'ApiLatencyP99Alarm',
      name: `${prefix}-api-latency-p99`,
      description: `API latency p99 above 80% of the webhooks' timeoutSeconds (${timeoutSeconds} s) in 3 of the last 5 minutes: the API server is close to giving up and applying failurePolicy`,
      namespace: 'AWS/ApiGateway',
      metric: 'Latency',
      dimensions: apiDimensions,
      statistic: 'p99',
      evaluationPeriods: 5,
      datapoints: 3,
      threshold: latencyThresholdMs(timeoutSeconds),
      comparison: 'GreaterThanThreshold',
    },
  ];
  for (const { webhook, functionName } of functions) {
    const lambda = { namespace: 'AWS/Lambda', dimensions: { FunctionName: functionName } };
    const custom = { namespace: NAMESPACE, dimensions: { webhook } };
    const perWebhook = [
      [lambda, 'Errors', 'errors', `The ${webhook} function failed (crash, timeout, or a configuration error at start-up)`],
      [lambda, 'Throttles', 'throttles', `Lambda throttled the ${webhook} function (account concurrency used up): reviews failed`],
      [custom, 'AuthUnavailable', 'auth-unavailable', `${webhook} answered 503: the token could not be checked (Secrets Manager unreachable or denied, nothing cached)`],
      [custom, 'SecretReadFailures', 'secret-read-failures', `${webhook} could not read the token secret from Secrets Manager (a cached token may still serve)`],
      [custom, 'SourceMismatch', 'source-mismatch', `${webhook} refused a cluster's own token from an address or VPC endpoint the policy does not bind it to: a leaked token used elsewhere, or the cluster's egress changed`],
      [
        custom,
        'Forbidden',
        'forbidden-burst',
        `${webhook} refused ${forbiddenThreshold} or more requests with 403 in 5 minutes: someone scanning with wrong tokens, or a cluster with a retired token`,
        { period: 300, threshold: forbiddenThreshold },
      ],
    ];
    for (const [source, metric, slug, description, overrides] of perWebhook) {
      definitions.push({
        id: `${capitalized(webhook)}${metric}Alarm`,
        name: `${prefix}-${webhook}-${slug}`,
        description,
        ...source,
        metric,
        statistic: 'Sum',
        threshold: 1,
        ...overrides,
      });
    }
  }
  if (webAcl) {
    definitions.push({
      id: 'WafBlockedAlarm',
      name: `${prefix}-waf-blocked`,
      description: `AWS WAF blocked ${wafBlockedThreshold} or more requests in 5 minutes (a flood, a scan, or a cluster over the per-address rate limit)`,
      namespace: 'AWS/WAFV2',
      metric: 'BlockedRequests',
      dimensions: { WebACL: webAcl, Region: { Ref: 'AWS::Region' }, Rule: 'ALL' },
      statistic: 'Sum',
      period: 300,
      threshold: wafBlockedThreshold,
    });
  }
  return definitions;
}

/** Adds the Conditions, the topic, its optional e-mail subscription and the alarms. */
function addAlarms(template, { prefix, api, functions, webAcl, settings }) {
  const email = optional(settings.alarmEmail, 'alarmEmail', EMAIL, 'an e-mail address');
  const topicArn = optional(settings.alarmTopicArn, 'alarmTopicArn', TOPIC_ARN, 'an SNS topic ARN');
  const timeoutSeconds = positiveNumber(settings.webhookTimeoutSeconds, 'webhookTimeoutSeconds', { integer: true });
  if (timeoutSeconds > 30) throw new Error(`custom.webhookStage.webhookTimeoutSeconds must be at most 30 (the API server's limit), got ${timeoutSeconds}`);
  const forbiddenThreshold = positiveNumber(settings.forbiddenAlarmThreshold, 'forbiddenAlarmThreshold', { integer: true });
  const wafBlockedThreshold = positiveNumber(settings.wafBlockedAlarmThreshold, 'wafBlockedAlarmThreshold', { integer: true });

  template.Conditions = {
    ...template.Conditions,
    [CREATE_TOPIC]: { 'Fn::Equals': [topicArn, ''] },
    [SUBSCRIBE_EMAIL]: { 'Fn::And': [{ Condition: CREATE_TOPIC }, { 'Fn::Not': [{ 'Fn::Equals': [email, ''] }] }] },
  };
  const resources = template.Resources;
  resources[TOPIC] = {
    Type: 'AWS::SNS::Topic',
    Condition: CREATE_TOPIC,
    Properties: { DisplayName: `${prefix} alarms` },
  };
  resources.AlarmEmailSubscription = {
    Type: 'AWS::SNS::Subscription',
    Condition: SUBSCRIBE_EMAIL,
    Properties: { TopicArn: { Ref: TOPIC }, Protocol: 'email', Endpoint: email },
  };
  const topic = { 'Fn::If': [CREATE_TOPIC, { Ref: TOPIC }, topicArn] };
  const definitions = alarmDefinitions({ prefix, api, functions, webAcl, timeoutSeconds, forbiddenThreshold, wafBlockedThreshold });
  for (const definition of definitions) resources[definition.id] = alarm(definition, topic);
  return definitions;
}

module.exports = { addAlarms, latencyThresholdMs, refusedByGateway, REFUSED_THRESHOLD };
