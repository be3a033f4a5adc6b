#!/usr/bin/env node
// `admission-webhooks review`: see README "Review manifests offline".
// Runs the TypeScript sources of lib/ directly through tsx (a devDependency),
// so a clone needs only `npm ci`: no build step, nothing stale to rebuild.
'use strict';

let tsx;
try {
  tsx = require('tsx/cjs/api');
} catch {
  process.stderr.write('admission-webhooks: tsx is not installed: run `npm ci` (with dev dependencies) in this repository first\n');
  process.exit(2);
}

tsx
  .require('../lib/cli/main.ts', __filename)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
