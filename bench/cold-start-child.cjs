// One cold start, run as `node cold-start-child.cjs <bundle.js> <event.json>` in a fresh process:
// loads the bundle (timed around require), answers the event once, and writes its timings to stderr
// as one JSON line (stdout carries the handler's own log line). performance.now() counts from the
// process's start, so `answeredMs` is the time from start to the answer inside this process.
'use strict';
const { readFileSync } = require('node:fs');
const { performance } = require('node:perf_hooks');

const [bundle, eventFile] = process.argv.slice(2);
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const beforeRequire = performance.now();
const { handler } = require(bundle);
const initMs = performance.now() - beforeRequire;
const beforeReview = performance.now();
handler(event).then(
  (result) => {
    const answeredMs = performance.now();
    const firstReviewMs = answeredMs - beforeReview;
    const response = JSON.parse(result.body).response ?? {};
    process.stderr.write(
      `${JSON.stringify({ initMs, firstReviewMs, answeredMs, statusCode: result.statusCode, allowed: response.allowed })}\n`,
    );
  },
  (error) => {
    process.stderr.write(`${JSON.stringify({ error: String(error) })}\n`);
    process.exitCode = 1;
  },
);
