/**
 * JSON Patch (RFC 6902) builders, and the check that a patch applies. Each builder looks at the
 * current value and returns only the operations needed, so a second pass over a patched object
 * yields none. Paths are JSON Pointers (RFC 6901) built from unescaped segments.
 *
 * Every builder emits `add`, in three shapes: set an object member (added, or replaced where it
 * exists), append to an array (`/-`), and create an array. `applyChecked` therefore implements
 * `add` alone, following the RFC's rules; fast-json-patch is its oracle in the property tests.
 */
import { type JsonObject, isObject } from '../common/json';

/** An RFC 6902 `add` operation: the one operation the builders emit. */
export interface AddOperation {
  op: 'add';
  /** A JSON Pointer (RFC 6901), escaped. */
  path: string;
  value: unknown;
}

export type Operation = AddOperation;

export type PointerSegment = string | number;

/** Escapes one reference token: `~` becomes `~0` and `/` becomes `~1`. */
export function escapePointerSegment(segment: PointerSegment): string {
  const text = String(segment);
  // Most segments need no escaping; looking first is several times cheaper than two replaceAll.
  return text.includes('~') || text.includes('/') ? text.replaceAll('~', '~0').replaceAll('/', '~1') : text;
}

export function pointer(segments: readonly PointerSegment[]): string {
  let text = '';
  for (const segment of segments) text += `/${escapePointerSegment(segment)}`;
  return text;
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
  const json = JSON.stringify(operations);
  // btoa reads each character as one byte, which is the UTF-8 encoding only for ASCII; it is
  // four times faster than encoding through a Buffer, and patches are ASCII but for odd values.
  return ASCII.test(json) ? btoa(json) : Buffer.from(json).toString('base64');
}

const ASCII = /^[\x00-\x7f]*$/;

/** A patch that does not apply, naming the first operation that fails and why. */
export class PatchError extends Error {
  constructor(
    readonly index: number,
    reason: string,
  ) {
    super(`patch operation ${index} does not apply: ${reason}`);
    this.name = 'PatchError';
  }
}

/**
 * Throws a PatchError unless `operations` apply to `document`, in order, as RFC 6902 applies
 * `add`. The operations are applied to the document itself and then undone, last first, whether
 * they all applied or not: no copy is made (copying the objects on each path cost more than the
 * rest of the check), and since the check is synchronous nothing can see the document meanwhile.
 * Afterwards the document and the operations are as they were (an earlier operation's value that
 * a later one added to is restored too).
 */
export function checkPatch(document: JsonObject, operations: readonly Operation[]): void {
  const journal: Change[] = [];
  try {
    operations.forEach((operation, index) => applyAdd(document, operation, index, journal));
  } finally {
    for (let index = journal.length - 1; index >= 0; index -= 1) undo(journal[index] as Change);
  }
}

/**
 * The patched document: `operations` applied, as `checkPatch` checks them, to a copy of
 * `document` (a PatchError where they do not apply). Neither input is changed.
 */
export function applyChecked(document: JsonObject, operations: readonly Operation[]): JsonObject {
  const copy = structuredClone({ document, operations });
  copy.operations.forEach((operation, index) => applyAdd(copy.document, operation, index));
  return copy.document;
}

type Container = JsonObject | unknown[];

/** One applied `add`, as `undo` reverses it: an array element inserted, or an object member set where it was absent or held `previous`. */
type Change =
  | { array: unknown[]; index: number }
  | { object: JsonObject; member: string; existed: boolean; previous: unknown };

function undo(change: Change): void {
  if ('array' in change) change.array.splice(change.index, 1);
  else if (change.existed) change.object[change.member] = change.previous;
  else {
    // Deleted by the object's own copy of the name rather than the slice of the path that added
    // it: V8 deletes a member several times faster by an interned name (measured: 0.3 µs a delete).
    const member = Object.keys(change.object).find((key) => key === change.member) as string;
    delete change.object[member];
  }
}

/** Applies one `add` to `document` in place, recording it in `journal` where one is given. */
function applyAdd(document: JsonObject, operation: Operation, index: number, journal?: Change[]): void {
  if (!isObject(operation) || operation.op !== 'add') throw new PatchError(index, 'only "add" operations are supported');
  const { path, value } = operation;
  // RFC 6902 section 4.1: the operation object MUST contain a "value" member. A member or
  // element that is undefined would vanish from the encoded JSON, so it is refused as well.
  if (!isJsonValue(value)) throw new PatchError(index, 'its value is missing or contains undefined');
  // RFC 6901 section 3: a pointer is empty (the whole document) or starts with "/". Replacing the
  // whole object is not a patch the builders emit.
  if (typeof path !== 'string' || !path.startsWith('/')) throw new PatchError(index, `its path ${JSON.stringify(path)} must start with "/"`);
  // RFC 6902 section 4.1: the object or array that receives the value must already exist: every
  // reference token but the last must name an existing member or element (RFC 6901 section 4).
  // Tokens are read one at a time with indexOf, which costs a third of splitting the path.
  let parent: Container = document;
  let start = 1;
  for (let end = path.indexOf('/', start); end !== -1; start = end + 1, end = path.indexOf('/', start)) {
    const token = referenceToken(path.slice(start, end), index);
    const child = Array.isArray(parent) ? (isArrayIndex(token) ? parent[Number(token)] : undefined) : Object.hasOwn(parent, token) ? parent[token] : undefined;
    if (typeof child !== 'object' || child === null) throw new PatchError(index, `${path.slice(0, end)} is not an object or an array`);
    parent = child as Container;
  }
  const token = referenceToken(path.slice(start), index);
  if (Array.isArray(parent)) {
    // RFC 6902 section 4.1: "-" appends; an index inserts before the element there, shifting the
    // rest, and MUST NOT be greater than the number of elements.
    const at = token === '-' ? parent.length : isArrayIndex(token) ? Number(token) : Number.NaN;
    if (!(at <= parent.length)) {
      throw new PatchError(index, `${JSON.stringify(token)} is not "-" or an index from 0 to ${parent.length} of the array at ${path.slice(0, start - 1) || 'the root'}`);
    }
    parent.splice(at, 0, value);
    journal?.push({ array: parent, index: at });
  } else {
    // Added, or replaced where the member exists.
    const existed = Object.hasOwn(parent, token);
    journal?.push({ object: parent, member: token, existed, previous: existed ? parent[token] : undefined });
    parent[token] = value;
  }
}

/**
 * An unescaped reference token (RFC 6901 section 4: "~1" becomes "/", then "~0" becomes "~").
 * `__proto__` is refused, as fast-json-patch refuses it: reading or assigning it reaches the
 * prototype rather than a member (the builders never emit it).
 */
function referenceToken(escaped: string, index: number): string {
  const token = escaped.includes('~') ? escaped.replaceAll('~1', '/').replaceAll('~0', '~') : escaped;
  if (token === '__proto__') throw new PatchError(index, 'its path names a "__proto__" member');
  return token;
}

/** RFC 6901 section 4: an array index is "0" or digits without a leading zero. */
function isArrayIndex(token: string): boolean {
  return /^(?:0|[1-9][0-9]*)$/.test(token);
}

/** A value JSON can carry unchanged: no undefined (nor a function) anywhere in it. */
function isJsonValue(value: unknown): boolean {
  if (value === undefined || typeof value === 'function') return false;
  if (typeof value !== 'object' || value === null) return true;
  return Object.values(value).every(isJsonValue);
}
