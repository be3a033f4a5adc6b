/**
 * `npm run smoke -- --url <base> (--token T | --secret-id ID [--region R])`: checks a live
 * endpoint (deployed, or `npm start`ed) the way a cluster uses it:
 *
 *   1. the tutorial Pod through `mutate`: allowed and patched with an image pull secret;
 *   2. the tutorial Pod through `validate`: denied with the tutorial sentence;
 *   3. a Pod from the first allowed registry (read from that sentence, or `--allowed-image`): allowed;
 *   4. a wrong token: 403 (with `--auth-off`, for a local server without authentication: 200);
 *   5. a GET: refused (403 from API Gateway or WAF, 404 from serverless-offline, 405 from the handler).
 *
 * Each check is printed with its latency. Exit 0 if all hold, 1 otherwise, 2 on a usage error.
 * `--ca-bundle FILE` trusts the certificates of a PEM file instead of the public ones (`npm start
 * -- --httpsProtocol certs` with a self-signed certificate). The token is never printed: where it
 * stands in a URL path that a server or an error echoes, it is replaced by `<token>`.
 *
 * A cluster that the policy binds to where it calls from (sourceIps, vpcEndpointIds) has its token
 * refused elsewhere with a wrong token's 403, so test with its token from where it calls: behind its
 * NAT gateways, or for the private variant from inside its VPC, against the private domain.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseTokenSecret } from '../lib/auth/caller-auth';
import { loadWorkstationClient, secretsManagerFetcher } from '../lib/auth/secrets-manager';
import { isObject } from '../lib/common/json';
import { admissionRequest } from '../lib/transport/admission-event';
import { isEntryPoint } from './entry-point';
import { UsageError, pemCertificates, readCaBundle } from './webhook-config';

export { UsageError };

export const USAGE = `usage: npm run smoke -- --url <base URL> (--token <token> | --secret-id <name or ARN> [--region <region>])
         [--cluster <name>] [--allowed-image <image>] [--namespace <ns>] [--timeout <seconds>]
         [--ca-bundle <pem file>] [--auth-off]

  --url            the webhooks' base URL (https://webhooks.example.com, or http://127.0.0.1:3000 for npm start;
                   for a private endpoint its private domain, from inside a VPC that resolves it)
  --token          the callers' path token
  --secret-id      read the token from this Secrets Manager secret (AWSCURRENT) instead
  --region         the secret's region (default: AWS_REGION, then AWS_DEFAULT_REGION)
  --cluster        the cluster whose token to use, for a fleet secret {"tokens": {...}} with several
  --allowed-image  the image of the Pod expected to be allowed (default: from the first allowed
                   registry named in validate's denial)
  --namespace      the namespace of the test Pods (default: default; mutate adds pull secrets there)
  --timeout        seconds to wait for each answer (default: 10)
  --ca-bundle      trust only the certificates in this PEM file, for an https endpoint with a
                   self-signed or private certificate (npm start -- --httpsProtocol certs: certs/cert.pem)
  --auth-off       the endpoint runs without authentication (npm start without a secret): expect a
                   wrong token to be accepted instead of refused with 403`;

export interface SmokeOptions {
  url: string;
  token?: string;
  secretId?: string;
  region?: string;
  cluster?: string;
  allowedImage?: string;
  namespace: string;
  timeoutSeconds: number;
  /** PEM certificates to trust instead of the public ones (--ca-bundle). */
  ca?: string[];
  authOff: boolean;
}

export interface SmokeIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
}

/** Flags with a value: the option each one sets (`--ca-bundle` names the file whose certificates go into `ca`). */
const FLAGS: Record<string, keyof SmokeOptions> = {
  '--url': 'url',
  '--token': 'token',
  '--secret-id': 'secretId',
  '--region': 'region',
  '--cluster': 'cluster',
  '--allowed-image': 'allowedImage',
  '--namespace': 'namespace',
  '--timeout': 'timeoutSeconds',
  '--ca-bundle': 'ca',
};

/** Parses the arguments; `help` when `--help` was asked for. Throws UsageError naming what is wrong or missing. */
export function parseSmokeArgs(argv: readonly string[], env: SmokeIo['env']): SmokeOptions | 'help' {
  const values: Partial<Record<keyof SmokeOptions, string>> = {};
  let authOff = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--auth-off') {
      authOff = true;
      continue;
    }
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const key = FLAGS[flag];
    if (!key) throw new UsageError(`unknown argument ${JSON.stringify(flag)}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '' || (inline === undefined && value.startsWith('--'))) throw new UsageError(`${flag} needs a value`);
    if (values[key] !== undefined) throw new UsageError(`${flag} is given twice`);
    values[key] = value;
  }
  if (values.url === undefined) throw new UsageError('--url <base URL> is required');
  let base: URL;
  try {
    base = new URL(values.url);
  } catch {
    throw new UsageError('--url must be an absolute http(s) URL, e.g. https://webhooks.example.com');
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new UsageError('--url must be an http(s) URL');
  if (base.search || base.username || base.password) throw new UsageError('--url must be the base URL only, without query or user info');
  if (values.token === undefined && values.secretId === undefined) throw new UsageError('one of --token <token> or --secret-id <name or ARN> is required');
  if (values.token !== undefined && values.secretId !== undefined) throw new UsageError('give --token or --secret-id, not both');
  if (values.token !== undefined && (values.region !== undefined || values.cluster !== undefined)) {
    throw new UsageError('--region and --cluster go with --secret-id');
  }
  const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (values.secretId !== undefined && !region) throw new UsageError('--secret-id needs a region: --region <region> or AWS_REGION');
  const timeoutSeconds = values.timeoutSeconds === undefined ? 10 : Number(values.timeoutSeconds);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 60) throw new UsageError('--timeout must be a whole number of seconds from 1 to 60');
  if (values.ca !== undefined && base.protocol !== 'https:') throw new UsageError('--ca-bundle goes with an https --url');
  return {
    url: base.href.replace(/\/+$/, ''),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values.secretId === undefined ? {} : { secretId: values.secretId, region }),
    ...(values.cluster === undefined ? {} : { cluster: values.cluster }),
    ...(values.allowedImage === undefined ? {} : { allowedImage: values.allowedImage }),
    namespace: values.namespace ?? 'default',
    timeoutSeconds,
    ...(values.ca === undefined ? {} : { ca: pemCertificates(readCaBundle(values.ca)) }),
    authOff,
  };
}

/** The token of the secret's AWSCURRENT version (the one a cluster should have), for `cluster` in a fleet. */
export async function tokenFromSecret(options: SmokeOptions, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  // The SDK client reads its region from the environment; credentials are the workstation's (profile, SSO, ...).
  env.AWS_REGION = options.region;
  const secret = await secretsManagerFetcher(options.secretId as string, loadWorkstationClient)('AWSCURRENT', options.timeoutSeconds * 1000);
  if (secret === undefined) throw new Error('the secret has no AWSCURRENT version');
  const entries = parseTokenSecret(secret);
  const clusters = entries.filter((entry) => entry.cluster !== undefined).map((entry) => entry.cluster as string);
  if (options.cluster !== undefined) {
    const entry = entries.find((candidate) => candidate.cluster === options.cluster);
    if (!entry) throw new UsageError(`the secret has no token for cluster ${JSON.stringify(options.cluster)} (it has: ${clusters.join(', ') || 'one plain token'})`);
    return entry.token;
  }
  if (entries.length > 1) throw new UsageError(`the secret is a fleet secret: choose one with --cluster (${clusters.join(', ')})`);
  return (entries[0] as { token: string }).token;
}

interface Answer {
  status: number;
  body: unknown;
  text: string;
  ms: number;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

const TUTORIAL_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'python-app' },
  spec: { containers: [{ name: 'python', image: 'python:3.9-slim' }] },
};

const SENTENCE = 'Invalid image. Images must come from ';

function podWithImage(image: string) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'smoke-test' }, spec: { containers: [{ name: 'app', image }] } };
}

/** The first allowed registry rule named in the denial sentence (`... come from a.example.com, b/team: container ...`). */
export function firstAllowedRule(message: string): string | undefined {
  if (!message.startsWith(SENTENCE)) return undefined;
  const rules = message.slice(SENTENCE.length).split(': ')[0] ?? '';
  return rules.split(', ')[0] || undefined;
}

/** An image under `rule` pinned by digest, so tag and digest rules let it through too. */
export const imageUnder = (rule: string): string => `${rule}/smoke-test@sha256:${'0'.repeat(64)}`;

const responseOf = (answer: Answer): Record<string, unknown> | undefined => {
  const response = isObject(answer.body) ? answer.body.response : undefined;
  return isObject(response) ? response : undefined;
};

const statusMessage = (response: Record<string, unknown> | undefined): string => {
  const status = response?.status;
  return isObject(status) && typeof status.message === 'string' ? status.message : '';
};

const unexpected = (answer: Answer, what: string) =>
  `expected ${what}, got ${answer.status}: ${answer.text.length > 300 ? `${answer.text.slice(0, 300)}...` : answer.text}`;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Replaces the token with `<token>` where it stands as a segment of a URL path (`/validate/<token>`,
 * as a server's answer or an error may echo it), as sent or percent-encoded. Only there: a short
 * local token such as `test` must not blank the same letters in other words ("smoke test of").
 */
export function tokenHider(token: string): (text: string) => string {
  const spellings = [...new Set([token, encodeURIComponent(token)])].map(escapeRegExp).join('|');
  // The segment ends where a character that cannot continue it (unreserved or %) follows, or at the end.
  const inPath = new RegExp(`/(?:${spellings})(?![A-Za-z0-9._~%-])`, 'g');
  return (text) => text.replace(inPath, '/<token>');
}

/** Certificate errors a self-signed or private certificate gives, where --ca-bundle is the way out. */
const UNTRUSTED_CERTIFICATE = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

function describeFailure(error: unknown, options: SmokeOptions): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'AbortError') return `no answer within ${options.timeoutSeconds} s (--timeout)`;
  const code = (error as NodeJS.ErrnoException).code;
  const hint = code && UNTRUSTED_CERTIFICATE.has(code) && options.ca === undefined ? ' (for a self-signed or private certificate, give it with --ca-bundle <pem file>)' : '';
  return `${error.name}: ${error.message}${hint}`;
}

/** The token under test refused: a wrong token and a bound cluster's token from elsewhere get the same 403. */
const refusedToken = (answer: Answer) =>
  answer.status === 403
    ? '\n      (403 to this token: it is not the endpoint\'s, or the policy binds its cluster (sourceIps, vpcEndpointIds) and this machine calls from elsewhere)'
    : '';

export async function runSmoke(options: SmokeOptions, io: SmokeIo): Promise<number> {
  let token = options.token;
  if (token === undefined) {
    try {
      token = await tokenFromSecret(options);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      io.stderr(`smoke: cannot read the token from secret ${options.secretId}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
      return 1;
    }
  }
  const secret = token;
  const hide = tokenHider(secret);
  const say = (text: string) => io.stdout(hide(text));

  // node:http(s) rather than fetch: fetch cannot be given certificates to trust (--ca-bundle). Redirects are not followed.
  function exchange(method: 'POST' | 'GET', url: URL, body: string | undefined): Promise<{ status: number; text: string }> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const sent = request(url, { method, headers, signal: AbortSignal.timeout(options.timeoutSeconds * 1000), ...(options.ca ? { ca: options.ca } : {}) }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      });
      sent.on('error', reject);
      sent.end(body);
    });
  }

  async function send(method: 'POST' | 'GET', webhook: string, pathToken: string, body?: unknown): Promise<Answer> {
    const url = new URL(`${options.url}/${webhook}/${encodeURIComponent(pathToken)}?timeout=${Math.min(options.timeoutSeconds, 30)}s`);
    const started = performance.now();
    const { status, text } = await exchange(method, url, body === undefined ? undefined : JSON.stringify(body));
    const ms = performance.now() - started;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status, body: parsed, text, ms };
  }

  const review = (object: Record<string, unknown>) => ({
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: admissionRequest(object, { namespace: options.namespace }),
  });

  let allowedRule: string | undefined;
  const checks: { name: () => string; run: () => Promise<Omit<CheckResult, 'name' | 'ms'> & { answer?: Answer }> }[] = [
    {
      name: () => 'mutate, tutorial Pod: patched with the pull secret',
      run: async () => {
        const answer = await send('POST', 'mutate', secret, review(TUTORIAL_POD));
        const response = responseOf(answer);
        if (answer.status !== 200 || response?.allowed !== true) return { ok: false, detail: unexpected(answer, '200 allowed') + refusedToken(answer), answer };
        if (response.patchType !== 'JSONPatch' || typeof response.patch !== 'string') return { ok: false, detail: 'allowed without a JSON Patch', answer };
        const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as { op: string; path: string; value?: unknown }[];
        const secrets = patch.filter((op) => op.path === '/spec/imagePullSecrets' || op.path.startsWith('/spec/imagePullSecrets/'));
        if (secrets.length === 0) return { ok: false, detail: `patched without an image pull secret: ${JSON.stringify(patch)}`, answer };
        const names = secrets.flatMap((op) => (Array.isArray(op.value) ? op.value : [op.value])).map((value) => (isObject(value) ? value.name : value));
        return { ok: true, detail: `${patch.length} operations, pull secret ${names.join(', ')}`, answer };
      },
    },
    {
      name: () => 'validate, tutorial Pod: denied with the tutorial sentence',
      run: async () => {
        const answer = await send('POST', 'validate', secret, review(TUTORIAL_POD));
        const response = responseOf(answer);
        const message = statusMessage(response);
        if (answer.status !== 200 || response?.allowed !== false) return { ok: false, detail: unexpected(answer, '200 denied') + refusedToken(answer), answer };
        if (!message.startsWith(SENTENCE)) return { ok: false, detail: `denied, but not with "${SENTENCE}...": ${message}`, answer };
        allowedRule = firstAllowedRule(message);
        return { ok: true, detail: message, answer };
      },
    },
    {
      name: () => `validate, Pod from an allowed registry (${options.allowedImage ?? (allowedRule ? imageUnder(allowedRule) : 'unknown')}): allowed`,
      run: async () => {
        const image = options.allowedImage ?? (allowedRule ? imageUnder(allowedRule) : undefined);
        if (!image) return { ok: false, detail: 'no allowed registry known (the denial check failed): give --allowed-image' };
        const answer = await send('POST', 'validate', secret, review(podWithImage(image)));
        const response = responseOf(answer);
        if (answer.status !== 200 || response?.allowed !== true) return { ok: false, detail: unexpected(answer, '200 allowed') + refusedToken(answer), answer };
        return { ok: true, detail: 'allowed', answer };
      },
    },
    {
      name: () => (options.authOff ? 'wrong token: accepted (--auth-off)' : 'wrong token: refused with 403'),
      run: async () => {
        const wrong = `smoke-wrong-${randomBytes(16).toString('hex')}`;
        const answer = await send('POST', 'validate', wrong, review(TUTORIAL_POD));
        if (options.authOff) {
          return answer.status === 200
            ? { ok: true, detail: 'answered 200: authentication is off, as --auth-off says', answer }
            : { ok: false, detail: unexpected(answer, '200 (authentication off)'), answer };
        }
        if (answer.status === 200) {
          return {
            ok: false,
            detail: 'expected 403, got 200: the endpoint accepted a wrong token, so its caller authentication is off (npm start without a token secret); if that is meant, run again with --auth-off',
            answer,
          };
        }
        if (answer.status !== 403) return { ok: false, detail: unexpected(answer, '403'), answer };
        return { ok: true, detail: '403', answer };
      },
    },
    {
      name: () => 'GET: refused',
      run: async () => {
        const answer = await send('GET', 'validate', secret);
        const which: Record<number, string> = {
          403: 'API Gateway (no GET route: Missing Authentication Token) or WAF',
          404: 'no such route (serverless-offline)',
          405: 'the handler: method not allowed',
        };
        const reason = which[answer.status];
        if (!reason) return { ok: false, detail: unexpected(answer, '403, 404 or 405'), answer };
        return { ok: true, detail: `${answer.status}, ${reason}`, answer };
      },
    },
  ];

  say(`smoke test of ${options.url} (token from ${options.token !== undefined ? '--token' : `secret ${options.secretId}`})\n`);
  let passed = 0;
  for (const check of checks) {
    const started = performance.now();
    let outcome: Awaited<ReturnType<(typeof check)['run']>>;
    try {
      outcome = await check.run();
    } catch (error) {
      outcome = { ok: false, detail: describeFailure(error, options) };
    }
    const ms = outcome.answer?.ms ?? performance.now() - started;
    if (outcome.ok) passed += 1;
    say(`${outcome.ok ? 'PASS' : 'FAIL'}  ${check.name()}  ${Math.round(ms)} ms\n      ${outcome.detail}\n`);
  }
  say(`${passed} of ${checks.length} checks passed\n`);
  return passed === checks.length ? 0 : 1;
}

export async function main(argv: readonly string[], io: SmokeIo): Promise<number> {
  try {
    const options = parseSmokeArgs(argv, io.env);
    if (options === 'help') {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    return await runSmoke(options, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`smoke: ${error.message}\n${USAGE}\n`);
    return 2;
  }
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`smoke: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
