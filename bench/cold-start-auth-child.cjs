// One authenticated cold start, run as `node cold-start-auth-child.cjs <bundle.js> <event.json> <mode>` in a
// fresh process whose environment names the token secret and points the SDK at the local endpoint.
// Loads the bundle, answers the event once and writes its timeline to stderr as one JSON line. `mode`:
//   on-demand   the event is handed over as soon as the bundle is loaded (an on-demand cold start);
//   after-init  the event comes 250 ms later (provisioned concurrency, or a request arriving after
//               init): what is left of the first review's latency once the init phase has run.
// The parts are read off the process's own timeline (performance.now() counts from process start):
// the require of the SDK package (runtime SDK only), the first and last Secrets Manager HTTP exchange
// (node:http's diagnostics channels), and the answer.
'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { subscribe } = require('node:diagnostics_channel');
const { performance } = require('node:perf_hooks');

const [bundle, eventFile, mode] = process.argv.slice(2);
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const AFTER_INIT_DELAY_MS = 250;

let sdk; // { start, end } of require('@aws-sdk/client-secrets-manager'), for a bundle that leaves it to the runtime
const originalLoad = Module._load;
Module._load = function load(request, ...rest) {
  if (request !== '@aws-sdk/client-secrets-manager' || sdk) return originalLoad.call(this, request, ...rest);
  const start = performance.now();
  try {
    return originalLoad.call(this, request, ...rest);
  } finally {
    sdk = { start, end: performance.now() };
  }
};

const exchanges = { firstRequestAt: undefined, lastResponseAt: undefined, count: 0 };
subscribe('http.client.request.start', () => {
  exchanges.firstRequestAt ??= performance.now();
});
subscribe('http.client.response.finish', () => {
  exchanges.lastResponseAt = performance.now();
  exchanges.count += 1;
});

const beforeRequire = performance.now();
const { handler } = require(bundle);
const loadedAt = performance.now();

function answer() {
  const calledAt = performance.now();
  handler(event).then(
    (result) => {
      const answeredAt = performance.now();
      const response = JSON.parse(result.body).response ?? {};
      process.stderr.write(
        `${JSON.stringify({
          beforeRequire,
          loadedAt,
          calledAt,
          answeredAt,
          sdk: sdk ?? null,
          firstRequestAt: exchanges.firstRequestAt ?? null,
          lastResponseAt: exchanges.lastResponseAt ?? null,
          exchanges: exchanges.count,
          statusCode: result.statusCode,
          allowed: response.allowed,
        })}\n`,
      );
    },
    (error) => {
      process.stderr.write(`${JSON.stringify({ error: String(error) })}\n`);
      process.exitCode = 1;
    },
  );
}

if (mode === 'after-init') setTimeout(answer, AFTER_INIT_DELAY_MS);
else answer();
