/**
 * The review command as a package: `npm pack` (which runs the `prepare` build) gives a tarball
 * that installs into an empty folder with nothing else (no dependencies to fetch: the bundle holds
 * yaml, diff and fast-json-patch) and runs with `npx admission-webhooks review`. npm runs offline
 * here, so a dependency it would have to fetch fails the install.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/serverless';

const run = promisify(execFile);
const SIMPLE_POD = join(ROOT, 'test/fixtures/corpus/pods/simple-pod.yaml');
const NPM_ENV = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

describe('npm pack, then npm install ./<file>.tgz into an empty folder', () => {
  let work = '';
  let app = '';
  let tarball = '';

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'admission-webhooks-pack-'));
    app = join(work, 'app');
    mkdirSync(app);
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, env: NPM_ENV, timeout: 60_000 });
    tarball = join(work, stdout.trim().split('\n').pop()!);
    await run('npm', ['install', tarball], { cwd: app, env: NPM_ENV, timeout: 60_000 });
    copyFileSync(SIMPLE_POD, join(app, 'x.yaml'));
    for (const name of ['fleet.yaml', 'pods.yaml']) copyFileSync(join(ROOT, 'test/fixtures/policies', name), join(app, name));
    copyFileSync(join(ROOT, 'policy.yaml'), join(app, 'policy.yaml'));
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('holds only the bin, the bundle, README and package.json, and declares no dependencies', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { timeout: 10_000 });
    expect(stdout.trim().split('\n').sort()).toEqual(
      ['package/README.md', 'package/bin/admission-webhooks.cjs', 'package/dist/admission-webhooks.cjs', 'package/package.json'],
    );
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/serverless-admission-webhooks/package.json'), 'utf8'));
    expect(installed.dependencies ?? {}).toEqual({});
    expect(readdirSync(join(app, 'node_modules')).filter((name) => !name.startsWith('.'))).toEqual(['serverless-admission-webhooks']);
  });

  it('runs `npx admission-webhooks review -f x.yaml`: the denial, exit 1', async () => {
    const error = await run('npx', ['admission-webhooks', 'review', '-f', 'x.yaml'], { cwd: app, env: NPM_ENV, timeout: 30_000 }).then(
      () => undefined,
      (failure: { code: number; stdout: string; stderr: string }) => failure,
    );
    expect(error?.code).toBe(1);
    expect(error?.stderr).toBe('');
    expect(error?.stdout).toContain('x.yaml:2 Pod/nginx (namespace default): DENIED');
    expect(error?.stdout).toContain('denied: Invalid image. Images must come from registry.example.com: container "nginx" uses "nginx:1.14.2"');
  });

  const npx = (args: string[]) =>
    run('npx', ['admission-webhooks', ...args], { cwd: app, env: NPM_ENV, timeout: 30_000 }).then(
      (result) => ({ code: 0, ...result }),
      (failure: { code: number; stdout: string; stderr: string }) => failure,
    );

  it('runs `review --policy fleet.yaml --cluster C` as that cluster would judge', async () => {
    const prod = await npx(['review', '-f', 'pods.yaml', '--policy', 'fleet.yaml', '--cluster', 'prod-eu']);
    expect(prod.code).toBe(1);
    expect(prod.stdout).toContain('pods.yaml:5 Pod/team-app (namespace team-a-web): DENIED');
    expect(prod.stdout).toContain('warning: allowed by exception busybox-debug until 2999-12-31');
    const dev = await npx(['review', '-f', 'pods.yaml', '--policy', 'fleet.yaml', '--cluster', 'dev-us']);
    expect(dev.code).toBe(0);
  });

  it('runs `review --policy fleet.yaml --compare policy.yaml`: what the change newly denies, exit 1', async () => {
    const outcome = await npx(['review', '-f', 'pods.yaml', '--policy', 'fleet.yaml', '--cluster', 'prod-eu', '--compare', 'policy.yaml']);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toContain('Pod/team-app (namespace team-a-web): allowed -> denied');
    expect(outcome.stdout).toMatch(/3 objects, 2 changed, 1 newly denied\n$/);
  });
});
