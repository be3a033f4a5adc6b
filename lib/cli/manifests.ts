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

/**
 * Input that cannot be read or is not Kubernetes objects: a file, a document or a list item.
 * The review goes on without it and reports it; the command then exits 2.
 */
export interface InputProblem {
  /** File path as given, or `<stdin>`. */
  source: string;
  /** 1-based line (and column, for YAML syntax errors), where known. */
  line?: number;
  column?: number;
  reason: string;
}

/** `file:line:col: reason`, the form compilers and editors understand. */
export function problemText(problem: InputProblem): string {
  const where = [problem.source, problem.line, problem.column].filter((part) => part !== undefined).join(':');
  return `${where}: ${problem.reason}`;
}

/** What a set of inputs holds: every object that could be read, and every problem found. */
export interface ManifestInput {
  manifests: Manifest[];
  problems: InputProblem[];
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

function read(path: string): string | InputProblem {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { source: path, reason: code === 'ENOENT' ? 'no such file or folder' : (error as Error).message };
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // reading it reports the problem
  }
}

/** Objects of one document that parsed: the document itself, or the items of a List. */
function objectsOf(document: Document, source: string, lines: LineCounter): ManifestInput {
  const lineOf = (node: { range?: readonly number[] | null } | null | undefined) => lines.linePos(node?.range?.[0] ?? 0).line;
  const start = lineOf(document.contents);
  const problem = (line: number, reason: string): ManifestInput => ({ manifests: [], problems: [{ source, line, reason }] });
  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    return problem(start, (error as Error).message); // e.g. too many aliases
  }
  if (value === null || value === undefined) return { manifests: [], problems: [] };
  if (!isObject(value)) return problem(start, 'the document is not a Kubernetes object (a mapping)');
  if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
    const items = document.get('items', true);
    return merged(
      value.items.map((item, index) => {
        const node = isSeq(items) ? items.items[index] : undefined;
        const line = lineOf(isNode(node) ? node : document.contents);
        return isObject(item) ? checked(source, line, item) : problem(line, 'the list item is not a Kubernetes object (a mapping)');
      }),
    );
  }
  return checked(source, start, value);
}

function checked(source: string, line: number, object: JsonObject): ManifestInput {
  if (typeof object.apiVersion !== 'string' || object.apiVersion === '' || typeof object.kind !== 'string' || object.kind === '') {
    return { manifests: [], problems: [{ source, line, reason: 'the object has no apiVersion or kind' }] };
  }
  return { manifests: [{ source, line, object }], problems: [] };
}

function merged(inputs: readonly ManifestInput[]): ManifestInput {
  return { manifests: inputs.flatMap((input) => input.manifests), problems: inputs.flatMap((input) => input.problems) };
}

/**
 * Parses the text of one file (YAML or JSON). Each document stands alone: one with a syntax
 * error is reported (file, line and column of its first error) and the others are still read.
 */
export function parseManifests(text: string, source: string): ManifestInput {
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter: lines });
  return merged(
    documents.map((document): ManifestInput => {
      const [error] = document.errors;
      if (!error) return objectsOf(document, source, lines);
      const position = error.linePos?.[0];
      // The library's message repeats the position and quotes the line; keep the reason.
      const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return { manifests: [], problems: [{ source, ...(position ? { line: position.line, column: position.col } : {}), reason }] };
    }),
  );
}

/**
 * Reads every path in order (`-` is standard input, read once); no paths
 * means standard input. A folder without manifest files is a problem: the path
 * is probably wrong. Whatever cannot be read is reported, and everything else
 * is still read, so one run lists all that a pipeline has to fix.
 */
export function readManifests(paths: readonly string[], readStdin: () => string): ManifestInput {
  const sources = paths.length === 0 ? [STDIN] : paths;
  const fromFile = (path: string): ManifestInput => {
    const text = read(path);
    return typeof text === 'string' ? parseManifests(text, path) : { manifests: [], problems: [text] };
  };
  let stdinRead = false;
  return merged(
    sources.map((path): ManifestInput => {
      if (path === STDIN) {
        if (stdinRead) return { manifests: [], problems: [] };
        stdinRead = true;
        return parseManifests(readStdin(), STDIN_NAME);
      }
      if (!isFolder(path)) return fromFile(path);
      const files = filesBelow(path);
      if (files.length === 0) return { manifests: [], problems: [{ source: path, reason: 'the folder has no .yaml, .yml or .json files' }] };
      return merged(files.map(fromFile));
    }),
  );
}
