// One authenticated cold start, run as `node cold-start-auth-child.cjs <bundle.js> <event.json> <mode>` in a
// fresh process whose environment names the token secret and points the SDK at the local endpoint.
// Loads the bundle, answers the event once and writes its timeline to stderr as one JSON line. `mode`:
//   on-demand   the event is handed over as soon as the bundle is loaded (an on-demand cold start);
//   after-init  the event comes 250 ms later (provisioned concurrency, or a request arriving after
//               init): what is left of the first review's latency once the init phase has run.
// The bundle is loaded as `require` loads a CommonJS file, in timed steps: read, compiled with the
// module wrapper's parameters (vm.compileFunction, as Node's loader does), evaluated. The rest is
// read off the process's own timeline (performance.now() counts from process start): the first
// require of each Node.js built-in, the marks of bench/sdk-steps.ts where the bundle has them, the
// first and last Secrets Manager HTTP exchange (node:http's diagnostics channels), and the answer.
'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname } = require('node:path');
const vm = require('node:vm');
const { subscribe } = require('node:diagnostics_channel');
const { performance } = require('node:perf_hooks');

const [bundle, eventFile, mode] = process.argv.slice(2);
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const AFTER_INIT_DELAY_MS = 250;

/** [start, end] of the first require of each built-in (`node:https` loads tls too, and so on). */
const builtins = [];
const required = new Set();
const originalLoad = Module._load;
Module._load = function load(request, ...rest) {
  if (typeof request !== 'string' || !Module.isBuiltin(request) || required.has(request)) return originalLoad.call(this, request, ...rest);
  required.add(request);
  const start = performance.now();
  try {
    return originalLoad.call(this, request, ...rest);
  } finally {
    builtins.push([start, performance.now()]);
  }
};

globalThis.coldStartMarks = [];
const exchanges = { firstRequestAt: undefined, firstResponseAt: undefined, lastResponseAt: undefined, count: 0 };
subscribe('http.client.request.start', () => {
  exchanges.firstRequestAt ??= performance.now();
});
subscribe('http.client.response.finish', () => {
  exchanges.firstResponseAt ??= performance.now();
  exchanges.lastResponseAt = performance.now();
  exchanges.count += 1;
});

const beforeRequire = performance.now();
const source = readFileSync(bundle, 'utf8');
const readAt = performance.now();
const compiled = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: bundle });
const compiledAt = performance.now();
const loaded = new Module(bundle, module);
loaded.filename = bundle;
compiled.call(loaded.exports, loaded.exports, Module.createRequire(bundle), loaded, bundle, dirname(bundle));
const { handler } = loaded.exports;
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
          readAt,
          compiledAt,
          loadedAt,
          calledAt,
          answeredAt,
          builtins,
          marks: globalThis.coldStartMarks,
          firstRequestAt: exchanges.firstRequestAt ?? null,
          firstResponseAt: exchanges.firstResponseAt ?? null,
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
