/**
 * `admission-webhooks review` on the real manifests of test/fixtures/corpus
 * (Kubernetes website examples, see its SOURCES.md). A few cases run the bin
 * as a child process; the rest call `run` in-process to stay fast.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatch } from 'diff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { handler as lambdaMutate } from '../functions/mutate';
import { admissionEvent, admissionRequest, resourceOf } from '../lib/transport/admission-event';
import { DEFAULTS } from '../lib/policies/fleet/config';
import { policyVersion } from '../lib/policies/fleet/policy-version';
import { EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR, run } from '../lib/cli/main';
import { parseManifests } from '../lib/cli/manifests';
import { CONFIG_FLAGS } from '../lib/cli/options';
import { toYaml } from '../lib/cli/report';
import { WORKLOAD_KINDS } from '../lib/policies/pod-spec';
import { decodedPatch } from './support/reviews';

const CORPUS = 'test/fixtures/corpus';
const SIMPLE_POD = `${CORPUS}/pods/simple-pod.yaml`; // nginx:1.14.2, no namespace
const NGINX_APP = `${CORPUS}/application/nginx-app.yaml`; // Service + Deployment (nginx:1.14.2)
const MY_SCHEDULER = `${CORPUS}/admin/sched/my-scheduler.yaml`; // RBAC, ConfigMap, Deployment, all in kube-system
const POD_NGINX = `${CORPUS}/pods/pod-nginx.yaml`; // sets imagePullPolicy: IfNotPresent
const SIMPLE_POD_DENIAL = 'Invalid image. Images must come from registry.example.com: container "nginx" uses "nginx:1.14.2"';

/** The corpus files that do not parse as YAML, with where the yaml library finds the first error. */
const UNPARSEABLE = [
  { file: `${CORPUS}/controllers/job-pod-failure-policy-ignore.yaml`, at: '24:1', reason: 'Tabs are not allowed as indentation' },
  { file: `${CORPUS}/pods/inject/envars-file-container.yaml`, at: '9:48', reason: "Invalid escape sequence \\'" },
  { file: `${CORPUS}/pods/inject/pod-multiple-secret-env-variable.yaml`, at: '15:1', reason: 'Tabs are not allowed as indentation' },
];

function corpusFiles(folder = CORPUS): string[] {
  return (readdirSync(folder, { recursive: true }) as string[])
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(folder, name))
    .sort();
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command in-process with a clean environment (only `env`) and the given standard input. */
async function review(args: string[], options: { env?: Record<string, string>; stdin?: string; tty?: boolean } = {}): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await run(['review', ...args], {
    env: options.env ?? {},
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    readStdin: () => {
      if (options.stdin === undefined) throw new Error('standard input was read but none was given');
      return options.stdin;
    },
    stdinIsTTY: options.tty ?? false,
  });
  return { code, stdout, stderr };
}

/** `-o json`; standard error must stay empty unless `stderr` says problems are expected. */
async function reviewJson(args: string[], options: { env?: Record<string, string>; stdin?: string; stderr?: boolean } = {}) {
  const outcome = await review([...args, '-o', 'json'], options);
  if (!options.stderr) expect(outcome.stderr).toBe('');
  return { code: outcome.code, report: JSON.parse(outcome.stdout) };
}

/** Runs bin/admission-webhooks.cjs as a child process, with the webhooks' variables removed from its environment. */
function bin(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Outcome {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const variable of Object.keys(DEFAULTS)) delete env[variable];
  const result = spawnSync(process.execPath, ['bin/admission-webhooks.cjs', ...args], {
    env: { ...env, ...options.env },
    input: options.input ?? '',
    encoding: 'utf8',
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe('the bin, as a child process', () => {
  it('denies the corpus nginx Pod with the webhook message, exit 1, and prints no handler log lines', () => {
    const { code, stdout, stderr } = bin(['review', '-f', SIMPLE_POD]);
    expect(code).toBe(EXIT_DENIED);
    expect(stderr).toBe('');
    expect(stdout).toContain(`${SIMPLE_POD}:2 Pod/nginx (namespace default): DENIED`);
    expect(stdout).toContain(`  denied: ${SIMPLE_POD_DENIAL}`);
    expect(stdout).not.toContain('admission review'); // the handlers' log message
    expect(stdout).toMatch(/1 object: 0 allowed, 1 denied, 0 skipped; 1 changed by mutate\n$/);
  });

  it('allows it, exit 0, when a flag allows docker.io, overriding ALLOWED_REGISTRIES in the environment', () => {
    const { code, stdout } = bin(['review', '-f', SIMPLE_POD, '--allowed-registries', 'docker.io'], {
      env: { ALLOWED_REGISTRIES: 'registry.example.com' },
    });
    expect(code).toBe(EXIT_ALLOWED);
    expect(stdout).toContain('Pod/nginx (namespace default): allowed');
    expect(stdout).toContain('imagePullPolicy: Always');
  });

  it('reads the configuration from the environment', () => {
    expect(bin(['review', '-f', SIMPLE_POD], { env: { ALLOWED_REGISTRIES: 'docker.io' } }).code).toBe(EXIT_ALLOWED);
  });

  it('reads standard input with -f - and without -f', () => {
    const input = readFileSync(NGINX_APP, 'utf8');
    for (const args of [['review', '-f', '-', '-o', 'json'], ['review', '-o', 'json']]) {
      const { code, stdout } = bin(args, { input });
      expect(code).toBe(EXIT_DENIED);
      const { results } = JSON.parse(stdout);
      expect(results.map((result: { source: string; kind: string }) => `${result.source} ${result.kind}`)).toEqual([
        '<stdin> Service',
        '<stdin> Deployment',
      ]);
    }
  });

  it('exits 2 naming the file, line and column of a corpus file that is not valid YAML, and still reviews the other file', () => {
    const [broken] = UNPARSEABLE;
    const { code, stdout, stderr } = bin(['review', '-f', broken!.file, '-f', SIMPLE_POD]);
    expect(code).toBe(EXIT_ERROR);
    expect(stderr).toBe(`admission-webhooks: ${broken!.file}:${broken!.at}: ${broken!.reason}\n`);
    expect(stdout).toContain(`${SIMPLE_POD}:2 Pod/nginx (namespace default): DENIED`);
    expect(stdout).toMatch(/1 object: 0 allowed, 1 denied, 0 skipped; 1 changed by mutate; 1 error \(on standard error\), not reviewed\n$/);
  });

  it('exits 2 with the ConfigError message for invalid configuration in the environment', () => {
    const { code, stderr } = bin(['review', '-f', SIMPLE_POD], { env: { ALLOWED_REGISTRIES: ' , ' } });
    expect(code).toBe(EXIT_ERROR);
    expect(stderr).toContain('Invalid configuration: ALLOWED_REGISTRIES is empty');
  });

  it('exits 2 with what to run when the bundle has not been built (npm ci --ignore-scripts)', () => {
    const clone = mkdtempSync(join(tmpdir(), 'admission-webhooks-no-bundle-'));
    try {
      mkdirSync(join(clone, 'bin'));
      writeFileSync(join(clone, 'bin', 'admission-webhooks.cjs'), readFileSync('bin/admission-webhooks.cjs'));
      const result = spawnSync(process.execPath, [join(clone, 'bin', 'admission-webhooks.cjs'), 'review', '-f', SIMPLE_POD], { encoding: 'utf8' });
      expect(result.status).toBe(EXIT_ERROR);
      expect(result.stderr).toBe(`admission-webhooks: ${join(clone, 'dist', 'admission-webhooks.cjs')} is missing: run \`npm run build\` (or \`npm ci\`) in this repository\n`);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  });

  it('exits 2 on an unknown flag', () => {
    const { code, stderr } = bin(['review', '-f', SIMPLE_POD, '--allowed-registry', 'docker.io']);
    expect(code).toBe(EXIT_ERROR);
    expect(stderr).toContain("Unknown option '--allowed-registry'");
  });
});

describe('the real corpus', () => {
  it('fails each unparseable file with exit 2, its file, line and column', async () => {
    for (const { file, at, reason } of UNPARSEABLE) {
      const { code, stdout, stderr } = await review(['-f', file]);
      expect(code).toBe(EXIT_ERROR);
      expect(stdout).toBe('0 objects: 0 allowed, 0 denied, 0 skipped; 0 changed by mutate; 1 error (on standard error), not reviewed\n');
      expect(stderr).toBe(`admission-webhooks: ${file}:${at}: ${reason}\n`);
    }
  });

  it('reviews every other file: workloads denied (allowed in the exempt kube-system), other kinds skipped', async () => {
    const unparseable = new Set(UNPARSEABLE.map(({ file }) => file));
    const files = corpusFiles().filter((file) => !unparseable.has(file));
    expect(files.length).toBeGreaterThan(100);
    let workloads = 0;
    for (const file of files) {
      const { code, report } = await reviewJson(['-f', file]);
      expect(report.results.length, file).toBeGreaterThan(0);
      for (const result of report.results) {
        const where = `${file}:${result.line} ${result.kind}`;
        if (!WORKLOAD_KINDS.includes(result.kind)) {
          expect(result.verdict, where).toBe('skipped');
          expect(result.patch, where).toEqual([]);
          continue;
        }
        workloads += 1;
        if (result.namespace === 'kube-system') expect(result.verdict, where).toBe('allowed');
        else {
          expect(result.verdict, where).toBe('denied');
          expect(result.message, where).toMatch(/^Invalid image\. Images must come from registry\.example\.com: /);
        }
      }
      expect(code, file).toBe(report.summary.denied > 0 ? EXIT_DENIED : EXIT_ALLOWED);
    }
    expect(workloads).toBe(148); // as counted in the corpus's SOURCES.md
  });

  it('reviews the whole corpus folder in one run: every parseable document, every unparseable file listed, exit 2', async () => {
    const { code, stdout, stderr } = await review(['-f', CORPUS, '-o', 'json']);
    expect(code).toBe(EXIT_ERROR);
    const lines = stderr.trim().split('\n');
    expect(lines).toEqual(UNPARSEABLE.map(({ file, at, reason }) => `admission-webhooks: ${file}:${at}: ${reason}`));
    const report = JSON.parse(stdout);
    expect(report.allowed).toBe(false);
    expect(report.errors).toEqual(
      UNPARSEABLE.map(({ file, at, reason }) => {
        const [line, column] = at.split(':').map(Number);
        return { source: file, line, column, reason, message: `${file}:${at}: ${reason}` };
      }),
    );
    expect(report.summary.errors).toBe(UNPARSEABLE.length);
    const unparseable = new Set(UNPARSEABLE.map(({ file }) => file));
    const reviewed = new Set(report.results.map((result: { source: string }) => result.source));
    expect(reviewed).toEqual(new Set(corpusFiles().filter((file) => !unparseable.has(file))));
    expect(report.results.filter((result: { kind: string }) => WORKLOAD_KINDS.includes(result.kind))).toHaveLength(148);
  });

  it('exits 1, not 2, for the same folder without the unparseable files when something is denied; 0 when nothing is', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'admission-webhooks-cli-'));
    try {
      writeFileSync(join(folder, 'pod.yaml'), readFileSync(SIMPLE_POD, 'utf8'));
      expect((await review(['-f', folder])).code).toBe(EXIT_DENIED);
      expect((await review(['-f', folder, '--allowed-registries', 'docker.io'])).code).toBe(EXIT_ALLOWED);
      writeFileSync(join(folder, 'broken.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: [\n');
      const broken = await review(['-f', folder, '--allowed-registries', 'docker.io']);
      expect(broken.code).toBe(EXIT_ERROR);
      expect(broken.stderr).toMatch(new RegExp(`^admission-webhooks: ${join(folder, 'broken.yaml')}:\\d+:\\d+: .+\n$`));
      expect(broken.stdout).toContain(`${join(folder, 'pod.yaml')}:2 Pod/nginx (namespace default): allowed`);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('input', () => {
  it('reads a folder recursively, in name order', async () => {
    const folder = `${CORPUS}/admin`;
    const { code, report } = await reviewJson(['-f', folder]);
    expect(code).toBe(EXIT_DENIED);
    const sources = [...new Set(report.results.map((result: { source: string }) => result.source))];
    expect(sources).toEqual(corpusFiles(folder));
    expect(sources).toContain(join(folder, 'dns', 'dnsutils.yaml'));
  });

  describe('a folder of .json and .yml files', () => {
    let folder = '';
    let pods: unknown[] = [];
    beforeAll(() => {
      folder = mkdtempSync(join(tmpdir(), 'admission-webhooks-cli-'));
      mkdirSync(join(folder, 'nested'));
      pods = parseAllDocuments(readFileSync(`${CORPUS}/pods/pod-rs.yaml`, 'utf8')).map((document) => document.toJS());
      writeFileSync(join(folder, 'list.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }, null, 2));
      writeFileSync(join(folder, 'nested', 'pod.yml'), readFileSync(SIMPLE_POD, 'utf8'));
      writeFileSync(join(folder, 'README.md'), 'not a manifest');
    });
    afterAll(() => rmSync(folder, { recursive: true, force: true }));

    it('reads .yml and a JSON List, item by item with their lines, and ignores other files', async () => {
      expect(pods).toHaveLength(2);
      const secondItemLine = 5 + JSON.stringify(pods[0], null, 2).split('\n').length; // `{`, apiVersion, kind, `items: [` come first
      const { code, report } = await reviewJson(['-f', folder]);
      expect(code).toBe(EXIT_DENIED);
      expect(report.results.map((result: { source: string; line: number; name: string }) => [result.source, result.line, result.name])).toEqual([
        [join(folder, 'list.json'), 5, 'pod1'],
        [join(folder, 'list.json'), secondItemLine, 'pod2'],
        [join(folder, 'nested', 'pod.yml'), 2, 'nginx'],
      ]);
    });

    it('refuses a folder without manifests', async () => {
      const empty = join(folder, 'empty');
      mkdirSync(empty);
      const { code, stderr } = await review(['-f', empty]);
      expect(code).toBe(EXIT_ERROR);
      expect(stderr).toBe(`admission-webhooks: ${empty}: the folder has no .yaml, .yml or .json files\n`);
    });
  });

  it('reads repeated -f in order, and standard input once', async () => {
    const stdin = readFileSync(SIMPLE_POD, 'utf8');
    const { report } = await reviewJson(['-f', NGINX_APP, '-f', '-', '-f', MY_SCHEDULER, '-f', '-'], { stdin });
    const sources = report.results.map((result: { source: string }) => result.source);
    expect([...new Set(sources)]).toEqual([NGINX_APP, '<stdin>', MY_SCHEDULER]);
    expect(sources.filter((source: string) => source === '<stdin>')).toHaveLength(1);
  });

  it('exits 2 for a missing file, a document that is not an object, and one without kind, reviewing the rest', async () => {
    expect(await review(['-f', 'no/such/manifests.yaml'])).toMatchObject({
      code: EXIT_ERROR,
      stderr: 'admission-webhooks: no/such/manifests.yaml: no such file or folder\n',
    });
    expect(await review([], { stdin: 'just a string\n' })).toMatchObject({
      code: EXIT_ERROR,
      stderr: 'admission-webhooks: <stdin>:1: the document is not a Kubernetes object (a mapping)\n',
    });
    const stdin = '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept}\n---\nmetadata: {name: x}\n---\n[1]\n---\nkind: List\napiVersion: v1\nitems: [1, {kind: Pod}]\n';
    const { code, report } = await reviewJson([], { stdin, stderr: true });
    expect(code).toBe(EXIT_ERROR);
    expect(report.results.map((result: { name: string }) => result.name)).toEqual(['kept']);
    expect(report.errors.map((error: { message: string }) => error.message)).toEqual([
      '<stdin>:6: the object has no apiVersion or kind',
      '<stdin>:8: the document is not a Kubernetes object (a mapping)',
      '<stdin>:12: the list item is not a Kubernetes object (a mapping)',
      '<stdin>:12: the object has no apiVersion or kind',
    ]);
  });

  it('reviews the documents of a file that parse when another document of it does not', () => {
    const { manifests, problems } = parseManifests('apiVersion: v1\nkind: ConfigMap\n---\nkey: [unclosed\n---\napiVersion: v1\nkind: Secret\n', 'mixed.yaml');
    expect(manifests.map((manifest) => [manifest.line, manifest.object.kind])).toEqual([[1, 'ConfigMap'], [6, 'Secret']]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ source: 'mixed.yaml', line: expect.any(Number), column: expect.any(Number) });
  });

  it('does not wait on a terminal when no -f is given', async () => {
    const { code, stderr } = await review([], { tty: true });
    expect(code).toBe(EXIT_ERROR);
    expect(stderr).toContain('no manifests given');
  });

  it('reads YAML scalars as kubectl does (YAML 1.1 booleans and octal; dates and 1:20 stay strings)', () => {
    const [manifest] = parseManifests(
      'apiVersion: v1\nkind: ConfigMap\ndata: {a: "x"}\nflags: {on: yes, mode: 0644, day: 2001-12-14, time: 1:20}\n',
      'inline',
    ).manifests;
    expect(manifest?.object.flags).toEqual({ true: true, mode: 420, day: '2001-12-14', time: '1:20' });
  });
});

describe('results', () => {
  it('reports a mixed multi-document file: the Service skipped, the Deployment denied', async () => {
    const { code, stdout } = await review(['-f', NGINX_APP]);
    expect(code).toBe(EXIT_DENIED);
    expect(stdout).toContain(`${NGINX_APP}:2 Service/my-nginx-svc (namespace default): skipped: not a workload, allowed untouched`);
    expect(stdout).toMatch(/Deployment\/my-nginx \(namespace default\): DENIED\n {2}denied: Invalid image\. Images must come from registry\.example\.com: container "nginx" uses "nginx:1\.14\.2"\n {2}not changed by mutate \(it changes the Pods created from this template\)\n/);
    expect(stdout).toContain('2 objects: 0 allowed, 1 denied, 1 skipped; 0 changed by mutate');
  });

  it('reports allowed, denied and skipped objects of one stream', async () => {
    const stdin = `${readFileSync(MY_SCHEDULER, 'utf8')}\n---\n${readFileSync(NGINX_APP, 'utf8')}`;
    const { code, report } = await reviewJson([], { stdin });
    expect(code).toBe(EXIT_DENIED);
    expect(report.allowed).toBe(false);
    expect(report.summary).toEqual({ objects: 7, allowed: 1, denied: 1, skipped: 5, mutated: 0, errors: 0 });
    expect(report.results.map((result: { kind: string; verdict: string }) => `${result.kind} ${result.verdict}`)).toEqual([
      'ServiceAccount skipped',
      'ClusterRoleBinding skipped',
      'ClusterRoleBinding skipped',
      'ConfigMap skipped',
      'Deployment allowed',
      'Service skipped',
      'Deployment denied',
    ]);
    const clusterScoped = report.results[1];
    expect(clusterScoped).not.toHaveProperty('namespace');
  });

  it('gives one JSON document in a fixed shape with -o json', async () => {
    const { code, report } = await reviewJson(['-f', SIMPLE_POD]);
    expect(code).toBe(EXIT_DENIED);
    const original = parse(readFileSync(SIMPLE_POD, 'utf8'));
    const patch = [
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] },
    ];
    expect(report).toEqual({
      allowed: false,
      // The version of the policy the variables stand for: here, none set (DESIGN "Fleet policy", Version).
      policyVersion: policyVersion({ version: 1, defaults: {} }),
      summary: { objects: 1, allowed: 0, denied: 1, skipped: 0, mutated: 1, errors: 0 },
      errors: [],
      results: [
        {
          source: SIMPLE_POD,
          line: 2,
          apiVersion: 'v1',
          kind: 'Pod',
          name: 'nginx',
          namespace: 'default',
          verdict: 'denied',
          allowed: false,
          message: SIMPLE_POD_DENIAL,
          warnings: [],
          auditAnnotations: {},
          patch,
          object: {
            ...original,
            spec: {
              containers: [{ ...original.spec.containers[0], imagePullPolicy: 'Always' }],
              imagePullSecrets: [{ name: 'registry-credentials' }],
            },
          },
        },
      ],
    });
  });

  it('shows a unified diff that turns the original YAML into the mutated YAML with --diff', async () => {
    const text = await review(['-f', POD_NGINX, '--diff', '--image-pull-policy-mode', 'enforce']);
    expect(text.stdout).toContain('    -      imagePullPolicy: IfNotPresent\n    +      imagePullPolicy: Always\n');
    expect(text.stdout).not.toContain('    apiVersion: v1'); // the object itself is not printed

    const { report } = await reviewJson(['-f', POD_NGINX, '--diff', '--image-pull-policy-mode', 'enforce']);
    const [result] = report.results;
    const original = parse(readFileSync(POD_NGINX, 'utf8'));
    expect(result.diff).toMatch(/^--- .*pod-nginx\.yaml:2 Pod\/nginx\n\+\+\+ .*\(mutated\)\n@@ /);
    expect(applyPatch(toYaml(original), result.diff)).toBe(toYaml(result.object));
  });

  it('uses --namespace for objects without one, and keeps an object\'s own namespace', async () => {
    const team = await reviewJson(['-f', SIMPLE_POD, '--namespace', 'team-a']);
    expect(team.report.results[0].namespace).toBe('team-a');
    // pull secrets go only to Pods in IMAGE_PULL_SECRET_NAMESPACES (default: default)
    expect(team.report.results[0].patch).toEqual([{ op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' }]);

    const own = await reviewJson(['-f', `${CORPUS}/admin/konnectivity/konnectivity-server.yaml`, '-n', 'team-a']);
    expect(own.report.results[0]).toMatchObject({ kind: 'Pod', namespace: 'kube-system', verdict: 'allowed', patch: [] });
  });
});

describe('an input with no object', () => {
  it('exits 2, so an empty pipe (a failed helm template) cannot pass a CI gate', async () => {
    const empty = await review([], { stdin: '' });
    expect(empty.code).toBe(EXIT_ERROR);
    expect(empty.stderr).toBe('admission-webhooks: <stdin>: no Kubernetes object to review in the input\n');
    const comments = await review(['-f', '-'], { stdin: '# nothing here\n---\n' });
    expect(comments.code).toBe(EXIT_ERROR);
    const json = await review(['-o', 'json'], { stdin: '' });
    expect(JSON.parse(json.stdout)).toMatchObject({ allowed: false, summary: { objects: 0, errors: 1 } });
  });
});

describe('configuration', () => {
  it('has a flag for every variable except the caller-authentication ones, listed in --help', async () => {
    expect(CONFIG_FLAGS.map(({ variable }) => variable).sort()).toEqual(
      Object.keys(DEFAULTS)
        .filter((variable) => !['WEBHOOK_TOKEN_SECRET_ID', 'SECRET_CACHE_TTL_SECONDS', 'POLICY_FILE'].includes(variable))
        .sort(),
    );
    let help = '';
    const code = await run(['--help'], { env: {}, stdout: (text) => (help += text), stderr: () => {}, readStdin: () => '' });
    expect(code).toBe(EXIT_ALLOWED);
    for (const { flag, variable } of CONFIG_FLAGS) expect(help).toMatch(new RegExp(`--${flag} VALUE +${variable}\\n`));
  });

  it('lets flags override the environment: warn turns the denial into warnings, exit 0', async () => {
    const env = { VALIDATION_ACTION: 'deny', IMAGE_PULL_SECRETS: 'from-env' };
    const { code, report } = await reviewJson(['-f', SIMPLE_POD, '--validation-action', 'warn', '--image-pull-secrets', 'from-flag'], { env });
    expect(code).toBe(EXIT_ALLOWED);
    expect(report.results[0].verdict).toBe('allowed');
    expect(report.results[0].warnings[0]).toBe('Invalid image. Images must come from registry.example.com');
    expect(report.results[0].warnings).toContain('container "nginx" uses "nginx:1.14.2"');
    expect(report.results[0].object.spec.imagePullSecrets).toEqual([{ name: 'from-flag' }]);
  });

  it('shows the audit annotation with --validation-action audit', async () => {
    const { code, stdout } = await review(['-f', SIMPLE_POD, '--validation-action', 'audit']);
    expect(code).toBe(EXIT_ALLOWED);
    expect(stdout).toContain('  audit image-policy-violation: Invalid image. Images must come from registry.example.com');
  });

  it('overrides a user-set imagePullPolicy only with --image-pull-policy-mode enforce', async () => {
    const plain = await reviewJson(['-f', POD_NGINX]);
    expect(plain.report.results[0].object.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
    const flagged = await reviewJson(['-f', POD_NGINX, '--image-pull-policy-mode', 'enforce']);
    expect(flagged.report.results[0].object.spec.containers[0].imagePullPolicy).toBe('Always');
  });

  it('takes the mirror, tag and digest rules as flags: Pods rewritten, templates judged as mirrored', async () => {
    const mirrors = ['--image-mirrors', 'docker.io=mirror.example.com/hub', '--allowed-registries', 'mirror.example.com'];
    const { code, report } = await reviewJson(['-f', SIMPLE_POD, '-f', NGINX_APP, ...mirrors]);
    expect(code).toBe(EXIT_ALLOWED);
    const [pod, service, deployment] = report.results;
    expect(pod).toMatchObject({ kind: 'Pod', verdict: 'allowed' });
    expect(pod.object.spec.containers[0].image).toBe('mirror.example.com/hub/library/nginx:1.14.2');
    expect(service.verdict).toBe('skipped');
    expect(deployment).toMatchObject({ kind: 'Deployment', verdict: 'allowed', patch: [] });
    expect(deployment.object.spec.template.spec.containers[0].image).toBe('nginx:1.14.2');

    const tagged = await reviewJson(['-f', SIMPLE_POD, ...mirrors, '--disallowed-tags', '1.14.2', '--require-digest', 'false']);
    expect(tagged.code).toBe(EXIT_DENIED);
    expect(tagged.report.results[0].message).toBe(
      'Invalid image. Images must not use the tag 1.14.2: container "nginx" uses "mirror.example.com/hub/library/nginx:1.14.2" (tag "1.14.2" is not allowed)',
    );
    expect(await review(['-f', SIMPLE_POD, '--require-digest', 'maybe'])).toMatchObject({
      code: EXIT_ERROR,
      stderr: 'admission-webhooks: Invalid configuration: REQUIRE_DIGEST must be true or false, got "maybe"\n',
    });
  });

  it('exits 2 with the ConfigError message for an invalid flag value or variable', async () => {
    expect(await review(['-f', SIMPLE_POD, '--validation-action', 'maybe'])).toEqual({
      code: EXIT_ERROR,
      stdout: '',
      stderr: 'admission-webhooks: Invalid configuration: VALIDATION_ACTION must be one of deny, warn, audit, got "maybe"\n',
    });
    const env = { DEFAULT_IMAGE_PULL_POLICY: 'Sometimes' };
    expect(await review(['-f', SIMPLE_POD], { env })).toMatchObject({ code: EXIT_ERROR, stderr: expect.stringContaining('DEFAULT_IMAGE_PULL_POLICY') });
  });

  it('keeps caller authentication off even when WEBHOOK_TOKEN_SECRET_ID is set', async () => {
    const env = { WEBHOOK_TOKEN_SECRET_ID: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:webhook-token' };
    const { code, report } = await reviewJson(['-f', SIMPLE_POD], { env });
    expect(code).toBe(EXIT_DENIED);
    expect(report.results[0].message).toBe(SIMPLE_POD_DENIAL);
  });

  it('exits 2 on a bad command line', async () => {
    for (const argv of [['lint'], ['review', '-f'], ['review', '-o', 'yaml'], ['review', 'manifests.yaml'], ['review', '-n', 'Not_A_Namespace']]) {
      let stderr = '';
      const code = await run(argv, { env: {}, stdout: () => {}, stderr: (text) => (stderr += text), readStdin: () => '' });
      expect(code, argv.join(' ')).toBe(EXIT_ERROR);
      expect(stderr, argv.join(' ')).toContain('Run "admission-webhooks --help" for usage.');
    }
  });
});

describe('the review request', () => {
  it('is the event the Lambda receives: the deployed mutate handler gives the patch the command reports', async () => {
    const object = parse(readFileSync(SIMPLE_POD, 'utf8'));
    const result = await lambdaMutate(admissionEvent('mutate', object));
    expect(result.statusCode).toBe(200);
    const { report } = await reviewJson(['-f', SIMPLE_POD]);
    expect(decodedPatch(result.body)).toEqual(report.results[0].patch);
  });

  it('is a CREATE of the object with its kind, resource, name and namespace', () => {
    const object = parse(readFileSync(SIMPLE_POD, 'utf8'));
    const request = admissionRequest(object, { namespace: 'team-a' });
    expect(request).toMatchObject({
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name: 'nginx',
      namespace: 'team-a',
      operation: 'CREATE',
      object,
      oldObject: null,
    });
    expect(request.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(resourceOf({ group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy' }).resource).toBe('networkpolicies');
    expect(resourceOf({ group: 'networking.k8s.io', version: 'v1', kind: 'Ingress' }).resource).toBe('ingresses');
    expect(resourceOf({ group: 'apps', version: 'v1', kind: 'DaemonSet' }).resource).toBe('daemonsets');
  });
});

describe('the example of docs/review-command.md (section "Example")', () => {
  const readme = readFileSync('docs/review-command.md', 'utf8');
  const start = readme.indexOf('\n## Example\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const block = /```console\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const steps = block
    .split(/^\$ /m)
    .filter((step) => step !== '')
    .map((step) => {
      const [command = '', ...output] = step.split('\n');
      return { command, output: output.join('\n') };
    });

  it('gives the output shown, for every command of the block', async () => {
    expect(steps.map((step) => step.command.split(' ')[0])).toEqual(['npx', 'echo', 'npx', 'echo', 'tail']);
    const written = new Map<string, string>();
    let lastCode: number | undefined;
    for (const { command, output } of steps) {
      const words = command.split(' ');
      if (words[0] === 'npx') {
        expect(words.slice(0, 3)).toEqual(['npx', 'admission-webhooks', 'review']);
        const redirect = words.indexOf('>');
        const args = redirect === -1 ? words.slice(3) : words.slice(3, redirect);
        const outcome = await review(args);
        lastCode = outcome.code;
        if (redirect === -1) expect(outcome.stdout + outcome.stderr, command).toBe(output);
        else {
          written.set(words[redirect + 1]!, outcome.stdout);
          expect(outcome.stderr, command).toBe(output);
        }
      } else if (command === 'echo $?') {
        expect(`${lastCode}\n`, 'exit status').toBe(output);
      } else {
        expect(words.slice(0, 3)).toEqual(['tail', '-n', '1']);
        const text = written.get(words[3]!) ?? '';
        expect(`${text.trimEnd().split('\n').at(-1)}\n`, command).toBe(output);
      }
    }
  });
});
