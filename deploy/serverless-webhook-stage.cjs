// A small local plugin for serverless.yml (`plugins: - ./deploy/serverless-webhook-stage.cjs`).
//
// 1. Stage throttling. The framework lets the API Gateway Deployment resource create the stage
//    implicitly, which leaves no place for stage settings in the template (and a Deployment's
//    StageDescription is not re-applied on later deploys). So, as AWS SAM does, the stage becomes
//    an explicit `AWS::ApiGateway::Stage` (logical id `ApiGatewayStage`) that points at the
//    deployment and carries the stage-wide throttling from `custom.webhookStage`:
//    `throttlingRateLimit` (requests per second) and `throttlingBurstLimit`.
// 2. The framework's `ServiceEndpoint` output names the execute-api URL, which
//    `provider.apiGateway.disableDefaultEndpoint` switches off; the `WebhookBaseUrl` output
//    (custom domain) replaces it.
// 3. Production operations, from the other `custom.webhookStage` settings: the AWS WAF web ACL on
//    the stage (deploy/edge-protection.cjs), the alarms and their SNS topic (deploy/alarms.cjs)
//    and the dashboard (deploy/dashboard.cjs).
// 4. The deploy guard (deploy/deploy-guard.cjs). `before:deploy:deploy` hooks run in plugin order,
//    core plugins first: by the time ours runs, a plain `serverless deploy` has packaged, and
//    `serverless deploy --package DIR` has restored the packaged service from DIR, so the
//    compiled template is the one about to be uploaded. The next step, `deploy:deploy`, makes the
//    first call that reads or changes the stack. `serverless deploy function` is checked before
//    its first step too (it changes one function's configuration, never IAM).
// 5. The policy file (deploy/policy-packaging.cjs): checked and written as JSON into every zip
//    before anything is bundled, recorded in the template, checked again by the deploy guard; the
//    old policy params are refused. Its hooks must run before serverless-esbuild's (which bundle and
//    zip in the same lifecycle events), so this plugin is listed first in serverless.yml.
// 6. A failed command exits. serverless-esbuild disposes of its esbuild context (a child process
//    that holds the event loop open) in `after:` hooks, which a failure skips: `serverless invoke
//    local` with a handler that throws at load (an invalid configuration) printed the error and
//    then hung (floydspace/serverless-esbuild#532). The `error` hook stops esbuild's service.
// 7. The endpoint (param `endpointType`, public or private) and who may reach it: the custom domain
//    of the variant (deploy/custom-domain.cjs), and the API's resource policy and WAF's allow-list
//    (deploy/resource-policy.cjs): the `allowedSourceIps` param, or else the union of the policy's
//    clusters' sourceIps when every cluster lists them; for a private API, the clusters' VPC
//    endpoints. Set here, not in serverless.yml, because the policy file is read only after the
//    framework has resolved serverless.yml's variables.
'use strict';

const { join } = require('node:path');

const { assertDeployable, assertFunctionAuthenticated } = require('./deploy-guard.cjs');
const { addAlarms, latencyThresholdMs } = require('./alarms.cjs');
const { addDashboard } = require('./dashboard.cjs');
const { addEdgeProtection, WEB_ACL } = require('./edge-protection.cjs');
const { flag, positiveNumber } = require('./settings.cjs');
const { METADATA_KEY, POLICY_JSON, assertPolicyDeployable, checkFunctionEnvironment, preparePolicy, refusePolicyParams } = require('./policy-packaging.cjs');
const { edgeAccess, parseSourceIps, resourcePolicy } = require('./resource-policy.cjs');
const { addCustomDomain, endpointTypeOf } = require('./custom-domain.cjs');
const { workFolder } = require('../esbuild.config.cjs');

const STAGE_LOGICAL_ID = 'ApiGatewayStage';

/** Moves the stage out of the Deployment into an explicit Stage resource with throttling. */
function addStage(template, settings) {
  const resources = template.Resources;
  const deployments = Object.entries(resources).filter(([, resource]) => resource.Type === 'AWS::ApiGateway::Deployment');
  if (deployments.length !== 1) throw new Error(`expected one API Gateway Deployment in the template, found ${deployments.length}`);
  const [deploymentId, deployment] = deployments[0];
  const stageName = deployment.Properties.StageName;
  if (!stageName) throw new Error('the API Gateway Deployment names no stage');
  delete deployment.Properties.StageName;
  resources[STAGE_LOGICAL_ID] = {
    Type: 'AWS::ApiGateway::Stage',
    Properties: {
      RestApiId: structuredClone(deployment.Properties.RestApiId),
      DeploymentId: { Ref: deploymentId },
      StageName: stageName,
      MethodSettings: [
        {
          ResourcePath: '/*',
          HttpMethod: '*',
          ThrottlingRateLimit: positiveNumber(settings.throttlingRateLimit, 'throttlingRateLimit', { integer: false }),
          ThrottlingBurstLimit: positiveNumber(settings.throttlingBurstLimit, 'throttlingBurstLimit', { integer: true }),
        },
      ],
    },
  };
  if (template.Outputs) delete template.Outputs.ServiceEndpoint;
}

/** The REST API's logical id and resource. */
function restApiOf(template) {
  const [found] = Object.entries(template.Resources).filter(([, resource]) => resource.Type === 'AWS::ApiGateway::RestApi');
  if (!found) throw new Error('the template has no REST API');
  return found;
}

/**
 * Adds what runs the stage in production: the WAF web ACL (unless `wafEnabled` is false), the
 * alarms and their topic (unless `alarmsEnabled` is false), and the dashboard.
 */
function addOperations(template, settings, { service, functions }) {
  const stage = template.Resources[STAGE_LOGICAL_ID].Properties.StageName;
  const [restApiId, restApi] = restApiOf(template);
  const prefix = `${service}-${stage}`;
  const api = { name: restApi.Properties.Name, stage };
  let webAcl;
  if (flag(settings.wafEnabled, 'wafEnabled')) {
    addEdgeProtection(template, {
      name: prefix,
      stageId: STAGE_LOGICAL_ID,
      restApiId,
      rateLimitPerIp: settings.wafRateLimitPerIp,
      allowedSourceIps: settings.allowedSourceIps,
    });
    webAcl = { metricName: prefix, rules: template.Resources[WEB_ACL].Properties.Rules.map((rule) => rule.Name) };
  }
  if (flag(settings.alarmsEnabled, 'alarmsEnabled')) {
    addAlarms(template, { prefix, api, functions, webAcl: webAcl?.metricName, settings });
  }
  const timeoutSeconds = positiveNumber(settings.webhookTimeoutSeconds, 'webhookTimeoutSeconds', { integer: true });
  addDashboard(template, { name: prefix, api, functions, webAcl, latencyThresholdMs: latencyThresholdMs(timeoutSeconds) });
}

/** Commands whose functions run from a zip on Lambda (POLICY_FILE relative to /var/task); the others run here. */
const DEPLOYED = new Set(['package', 'deploy']);

class WebhookStagePlugin {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.options = options ?? {};
    this.log = log;
    const policy = () => this.guard(() => this.preparePolicy());
    this.hooks = {
      initialize: () =>
        this.guard(() => {
          refusePolicyParams(this.options.param, serverless.configurationInput?.params);
          const settings = serverless.service.custom?.webhookStage ?? {};
          parseSourceIps(settings.allowedSourceIps);
          endpointTypeOf(settings.endpointType);
          // `invoke local` reads the functions' environment in a core hook before any of its own events.
          const [command, subcommand] = serverless.processedInput?.commands ?? [];
          if (command === 'invoke' && subcommand === 'local') this.preparePolicy();
        }),
      'before:package:createDeploymentArtifacts': policy,
      'before:deploy:function:packageFunction': policy,
      'before:offline:start:init': policy,
      'before:offline:start': policy,
      'after:package:compileEvents': () => this.compileStage(),
      'before:deploy:deploy': () =>
        this.guard(() => {
          const template = this.serverless.service.provider.compiledCloudFormationTemplate;
          assertDeployable(template);
          // `deploy --package` restores the settings it was packaged with; a param given now says what is meant now.
          const settings = this.serverless.service.custom?.webhookStage ?? {};
          const allowExampleRegistry = this.cliParam('allowExampleRegistry') ?? settings.allowExampleRegistry;
          assertPolicyDeployable(template, { stage: this.serverless.service.provider.stage, allowExampleRegistry });
        }),
      'before:deploy:function:initialize': () => this.guard(() => this.assertFunctionDeployable()),
      error: () => require('esbuild').stop(),
    };
  }

  /** A `--param=name=value` of this command line, if given. */
  cliParam(name) {
    const given = [this.options.param ?? []].flat().map(String).find((item) => item.startsWith(`${name}=`));
    return given?.slice(name.length + 1);
  }

  /**
   * Checks the policy file, writes it as JSON into the build folder serverless-esbuild zips (or
   * runs the handlers from), points every function's POLICY_FILE at it and checks each function's
   * settings as the function will at start-up. Once per command.
   */
  preparePolicy() {
    if (this.policy) return;
    const { service, serviceDir } = this.serverless;
    const settings = service.custom?.webhookStage ?? {};
    const buildDir = join(serviceDir, workFolder(this.serverless), '.build');
    this.policy = preparePolicy({ serviceDir, policyFile: settings.policyFile, buildDir });
    const commands = this.serverless.processedInput?.commands ?? [];
    service.provider.environment = { ...service.provider.environment, POLICY_FILE: DEPLOYED.has(commands[0]) ? POLICY_JSON : join(buildDir, POLICY_JSON) };
    for (const name of service.getAllFunctions()) {
      checkFunctionEnvironment(name, { ...service.provider.environment, ...service.getFunction(name).environment });
    }
    // A variant that cannot serve these clusters is refused before anything is bundled (compileStage builds it).
    if (DEPLOYED.has(commands[0])) edgeAccess(endpointTypeOf(settings.endpointType), settings.allowedSourceIps, this.policy.origins);
    for (const warning of this.policy.warnings) this.log?.warning?.(warning);
    if (this.policy.exampleRegistry.length > 0 && commands[0] === 'package') {
      this.log?.warning?.(
        `the policy allows registry.example.com, the example registry (${this.policy.exampleRegistry.join(', ')}): ` +
          'serverless deploy refuses it on any stage but local unless --param=allowExampleRegistry=true',
      );
    }
  }

  fail(error) {
    const ServerlessError = this.serverless.classes?.Error ?? Error;
    throw new ServerlessError(`webhook stage plugin: ${error.message}`);
  }

  compileStage() {
    const { service } = this.serverless;
    this.guard(() => {
      const template = service.provider.compiledCloudFormationTemplate;
      const settings = service.custom?.webhookStage ?? {};
      addStage(template, settings);
      if (this.policy) {
        const { policyFile, policyVersion, exampleRegistry } = this.policy;
        template.Metadata = { ...template.Metadata, [METADATA_KEY]: { policyFile, policyVersion, exampleRegistry } };
      }
      const endpointType = endpointTypeOf(settings.endpointType);
      const edge = edgeAccess(endpointType, settings.allowedSourceIps, this.policy?.origins);
      const [restApiId, restApi] = restApiOf(template);
      restApi.Properties.Policy = resourcePolicy(edge.statements);
      if (edge.sourceIps.length > 0) this.log?.notice?.(`The API admits only ${edge.sourceIps.join(', ')} (WAF allow-list and resource policy), from ${edge.from}`);
      if (edge.vpcEndpointIds.length > 0) this.log?.notice?.(`The private API admits only requests through ${edge.vpcEndpointIds.join(', ')} (resource policy and private domain), from ${edge.from}`);
      addCustomDomain(template, {
        endpointType,
        domainName: settings.domainName,
        certificateArn: settings.certificateArn,
        hostedZoneId: settings.hostedZoneId,
        restApiId,
        stageId: STAGE_LOGICAL_ID,
        stageName: template.Resources[STAGE_LOGICAL_ID].Properties.StageName,
        vpcEndpointIds: edge.vpcEndpointIds,
        policy: restApi.Properties.Policy,
      });
      // WAF's allow-list is the edge's, whichever source it came from.
      addOperations(template, { ...settings, allowedSourceIps: edge.sourceIps.join(',') }, {
        service: service.service,
        functions: service.getAllFunctions().map((webhook) => {
          const logicalId = this.serverless.getProvider('aws').naming.getLambdaLogicalId(webhook);
          return { webhook, functionName: template.Resources[logicalId].Properties.FunctionName };
        }),
      });
    });
  }

  /** Runs a check or a step, turning its error into the framework's (a message, no stack trace). */
  guard(check) {
    try {
      check();
    } catch (error) {
      this.fail(error);
    }
  }

  assertFunctionDeployable() {
    const { service } = this.serverless;
    const name = this.serverless.processedInput?.options?.function;
    const fn = service.getFunction(name);
    assertFunctionAuthenticated(name, { ...service.provider.environment, ...fn.environment });
  }
}

module.exports = WebhookStagePlugin;
module.exports.addStage = addStage;
module.exports.addOperations = addOperations;
