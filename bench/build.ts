/**
 * Builds the function bundles exactly as deployed: the shared options of
 * esbuild.config.cjs (also serverless-esbuild's config), bundled, CommonJS,
 * with the Secrets Manager client inside, tree-shaken to GetSecretValue. Then
 * zips each bundle the way the deployment does (see zip.ts).
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';
import { zipOneFile } from './zip';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const FUNCTIONS = ['mutate', 'validate'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export interface Bundle {
  name: FunctionName;
  /** Absolute path of the built `functions/<name>.js`. */
  file: string;
  bytes: number;
  /** Size of the function's zip, made as `serverless package` makes it (see zip.ts). */
  zipBytes: number;
}

/**
 * The deployed esbuild options: esbuild.config.cjs (called without the framework, it gives the
 * plain esbuild options) plus what serverless-esbuild adds for this service: the entry points
 * and `bundle: true`.
 */
export function deployedBuildOptions(outdir: string): BuildOptions {
  const shared = (createRequire(import.meta.url)(join(ROOT, 'esbuild.config.cjs')) as () => BuildOptions)();
  return {
    ...shared,
    absWorkingDir: ROOT,
    entryPoints: FUNCTIONS.map((name) => `functions/${name}.ts`),
    outbase: '.',
    outdir,
    bundle: true,
    format: 'cjs',
    logLevel: 'warning',
  };
}

/** Zips `relativeName` (found under `dir`) alone, as the deployment does; returns the archive's size. */
export function zippedSize(dir: string, relativeName: string): number {
  const file = join(dir, relativeName);
  const archive = zipOneFile(relativeName, readFileSync(file), statSync(file).mode);
  writeFileSync(join(dir, `${relativeName.replaceAll('/', '_')}.zip`), archive);
  return archive.length;
}

export async function buildBundles(outdir: string): Promise<Bundle[]> {
  mkdirSync(outdir, { recursive: true });
  const result = await build(deployedBuildOptions(outdir));
  if (result.errors.length > 0) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join('; ')}`);
  return FUNCTIONS.map((name) => {
    const file = join(outdir, 'functions', `${name}.js`);
    return { name, file, bytes: statSync(file).size, zipBytes: zippedSize(outdir, relative(outdir, file).replaceAll('\\', '/')) };
  });
}
