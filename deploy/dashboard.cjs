// The CloudWatch dashboard `<service>-<stage>` (added by the stage plugin): the figures the alarms
// watch, per webhook, and the reviews per cluster of a fleet. The per-cluster graphs use SEARCH
// expressions, so a cluster added to the fleet secret shows up without a change here.
'use strict';

const { refusedByGateway, REFUSED_THRESHOLD: refusedThreshold } = require('./alarms.cjs');

const NAMESPACE = 'AdmissionWebhooks';
const WIDTH = 12;
const HEIGHT = 6;

function metricWidget(title, metrics, { stat = 'Sum', period = 60, annotations } = {}) {
  return {
    type: 'metric',
    width: WIDTH,
    height: HEIGHT,
    properties: {
      title,
      region: '${AWS::Region}',
      view: 'timeSeries',
      stacked: false,
      stat,
      period,
      metrics,
      ...(annotations ? { annotations: { horizontal: annotations } } : {}),
    },
  };
}

/** One graph line per cluster: every `[webhook, cluster]` series of the metric. */
function perCluster(metric) {
  // Each entry of a widget's `metrics` is an array; an expression's holds one object.
  return [[{ expression: `SEARCH('{${NAMESPACE},cluster,webhook} MetricName="${metric}"', 'Sum', 300)`, id: `${metric.toLowerCase()}PerCluster`, label: '' }]];
}

/** The dashboard body, as a JSON string for Fn::Sub (`${AWS::Region}` is its only variable). */
function dashboardBody({ api, functions, webAcl, latencyThresholdMs }) {
  const apiDimensions = ['ApiName', api.name, 'Stage', api.stage];
  const refused = refusedByGateway({ api, functions, webAcl: webAcl?.metricName, region: '${AWS::Region}' });
  const webhooks = functions.map(({ webhook }) => webhook);
  const custom = (names) => webhooks.flatMap((webhook) => names.map((name) => [NAMESPACE, name, 'webhook', webhook]));
  const lambda = (names, options = {}) =>
    functions.flatMap(({ webhook, functionName }) => names.map((name) => ['AWS/Lambda', name, 'FunctionName', functionName, { label: `${webhook} ${name}`, ...options }]));
  const widgets = [
    metricWidget('Reviews per webhook (Allowed, Denied, Patched)', custom(['Allowed', 'Denied', 'Patched'])),
    metricWidget(
      'Refused requests per webhook (403 Forbidden, 403 SourceMismatch, 503 AuthUnavailable) and secret read failures',
      custom(['Forbidden', 'SourceMismatch', 'AuthUnavailable', 'SecretReadFailures']),
    ),
    metricWidget('API requests and errors', [
      ['AWS/ApiGateway', 'Count', ...apiDimensions],
      ['AWS/ApiGateway', '4XXError', ...apiDimensions],
      ['AWS/ApiGateway', '5XXError', ...apiDimensions],
    ]),
    metricWidget(
      'API 4XX not from the functions or WAF: the stage throttle (the 4XX alarm)',
      [
        ...refused.metrics.map(({ id, namespace, metric, dimensions }) => [namespace, metric, ...Object.entries(dimensions).flat(), { id, visible: false }]),
        [{ expression: refused.expression, label: refused.label, id: 'refused' }],
      ],
      { annotations: [{ label: 'alarm', value: refusedThreshold }] },
    ),
    metricWidget(
      'API latency (ms)',
      [
        ['AWS/ApiGateway', 'Latency', ...apiDimensions, { stat: 'p99', label: 'Latency p99' }],
        ['AWS/ApiGateway', 'Latency', ...apiDimensions, { stat: 'p50', label: 'Latency p50' }],
        ['AWS/ApiGateway', 'IntegrationLatency', ...apiDimensions, { stat: 'p99', label: 'IntegrationLatency p99' }],
      ],
      { stat: 'p99', annotations: [{ label: "alarm: 80% of the webhooks' timeoutSeconds", value: latencyThresholdMs }] },
    ),
    metricWidget('Lambda invocations, errors, throttles', lambda(['Invocations', 'Errors', 'Throttles'])),
    metricWidget('Lambda duration p99 (ms) and concurrency (max)', [
      ...lambda(['Duration'], { stat: 'p99' }),
      ...lambda(['ConcurrentExecutions'], { stat: 'Maximum', yAxis: 'right' }),
    ]),
    metricWidget('Allowed reviews per cluster (fleet secret)', perCluster('Allowed'), { period: 300 }),
    metricWidget('Denied reviews per cluster (fleet secret)', perCluster('Denied'), { period: 300 }),
    metricWidget("A cluster's token from elsewhere (SourceMismatch) per cluster", perCluster('SourceMismatch'), { period: 300 }),
  ];
  if (webAcl) {
    const waf = (metric, rule) => ['AWS/WAFV2', metric, 'WebACL', webAcl.metricName, 'Region', '${AWS::Region}', 'Rule', rule];
    widgets.push(
      metricWidget('AWS WAF: allowed and blocked requests', [waf('AllowedRequests', 'ALL'), waf('BlockedRequests', 'ALL')]),
      metricWidget('AWS WAF: blocked requests per rule', webAcl.rules.map((rule) => waf('BlockedRequests', rule))),
    );
  }
  return JSON.stringify({ widgets });
}

function addDashboard(template, { name, ...figures }) {
  template.Resources.WebhookDashboard = {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: { DashboardName: name, DashboardBody: { 'Fn::Sub': dashboardBody(figures) } },
  };
}

module.exports = { addDashboard, dashboardBody };
