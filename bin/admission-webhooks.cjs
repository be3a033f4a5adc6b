#!/usr/bin/env node
// `admission-webhooks review`: see README "Review manifests offline".
// Loads the prebuilt bundle of lib/cli (dist/admission-webhooks.cjs, made by
// scripts/build-review.cjs, which `npm ci` runs as the `prepare` script): plain
// node, no TypeScript compiler and no node_modules at run time.
'use strict';

const { join } = require('node:path');

const BUNDLE = join(__dirname, '..', 'dist', 'admission-webhooks.cjs');

let cli;
try {
  cli = require(BUNDLE);
} catch (error) {
  if (error.code !== 'MODULE_NOT_FOUND' || !String(error.message).includes(BUNDLE)) throw error;
  process.stderr.write(`admission-webhooks: ${BUNDLE} is missing: run \`npm run build\` (or \`npm ci\`) in this repository\n`);
  process.exit(2);
}

cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
