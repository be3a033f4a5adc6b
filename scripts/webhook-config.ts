/**
 * Prints the cluster side of the webhooks: a MutatingWebhookConfiguration and a
 * ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1) as one YAML
 * stream, for `kubectl apply -f -`.
 *
 *   npm run webhook-config -- --url https://webhooks.example.com --token <token>
 *   npm run webhook-config -- --url https://webhooks.example.com --secret-id admission-webhooks/prod/token
 *
 * `--secret-id` reads the token from Secrets Manager (AWSCURRENT) with the same
 * SDK's default credentials (a profile, SSO, ...), in `--region` (else `AWS_REGION`, else the AWS profile's region);
 * a fleet secret (`{"tokens": {...}}`) needs `--cluster <name>`. `--help` prints the usage. `--ca-bundle <pem file>` adds a caBundle, for an endpoint whose certificate
 * is not publicly trusted (a private CA, or a local test server).
 *
 *   npm run webhook-config -- --url https://webhooks.example.com --secret-id ... --policy policy.yaml --cluster prod-eu
 *
 * `--policy` takes the exempt namespaces, the pull policy mode and the mirrors from that cluster's
 * effective policy in the policy file (DESIGN "Fleet policy"); enforce mode or mirrors make mutate
 * fail closed and also receive `pods/ephemeralcontainers`. The output names where the policy binds
 * the cluster to call from (sourceIps, vpcEndpointIds). `--endpoint-type private` is for the private
 * variant: the URL is its private domain, which only the clusters' VPCs resolve. Either variant is
 * served only on its custom domain: an execute-api URL is refused, naming the one to use. Without a file, `--exempt-namespaces`,
 * `--image-pull-policy-mode` and `--image-mirrors` take the deployment's EXEMPT_NAMESPACES,
 * IMAGE_PULL_POLICY_MODE and IMAGE_MIRRORS. Bad input (an invalid policy file too) exits with 2
 * and a message on stderr; a failed Secrets Manager read exits with 1.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Document, isMap, isScalar, parseAllDocuments, type Scalar } from 'yaml';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { DEFAULTS, DNS_LABEL, DNS_SUBDOMAIN, loadConfig } from '../lib/policies/fleet/config';
import type { MirrorRule } from '../lib/policies/images/image-mirrors';
import { checkPolicyFile, problemLine } from '../lib/cli/policy-file';
import { parseTokenSecret } from '../lib/auth/caller-auth';
import { loadWorkstationClient, secretsManagerFetcher } from '../lib/auth/secrets-manager';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type PullPolicyMode = 'default' | 'enforce';
export type EndpointType = 'public' | 'private';

export interface WebhookConfigOptions {
  /** Base URL of the webhooks, e.g. `https://webhooks.example.com` (optionally with a path prefix). */
  url: string;
  token: string;
  /** Namespaces both webhooks leave alone; `kube-system` is always added. */
  exemptNamespaces?: readonly string[];
  /** The deployment's IMAGE_PULL_POLICY_MODE: `enforce` also sends `pods/ephemeralcontainers` to mutate. */
  imagePullPolicyMode?: PullPolicyMode;
  /**
   * The deployment's mirrors, as IMAGE_MIRRORS text (checked as the functions check it) or the
   * policy's compiled rules: with rules, mutate also gets `pods/ephemeralcontainers` and fails
   * closed (an image that skipped the rewrite would bypass the mirror).
   */
  imageMirrors?: string | readonly MirrorRule[];
  /** The policy file the three fields above came from, named with its version in the output. */
  policy?: PolicySource;
  /** metadata.name of both configurations. */
  name?: string;
  timeoutSeconds?: number;
  /** PEM certificates the API server should trust for the URL; none for a publicly trusted certificate. */
  caBundlePem?: string;
  /** The deployed variant (serverless param endpointType); default public. */
  endpointType?: EndpointType;
}

/** Where the cluster side's policy fields came from: a policy file, its version, the cluster. */
export interface PolicySource {
  file: string;
  version: string;
  /** Undefined: the policy's defaults (what a caller that matched no cluster gets). */
  cluster: string | undefined;
  /** Where the policy binds the cluster to call from, as the file writes it. */
  origin?: { sourceIps?: readonly string[]; vpcEndpointIds?: readonly string[] };
}

export const DEFAULT_NAME = 'admission-webhooks';
export const DEFAULT_TIMEOUT_SECONDS = 5;
const NAMESPACE_LABEL = 'kubernetes.io/metadata.name';
/** RFC 3986 unreserved characters: the token travels as one path segment, unescaped. */
const TOKEN = /^[A-Za-z0-9._~-]{1,512}$/;
/** Shorter tokens are accepted (for tests) with a warning: they can be guessed. */
export const MIN_RECOMMENDED_TOKEN_LENGTH = 16;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Rules for what the validate policy checks (lib/policies/pod-spec.ts), on CREATE and UPDATE. */
export const VALIDATE_RULES = [
  { apiGroups: [''], resources: ['pods', 'pods/ephemeralcontainers', 'podtemplates', 'replicationcontrollers'] },
  { apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'] },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'] },
].map((rule) => ({ ...rule, apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }));

/** The default endpoint's names (`<api>.execute-api.<region>.amazonaws.com`, and a VPC endpoint's `....vpce.amazonaws.com`). */
const EXECUTE_API_HOST = /\.(?:execute-api\.[a-z0-9-]+|vpce)\.amazonaws\.com(?:\.cn)?$/i;

/**
 * The base URL, checked: https, no user info, query or fragment, not an execute-api address (this
 * deployment switches the default endpoint off, and a VPC endpoint's name needs a Host header the
 * API server cannot send); no trailing slash.
 */
export function webhookBase(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new UsageError(`--url must use https (the API server calls webhooks over TLS), got ${url.protocol}`);
  if (url.username !== '' || url.password !== '' || raw.includes('@')) throw new UsageError('--url must not carry user info (user:password@)');
  if (raw.includes('?')) throw new UsageError('--url must not carry a query string: Kubernetes forbids it in a webhook URL');
  if (raw.includes('#')) throw new UsageError('--url must not carry a fragment');
  if (EXECUTE_API_HOST.test(url.hostname)) {
    throw new UsageError(
      `--url ${url.hostname} is an execute-api address, which does not serve these webhooks: the default endpoint is switched off. ` +
        'Give the custom domain, https://<domainName> (the stack output WebhookBaseUrl), public or private',
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export function checkToken(token: string): string {
  if (!TOKEN.test(token)) {
    throw new UsageError(
      'the token must be 1 to 512 characters of A-Z a-z 0-9 . _ ~ - (one URL path segment); make one with `openssl rand -hex 32`',
    );
  }
  return token;
}

/** The certificates of a PEM text (what `--ca-bundle` gives), without anything around them. */
export function pemCertificates(pem: string): string[] {
  const certificates = pem.match(PEM_CERTIFICATE);
  if (!certificates) throw new UsageError('--ca-bundle must be a PEM file with at least one certificate');
  return certificates;
}

/** The certificates of a PEM file, base64-encoded as `clientConfig.caBundle` takes them. */
export function caBundleOf(pem: string): string {
  return Buffer.from(`${pemCertificates(pem).join('\n')}\n`).toString('base64');
}

/**
 * The suffix of the webhooks' names, which the API server requires to be fully qualified (three
 * or more labels): the URL's domain, or `<name>.local` for an IP address or a single-label host.
 */
function webhookNameSuffix(host: string, name: string): string {
  const isDomain = /^([a-z0-9-]+\.)+[a-z][a-z0-9-]*$/i.test(host);
  return isDomain ? host.toLowerCase() : `${name}.local`;
}

function checkNamespaces(names: readonly string[]): string[] {
  for (const name of names) {
    if (!DNS_LABEL.test(name)) throw new UsageError(`--exempt-namespaces has "${name}", which is not a namespace name`);
  }
  return [...new Set(['kube-system', ...names])];
}

/** The two configurations as plain objects, in apply order. */
export function webhookConfigurations(options: WebhookConfigOptions) {
  const base = webhookBase(options.url);
  const token = checkToken(options.token);
  const name = options.name ?? DEFAULT_NAME;
  const suffix = webhookNameSuffix(new URL(base).hostname, name);
  const caBundle = options.caBundlePem === undefined ? {} : { caBundle: caBundleOf(options.caBundlePem) };
  if (!DNS_SUBDOMAIN.test(name)) throw new UsageError(`--name "${name}" is not a valid object name`);
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) {
    throw new UsageError('--timeout-seconds must be a whole number from 1 to 30');
  }
  const mode = options.imagePullPolicyMode ?? (DEFAULTS.IMAGE_PULL_POLICY_MODE as PullPolicyMode);
  if (mode !== 'default' && mode !== 'enforce') throw new UsageError(`--image-pull-policy-mode must be default or enforce, got "${mode}"`);
  const exempt = checkNamespaces(options.exemptNamespaces ?? DEFAULTS.EXEMPT_NAMESPACES.split(','));
  const mirrors = hasMirrors(options.imageMirrors);

  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    timeoutSeconds,
    matchPolicy: 'Equivalent',
    namespaceSelector: { matchExpressions: [{ key: NAMESPACE_LABEL, operator: 'NotIn', values: exempt }] },
  };

  const mutateRules = [
    { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' },
    ...(mode === 'enforce' || mirrors
      ? [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods/ephemeralcontainers'], operations: ['UPDATE'], scope: 'Namespaced' }]
      : []),
  ];

  const mutating = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': name } },
    webhooks: [
      {
        name: `mutate.${suffix}`,
        clientConfig: { url: `${base}/mutate/${token}`, ...caBundle },
        rules: mutateRules,
        failurePolicy: mode === 'enforce' || mirrors ? 'Fail' : 'Ignore',
        reinvocationPolicy: 'IfNeeded',
        ...common,
      },
    ],
  };
  const validating = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': name } },
    webhooks: [
      {
        name: `validate.${suffix}`,
        clientConfig: { url: `${base}/validate/${token}`, ...caBundle },
        rules: VALIDATE_RULES,
        failurePolicy: 'Fail',
        ...common,
      },
    ],
  };
  return { mutating, validating, mode, mirrors };
}

/** Whether there are mirror rules; IMAGE_MIRRORS text is checked as the functions check it (a bad value is a usage error). */
function hasMirrors(value: WebhookConfigOptions['imageMirrors']): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'string') return value.length > 0;
  try {
    return loadConfig({ IMAGE_MIRRORS: value }).imageMirrors.length > 0;
  } catch (error) {
    throw new UsageError(`--image-mirrors: ${(error as Error).message}`);
  }
}

const MUTATE_FAILURE_POLICY = {
  default: [
    ' failurePolicy Ignore: in "default" mode mutate only fills in defaults (pull secrets, a pull',
    ' policy where none is set). If the webhook cannot be reached, Pods are still created without',
    ' them (a missing pull secret shows up as ImagePullBackOff), instead of every Pod creation in',
    ' the cluster failing; the validating webhook, which fails closed, still guards the images.',
  ],
  enforce: [
    ' failurePolicy Fail: in "enforce" mode mutate is a security control (every container pulls',
    ' its image, as AlwaysPullImages does), so it must not fail open: an unreachable webhook',
    ' rejects the Pod rather than letting it start from another tenant\'s cached private image.',
  ],
};

const MIRRORS_FAILURE_POLICY = [
  ' failurePolicy Fail: with mirrors (imageMirrors), mutate sends images through them. Failing open',
  ' would create Pods with the images as written: pulled past the mirror (Docker Hub rate limits,',
  ' no scanning) where validate allows their registry, or denied by validate without a word about',
  ' the mirror. pods/ephemeralcontainers is sent too, so `kubectl debug` images are mirrored.',
];

const VALIDATE_FAILURE_POLICY = [
  ' failurePolicy Fail: the registry allow-list is a security control and must not fail open;',
  ' while the webhook is unreachable, matching creates and updates are rejected (kube-system',
  ' and the exempt namespaces are never sent here, so the cluster itself keeps working).',
];

function commentKey(doc: Document, path: (string | number)[], key: string, lines: readonly string[]): void {
  const map = doc.getIn(path, true);
  if (!isMap(map)) return;
  const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
  if (pair && isScalar(pair.key)) (pair.key as Scalar).commentBefore = lines.join('\n');
}

/** Both configurations as a YAML stream with the reasons for each failurePolicy. */
export function renderWebhookConfigurations(options: WebhookConfigOptions): string {
  const { mutating, validating, mode, mirrors } = webhookConfigurations(options);
  const trust =
    options.caBundlePem === undefined
      ? ['# No caBundle: the custom domain has a publicly trusted certificate.']
      : ['# caBundle from --ca-bundle: the API server trusts only those certificates for this URL.'];
  const endpoint =
    options.endpointType === 'private'
      ? [
          `# Private endpoint: ${new URL(webhookBase(options.url)).hostname} resolves only in the clusters' VPCs (a private hosted zone aliasing it`,
          "# to their execute-api VPC endpoint), which the API server reaches through customer-routed egress.",
        ]
      : [];
  const header = [
    '# Admission webhooks served by AWS Lambda behind API Gateway (printed by `npm run webhook-config`).',
    ...(options.policy ? [policyComment(options.policy), ...originComment(options.policy)] : []),
    ...endpoint,
    '# The URL carries the caller token: treat this output as a secret.',
    ...trust,
  ].join('\n');
  const mutatingDoc = new Document(mutating);
  const mutateReasons = mirrors ? [...(mode === 'enforce' ? MUTATE_FAILURE_POLICY.enforce : []), ...MIRRORS_FAILURE_POLICY] : MUTATE_FAILURE_POLICY[mode];
  commentKey(mutatingDoc, ['webhooks', 0], 'failurePolicy', mutateReasons);
  const validatingDoc = new Document(validating);
  commentKey(validatingDoc, ['webhooks', 0], 'failurePolicy', VALIDATE_FAILURE_POLICY);
  return `${header}\n---\n${mutatingDoc.toString()}---\n${validatingDoc.toString()}`;
}

/** Where the policy binds the cluster to call from: the same token from anywhere else is refused. */
function originComment({ cluster, origin }: PolicySource): string[] {
  const lists = [
    ...(origin?.sourceIps ? [`sourceIps ${origin.sourceIps.join(', ')}`] : []),
    ...(origin?.vpcEndpointIds ? [`vpcEndpointIds ${origin.vpcEndpointIds.join(', ')}`] : []),
  ];
  return lists.length === 0 ? [] : [`# Cluster ${cluster} is bound to ${lists.join('; ')}: its token is refused from anywhere else.`];
}

function policyComment({ file, version, cluster }: PolicySource): string {
  const from = cluster === undefined ? 'its defaults (no --cluster)' : `cluster ${cluster}`;
  return `# Policy ${file}, version ${version}, ${from}: the exempt namespaces, imagePullPolicyMode and imageMirrors.`;
}

type PolicyOptions = Required<Pick<WebhookConfigOptions, 'exemptNamespaces' | 'imagePullPolicyMode' | 'imageMirrors' | 'policy'>>;

/** The flags a policy file replaces, each with the field of the file that gives it. */
const POLICY_FLAGS = { 'exempt-namespaces': 'exemptNamespaces', 'image-pull-policy-mode': 'imagePullPolicyMode', 'image-mirrors': 'imageMirrors' } as const;

/**
 * The cluster side's fields from a policy file: the exempt namespaces, the pull policy mode and
 * the mirrors of `cluster`'s effective policy, or of its defaults without a cluster (what the
 * functions give a caller that matched no cluster). Namespace entries cannot set these fields, so
 * the cluster's values hold in each of its namespaces. A cluster the file does not name gets the
 * defaults as well, as it does at run time, with a warning (a misspelt name is caught there; a
 * fleet secret's cluster that the file leaves to the defaults still gets its configuration).
 * An invalid file is a usage error listing every problem as `file:line:column: field: message`.
 */
export function policyOptions(file: string, cluster: string | undefined): { options: PolicyOptions; warning?: string } {
  const check = checkPolicyFile(file);
  const { fleet } = check;
  if (!fleet) {
    const count = check.problems.length === 1 ? '1 problem' : `${check.problems.length} problems`;
    throw new UsageError([`--policy ${file} is not a valid policy (${count}):`, ...check.problems.map((problem) => problemLine(file, problem))].join('\n'));
  }
  const config = fleet.configFor(cluster, undefined);
  const origin = cluster === undefined ? undefined : fleet.origins.get(cluster);
  const options: PolicyOptions = {
    exemptNamespaces: [...config.exemptNamespaces],
    imagePullPolicyMode: config.imagePullPolicyMode,
    imageMirrors: config.imageMirrors,
    policy: {
      file,
      version: fleet.version,
      cluster,
      ...(origin ? { origin: { sourceIps: origin.sourceIps?.map((block) => block.text), vpcEndpointIds: origin.vpcEndpointIds } } : {}),
    },
  };
  if (cluster === undefined || fleet.clusters.includes(cluster)) return { options };
  const named = fleet.clusters.length === 0 ? 'it names none' : `it names ${fleet.clusters.join(', ')}`;
  return { options, warning: `${file} has no cluster "${cluster}" (${named}): printing its defaults, which the functions also give that cluster` };
}

/**
 * Whether the cluster's binding fits the variant: a cluster bound to VPC endpoints can reach only a
 * private API (a usage error for public); one bound to none reaches a private API only through
 * another cluster's endpoint (a warning).
 */
export function endpointMismatch(endpointType: EndpointType, { file, cluster, origin }: PolicySource): string | undefined {
  if (cluster === undefined) return undefined;
  if (endpointType === 'public' && origin?.vpcEndpointIds) {
    throw new UsageError(`${file} binds cluster ${cluster} to VPC endpoints (${origin.vpcEndpointIds.join(', ')}), which reach only the private variant: add --endpoint-type private`);
  }
  if (endpointType === 'private' && !origin?.vpcEndpointIds) {
    return `${file} lists no vpcEndpointIds for cluster ${cluster}: the private API admits only the endpoints other clusters list, so its calls must go through one of those`;
  }
  return undefined;
}

/** The token in a secret value (the formats of lib/auth/caller-auth.ts); a fleet secret needs the cluster. */
export function tokenFromSecret(secret: string, cluster: string | undefined): string {
  let entries;
  try {
    entries = parseTokenSecret(secret);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [only] = entries;
  if (entries.length === 1 && only && only.cluster === undefined) return only.token;
  const clusters = entries.map((entry) => entry.cluster);
  if (cluster === undefined) throw new UsageError(`the secret holds one token per cluster: name one with --cluster (${clusters.join(', ')})`);
  const match = entries.find((entry) => entry.cluster === cluster);
  if (!match) throw new UsageError(`the secret has no token for cluster "${cluster}" (it has ${clusters.join(', ')})`);
  return match.token;
}

const USAGE = `usage: npm run webhook-config -- --url https://<domain> (--token <token> | --secret-id <id> [--region <region>]) [--cluster <name>]
         [--policy <file> | [--exempt-namespaces ns1,ns2] [--image-pull-policy-mode default|enforce] [--image-mirrors source=target,...]]
         [--name <name>] [--timeout-seconds 5]
         [--ca-bundle <pem file>] [--endpoint-type public|private]
       npm run webhook-config -- --check <file>|-`;

const HELP = `${USAGE}

Prints the MutatingWebhookConfiguration and ValidatingWebhookConfiguration for the webhooks at --url,
for \`kubectl apply -f -\`. The output carries the token: treat it as a secret.

  --url URL                  base URL of the webhooks (https, no query string)
  --token TOKEN              the callers' path token, or:
  --secret-id ID             read it from this Secrets Manager secret (AWSCURRENT)
  --region REGION            the secret's region (default: AWS_REGION, else the AWS profile's region)
  --cluster NAME             the cluster: its token in a fleet secret ({"tokens": {...}}), and its
                             policy with --policy
  --policy FILE              the policy file as deployed (policy.yaml): the exempt namespaces,
                             imagePullPolicyMode and imageMirrors of --cluster's effective policy;
                             without --cluster, the file's defaults (what a caller that matches no
                             cluster gets); a cluster the file does not name gets the defaults too,
                             with a warning
  --exempt-namespaces LIST   without --policy: comma-separated namespaces both webhooks leave alone
                             (kube-system is always left alone)
  --image-pull-policy-mode M without --policy: default or enforce, as deployed (enforce: mutate fails closed)
  --image-mirrors RULES      without --policy: source=target,... as deployed (mutate fails closed)
  --name NAME                metadata.name of both configurations (default ${DEFAULT_NAME})
  --timeout-seconds N        the API server's wait for each call, 1 to 30 (default ${DEFAULT_TIMEOUT_SECONDS})
  --ca-bundle FILE           PEM certificates to trust, for an endpoint without a public certificate
  --endpoint-type TYPE       the deployed variant (serverless param endpointType): public (default),
                             or private, whose --url is the private domain only the clusters' VPCs
                             resolve; with --policy, the cluster must list vpcEndpointIds for private
                             and none for public
  --check FILE               instead of printing: check webhook configurations (these, as printed or
                             edited; - for standard input) against the Kubernetes API schema, offline
  --help, -h                 show this help

Exit status: 0 printed (--check: every object valid), 1 --check found a problem, 2 bad input (the message says what is missing or wrong; for an invalid
policy file, every problem as file:line:column: field: message), 1 the secret could not be read.
`;

/** `--check` found objects that the API server would refuse; the message lists them. */
export class CheckError extends Error {
  override name = 'CheckError';
}

const SCHEMAS = {
  MutatingWebhookConfiguration: MutatingWebhookConfiguration,
  ValidatingWebhookConfiguration: ValidatingWebhookConfiguration,
} as const;

/**
 * Checks a YAML stream of webhook configurations against the Kubernetes API schema (the
 * admissionregistration.k8s.io/v1 models of kubernetes-models), offline: what `kubectl apply`
 * would refuse, before it reaches a cluster. Returns one line per object; throws a CheckError
 * listing every problem.
 */
export function checkConfigurations(text: string, source: string): string {
  const documents = parseAllDocuments(text).filter((document) => document.contents !== null);
  if (documents.length === 0) throw new CheckError(`${source}: no object to check`);
  const lines: string[] = [];
  const problems: string[] = [];
  for (const [index, document] of documents.entries()) {
    const where = `${source}: document ${index + 1}`;
    if (document.errors.length > 0) {
      problems.push(`${where}: not YAML: ${document.errors[0]?.message.split('\n')[0]}`);
      continue;
    }
    const object = document.toJS() as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
    const schema = typeof object?.kind === 'string' ? SCHEMAS[object.kind as keyof typeof SCHEMAS] : undefined;
    if (!schema || object.apiVersion !== 'admissionregistration.k8s.io/v1') {
      problems.push(`${where}: not an admissionregistration.k8s.io/v1 MutatingWebhookConfiguration or ValidatingWebhookConfiguration`);
      continue;
    }
    try {
      new schema(object as never).validate();
      lines.push(`ok: ${object.kind} ${String(object.metadata?.name)}`);
    } catch (error) {
      problems.push(`${where} (${object.kind} ${String(object.metadata?.name)}): ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new CheckError([...lines, ...problems].join('\n'));
  return `${lines.join('\n')}\n`;
}

/** The SDK's error when no region is configured anywhere; the command names the flag instead. */
const REGION_MISSING = /region is missing/i;

/** The text of the `--ca-bundle` file (also smoke's). */
export function readCaBundle(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--ca-bundle ${JSON.stringify(path)} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export async function main(argv: readonly string[]): Promise<string> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        'secret-id': { type: 'string' },
        cluster: { type: 'string' },
        policy: { type: 'string' },
        'exempt-namespaces': { type: 'string' },
        'image-pull-policy-mode': { type: 'string' },
        'image-mirrors': { type: 'string' },
        name: { type: 'string' },
        'timeout-seconds': { type: 'string' },
        'ca-bundle': { type: 'string' },
        region: { type: 'string' },
        'endpoint-type': { type: 'string' },
        check: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) return HELP;
  if (values.check !== undefined) {
    const given = Object.keys(values).filter((flag) => flag !== 'check');
    if (given.length > 0) throw new UsageError(`--check takes only the file to check, not ${given.map((flag) => `--${flag}`).join(', ')}\n${USAGE}`);
    let text: string;
    try {
      text = readFileSync(values.check === '-' ? 0 : values.check, 'utf8');
    } catch (error) {
      throw new UsageError(`--check ${JSON.stringify(values.check)} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return checkConfigurations(text, values.check === '-' ? '<stdin>' : values.check);
  }
  if (values.url === undefined) throw new UsageError(`--url is required: the base URL of the webhooks, e.g. https://webhooks.example.com\n${USAGE}`);
  if (values.token === undefined && values['secret-id'] === undefined) {
    throw new UsageError(`the token is missing: give exactly one of --token and --secret-id\n${USAGE}`);
  }
  if (values.token !== undefined && values['secret-id'] !== undefined) {
    throw new UsageError(`give exactly one of --token and --secret-id, not both\n${USAGE}`);
  }
  if (values.region !== undefined && values['secret-id'] === undefined) throw new UsageError(`--region goes with --secret-id\n${USAGE}`);
  if (values.region !== undefined && !/^[a-z]{2}(-[a-z0-9]+)+-\d+$/.test(values.region)) {
    throw new UsageError(`--region "${values.region}" is not an AWS region name (like eu-west-1)`);
  }
  if (values.cluster !== undefined && values['secret-id'] === undefined && values.policy === undefined) {
    throw new UsageError(`--cluster goes with --secret-id (a fleet secret) or --policy\n${USAGE}`);
  }
  if (values.policy !== undefined) {
    const flags = Object.entries(POLICY_FLAGS).filter(([flag]) => values[flag as keyof typeof POLICY_FLAGS] !== undefined);
    if (flags.length > 0) {
      throw new UsageError(
        `--policy and ${flags.map(([flag]) => `--${flag}`).join(', ')} cannot be used together: the policy file gives ${flags.map(([, field]) => field).join(', ')}; drop one or the other`,
      );
    }
  }
  const endpointType = values['endpoint-type'] ?? 'public';
  if (endpointType !== 'public' && endpointType !== 'private') throw new UsageError(`--endpoint-type must be public or private, got "${endpointType}"`);
  const fromPolicy = values.policy === undefined ? undefined : policyOptions(values.policy, values.cluster);
  const endpointWarning = fromPolicy && endpointMismatch(endpointType, fromPolicy.options.policy);
  const timeout = values['timeout-seconds'];
  const options: WebhookConfigOptions = {
    url: values.url,
    token: values.token ?? '',
    ...(fromPolicy?.options ?? {
      exemptNamespaces: values['exempt-namespaces']
        ?.split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
      imagePullPolicyMode: values['image-pull-policy-mode'] as PullPolicyMode | undefined,
      imageMirrors: values['image-mirrors'],
    }),
    name: values.name,
    timeoutSeconds: timeout === undefined ? undefined : /^\d+$/.test(timeout) ? Number(timeout) : Number.NaN,
    caBundlePem: values['ca-bundle'] === undefined ? undefined : readCaBundle(values['ca-bundle']),
    endpointType,
  };
  // Check everything that needs no AWS call before making one.
  webhookConfigurations({ ...options, token: options.token || 'x'.repeat(16) });
  if (fromPolicy?.warning) process.stderr.write(`webhook-config: warning: ${fromPolicy.warning}\n`);
  if (endpointWarning) process.stderr.write(`webhook-config: warning: ${endpointWarning}\n`);
  if (values['secret-id'] !== undefined) {
    // The workstation client (lib/auth/secrets-manager.ts) takes its region from AWS_REGION, else the
    // profile; --region is given to it there. It is created on this first call.
    if (values.region !== undefined) process.env.AWS_REGION = values.region;
    let secret: string | undefined;
    try {
      secret = await secretsManagerFetcher(values['secret-id'], loadWorkstationClient)('AWSCURRENT', 10_000);
    } catch (error) {
      if (REGION_MISSING.test(String((error as Error)?.message))) {
        throw new UsageError(`the AWS region is missing: give --region <region> (or set AWS_REGION) for the secret ${values['secret-id']}`);
      }
      throw error;
    }
    if (secret === undefined) throw new Error(`the secret ${values['secret-id']} has no AWSCURRENT version`);
    options.token = tokenFromSecret(secret, values.cluster);
  }
  if (options.token.length < MIN_RECOMMENDED_TOKEN_LENGTH) {
    process.stderr.write(`webhook-config: warning: the token is shorter than ${MIN_RECOMMENDED_TOKEN_LENGTH} characters and can be guessed\n`);
  }
  return renderWebhookConfigurations(options);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (output) => process.stdout.write(output),
    (error: unknown) => {
      const usage = error instanceof UsageError;
      const message = usage || error instanceof CheckError ? error.message : `cannot read the token: ${String((error as Error)?.message ?? error)}`;
      process.stderr.write(`webhook-config: ${message}\n`);
      process.exitCode = usage ? 2 : 1;
    },
  );
}
