/**
 * The policy version (DESIGN "Fleet policy"): the first 12 hex digits of the SHA-256 of the parsed
 * policy as written, serialised as canonical JSON: object keys sorted at every level, arrays in
 * order, no whitespace. For such data (strings, booleans, integers, null) RFC 8785 gives the same
 * bytes, so anyone can recompute it from the file.
 */
import { createHash } from 'node:crypto';
import { isObject } from '../../common/json';

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function policyVersion(document: unknown): string {
  return createHash('sha256').update(canonicalJson(document), 'utf8').digest('hex').slice(0, 12);
}
