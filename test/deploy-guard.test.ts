/**
 * The deploy guard (deploy/deploy-guard.cjs, run by the stage plugin) and the
 * token secret's derivation (deploy/token-secret.cjs). Offline, with no AWS
 * credentials: a refused deploy must stop with the guard's message, not with
 * a credentials error (which would mean the guard ran after the framework
 * started talking to AWS), and a template that is fine must get past the
 * guard to that credentials error.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudFormationTemplate, type RunResult, packagedService, runServerless, serviceCopy } from './support/serverless';

const require = createRequire(import.meta.url);
const guard = require('../deploy/deploy-guard.cjs') as {
  templateProblems: (template: unknown) => string[];
  assertDeployable: (template: unknown) => void;
  assertFunctionAuthenticated: (name: string, environment: Record<string, string>) => void;
};
const tokenSecret = require('../deploy/token-secret.cjs') as {
  parseSecretId: (value: unknown) => string;
  parseKmsKeyArn: (value: unknown, secretId: string) => string;
  iamResource: (secretId: string) => unknown;
  iamStatements: (secretId: string, kmsKeyArn?: string) => unknown[];
};

const CN_ARN = 'arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:admission-webhooks/prod/token-AbCdEf';
/** The customer managed key CN_ARN's secret is encrypted with, so that another account may read it. */
const CN_KEY = 'arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
/** An ARN as a user might shorten it: without the suffix, it can never match the secret in IAM. */
const SUFFIXLESS_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:admission-webhooks/prod/token';
const NO_SUFFIX = /a secret ARN without the 6-character suffix Secrets Manager appends to every secret's ARN/;
const CREDENTIALS_ERROR = /AWS provider credentials not found/;
const REFUSED = /Refusing to deploy this template/;

const output = (result: RunResult) => `${result.stdout}\n${result.stderr}`;

describe('serverless deploy, offline (no AWS credentials)', () => {
  const dirs: string[] = [];
  let emptySecret: { pkg: RunResult; deploy: RunResult };
  let otherSecret: RunResult;
  let fine: RunResult;
  let exampleRegistry: RunResult;
  let arn: { deploy: RunResult; template: CloudFormationTemplate };
  let suffixless: { pkg: RunResult; wroteTemplate: boolean };

  const copy = (label: string) => {
    const dir = serviceCopy(label);
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    const shared = await packagedService();

    // 1. Package once with the secret id empty (--param cannot set an empty value, so the prod
    //    stage's block does, as a user would), deploy later naming the secret: the template that
    //    was packaged is what would be deployed, so it is refused.
    const emptyDir = copy('guard-empty');
    const yml = join(emptyDir, 'serverless.yml');
    const config = readFileSync(yml, 'utf8');
    const local = "  local:\n    webhookTokenSecretId: ''\n";
    if (!config.includes(local)) throw new Error('serverless.yml has no local stage block with an empty webhookTokenSecretId');
    writeFileSync(yml, config.replace(local, `${local}  prod:\n    webhookTokenSecretId: ''\n`));
    const runEmpty = async () => {
      const pkg = await runServerless(['package', '--stage', 'prod', '--package', 'out'], emptyDir, 120_000);
      const deploy = await runServerless(
        ['deploy', '--stage', 'prod', '--package', 'out', '--param=webhookTokenSecretId=admission-webhooks/prod/token'],
        emptyDir,
      );
      return { pkg, deploy };
    };

    // 2. A package whose function reads another secret than its IAM statement covers.
    const otherDir = copy('guard-other');
    cpSync(shared.outDir, join(otherDir, 'out'), { recursive: true });
    const stateFile = join(otherDir, 'out', 'serverless-state.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8'));
    state.service.provider.compiledCloudFormationTemplate.Resources.ValidateLambdaFunction.Properties.Environment.Variables.WEBHOOK_TOKEN_SECRET_ID =
      'admission-webhooks/other/token';
    writeFileSync(stateFile, JSON.stringify(state));

    // 3. The shared package as it is: fine, so the deploy gets as far as needing credentials.
    const fineDir = copy('guard-fine');
    cpSync(shared.outDir, join(fineDir, 'out'), { recursive: true });

    // 5. The same package, deployed without saying that the example registry of the default policy is meant.
    const exampleDir = copy('guard-example');
    cpSync(shared.outDir, join(exampleDir, 'out'), { recursive: true });

    // 4. A plain deploy (it packages first) naming the secret by its full ARN in another partition,
    //    and in another account than the (placeholder) certificate's, so with its KMS key.
    const arnDir = copy('guard-arn');
    const runArn = async () => {
      const deploy = await runServerless(
        ['deploy', '--stage', 'prod', '--region', 'cn-north-1', `--param=webhookTokenSecretId=${CN_ARN}`, `--param=secretKmsKeyArn=${CN_KEY}`, '--param=allowExampleRegistry=true'],
        arnDir,
        120_000,
      );
      const template = JSON.parse(readFileSync(join(arnDir, '.serverless', 'cloudformation-template-update-stack.json'), 'utf8'));
      return { deploy, template };
    };

    // 6. Packaging with a secret ARN without its suffix.
    const suffixlessDir = copy('guard-suffixless');
    const runSuffixless = async () => {
      const pkg = await runServerless(['package', '--stage', 'prod', '--package', 'out', `--param=webhookTokenSecretId=${SUFFIXLESS_ARN}`], suffixlessDir);
      return { pkg, wroteTemplate: existsSync(join(suffixlessDir, 'out', 'cloudformation-template-update-stack.json')) };
    };

    [emptySecret, otherSecret, fine, exampleRegistry, arn, suffixless] = await Promise.all([
      runEmpty(),
      runServerless(['deploy', '--stage', 'dev', '--package', 'out'], otherDir),
      runServerless(['deploy', '--stage', 'dev', '--package', 'out', '--param=allowExampleRegistry=true'], fineDir),
      runServerless(['deploy', '--stage', 'dev', '--package', 'out'], exampleDir),
      runArn(),
      runSuffixless(),
    ]);
  }, 240_000);

  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses `deploy --package` of a template packaged with the secret id empty, before any AWS call', () => {
    expect(emptySecret.pkg.code, output(emptySecret.pkg)).toBe(0);
    expect(emptySecret.deploy.code).not.toBe(0);
    const text = output(emptySecret.deploy);
    expect(text).toMatch(REFUSED);
    expect(text).toContain('MutateLambdaFunction has WEBHOOK_TOKEN_SECRET_ID empty: caller authentication would be off');
    expect(text).toContain('ValidateLambdaFunction has WEBHOOK_TOKEN_SECRET_ID empty: caller authentication would be off');
    expect(text).toContain('--param=webhookTokenSecretId=admission-webhooks/prod/token');
    expect(text).not.toMatch(CREDENTIALS_ERROR);
  });

  it('refuses a template whose IAM statement covers another secret than the function reads', () => {
    expect(otherSecret.code).not.toBe(0);
    const text = output(otherSecret);
    expect(text).toMatch(REFUSED);
    expect(text).toContain(
      'ValidateLambdaFunction reads the secret "admission-webhooks/other/token", but no IAM statement of its role allows secretsmanager:GetSecretValue on it',
    );
    expect(text).not.toContain('MutateLambdaFunction');
    expect(text).not.toMatch(CREDENTIALS_ERROR);
  });

  it('lets a packaged template whose functions can read their secret through, to the first AWS call', () => {
    expect(fine.code).not.toBe(0);
    expect(output(fine)).toMatch(CREDENTIALS_ERROR);
    expect(output(fine)).not.toMatch(REFUSED);
  });

  it('refuses a policy that still allows the example registry on a real stage, naming the field and the fix, before any AWS call', () => {
    expect(exampleRegistry.code).not.toBe(0);
    const text = output(exampleRegistry);
    expect(text).toContain('Refusing to deploy stage dev: the policy (policy.yaml) allows registry.example.com, the example registry, in defaults.allowedRegistries');
    expect(text).toContain('--param=allowExampleRegistry=true');
    expect(text).not.toMatch(CREDENTIALS_ERROR);
  });

  it('uses a full secret ARN as it is, for both the functions and the IAM resource (aws-cn partition)', () => {
    expect(output(arn.deploy)).toMatch(CREDENTIALS_ERROR);
    expect(output(arn.deploy)).not.toMatch(REFUSED);
    const resources = arn.template.Resources;
    for (const id of ['MutateLambdaFunction', 'ValidateLambdaFunction']) {
      expect(resources[id]?.Properties?.Environment.Variables.WEBHOOK_TOKEN_SECRET_ID).toBe(CN_ARN);
    }
    const statements: { Action: string[]; Resource: unknown }[] = resources.IamRoleLambdaExecution?.Properties?.Policies[0].PolicyDocument.Statement;
    const secretResources = statements.filter((statement) => statement.Action.includes('secretsmanager:GetSecretValue')).flatMap((statement) => [statement.Resource].flat());
    expect(secretResources).toEqual([CN_ARN]);
    // The secret's key, usable only through Secrets Manager in the secret's region.
    const keyStatements = statements.filter((statement) => statement.Action.some((action) => action.startsWith('kms:')));
    // (The framework writes a one-string Resource list as the string.)
    expect(keyStatements.map((statement) => ({ ...statement, Resource: [statement.Resource].flat() }))).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt'],
        Resource: [CN_KEY],
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'secretsmanager.cn-north-1.${AWS::URLSuffix}' } } },
      },
    ]);
  });

  it('refuses to package a secret ARN without its 6-character suffix, naming the suffix, before writing a template', () => {
    expect(suffixless.pkg.code).not.toBe(0);
    expect(output(suffixless.pkg)).toMatch(NO_SUFFIX);
    expect(output(suffixless.pkg)).toContain(SUFFIXLESS_ARN);
    expect(suffixless.wroteTemplate).toBe(false);
  });
});

describe('the guard on its own', () => {
  const template = (secretId: unknown, statements: unknown[], role: unknown = { 'Fn::GetAtt': ['Role', 'Arn'] }) => ({
    Resources: {
      Role: { Type: 'AWS::IAM::Role', Properties: { Policies: [{ PolicyDocument: { Statement: statements } }] } },
      Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: role, Environment: { Variables: { WEBHOOK_TOKEN_SECRET_ID: secretId } } } },
    },
  });
  const allow = (resource: unknown, action: unknown = ['secretsmanager:GetSecretValue']) => ({ Effect: 'Allow', Action: action, Resource: [resource] });
  const NAME_ARN = 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:team/token-??????';

  it('accepts the derived resource, an exact ARN, and wildcards that cover the secret', () => {
    expect(guard.templateProblems(template('team/token', [allow({ 'Fn::Sub': NAME_ARN })]))).toEqual([]);
    expect(guard.templateProblems(template(CN_ARN, [allow(CN_ARN)]))).toEqual([]);
    expect(guard.templateProblems(template('team/token', [allow({ 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:team/*' })]))).toEqual([]);
    expect(guard.templateProblems(template(CN_ARN, [allow('*', 'secretsmanager:*')]))).toEqual([]);
    // Statements in a separate AWS::IAM::Policy attached to the role count too.
    const attached = template('team/token', []) as any;
    attached.Resources.Extra = { Type: 'AWS::IAM::Policy', Properties: { Roles: [{ Ref: 'Role' }], PolicyDocument: { Statement: [allow({ 'Fn::Sub': NAME_ARN })] } } };
    expect(guard.templateProblems(attached)).toEqual([]);
  });

  it('refuses a resource for another name, region or account, another action, a Deny, or a role it cannot see', () => {
    const refused = (built: unknown) => expect(guard.templateProblems(built)).toHaveLength(1);
    refused(template('team/token', [allow({ 'Fn::Sub': NAME_ARN.replace('team/token', 'team/other') })]));
    refused(template('team/token-2', [allow({ 'Fn::Sub': NAME_ARN })]));
    refused(template(CN_ARN, [allow(CN_ARN.replace('cn-north-1', 'cn-northwest-1'))]));
    refused(template(CN_ARN, [allow({ 'Fn::Sub': NAME_ARN })]));
    refused(template('team/token', [allow({ 'Fn::Sub': NAME_ARN }, ['secretsmanager:DescribeSecret'])]));
    refused(template('team/token', [{ ...allow({ 'Fn::Sub': NAME_ARN }), Effect: 'Deny' }]));
    refused(template('team/token', [allow({ 'Fn::Join': ['', [NAME_ARN]] })]));
    expect(guard.templateProblems(template('team/token', [allow({ 'Fn::Sub': NAME_ARN })], 'arn:aws:iam::111122223333:role/x'))[0]).toMatch(
      /runs as a role that is not in the template/,
    );
    expect(guard.templateProblems(template('not a name', []))[0]).toMatch(/"not a name", which is neither a Secrets Manager secret name/);
    // A template packaged before the param refused it: a suffix-less ARN can never match in IAM, even where IAM names it as it is.
    expect(guard.templateProblems(template(SUFFIXLESS_ARN, [allow(SUFFIXLESS_ARN)]))).toEqual([expect.stringMatching(NO_SUFFIX)]);
    expect(guard.templateProblems({ Resources: {} })).toEqual(['the template has no Lambda function']);
    expect(() => guard.assertDeployable(template(' ', []))).toThrow(/Fn has WEBHOOK_TOKEN_SECRET_ID empty/);
  });

  describe('a secret of another account than the stack\'s (its certificate\'s)', () => {
    const withCertificate = (built: any, account: string) => {
      built.Resources.Domain = {
        Type: 'AWS::ApiGateway::DomainName',
        Properties: { RegionalCertificateArn: `arn:aws-cn:acm:cn-north-1:${account}:certificate/00000000-0000-0000-0000-000000000000` },
      };
      return built;
    };
    const decrypt = (resource: unknown) => allow(resource, ['kms:Decrypt']);

    it('is refused without kms:Decrypt on a key in the secret\'s region, naming the param that adds it', () => {
      const problems = guard.templateProblems(withCertificate(template(CN_ARN, [allow(CN_ARN)]), '444455556666'));
      expect(problems).toEqual([
        'Fn reads the secret "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:admission-webhooks/prod/token-AbCdEf" of account 111122223333 ' +
          "from account 444455556666 (its certificate's), but no IAM statement of its role allows kms:Decrypt on a key in cn-north-1: " +
          'a secret shared with another account is encrypted with a customer managed KMS key; ' +
          'name it with --param=secretKmsKeyArn=arn:aws-cn:kms:cn-north-1:<account>:key/<key id>',
      ]);
      // A key in another region, an alias, or another action does not do.
      for (const statement of [decrypt(CN_KEY.replace('cn-north-1', 'cn-northwest-1')), decrypt('arn:aws-cn:kms:cn-north-1:111122223333:alias/token'), allow(CN_KEY, ['kms:Encrypt'])]) {
        expect(guard.templateProblems(withCertificate(template(CN_ARN, [allow(CN_ARN), statement]), '444455556666')), JSON.stringify(statement)).toHaveLength(1);
      }
    });

    it('goes with kms:Decrypt on the key (the param\'s statement, or a wildcard covering it); a secret of the stack\'s own account needs none', () => {
      const [, keyStatement] = tokenSecret.iamStatements(CN_ARN, CN_KEY);
      expect(guard.templateProblems(withCertificate(template(CN_ARN, [allow(CN_ARN), keyStatement]), '444455556666'))).toEqual([]);
      expect(guard.templateProblems(withCertificate(template(CN_ARN, [allow(CN_ARN), decrypt('arn:aws-cn:kms:cn-north-1:111122223333:key/*')]), '444455556666'))).toEqual([]);
      expect(guard.templateProblems(withCertificate(template(CN_ARN, [allow(CN_ARN)]), '111122223333'))).toEqual([]);
      // Without a custom domain the template does not show its account: nothing to compare.
      expect(guard.templateProblems(template(CN_ARN, [allow(CN_ARN)]))).toEqual([]);
    });
  });

  it('refuses `deploy function` of a function with authentication off', () => {
    expect(() => guard.assertFunctionAuthenticated('validate', { WEBHOOK_TOKEN_SECRET_ID: '' })).toThrow(/Refusing to deploy function validate/);
    expect(() => guard.assertFunctionAuthenticated('validate', {})).toThrow(/WEBHOOK_TOKEN_SECRET_ID empty/);
    expect(() => guard.assertFunctionAuthenticated('validate', { WEBHOOK_TOKEN_SECRET_ID: 'team/token' })).not.toThrow();
  });
});

describe('the token secret param', () => {
  it('derives the IAM resource from a name (any partition, region, account) and uses an ARN as it is', () => {
    expect(tokenSecret.iamResource('admission-webhooks/prod/token')).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:admission-webhooks/prod/token-??????',
    });
    expect(tokenSecret.iamResource(CN_ARN)).toBe(CN_ARN);
    expect(tokenSecret.iamStatements('')).toEqual([]);
  });

  it('takes a name, an ARN or nothing, trimmed, and stops on anything else naming the param', () => {
    expect(tokenSecret.parseSecretId(' admission-webhooks/prod/token ')).toBe('admission-webhooks/prod/token');
    expect(tokenSecret.parseSecretId(CN_ARN)).toBe(CN_ARN);
    expect(tokenSecret.parseSecretId('')).toBe('');
    expect(tokenSecret.parseSecretId(undefined)).toBe('');
    for (const bad of ['my token', 'token"}', 'arn:aws:s3:::bucket', 'arn:aws:secretsmanager:eu-west-1:1234:secret:x', '${AWS::Region}']) {
      expect(() => tokenSecret.parseSecretId(bad), bad).toThrow(/webhookTokenSecretId is/);
    }
  });

  it('adds kms:Decrypt on the secret\'s key through Secrets Manager when secretKmsKeyArn names one, and refuses a key that cannot be it', () => {
    expect(tokenSecret.iamStatements(CN_ARN, '')).toHaveLength(1);
    expect(tokenSecret.iamStatements('team/token', 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd')[1]).toEqual({
      Effect: 'Allow',
      Action: ['kms:Decrypt'],
      Resource: ['arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd'],
      Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.${AWS::URLSuffix}' } } },
    });
    expect(tokenSecret.parseKmsKeyArn(` ${CN_KEY} `, CN_ARN)).toBe(CN_KEY);
    expect(tokenSecret.parseKmsKeyArn('', CN_ARN)).toBe('');
    expect(() => tokenSecret.parseKmsKeyArn('arn:aws-cn:kms:cn-north-1:111122223333:alias/token', CN_ARN)).toThrow(/secretKmsKeyArn is .*which is not a KMS key ARN .*IAM does not match an alias/);
    expect(() => tokenSecret.parseKmsKeyArn(CN_KEY.replace('cn-north-1', 'cn-northwest-1'), CN_ARN)).toThrow(/a key in cn-northwest-1, but the secret is in cn-north-1/);
    expect(() => tokenSecret.parseKmsKeyArn(CN_KEY, '')).toThrow(/webhookTokenSecretId is empty/);
  });

  it('refuses a secret ARN without its 6-character suffix, saying so, and takes one with it', () => {
    expect(() => tokenSecret.parseSecretId(SUFFIXLESS_ARN)).toThrow(NO_SUFFIX);
    expect(() => tokenSecret.parseSecretId(`${SUFFIXLESS_ARN}-AbC`)).toThrow(NO_SUFFIX);
    expect(tokenSecret.parseSecretId(`${SUFFIXLESS_ARN}-AbCdEf`)).toBe(`${SUFFIXLESS_ARN}-AbCdEf`);
  });
});
