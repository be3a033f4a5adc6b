/**
 * lib/ is layered (CONTRIBUTING.md "Project layout"): every import points to the same
 * layer or one below it, so the folders read as the architecture.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/serverless';

/** Layers from the top; a module's layer is its first folder under lib/ (setup.ts and cli/ share the top). */
const LAYERS = [['setup.ts', 'cli'], ['transport'], ['auth'], ['policies'], ['admission'], ['common']];
const LIB = join(ROOT, 'lib');

function layerOf(libPath: string): number {
  const first = libPath.split('/')[0] ?? '';
  const index = LAYERS.findIndex((names) => names.includes(first));
  if (index === -1) throw new Error(`lib/${libPath} is in no layer: add its folder to LAYERS and the README`);
  return index;
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourcesUnder(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Relative imports of a module, as paths under lib/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const from = posix.dirname(relative(LIB, file).split('\\').join('/'));
  return [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map(
    (match) => `${posix.normalize(posix.join(from, match[1] ?? ''))}.ts`,
  );
}

describe('lib layout', () => {
  const modules = sourcesUnder(LIB).map((file) => ({ file, path: relative(LIB, file).split('\\').join('/') }));

  it('puts every module in a layer folder', () => {
    for (const { path } of modules) expect(() => layerOf(path), path).not.toThrow();
    expect(modules.filter(({ path }) => !path.includes('/')).map(({ path }) => path)).toEqual(['setup.ts']);
  });

  it('imports only from the same layer or those below it', () => {
    const upward = modules.flatMap(({ file, path }) =>
      importsOf(file)
        .filter((target) => !target.startsWith('..') && layerOf(target) < layerOf(path))
        .map((target) => `lib/${path} -> lib/${target}`),
    );
    expect(upward).toEqual([]);
  });

  it('reads the layers from the import statements (a climbing import is found)', () => {
    const webhook = modules.find(({ path }) => path === 'transport/webhook.ts');
    expect(webhook && importsOf(webhook.file)).toContain('policies/decision.ts');
    expect(layerOf('policies/decision.ts')).toBeGreaterThan(layerOf('transport/webhook.ts'));
  });
});

describe('scripts/ and deploy/', () => {
  const ROOT_DIR = join(LIB, '..');
  const filesIn = (folder: string) => readdirSync(join(ROOT_DIR, folder)).filter((name) => /\.(c?js|ts)$/.test(name));
  /** Relative requires and imports of a file, as paths from the project root. */
  const dependenciesOf = (folder: string, name: string) => {
    const text = readFileSync(join(ROOT_DIR, folder, name), 'utf8');
    return [...text.matchAll(/(?:require\(|from\s+|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((match) => posix.normalize(posix.join(folder, match[1] ?? '')));
  };

  it('keeps the deployment apart: deploy/ never imports the commands of scripts/', () => {
    const climbing = filesIn('deploy').flatMap((name) => dependenciesOf('deploy', name).filter((target) => target.startsWith('scripts/')).map((target) => `deploy/${name} -> ${target}`));
    expect(climbing).toEqual([]);
    expect(filesIn('deploy')).toContain('serverless-webhook-stage.cjs');
  });

  it('holds commands only in scripts/: each is an npm script, or a module the commands share', () => {
    const scripts = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')).scripts as Record<string, string>;
    const run = Object.values(scripts).join(' ');
    const shared = filesIn('scripts').filter((name) => !run.includes(`scripts/${name}`));
    expect(shared).toEqual(['entry-point.ts']);
    const serverless = readFileSync(join(ROOT_DIR, 'serverless.yml'), 'utf8');
    expect(serverless).not.toMatch(/\.\/scripts\//);
  });

  it('reads the imports it checks (a climbing one is found)', () => {
    expect(dependenciesOf('deploy', 'serverless-webhook-stage.cjs')).toContain('deploy/deploy-guard.cjs');
  });
});
