/**
 * JSON text of a value that also shows what JSON.stringify leaves out: a member or element that
 * is undefined. Two values with the same exact text have the same members in the same order.
 */
export function exactJson(value: unknown): string {
  return JSON.stringify(value, (_, item: unknown) => (item === undefined ? '<undefined>' : item)) ?? '<undefined>';
}
