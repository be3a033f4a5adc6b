// A small local plugin for serverless.yml (`plugins: - ./scripts/serverless-webhook-stage.cjs`).
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
// 3. A deploy guard: `serverless deploy` of a stage whose WEBHOOK_TOKEN_SECRET_ID is empty
//    (caller authentication off, meant for local use only) is refused at start-up, before anything
//    is packaged or uploaded.
'use strict';

const STAGE_LOGICAL_ID = 'ApiGatewayStage';

function positiveNumber(value, name, { integer }) {
  const number = typeof value === 'number' ? value : Number(String(value ?? '').trim());
  const valid = String(value ?? '').trim() !== '' && Number.isFinite(number) && number > 0 && (!integer || Number.isInteger(number));
  if (!valid) throw new Error(`custom.webhookStage.${name} must be a positive ${integer ? 'whole ' : ''}number, got "${value}"`);
  return number;
}

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
      RestApiId: deployment.Properties.RestApiId,
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

function assertAuthenticationOn(environment) {
  const secretId = String(environment?.WEBHOOK_TOKEN_SECRET_ID ?? '').trim();
  if (secretId === '') {
    throw new Error(
      'Refusing to deploy with WEBHOOK_TOKEN_SECRET_ID empty: caller authentication would be off. ' +
        'Set the webhookTokenSecretId param, e.g. --param=webhookTokenSecretId=admission-webhooks/prod/token.',
    );
  }
}

class WebhookStagePlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'after:package:compileEvents': () => this.compileStage(),
      // `initialize` runs before the steps of any command: a refused deploy packages and uploads nothing.
      initialize: () => this.guardDeploy(),
    };
  }

  fail(error) {
    const ServerlessError = this.serverless.classes?.Error ?? Error;
    throw new ServerlessError(`webhook stage plugin: ${error.message}`);
  }

  compileStage() {
    try {
      addStage(this.serverless.service.provider.compiledCloudFormationTemplate, this.serverless.service.custom?.webhookStage ?? {});
    } catch (error) {
      this.fail(error);
    }
  }

  guardDeploy() {
    if (this.serverless.processedInput?.commands?.[0] !== 'deploy') return;
    try {
      assertAuthenticationOn(this.serverless.service.provider.environment);
    } catch (error) {
      this.fail(error);
    }
  }
}

module.exports = WebhookStagePlugin;
module.exports.addStage = addStage;
module.exports.assertAuthenticationOn = assertAuthenticationOn;
