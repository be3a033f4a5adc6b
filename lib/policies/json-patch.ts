/**
 * JSON Patch (RFC 6902) builders. Each builder looks at the current value and
 * returns only the operations needed, so a second pass over a patched object
 * yields none. Paths are JSON Pointers (RFC 6901) built from unescaped segments.
 */
import { type Operation, applyPatch } from 'fast-json-patch';
import { type JsonObject, isObject } from '../common/json';

export type { Operation };

export type PointerSegment = string | number;

/** Escapes one reference token: `~` becomes `~0` and `/` becomes `~1`. */
export function escapePointerSegment(segment: PointerSegment): string {
  const text = String(segment);
  // Most segments need no escaping; looking first is several times cheaper than two replaceAll.
  return text.includes('~') || text.includes('/') ? text.replaceAll('~', '~0').replaceAll('/', '~1') : text;
}

export function pointer(segments: readonly PointerSegment[]): string {
  return segments.map((segment) => `/${escapePointerSegment(segment)}`).join('');
}

/** Adds `value` where nothing is set yet. */
export function addIfAbsent(path: readonly PointerSegment[], current: unknown, value: unknown): Operation[] {
  return current === undefined ? [{ op: 'add', path: pointer(path), value }] : [];
}

/** Sets `value` where the current value is missing, null or the empty string. */
export function fillIfEmpty(path: readonly PointerSegment[], current: unknown, value: unknown): Operation[] {
  return current === undefined || current === null || current === '' ? [{ op: 'add', path: pointer(path), value }] : [];
}

/** Sets `value` unless it is already exactly that (`add` replaces an existing member). */
export function setValue(path: readonly PointerSegment[], current: unknown, value: unknown): Operation[] {
  return current === value ? [] : [{ op: 'add', path: pointer(path), value }];
}

/**
 * Appends items to an array, creating the array when it is missing or null.
 * Returns no operations when the current value is some other type, since
 * appending to it could not apply.
 */
export function createOrAppend(path: readonly PointerSegment[], current: unknown, items: readonly unknown[]): Operation[] {
  if (items.length === 0) return [];
  if (current === undefined || current === null) return [{ op: 'add', path: pointer(path), value: [...items] }];
  if (!Array.isArray(current)) return [];
  const end = pointer([...path, '-']);
  return items.map((value) => ({ op: 'add', path: end, value }));
}

/** Like `createOrAppend`, but skips items whose key is already present (and duplicates among the items). */
export function appendUnique<T>(
  path: readonly PointerSegment[],
  current: unknown,
  items: readonly T[],
  keyOf: (item: unknown) => unknown,
): Operation[] {
  const present = new Set(Array.isArray(current) ? current.map(keyOf) : []);
  const missing: T[] = [];
  for (const item of items) {
    const key = keyOf(item);
    if (!present.has(key)) {
      present.add(key);
      missing.push(item);
    }
  }
  return createOrAppend(path, current, missing);
}

export function encodePatch(operations: readonly Operation[]): string {
  return Buffer.from(JSON.stringify(operations)).toString('base64');
}

/**
 * Throws when the operations do not apply to `document`; the document and the
 * operations are left untouched (fast-json-patch inserts an operation's value by
 * reference, so a later operation would otherwise change an earlier one's value).
 * Returns the patched copy.
 */
export function applyChecked(document: JsonObject, operations: readonly Operation[]): JsonObject {
  const ops = detachedCopies(operations);
  return applyPatch(copyAlongPaths(document, ops), ops, true, true).newDocument;
}

/**
 * A shallow copy of each operation, with a deep copy of its value where that is an object or an
 * array: what fast-json-patch could otherwise change in the caller's operations. A scalar value
 * cannot be changed, and copying only the object values spares a structuredClone of every
 * operation (most of them set a string).
 */
function detachedCopies(operations: readonly Operation[]): Operation[] {
  return operations.map((operation) => {
    if (!isObject(operation)) return operation;
    const copy = { ...operation } as Operation & { value?: unknown };
    if (typeof copy.value === 'object' && copy.value !== null) copy.value = structuredClone(copy.value);
    return copy;
  });
}

/** The unescaped reference tokens of a JSON Pointer. */
function pointerSegments(path: string): string[] {
  if (path === '') return [];
  const tokens = path.slice(1).split('/');
  return path.includes('~') ? tokens.map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~')) : tokens;
}

/**
 * A shallow copy of a JSON object. Object.assign onto a literal rather than a spread: V8 makes
 * adding a member to a spread copy (what an `add` operation does) several times slower. Only an
 * own `__proto__` member (JSON.parse makes one from a `"__proto__"` key) would go through the
 * prototype setter there, so such an object is copied by spread, which defines it as a member.
 */
function copyObject(value: object): object {
  return Object.hasOwn(value, '__proto__') ? { ...value } : Object.assign({}, value);
}

/**
 * A copy of `document` in which each object or array on an operation's path is a fresh shallow
 * copy and everything else is shared. fast-json-patch's own copy (`mutateDocument: false`) is a
 * JSON.stringify round trip, which overflows the stack on a deeply nested object (a 500 for a
 * well-formed review); this costs only the length of the paths, however large or deep the object.
 */
function copyAlongPaths(document: JsonObject, operations: readonly Operation[]): JsonObject {
  // A Set, not a WeakSet: it lives for one call, and WeakSet entries are costly for the collector.
  const copies = new Set<object>();
  const copyOf = <T extends object>(value: T): T => {
    const copy = (Array.isArray(value) ? [...value] : copyObject(value)) as T;
    copies.add(copy);
    return copy;
  };
  const root = copyOf(document);
  for (const operation of operations) {
    const paths = operation.op === 'move' ? [operation.path, operation.from] : [operation.path];
    for (const path of paths) {
      let node: Record<string, unknown> = root;
      for (const segment of pointerSegments(path).slice(0, -1)) {
        const child = Object.hasOwn(node, segment) ? node[segment] : undefined;
        if (typeof child !== 'object' || child === null) break;
        if (!copies.has(child)) node[segment] = copyOf(child);
        node = node[segment] as Record<string, unknown>;
      }
    }
  }
  return root;
}
