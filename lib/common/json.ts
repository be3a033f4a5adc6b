/** Helpers for reading untrusted JSON without trusting its shape. */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own property of a JSON object; never an inherited one such as `constructor`. */
export function field(object: unknown, name: string): unknown {
  return isObject(object) && Object.hasOwn(object, name) ? object[name] : undefined;
}

/** Follows a path of own properties, returning undefined where any step is missing. */
export function fieldAt(object: unknown, path: readonly string[]): unknown {
  let current = object;
  for (const name of path) current = field(current, name);
  return current;
}
