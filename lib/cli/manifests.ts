/**
 * Reads Kubernetes objects from YAML and JSON manifests: files, folders (read
 * recursively for .yaml, .yml and .json) and standard input. Multi-document
 * YAML and `List` objects (`kubectl get -o yaml`) give one object each.
 *
 * YAML is read the way kubectl reads it (YAML 1.1 scalars, as the Go YAML
 * library does): `yes`/`on` are booleans and `0644` is octal, so the object
 * the webhooks see is the one the API server would. Timestamps and
 * sexagesimal numbers stay strings, as in Go.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Document,
  type DocumentOptions,
  LineCounter,
  type ParseOptions,
  type SchemaOptions,
  isNode,
  isSeq,
  parseAllDocuments,
} from 'yaml';
import { type JsonObject, isObject } from '../common/json';

/** One Kubernetes object and where it was found. */
export interface Manifest {
  /** File path as given (joined with folder entries), or `<stdin>`. */
  source: string;
  /** 1-based line where the object starts. */
  line: number;
  object: JsonObject;
}

/** Input that cannot be read or is not Kubernetes objects; the message names the file (and line). */
export class InputError extends Error {
  override name = 'InputError';
}

export const STDIN = '-';
const STDIN_NAME = '<stdin>';
const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Tags Go's YAML library does not resolve in plain scalars: `2001-12-14`, `1:20`. */
const GO_UNRESOLVED = new Set(['timestamp', 'intTime', 'floatTime', 'tag:yaml.org,2002:timestamp']);

const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  customTags: (tags) =>
    tags.filter((tag) => (typeof tag === 'string' ? !GO_UNRESOLVED.has(tag) : !GO_UNRESOLVED.has(tag.tag) && tag.format !== 'TIME')),
};

/** Files below a folder with a manifest extension, depth first, in name order. */
function filesBelow(folder: string): string[] {
  return readdirSync(folder)
    .sort()
    .flatMap((name) => {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) return filesBelow(path);
      return MANIFEST_FILE.test(name) ? [path] : [];
    });
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: ${code === 'ENOENT' ? 'no such file or folder' : (error as Error).message}`);
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // reading it reports the problem
  }
}

/** Objects of one document: the document itself, or the items of a List. */
function objectsOf(document: Document, source: string, lines: LineCounter): Manifest[] {
  const lineOf = (node: { range?: readonly number[] | null } | null | undefined) => lines.linePos(node?.range?.[0] ?? 0).line;
  const start = lineOf(document.contents);
  const where = `${source}:${start}`;
  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    throw new InputError(`${where}: ${(error as Error).message}`); // e.g. too many aliases
  }
  if (value === null || value === undefined) return [];
  if (!isObject(value)) throw new InputError(`${where}: the document is not a Kubernetes object (a mapping)`);
  if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
    const items = document.get('items', true);
    return value.items.flatMap((item, index) => {
      const node = isSeq(items) ? items.items[index] : undefined;
      return [checked({ source, line: lineOf(isNode(node) ? node : document.contents), object: item })];
    });
  }
  return [checked({ source, line: start, object: value })];
}

function checked(manifest: { source: string; line: number; object: unknown }): Manifest {
  const { source, line, object } = manifest;
  if (!isObject(object)) throw new InputError(`${source}:${line}: the list item is not a Kubernetes object (a mapping)`);
  if (typeof object.apiVersion !== 'string' || object.apiVersion === '' || typeof object.kind !== 'string' || object.kind === '') {
    throw new InputError(`${source}:${line}: the object has no apiVersion or kind`);
  }
  return { source, line, object };
}

/** Parses the text of one file (YAML or JSON); a syntax error names the file, line and column. */
export function parseManifests(text: string, source: string): Manifest[] {
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter: lines });
  for (const document of documents) {
    const [error] = document.errors;
    if (error) {
      const position = error.linePos?.[0];
      const where = position ? `${source}:${position.line}:${position.col}` : source;
      // The library's message repeats the position and quotes the line; keep the reason.
      const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new InputError(`${where}: ${reason}`);
    }
  }
  return documents.flatMap((document) => objectsOf(document, source, lines));
}

/**
 * Reads every path in order (`-` is standard input, read once); no paths
 * means standard input. A folder without manifest files is an error: the path
 * is probably wrong. Every unreadable file is reported, not only the first,
 * so one run lists all that a pipeline has to fix.
 */
export function readManifests(paths: readonly string[], readStdin: () => string): Manifest[] {
  const sources = paths.length === 0 ? [STDIN] : paths;
  const problems: string[] = [];
  const attempt = (load: () => Manifest[]): Manifest[] => {
    try {
      return load();
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(error.message);
      return [];
    }
  };
  let stdinRead = false;
  const manifests = sources.flatMap((path) => {
    if (path === STDIN) {
      if (stdinRead) return [];
      stdinRead = true;
      return attempt(() => parseManifests(readStdin(), STDIN_NAME));
    }
    if (!isFolder(path)) return attempt(() => parseManifests(read(path), path));
    const files = filesBelow(path);
    if (files.length === 0) return attempt(() => {
      throw new InputError(`${path}: the folder has no .yaml, .yml or .json files`);
    });
    return files.flatMap((file) => attempt(() => parseManifests(read(file), file)));
  });
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return manifests;
}
