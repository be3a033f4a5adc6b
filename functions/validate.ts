import { validateImages } from '../lib/policies/validate';
import { configuredHandler } from '../lib/setup';

export const handler = configuredHandler('validate', validateImages);
