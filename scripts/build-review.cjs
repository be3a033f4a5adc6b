#!/usr/bin/env node
// Builds the offline review command (`admission-webhooks review`, lib/cli/main.ts) into one
// self-contained CommonJS file, dist/admission-webhooks.cjs, that bin/admission-webhooks.cjs loads
// with plain `node`: yaml and diff are bundled in, so it needs no node_modules.
// Same esbuild options as the Lambda bundles (esbuild.config.cjs), except that the Secrets Manager
// client stays out: the command never loads it (caller authentication is always off offline), and
// bundled it would add some 300 KB for every run to parse.
//
// Runs as the package's `prepare` script, which npm runs after `npm ci` / `npm install` in a clone
// and before `npm pack`; `npm run build` runs it by hand, and the test suite before it starts.
'use strict';

const { mkdirSync, renameSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

const ROOT = join(__dirname, '..');
const ENTRY = join(ROOT, 'lib', 'cli', 'main.ts');
const OUTFILE = join(ROOT, 'dist', 'admission-webhooks.cjs');

/** The esbuild options of the review bundle: the functions' options, one entry point, one file. */
function reviewBuildOptions() {
  const config = require('../esbuild.config.cjs');
  const options = { ...config(), entryPoints: [ENTRY], outfile: OUTFILE, bundle: true, logLevel: 'warning' };
  return { ...options, external: [config.SECRETS_MANAGER], plugins: [] };
}

/**
 * Writes dist/admission-webhooks.cjs; returns its path. The file is replaced in one rename, so a
 * command started meanwhile (a test suite runs the bin while `npm pack` rebuilds) reads the old
 * bundle or the new one, never half of one.
 */
async function buildReview() {
  let build;
  try {
    ({ build } = require('esbuild'));
  } catch {
    throw new Error('esbuild is not installed: the command is built from the dev dependencies (npm ci, without --omit=dev)');
  }
  const { outputFiles } = await build({ ...reviewBuildOptions(), write: false });
  const [bundle] = outputFiles;
  const temporary = `${OUTFILE}.${process.pid}.tmp`;
  mkdirSync(dirname(OUTFILE), { recursive: true });
  writeFileSync(temporary, bundle.contents);
  renameSync(temporary, OUTFILE);
  return OUTFILE;
}

module.exports = { OUTFILE, buildReview, reviewBuildOptions };

if (require.main === module) {
  buildReview().catch((error) => {
    process.stderr.write(`build-review: ${error.message}\n`);
    process.exitCode = 1;
  });
}
