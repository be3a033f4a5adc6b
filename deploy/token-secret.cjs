// The callers' token secret, named by one stage param (`webhookTokenSecretId`). Both the functions'
// WEBHOOK_TOKEN_SECRET_ID and the one IAM statement that may read it come from here, so the two
// cannot disagree (serverless.yml: `${file(./deploy/token-secret.cjs):secretId}` and `:statements`).
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
//   refuses such a template, deploy/deploy-guard.cjs).
//
// A secret in another account can only be shared encrypted with a customer managed KMS key, and
// the reader needs kms:Decrypt on that key besides GetSecretValue (the AWS managed key cannot be
// shared). The `secretKmsKeyArn` param names the key and adds that one statement, limited to
// calls through Secrets Manager in the secret's region (`kms:ViaService`); the deploy guard refuses
// a secret in another account without it.
'use strict';

const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const ARN = /^arn:aws(-[a-z]+)*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;
/** The suffix Secrets Manager appends to every secret's ARN. */
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;
const ACTION = 'secretsmanager:GetSecretValue';
const DECRYPT = 'kms:Decrypt';
const SECRET_ARN_PARTS = /^arn:(aws(?:-[a-z]+)*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:/;
/** A key ARN: IAM matches kms:Decrypt on keys only, never on an alias. */
const KMS_KEY_ARN = /^arn:(aws(?:-[a-z]+)*):kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]{1,128}$/;

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

/** The partition, region and account of a secret named by its ARN; undefined for a name. */
function secretArnParts(secretId) {
  const match = SECRET_ARN_PARTS.exec(secretId);
  return match ? { partition: match[1], region: match[2], account: match[3] } : undefined;
}

/**
 * The `secretKmsKeyArn` param, trimmed and checked against the secret: '' (none), or the ARN of the
 * customer managed key the secret is encrypted with, which is in the secret's region.
 */
function parseKmsKeyArn(value, secretId) {
  const text = value == null ? '' : String(value).trim();
  if (text === '') return '';
  const key = KMS_KEY_ARN.exec(text);
  if (!key) {
    throw new Error(`secretKmsKeyArn is "${text}", which is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>; IAM does not match an alias)`);
  }
  if (secretId === '') throw new Error(`secretKmsKeyArn is "${text}", but webhookTokenSecretId is empty: there is no secret to decrypt`);
  const secretRegion = secretArnParts(secretId)?.region;
  if (secretRegion !== undefined && key[2] !== secretRegion) {
    throw new Error(`secretKmsKeyArn is "${text}", a key in ${key[2]}, but the secret is in ${secretRegion}: Secrets Manager encrypts a secret with a key of its own region`);
  }
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

/** The role's statements for the secret (and its KMS key, if any): none with authentication off. */
function iamStatements(secretId, kmsKeyArn = '') {
  if (secretId === '') return [];
  const read = { Effect: 'Allow', Action: [ACTION], Resource: [iamResource(secretId)] };
  if (kmsKeyArn === '') return [read];
  const region = secretArnParts(secretId)?.region ?? '${AWS::Region}';
  const viaSecretsManager = { StringEquals: { 'kms:ViaService': { 'Fn::Sub': `secretsmanager.${region}.\${AWS::URLSuffix}` } } };
  return [read, { Effect: 'Allow', Action: [DECRYPT], Resource: [kmsKeyArn], Condition: viaSecretsManager }];
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
  const text = statementResourceText(resource);
  return text !== undefined && patternRegExp(text).test(resourceText(secretId));
}

/** A statement resource as text: a string, or a Fn::Sub of one; undefined for anything else. */
function statementResourceText(resource) {
  return typeof resource === 'string' ? resource : typeof resource?.['Fn::Sub'] === 'string' ? resource['Fn::Sub'] : undefined;
}

/** Whether an IAM action (possibly a wildcard such as `secretsmanager:*`) allows `wanted`. */
function actionAllows(action, wanted) {
  return typeof action === 'string' && patternRegExp(action.toLowerCase()).test(wanted.toLowerCase());
}

/**
 * Whether an IAM statement resource (as resourceCovers reads it) covers a KMS key of `partition`
 * and `region`: a key ARN there, or a pattern that matches a key there (`...:key/*`, `*`).
 */
function resourceCoversKeyIn(resource, partition, region) {
  const text = statementResourceText(resource);
  if (text === undefined) return false;
  const key = KMS_KEY_ARN.exec(text);
  if (key) return key[1] === partition && key[2] === region;
  const account = /^\d{12}$/.test(text.split(':')[4] ?? '') ? text.split(':')[4] : '000000000000';
  return patternRegExp(text).test(`arn:${partition}:kms:${region}:${account}:key/any-key`);
}

async function resolvedSecretId(resolveVariable) {
  return parseSecretId(await resolveVariable('param:webhookTokenSecretId'));
}

async function resolvedStatements(resolveVariable) {
  const secretId = await resolvedSecretId(resolveVariable);
  return iamStatements(secretId, parseKmsKeyArn(await resolveVariable('param:secretKmsKeyArn'), secretId));
}

module.exports = {
  parseSecretId,
  secretIdProblem,
  iamResource,
  iamStatements,
  parseKmsKeyArn,
  secretArnParts,
  resourceCovers,
  resourceCoversKeyIn,
  actionAllows,
  READ_ACTION: ACTION,
  DECRYPT_ACTION: DECRYPT,
  /** Variable resolvers, called by the framework with its `resolveVariable`. */
  secretId: async ({ resolveVariable }) => resolvedSecretId(resolveVariable),
  statements: async ({ resolveVariable }) => resolvedStatements(resolveVariable),
};
