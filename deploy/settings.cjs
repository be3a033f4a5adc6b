// Reading stage params: the stage plugin's settings (`custom.webhookStage` in serverless.yml) and
// the `provisionedConcurrency` resolver. Every value arrives as a string or a number, and a bad one
// stops the package with a message naming the setting.
'use strict';

const where = (name) => `custom.webhookStage.${name}`;

function positiveNumber(value, name, { integer }) {
  const number = typeof value === 'number' ? value : Number(String(value ?? '').trim());
  const valid = String(value ?? '').trim() !== '' && Number.isFinite(number) && number > 0 && (!integer || Number.isInteger(number));
  if (!valid) throw new Error(`${where(name)} must be a positive ${integer ? 'whole ' : ''}number, got "${value}"`);
  return number;
}

function flag(value, name) {
  const text = String(value ?? '').trim();
  if (text === 'true' || value === true) return true;
  if (text === 'false' || value === false) return false;
  throw new Error(`${where(name)} must be true or false, got "${value}"`);
}

/** An optional value ('' for none) that must match `pattern`, described as `what` in the error. */
function optional(value, name, pattern, what) {
  const text = String(value ?? '').trim();
  if (text !== '' && !pattern.test(text)) throw new Error(`${where(name)} must be empty or ${what}, got "${text}"`);
  return text;
}

/**
 * A count of Lambda instances, 0 or more. The framework needs a number (a `--param` value is a
 * string, and the string "0" would be taken as "on"); 0 makes no alias and no provisioned concurrency.
 */
function instanceCount(value, name) {
  const text = String(value ?? '').trim();
  if (!/^\d{1,5}$/.test(text)) throw new Error(`the ${name} param must be a whole number of instances (0 for none), got "${text}"`);
  return Number(text);
}

module.exports = {
  positiveNumber,
  flag,
  optional,
  instanceCount,
  /** Variable resolver for serverless.yml: `${file(./deploy/settings.cjs):provisionedConcurrency}`. */
  provisionedConcurrency: async ({ resolveVariable }) => instanceCount(await resolveVariable('param:provisionedConcurrency'), 'provisionedConcurrency'),
};
