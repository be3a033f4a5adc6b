/**
 * Vitest global setup: builds the review command's bundle (dist/admission-webhooks.cjs) from the
 * current sources once before any suite runs, so the suites that run the bin test what the
 * sources say, not a bundle left from an earlier `npm ci` or `npm run build`.
 */
import { createRequire } from 'node:module';

const { buildReview } = createRequire(import.meta.url)('../../scripts/build-review.cjs') as {
  buildReview: () => Promise<string>;
};

export async function setup(): Promise<void> {
  await buildReview();
}
