// The deploy guard: reads the CloudFormation template that `serverless deploy` is about to upload
// (freshly packaged, or restored from `--package DIR`) and refuses it, before any call that reads
// or changes the stack, if a function would run with caller authentication off or could not read
// its token secret (its IAM, and for a secret in another account the KMS key it needs). Run by the
// stage plugin (deploy/serverless-webhook-stage.cjs).
'use strict';

const {
  secretIdProblem,
  secretArnParts,
  resourceCovers,
  resourceCoversKeyIn,
  actionAllows,
  READ_ACTION,
  DECRYPT_ACTION,
} = require('./token-secret.cjs');

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

/** Whether one of the statements allows `action` on a resource that `covers` accepts. */
function allows(statements, action, covers) {
  return statements.some(
    (statement) => [statement.Action].flat().some((each) => actionAllows(each, action)) && [statement.Resource].flat().some(covers),
  );
}

/**
 * The account the stack deploys to, as far as the template shows it offline: that of its custom
 * domain's ACM certificate, which API Gateway takes only from its own account. Undefined without one.
 */
function stackAccount(resources) {
  const domain = Object.values(resources).find((resource) => resource.Type === 'AWS::ApiGateway::DomainName');
  const certificate = domain?.Properties?.RegionalCertificateArn;
  return typeof certificate === 'string' ? /^arn:[^:]+:acm:[^:]*:(\d{12}):/.exec(certificate)?.[1] : undefined;
}

/** Why a function whose role is `statements` could not read `secretId`, or undefined. */
function accessProblem(logicalId, statements, secretId, account) {
  if (!allows(statements, READ_ACTION, (resource) => resourceCovers(resource, secretId))) {
    return `${logicalId} reads the secret "${secretId}", but no IAM statement of its role allows secretsmanager:GetSecretValue on it`;
  }
  // A secret shared with another account is encrypted with a customer managed key, which the reader must be allowed to use.
  const secret = secretArnParts(secretId);
  if (!secret || account === undefined || secret.account === account) return undefined;
  if (allows(statements, DECRYPT_ACTION, (resource) => resourceCoversKeyIn(resource, secret.partition, secret.region))) return undefined;
  return (
    `${logicalId} reads the secret "${secretId}" of account ${secret.account} from account ${account} (its certificate's), ` +
    `but no IAM statement of its role allows kms:Decrypt on a key in ${secret.region}: a secret shared with another account is encrypted ` +
    `with a customer managed KMS key; name it with --param=secretKmsKeyArn=arn:${secret.partition}:kms:${secret.region}:<account>:key/<key id>`
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
    else {
      const access = accessProblem(logicalId, statements, secretId, stackAccount(resources));
      if (access) problems.push(access);
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
