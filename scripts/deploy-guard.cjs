// The deploy guard: reads the CloudFormation template that `serverless deploy` is about to upload
// (freshly packaged, or restored from `--package DIR`) and refuses it, before any call that reads
// or changes the stack, if a function would run with caller authentication off or could not read
// its token secret. Run by the stage plugin (scripts/serverless-webhook-stage.cjs).
'use strict';

const { secretIdProblem, resourceCovers, actionAllowsRead } = require('./token-secret.cjs');

const SECRET_VARIABLE = 'WEBHOOK_TOKEN_SECRET_ID';

/** The Allow statements of the role a function runs as, or undefined if the role is not in the template. */
function roleStatements(resources, roleRef) {
  const roleId = Array.isArray(roleRef?.['Fn::GetAtt']) ? roleRef['Fn::GetAtt'][0] : undefined;
  const role = roleId && resources[roleId];
  if (!role || role.Type !== 'AWS::IAM::Role') return undefined;
  const inline = (role.Properties?.Policies ?? []).flatMap((policy) => policy?.PolicyDocument?.Statement ?? []);
  const attached = Object.values(resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy')
    .filter((policy) => (policy.Properties?.Roles ?? []).some((role) => role?.Ref === roleId))
    .flatMap((policy) => policy.Properties?.PolicyDocument?.Statement ?? []);
  return [...inline, ...attached].flat().filter((statement) => statement?.Effect === 'Allow');
}

function canRead(statements, secretId) {
  return statements.some(
    (statement) =>
      [statement.Action].flat().some(actionAllowsRead) && [statement.Resource].flat().some((resource) => resourceCovers(resource, secretId)),
  );
}

/** The problems that make a template unfit to deploy, one line each; empty when it may go. */
function templateProblems(template) {
  const resources = template?.Resources ?? {};
  const functions = Object.entries(resources).filter(([, resource]) => resource.Type === 'AWS::Lambda::Function');
  if (functions.length === 0) return ['the template has no Lambda function'];
  const problems = [];
  for (const [logicalId, fn] of functions) {
    const raw = fn.Properties?.Environment?.Variables?.[SECRET_VARIABLE];
    const text = typeof raw === 'string' ? raw.trim() : '';
    if (text === '') {
      problems.push(`${logicalId} has ${SECRET_VARIABLE} empty: caller authentication would be off`);
      continue;
    }
    const problem = secretIdProblem(text);
    if (problem) {
      problems.push(`${logicalId} has ${SECRET_VARIABLE} "${text}", ${problem}`);
      continue;
    }
    const secretId = text;
    const statements = roleStatements(resources, fn.Properties?.Role);
    if (!statements) problems.push(`${logicalId} runs as a role that is not in the template, so its access to "${secretId}" cannot be checked`);
    else if (!canRead(statements, secretId)) {
      problems.push(`${logicalId} reads the secret "${secretId}", but no IAM statement of its role allows secretsmanager:GetSecretValue on it`);
    }
  }
  return problems;
}

/** Throws one message naming every problem and the fix. */
function assertDeployable(template) {
  const problems = templateProblems(template);
  if (problems.length === 0) return;
  throw new Error(
    `Refusing to deploy this template:\n  - ${problems.join('\n  - ')}\n` +
      'Package it again with the webhookTokenSecretId param naming the secret (a name or a full ARN), e.g. ' +
      '--param=webhookTokenSecretId=admission-webhooks/prod/token; it sets both the functions\' secret id and their IAM access.',
  );
}

/** For `serverless deploy function`, which changes one function's configuration and no IAM. */
function assertFunctionAuthenticated(name, environment) {
  const text = String(environment?.[SECRET_VARIABLE] ?? '').trim();
  if (text === '') {
    throw new Error(
      `Refusing to deploy function ${name} with ${SECRET_VARIABLE} empty: caller authentication would be off. ` +
        'Set the webhookTokenSecretId param, e.g. --param=webhookTokenSecretId=admission-webhooks/prod/token.',
    );
  }
}

module.exports = { templateProblems, assertDeployable, assertFunctionAuthenticated };
