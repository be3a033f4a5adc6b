/**
 * The cluster side: `npm run webhook-config` prints a MutatingWebhookConfiguration
 * and a ValidatingWebhookConfiguration that pass the Kubernetes schema
 * (kubernetes-models), point at `<base>/mutate/<token>` and `<base>/validate/<token>`,
 * and match what the policies check; with --policy, exempt namespaces, enforce mode and mirrors
 * come from a cluster's effective policy. Bad input exits with 2.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { checkPolicyFile } from '../lib/cli/policy-file';
import { WORKLOAD_KINDS } from '../lib/policies/pod-spec';
import { CheckError, UsageError, checkConfigurations, main, policyOptions, renderWebhookConfigurations, tokenFromSecret, webhookConfigurations } from '../scripts/webhook-config';
import { SecretsManagerEndpoint } from './support/secrets-manager-endpoint';
import { ROOT } from './support/serverless';

const TOKEN = 'b6f0c6a4e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6';
const BASE = 'https://webhooks.example.com';
const TSX_CLI = createRequire(join(ROOT, 'package.json')).resolve('tsx/cli');

/** Resources per API group, as the rules name them, and the kind each one holds. */
const RESOURCE_KINDS: Record<string, string> = {
  pods: 'Pod',
  podtemplates: 'PodTemplate',
  replicationcontrollers: 'ReplicationController',
  deployments: 'Deployment',
  replicasets: 'ReplicaSet',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
  jobs: 'Job',
  cronjobs: 'CronJob',
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the script as `npm run webhook-config` does (tsx), with a time limit. */
function runScript(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TSX_CLI, join(ROOT, 'scripts', 'webhook-config.ts'), ...args],
      { cwd: ROOT, env, timeout: 30_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

function parseStream(text: string): any[] {
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) throw new Error('not a YAML stream');
  for (const document of documents) expect(document.errors).toEqual([]);
  return documents.map((document) => document.toJS()).filter((object) => object !== null);
}

function schemaCheck(objects: any[]) {
  const [mutating, validating] = objects;
  new MutatingWebhookConfiguration(mutating).validate();
  new ValidatingWebhookConfiguration(validating).validate();
  return { mutating, validating, mutate: mutating.webhooks[0], validate: validating.webhooks[0] };
}

describe('npm run webhook-config -- --url … --token …', () => {
  let run: Run;
  let objects: any[];

  beforeAll(async () => {
    run = await runScript(['--url', BASE, '--token', TOKEN]);
    objects = run.code === 0 ? parseStream(run.stdout) : [];
  }, 40_000);

  it('prints two documents that pass the Kubernetes schema', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(objects.map((object) => `${object.apiVersion} ${object.kind}`)).toEqual([
      'admissionregistration.k8s.io/v1 MutatingWebhookConfiguration',
      'admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration',
    ]);
    const { mutating, validating } = schemaCheck(objects);
    expect(mutating.webhooks).toHaveLength(1);
    expect(validating.webhooks).toHaveLength(1);
  });

  it('points each webhook at <base>/<function>/<token>, without caBundle or query string', () => {
    const { mutate, validate } = schemaCheck(objects);
    expect(mutate.clientConfig).toEqual({ url: `${BASE}/mutate/${TOKEN}` });
    expect(validate.clientConfig).toEqual({ url: `${BASE}/validate/${TOKEN}` });
    for (const webhook of [mutate, validate]) {
      expect(webhook.clientConfig).not.toHaveProperty('caBundle');
      expect(webhook.clientConfig).not.toHaveProperty('service');
      expect(new URL(webhook.clientConfig.url).search).toBe('');
    }
  });

  it('asks for v1 reviews, declares no side effects, waits 5 s and matches equivalent versions', () => {
    const { mutate, validate } = schemaCheck(objects);
    for (const webhook of [mutate, validate]) {
      expect(webhook).toMatchObject({ admissionReviewVersions: ['v1'], sideEffects: 'None', timeoutSeconds: 5, matchPolicy: 'Equivalent' });
    }
    expect(mutate.reinvocationPolicy).toBe('IfNeeded');
  });

  it('fails closed for validate and open for mutate in default mode, with the reasons in comments', () => {
    const { mutate, validate } = schemaCheck(objects);
    expect(validate.failurePolicy).toBe('Fail');
    expect(mutate.failurePolicy).toBe('Ignore');
    expect(run.stdout).toMatch(/# failurePolicy Fail: the registry allow-list is a security control/);
    expect(run.stdout).toMatch(/# failurePolicy Ignore: in "default" mode/);
  });

  it('leaves kube-system alone, by namespace name', () => {
    const { mutate, validate } = schemaCheck(objects);
    for (const webhook of [mutate, validate]) {
      expect(webhook.namespaceSelector).toEqual({
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }],
      });
    }
  });

  it('sends mutate new Pods only', () => {
    const { mutate } = schemaCheck(objects);
    expect(mutate.rules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' },
    ]);
  });

  it('sends validate every kind the policies check (lib/policies/pod-spec.ts), ephemeral containers included, on CREATE and UPDATE', () => {
    const { validate } = schemaCheck(objects);
    const covered = new Set<string>();
    const groups = new Map<string, string>();
    for (const rule of validate.rules) {
      expect(rule.operations.sort()).toEqual(['CREATE', 'UPDATE']);
      for (const resource of rule.resources) {
        const kind = RESOURCE_KINDS[resource.split('/')[0]];
        expect(kind, resource).toBeDefined();
        covered.add(kind!);
        groups.set(resource, rule.apiGroups.join(','));
      }
    }
    expect([...covered].sort()).toEqual([...new Set(WORKLOAD_KINDS)].sort());
    expect(groups.get('pods/ephemeralcontainers')).toBe('');
    expect(Object.fromEntries(groups)).toEqual({
      pods: '',
      'pods/ephemeralcontainers': '',
      podtemplates: '',
      replicationcontrollers: '',
      deployments: 'apps',
      replicasets: 'apps',
      statefulsets: 'apps',
      daemonsets: 'apps',
      jobs: 'batch',
      cronjobs: 'batch',
    });
  });
});

describe('options', () => {
  const EPHEMERAL_CONTAINERS_UPDATE = {
    apiGroups: [''],
    apiVersions: ['v1'],
    resources: ['pods/ephemeralcontainers'],
    operations: ['UPDATE'],
    scope: 'Namespaced',
  };

  it('in enforce mode, sends mutate pods/ephemeralcontainers updates too and fails closed', () => {
    const { mutate } = schemaCheck(
      parseStream(renderWebhookConfigurations({ url: BASE, token: TOKEN, imagePullPolicyMode: 'enforce' })),
    );
    expect(mutate.failurePolicy).toBe('Fail');
    expect(mutate.rules).toContainEqual(EPHEMERAL_CONTAINERS_UPDATE);
  });

  it('with --image-mirrors, sends mutate pods/ephemeralcontainers updates too and fails closed, saying why', async () => {
    const output = await main(['--url', BASE, '--token', TOKEN, '--image-mirrors', 'docker.io=111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub']);
    const { mutate, validate } = schemaCheck(parseStream(output));
    expect(mutate.failurePolicy).toBe('Fail');
    expect(validate.failurePolicy).toBe('Fail');
    expect(mutate.rules).toContainEqual(EPHEMERAL_CONTAINERS_UPDATE);
    expect(output).toMatch(/# failurePolicy Fail: with mirrors \(imageMirrors\), mutate sends images through them/);
    expect(output).not.toMatch(/failurePolicy Ignore/);

    // With enforce as well, both reasons are given; an empty value is no mirrors at all.
    const both = renderWebhookConfigurations({ url: BASE, token: TOKEN, imagePullPolicyMode: 'enforce', imageMirrors: 'public.example.org=mirror.example.com/quay' });
    expect(both).toMatch(/# failurePolicy Fail: in "enforce" mode[\s\S]*# failurePolicy Fail: with mirrors/);
    const none = schemaCheck(parseStream(renderWebhookConfigurations({ url: BASE, token: TOKEN, imageMirrors: ' ' })));
    expect(none.mutate.failurePolicy).toBe('Ignore');
    expect(none.mutate.rules).toHaveLength(1);
  });

  it('excludes the exempt namespaces besides kube-system, and keeps a path prefix of the base URL', () => {
    const { mutating, validating } = webhookConfigurations({
      url: 'https://hooks.example.org/clusters/',
      token: TOKEN,
      exemptNamespaces: ['monitoring', 'kube-system', 'ingress'],
    });
    for (const webhook of [mutating.webhooks[0]!, validating.webhooks[0]!]) {
      expect(webhook.namespaceSelector.matchExpressions[0]!.values).toEqual(['kube-system', 'monitoring', 'ingress']);
    }
    expect(mutating.webhooks[0]!.clientConfig.url).toBe(`https://hooks.example.org/clusters/mutate/${TOKEN}`);
  });

  it('serves a local test endpoint: an IP or localhost URL, a caBundle from --ca-bundle, and names the API server accepts', async () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
    for (const url of ['https://127.0.0.1:3000', 'https://localhost:8443']) {
      const { mutate, validate } = schemaCheck(Object.values(webhookConfigurations({ url, token: TOKEN, caBundlePem: `junk\n${pem}` })).slice(0, 2));
      expect(mutate.name).toBe('mutate.admission-webhooks.local');
      expect(validate.name).toBe('validate.admission-webhooks.local');
      for (const webhook of [mutate, validate]) expect(Buffer.from(webhook.clientConfig.caBundle, 'base64').toString()).toBe(pem);
    }
    expect(() => webhookConfigurations({ url: BASE, token: TOKEN, caBundlePem: 'no certificate here' })).toThrow(/at least one certificate/);
    await expect(main(['--url', BASE, '--token', TOKEN, '--ca-bundle', '/nonexistent/ca.pem'])).rejects.toThrow(/cannot be read: ENOENT/);
  });

  it('names the webhooks after the domain of the URL', () => {
    const { mutating, validating } = webhookConfigurations({ url: 'https://Hooks.Example.org', token: TOKEN });
    expect([mutating.webhooks[0]!.name, validating.webhooks[0]!.name]).toEqual(['mutate.hooks.example.org', 'validate.hooks.example.org']);
  });

  it('finds the token in each secret format', () => {
    expect(tokenFromSecret(`  ${TOKEN}\n`, undefined)).toBe(TOKEN);
    expect(tokenFromSecret(JSON.stringify({ token: TOKEN }), undefined)).toBe(TOKEN);
    expect(tokenFromSecret(JSON.stringify({ tokens: { blue: 'x', green: TOKEN } }), 'green')).toBe(TOKEN);
    expect(() => tokenFromSecret(JSON.stringify({ tokens: { blue: 'x' } }), undefined)).toThrow(/--cluster \(blue\)/);
    expect(() => tokenFromSecret(JSON.stringify({ tokens: { blue: 'x' } }), 'red')).toThrow(/no token for cluster "red"/);
  });
});

describe('--policy FILE [--cluster NAME]', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-config-policy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const policyFile = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const MIRROR = '111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub';
  const FLEET = policyFile(
    'fleet.yaml',
    `version: 1
defaults:
  exemptNamespaces: [kube-system, monitoring]
namespaces:
  "*": { validationAction: warn }
clusters:
  prod-eu:
    imagePullPolicyMode: enforce
    exemptNamespaces: [ingress]
  dev-us:
    imageMirrors: { docker.io: ${MIRROR} }
  staging:
`,
  );
  const version = checkPolicyFile(FLEET).version!;
  const run = (...args: string[]) => main(['--url', BASE, '--token', TOKEN, '--policy', FLEET, ...args]);
  const exempt = (objects: any[]) => schemaCheck(objects).mutate.namespaceSelector.matchExpressions[0].values;
  /** Writes to stderr during `action`. */
  async function stderrOf(action: () => Promise<unknown>): Promise<string> {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await action();
      return write.mock.calls.map(([chunk]) => String(chunk)).join('');
    } finally {
      write.mockRestore();
    }
  }

  it("takes a cluster's exempt namespaces and enforce mode from its policy, and names the file and version at the top", async () => {
    const output = await run('--cluster', 'prod-eu');
    expect(output.split('\n')[1]).toBe(`# Policy ${FLEET}, version ${version}, cluster prod-eu: the exempt namespaces, imagePullPolicyMode and imageMirrors.`);
    expect(version).toMatch(/^[0-9a-f]{12}$/);
    const { mutate, validate } = schemaCheck(parseStream(output));
    expect(exempt(parseStream(output))).toEqual(['kube-system', 'ingress']);
    expect(validate.namespaceSelector).toEqual(mutate.namespaceSelector);
    expect(mutate.failurePolicy).toBe('Fail');
    expect(mutate.rules.map((rule: { resources: string[] }) => rule.resources[0])).toEqual(['pods', 'pods/ephemeralcontainers']);
    expect(output).toMatch(/# failurePolicy Fail: in "enforce" mode/);
  });

  it("takes a cluster's mirrors, so mutate fails closed, and the defaults' exempt namespaces where the cluster sets none", async () => {
    const output = await run('--cluster', 'dev-us');
    const { mutate } = schemaCheck(parseStream(output));
    expect(mutate.failurePolicy).toBe('Fail');
    expect(output).toMatch(/# failurePolicy Fail: with mirrors/);
    expect(output).not.toMatch(/"enforce" mode/);
    expect(exempt(parseStream(output))).toEqual(['kube-system', 'monitoring']);
  });

  it('prints what the old flags print for the same values, but for the line naming the policy', async () => {
    const withoutPolicyLine = (output: string) => output.replace(/^# Policy .*\n/m, '');
    expect(withoutPolicyLine(await run('--cluster', 'dev-us'))).toBe(
      await main(['--url', BASE, '--token', TOKEN, '--exempt-namespaces', 'kube-system,monitoring', '--image-mirrors', `docker.io=${MIRROR}`]),
    );
    expect(withoutPolicyLine(await run('--cluster', 'prod-eu'))).toBe(
      await main(['--url', BASE, '--token', TOKEN, '--exempt-namespaces', 'ingress', '--image-pull-policy-mode', 'enforce']),
    );
  });

  it("uses the policy's defaults without --cluster, as for a caller that matched no cluster", async () => {
    const output = await run();
    expect(output).toContain(`# Policy ${FLEET}, version ${version}, its defaults (no --cluster):`);
    const { mutate } = schemaCheck(parseStream(output));
    expect(mutate.failurePolicy).toBe('Ignore');
    expect(mutate.rules).toHaveLength(1);
    expect(exempt(parseStream(output))).toEqual(['kube-system', 'monitoring']);
    // A cluster named with nothing set has the defaults too, without a warning.
    const staging = await stderrOf(() => run('--cluster', 'staging'));
    expect(staging).toBe('');
    expect(policyOptions(FLEET, 'staging').options).toMatchObject({ exemptNamespaces: ['kube-system', 'monitoring'], imagePullPolicyMode: 'default', imageMirrors: [] });
  });

  it('gives a cluster the file does not name the defaults, as the functions do, with a warning naming the clusters it has', async () => {
    let output = '';
    const stderr = await stderrOf(async () => {
      output = await run('--cluster', 'blue');
    });
    expect(stderr).toBe(`webhook-config: warning: ${FLEET} has no cluster "blue" (it names prod-eu, dev-us, staging): printing its defaults, which the functions also give that cluster\n`);
    expect(output.replace('cluster blue', 'its defaults (no --cluster)')).toBe(await run());
    const empty = policyFile('empty.yaml', 'version: 1\n');
    expect(policyOptions(empty, 'blue').warning).toMatch(/has no cluster "blue" \(it names none\)/);
  });

  it('reads the shipped fleet example: each cluster through its own mirror, so mutate fails closed', async () => {
    for (const cluster of ['prod-eu', 'dev-us']) {
      const output = await main(['--url', BASE, '--token', TOKEN, '--policy', 'examples/policies/fleet.yaml', '--cluster', cluster]);
      expect(schemaCheck(parseStream(output)).mutate.failurePolicy).toBe('Fail');
    }
    expect(schemaCheck(parseStream(await main(['--url', BASE, '--token', TOKEN, '--policy', 'policy.yaml']))).mutate.failurePolicy).toBe('Ignore');
  });

  it.each([
    ['--exempt-namespaces', 'monitoring', 'exemptNamespaces'],
    ['--image-pull-policy-mode', 'enforce', 'imagePullPolicyMode'],
    ['--image-mirrors', `docker.io=${MIRROR}`, 'imageMirrors'],
  ])('refuses --policy with %s, naming both and the field of the file', async (flag, value, field) => {
    const refusal = run('--cluster', 'prod-eu', flag, value);
    await expect(refusal).rejects.toBeInstanceOf(UsageError);
    await expect(refusal).rejects.toThrow(`--policy and ${flag} cannot be used together: the policy file gives ${field}; drop one or the other`);
  });

  it('refuses an invalid policy file, listing every problem as file:line:column: field: message', async () => {
    const bad = policyFile('bad.yaml', 'version: 1\ndefaults:\n  imagePullPolicyMode: always\nclusters:\n  prod-eu: { imageMirrors: { docker.io: docker.io/mirror } }\n');
    const refusal = main(['--url', BASE, '--token', TOKEN, '--policy', bad, '--cluster', 'prod-eu']);
    await expect(refusal).rejects.toBeInstanceOf(UsageError);
    await expect(refusal).rejects.toThrow(
      [
        `--policy ${bad} is not a valid policy (2 problems):`,
        `${bad}:3:24: defaults.imagePullPolicyMode: must be one of default, enforce, got "always"`,
        `${bad}:5:28: clusters.prod-eu.imageMirrors: has target "docker.io/mirror", which overlaps the source "docker.io": an image mirrored there could be rewritten again`,
      ].join('\n'),
    );
    await expect(main(['--url', BASE, '--token', TOKEN, '--policy', join(dir, 'missing.yaml')])).rejects.toThrow(
      `--policy ${join(dir, 'missing.yaml')} is not a valid policy (1 problem):\n${join(dir, 'missing.yaml')}:1:1: cannot be read: no such file`,
    );
  });

  it('refuses --cluster without --secret-id or --policy, which would ignore it', async () => {
    await expect(main(['--url', BASE, '--token', TOKEN, '--cluster', 'prod-eu'])).rejects.toThrow(/--cluster goes with --secret-id \(a fleet secret\) or --policy/);
  });

  describe('the endpoint variant and where the policy binds the cluster', () => {
    const header = (output: string) => output.split('\n---\n')[0]!;
    const PRIVATE = 'examples/policies/private-endpoint.yaml';

    it('names the addresses a bound cluster must call from, and nothing for an unbound one', async () => {
      const bound = await main(['--url', BASE, '--token', TOKEN, '--policy', 'examples/policies/source-bound.yaml', '--cluster', 'prod-eu']);
      expect(header(bound)).toContain('# Cluster prod-eu is bound to sourceIps 203.0.113.10, 203.0.113.11, 2001:db8:10::/56: its token is refused from anywhere else.');
      expect(header(await run('--cluster', 'prod-eu'))).not.toContain('is bound to');
    });

    it('prints the private variant on its private domain, with what resolves it and the endpoints the cluster is bound to', async () => {
      const output = await main(['--url', 'https://webhooks.internal.example.com', '--token', TOKEN, '--policy', PRIVATE, '--cluster', 'dev-us', '--endpoint-type', 'private']);
      const { mutate, validate } = schemaCheck(parseStream(output));
      expect([mutate.clientConfig.url, validate.clientConfig.url]).toEqual([`https://webhooks.internal.example.com/mutate/${TOKEN}`, `https://webhooks.internal.example.com/validate/${TOKEN}`]);
      expect(header(output)).toContain("# Private endpoint: webhooks.internal.example.com resolves only in the clusters' VPCs");
      expect(header(output)).toContain('# Cluster dev-us is bound to vpcEndpointIds vpce-1a2b3c4d: its token is refused from anywhere else.');
      expect(header(await main(['--url', BASE, '--token', TOKEN]))).not.toContain('Private endpoint');
    });

    it('refuses a cluster bound to VPC endpoints on the public variant, and warns of a cluster without endpoints on the private one', async () => {
      await expect(main(['--url', BASE, '--token', TOKEN, '--policy', PRIVATE, '--cluster', 'prod-eu'])).rejects.toThrow(
        `${PRIVATE} binds cluster prod-eu to VPC endpoints (vpce-0a1b2c3d4e5f60718), which reach only the private variant: add --endpoint-type private`,
      );
      const stderr = await stderrOf(() => run('--cluster', 'prod-eu', '--endpoint-type', 'private'));
      expect(stderr).toBe(
        `webhook-config: warning: ${FLEET} lists no vpcEndpointIds for cluster prod-eu: the private API admits only the endpoints other clusters list, so its calls must go through one of those\n`,
      );
      await expect(main(['--url', BASE, '--token', TOKEN, '--endpoint-type', 'internal'])).rejects.toThrow('--endpoint-type must be public or private, got "internal"');
    });

    it.each([
      'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod',
      'https://vpce-0a1b2c3d4e5f60718-abcdefgh.execute-api.eu-west-1.vpce.amazonaws.com',
      'https://a1b2c3d4e5-vpce-1a2b3c4d.execute-api.cn-north-1.amazonaws.com.cn/dev',
    ])('refuses the execute-api address %s, naming the URL to give', async (url) => {
      const refusal = main(['--url', url, '--token', TOKEN]);
      await expect(refusal).rejects.toBeInstanceOf(UsageError);
      await expect(refusal).rejects.toThrow('is an execute-api address, which does not serve these webhooks: the default endpoint is switched off. Give the custom domain, https://<domainName> (the stack output WebhookBaseUrl)');
    });
  });
});

describe('bad input', () => {
  it.each([
    [['--url', 'http://webhooks.example.com', '--token', TOKEN], /must use https/],
    [['--url', 'https://webhooks.example.com/?x=1', '--token', TOKEN], /query string/],
    [['--url', 'https://webhooks.example.com?', '--token', TOKEN], /query string/],
    [['--url', 'https://user:pw@webhooks.example.com', '--token', TOKEN], /user info/],
    [['--url', 'https://webhooks.example.com/#x', '--token', TOKEN], /fragment/],
    [['--url', 'webhooks.example.com', '--token', TOKEN], /is not a URL/],
    [['--url', BASE, '--token', ''], /token must be 1 to 512 characters/],
    [['--url', BASE, '--token', 'has/a/slash-0123456789'], /one URL path segment/],
    [['--url', BASE], /exactly one of --token and --secret-id/],
    [['--url', BASE, '--token', TOKEN, '--secret-id', 'x'], /exactly one of --token and --secret-id/],
    [['--token', TOKEN], /--url is required/],
    [['--url', BASE, '--token', TOKEN, '--exempt-namespaces', 'Bad_Name'], /not a namespace name/],
    [['--url', BASE, '--token', TOKEN, '--image-pull-policy-mode', 'always'], /default or enforce/],
    [['--url', BASE, '--token', TOKEN, '--timeout-seconds', '45'], /1 to 30/],
    [['--url', BASE, '--token', TOKEN, '--image-mirrors', 'docker.io'], /--image-mirrors: Invalid configuration: IMAGE_MIRRORS has "docker.io", which is not of the form source=target/],
    [['--url', BASE, '--token', TOKEN, '--image-mirrors', 'docker.io=docker.io/hub'], /IMAGE_MIRRORS has target "docker.io\/hub", which overlaps the source "docker.io"/],
    [['--url', BASE, '--token', TOKEN, '--unknown'], /Unknown option/],
    [['--url', BASE], /the token is missing/],
    [['--url', BASE, '--token', TOKEN, '--region', 'eu-west-1'], /--region goes with --secret-id/],
    [['--url', BASE, '--secret-id', 'x', '--region', 'Europe'], /not an AWS region name/],
  ])('%j is refused with a usage error that says why', async (args, message) => {
    const refusal = main(args as string[]);
    await expect(refusal).rejects.toBeInstanceOf(UsageError);
    await expect(refusal).rejects.toThrow(message);
  });

  it('makes the command exit with 2, the message on stderr and nothing on stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webhook-config-bad-'));
    const bad = join(dir, 'policy.yaml');
    writeFileSync(bad, 'version: 1\ndefaults:\n  validationAction: block\n  requireDigest: maybe\n');
    const [scheme, token, policy] = await Promise.all([
      runScript(['--url', 'http://webhooks.example.com', '--token', TOKEN]),
      runScript(['--url', BASE, '--token', 'a b']),
      runScript(['--url', BASE, '--token', TOKEN, '--policy', bad]),
    ]).finally(() => rmSync(dir, { recursive: true, force: true }));
    for (const run of [scheme, token, policy]) {
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
    }
    expect(scheme.stderr).toMatch(/^webhook-config: --url must use https/);
    expect(token.stderr).toMatch(/^webhook-config: the token must be/);
    expect(policy.stderr.split('\n')).toEqual([
      `webhook-config: --policy ${bad} is not a valid policy (2 problems):`,
      `${bad}:3:21: defaults.validationAction: must be one of deny, warn, audit, got "block"`,
      `${bad}:4:18: defaults.requireDigest: must be true or false, got "maybe"`,
      '',
    ]);
  }, 40_000);

  it('accepts a short token, with a warning on stderr', async () => {
    const run = await runScript(['--url', BASE, '--token', 'short']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/warning: the token is shorter than 16 characters/);
    expect(schemaCheck(parseStream(run.stdout)).mutate.clientConfig.url).toBe(`${BASE}/mutate/short`);
  }, 40_000);
});

describe('--help', () => {
  it('prints the usage and every flag, --region and --policy included', async () => {
    const help = await main(['--help']);
    expect(help).toMatch(/^usage: npm run webhook-config -- --url/);
    // Every flag the parser takes (read from the source, so a new flag without help text fails here).
    const source = readFileSync(join(ROOT, 'scripts', 'webhook-config.ts'), 'utf8');
    const parsed = /options: \{([\s\S]*?)\n {6}\},/.exec(source)?.[1] ?? '';
    const flags = [...parsed.matchAll(/^\s+'?([a-z-]+)'?: \{ type:/gm)].map((match) => `--${match[1]}`);
    expect(flags.length).toBeGreaterThanOrEqual(15);
    for (const flag of flags) expect(help, flag).toContain(`  ${flag}`);
    // What --policy without --cluster gives, and a cluster the file does not name.
    const flat = help.replace(/\s+/g, ' ');
    expect(flat).toContain("without --cluster, the file's defaults (what a caller that matches no cluster gets)");
    expect(flat).toContain('a cluster the file does not name gets the defaults too, with a warning');
    expect(await main(['-h'])).toBe(help);
  });
});

describe('--check FILE: the configurations against the Kubernetes schema, offline', () => {
  const printed = renderWebhookConfigurations({ url: 'https://webhooks.example.com', token: 'a'.repeat(32), imageMirrors: 'docker.io=mirror.example.com/hub' });

  it('passes what the command prints, one line per object', () => {
    expect(checkConfigurations(printed, 'out.yaml')).toBe('ok: MutatingWebhookConfiguration admission-webhooks\nok: ValidatingWebhookConfiguration admission-webhooks\n');
  });

  it('names each object the API server would refuse, and what is wrong', () => {
    expect(() => checkConfigurations(printed.replace('timeoutSeconds: 5', 'timeoutSeconds: five'), 'edited.yaml')).toThrow(CheckError);
    expect(() => checkConfigurations(printed.replace('timeoutSeconds: 5', 'timeoutSeconds: five'), 'edited.yaml')).toThrow(
      'edited.yaml: document 1 (MutatingWebhookConfiguration admission-webhooks): data/webhooks/0/timeoutSeconds must be integer',
    );
    expect(() => checkConfigurations('apiVersion: v1\nkind: Pod\n', 'pod.yaml')).toThrow('pod.yaml: document 1: not an admissionregistration.k8s.io/v1');
    expect(() => checkConfigurations('', 'empty.yaml')).toThrow('empty.yaml: no object to check');
  });

  it('reads a file or standard input, and takes no other flag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webhook-check-'));
    const file = join(dir, 'configs.yaml');
    writeFileSync(file, printed);
    try {
      expect(await main(['--check', file])).toContain('ok: ValidatingWebhookConfiguration');
      await expect(main(['--check', file, '--url', 'https://x.example.com'])).rejects.toThrow('--check takes only the file to check, not --url');
      await expect(main(['--check', join(dir, 'missing.yaml')])).rejects.toThrow(UsageError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--secret-id', () => {
  let secrets: SecretsManagerEndpoint;
  const env = () => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST',
    AWS_SECRET_ACCESS_KEY: 'local-test-secret',
    AWS_EC2_METADATA_DISABLED: 'true',
  });

  beforeAll(async () => {
    secrets = await SecretsManagerEndpoint.start('admission-webhooks/prod/token');
  });
  afterAll(() => secrets?.close());

  /** The environment without a region anywhere: no AWS_REGION, no AWS config file. */
  const regionless = () => {
    const { AWS_REGION: _unset, ...rest } = env();
    const nowhere = join(ROOT, 'no-such-aws-config');
    return { ...rest, AWS_CONFIG_FILE: nowhere, AWS_SHARED_CREDENTIALS_FILE: nowhere };
  };

  it('reads the current token from Secrets Manager, in the region --region names', async () => {
    secrets.setCurrent(JSON.stringify({ token: TOKEN }));
    const run = await runScript(['--url', BASE, '--secret-id', 'admission-webhooks/prod/token', '--region', 'eu-west-1'], regionless());
    expect(run.code, run.stderr).toBe(0);
    const { mutate, validate } = schemaCheck(parseStream(run.stdout));
    expect(mutate.clientConfig.url).toBe(`${BASE}/mutate/${TOKEN}`);
    expect(validate.clientConfig.url).toBe(`${BASE}/validate/${TOKEN}`);
    expect(secrets.requests.at(-1)).toMatchObject({ secretId: 'admission-webhooks/prod/token', versionStage: 'AWSCURRENT' });
  }, 40_000);

  it('names --region when no region is set anywhere, with exit 2', async () => {
    const missing = await runScript(['--url', BASE, '--secret-id', 'admission-webhooks/prod/token'], regionless());
    expect(missing.code).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('webhook-config: the AWS region is missing: give --region <region> (or set AWS_REGION)');
  }, 40_000);

  it('names the cluster of a fleet secret, and exits with 2 without one', async () => {
    secrets.setCurrent(JSON.stringify({ tokens: { blue: TOKEN, green: `${TOKEN.slice(0, 60)}beef` } }));
    const [missing, green] = await Promise.all([
      runScript(['--url', BASE, '--secret-id', 'admission-webhooks/prod/token'], env()),
      runScript(['--url', BASE, '--secret-id', 'admission-webhooks/prod/token', '--cluster', 'green'], env()),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--cluster \(blue, green\)/);
    expect(green.code, green.stderr).toBe(0);
    expect(schemaCheck(parseStream(green.stdout)).mutate.clientConfig.url).toBe(`${BASE}/mutate/${TOKEN.slice(0, 60)}beef`);
  }, 40_000);

  it("with --policy, --cluster picks both the cluster's token and its policy", async () => {
    secrets.setCurrent(JSON.stringify({ tokens: { blue: TOKEN, green: `${TOKEN.slice(0, 60)}beef` } }));
    const dir = mkdtempSync(join(tmpdir(), 'webhook-config-fleet-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'version: 1\nclusters:\n  green: { imagePullPolicyMode: enforce, exemptNamespaces: [ops] }\n');
    const green = await runScript(['--url', BASE, '--secret-id', 'admission-webhooks/prod/token', '--cluster', 'green', '--policy', policy], env()).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    expect(green.code, green.stderr).toBe(0);
    expect(green.stderr).not.toContain('webhook-config:');
    const { mutate } = schemaCheck(parseStream(green.stdout));
    expect(mutate.clientConfig.url).toBe(`${BASE}/mutate/${TOKEN.slice(0, 60)}beef`);
    expect(mutate.failurePolicy).toBe('Fail');
    expect(mutate.namespaceSelector.matchExpressions[0].values).toEqual(['kube-system', 'ops']);
    expect(green.stdout).toMatch(/^# Policy .*policy\.yaml, version [0-9a-f]{12}, cluster green:/m);
  }, 40_000);
});
