// The callers' token secret, named by one stage param (`webhookTokenSecretId`). Both the functions'
// WEBHOOK_TOKEN_SECRET_ID and the one IAM statement that may read it come from here, so the two
// cannot disagree (serverless.yml: `${file(./scripts/token-secret.cjs):secretId}` and `:statements`).
//
// - A name (`admission-webhooks/prod/token`) gives the resource
//   `arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:<name>-??????`
//   (Secrets Manager appends a random 6-character suffix to every secret's ARN).
// - A full ARN (`arn:aws:secretsmanager:eu-west-1:111122223333:secret:shared/token-AbCdEf`, as
//   `aws secretsmanager describe-secret` prints it) is used as it is: for a secret in another
//   account or region, or one that must be named exactly. An ARN without the 6-character suffix is
//   refused: as an IAM resource it can never match the secret. (A name that itself ends in a
//   hyphen and six letters or digits, `.../my-secret`, cannot be told from a suffix; such a
//   secret's ARN must be given in full anyway.)
// - Empty: caller authentication off, and no statement at all (local use; `serverless deploy`
//   refuses such a template, scripts/deploy-guard.cjs).
'use strict';

const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const ARN = /^arn:aws(-[a-z]+)*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;
/** The suffix Secrets Manager appends to every secret's ARN. */
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;
const ACTION = 'secretsmanager:GetSecretValue';

/** What is wrong with a (trimmed, non-empty) secret id, as the end of a sentence naming it; undefined if nothing. */
function secretIdProblem(text) {
  if (NAME.test(text)) return undefined;
  if (!ARN.test(text)) {
    return (
      'which is neither a Secrets Manager secret name (letters, digits and /_+=.@-) ' +
      'nor a secret ARN (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)'
    );
  }
  if (!ARN_SUFFIX.test(text)) {
    return (
      'a secret ARN without the 6-character suffix Secrets Manager appends to every secret\'s ARN (-AbCdEf in ' +
      '...:secret:shared/token-AbCdEf), so no IAM resource made from it can match the secret: give the full ARN, ' +
      'as `aws secretsmanager describe-secret` prints it, or the secret\'s name'
    );
  }
  return undefined;
}

/** The param's value, trimmed and checked: '' (authentication off), a secret name or a full secret ARN. */
function parseSecretId(value) {
  const text = value == null ? '' : String(value).trim();
  const problem = text === '' ? undefined : secretIdProblem(text);
  if (problem) throw new Error(`webhookTokenSecretId is "${text}", ${problem}`);
  return text;
}

/** The IAM resource text for a (non-empty) secret id; a name's pseudo parameters are for Fn::Sub. */
function resourceText(secretId) {
  return secretId.startsWith('arn:')
    ? secretId
    : `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${secretId}-??????`;
}

/** The IAM resource as it goes into the template: the ARN itself, or a Fn::Sub for a name. */
function iamResource(secretId) {
  const text = resourceText(secretId);
  return text === secretId ? text : { 'Fn::Sub': text };
}

/** The role's statements for the secret: none with authentication off. */
function iamStatements(secretId) {
  if (secretId === '') return [];
  return [{ Effect: 'Allow', Action: [ACTION], Resource: [iamResource(secretId)] }];
}

/** An IAM pattern (`*` any run of characters, `?` any one) as a regular expression. */
function patternRegExp(pattern) {
  const body = [...pattern].map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

/**
 * Whether an IAM statement resource (a string, or a Fn::Sub of a string, as the template holds it)
 * covers the resource that `secretId` derives to. Compared as text, pseudo parameters included,
 * with the resource's wildcards applied: `...:secret:admission-webhooks/*` covers every name under
 * `admission-webhooks/`. Any other intrinsic function cannot be read offline and covers nothing.
 */
function resourceCovers(resource, secretId) {
  const text = typeof resource === 'string' ? resource : typeof resource?.['Fn::Sub'] === 'string' ? resource['Fn::Sub'] : undefined;
  return text !== undefined && patternRegExp(text).test(resourceText(secretId));
}

/** Whether an IAM action (possibly a wildcard such as `secretsmanager:*`) allows GetSecretValue. */
function actionAllowsRead(action) {
  return typeof action === 'string' && patternRegExp(action.toLowerCase()).test(ACTION.toLowerCase());
}

async function resolvedSecretId(resolveVariable) {
  return parseSecretId(await resolveVariable('param:webhookTokenSecretId'));
}

module.exports = {
  parseSecretId,
  secretIdProblem,
  iamResource,
  iamStatements,
  resourceCovers,
  actionAllowsRead,
  /** Variable resolvers, called by the framework with its `resolveVariable`. */
  secretId: async ({ resolveVariable }) => resolvedSecretId(resolveVariable),
  statements: async ({ resolveVariable }) => iamStatements(await resolvedSecretId(resolveVariable)),
};
