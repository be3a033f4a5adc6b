/**
 * Vitest setup file: the handlers read their configuration when their modules load, so every
 * suite starts from the design's defaults with authentication off, whatever the shell running
 * the tests has exported. Suites that need other values pass their own environment.
 */
import { DEFAULTS } from '../../lib/policies/fleet/config';

for (const name of Object.keys(DEFAULTS)) delete process.env[name];
