import { mutatePod } from '../lib/policies/mutate';
import { configuredHandler } from '../lib/setup';

export const handler = configuredHandler('mutate', mutatePod);
