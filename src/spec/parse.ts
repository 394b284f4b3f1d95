/**
 * Job file → core `Job`. YAML is parsed into a document (not straight to objects) so
 * that every schema problem can be pointed at the line and column it comes from.
 */
import { type Document, LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, visit as visitYaml } from 'yaml';
import { type FieldIssue, ValidationError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { type IssuePath, type SpecIssue, formatIssues, formatPath, runJobSchema } from './issues.js';

/** A job file read: the core job, and the plain object the file holds. */
export interface JobFileContents {
  job: Job;
  /**
   * What the file says, as plain data, fit for the API's `RegisterJobRequest.job`.
   * Numbers and booleans in text fields keep their written form (`VERSION: 1.10` → "1.10"),
   * so the server reads the same job as {@link parseJobFile} does.
   */
  spec: unknown;
}

/**
 * Parses and validates a job file. Throws `ValidationError` listing every problem, each
 * with its field path and `file:line:col`.
 */
export function parseJobFile(text: string, fileName: string): Job {
  return readJobFile(text, fileName).job;
}

/** {@link parseJobFile}, also returning the file's plain contents for sending to the API. */
export function readJobFile(text: string, fileName: string): JobFileContents {
  const lineCounter = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${fileName}:${line}:${col}`;
  };
  const fail = (issues: FieldIssue[]): never => {
    throw new ValidationError(formatIssues(issues), issues);
  };

  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [];
  const doc = list[0];
  const empty = doc === undefined || doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
  if (doc === undefined || (empty && doc.errors.length === 0)) {
    return fail([{ path: '', location: at(0), message: "the file is empty: a job needs at least 'name' and 'groups' (see examples/hello.yaml)" }]);
  }
  const yamlIssues: FieldIssue[] = doc.errors.map((e) => ({
    path: '',
    location: at(e.pos[0]),
    message: `invalid YAML (${e.code}): ${e.message}`,
  }));
  const second = list[1];
  if (second !== undefined) {
    yamlIssues.push({
      path: '',
      location: at(second.range[0]),
      message: `a job file holds one job, but it has ${list.length} YAML documents (separated by '---'): put each job in a file of its own`,
    });
  }
  if (yamlIssues.length > 0) return fail(yamlIssues);

  keepWrittenText(doc);
  let spec: unknown;
  try {
    spec = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return fail([{ path: '', location: at(unresolvedAliasOffset(doc)), message: `invalid YAML: ${e instanceof Error ? e.message : String(e)}` }]);
  }

  const result = runJobSchema(spec);
  if (result.ok) return { job: result.job, spec };
  const located = result.issues.map((i) => ({ issue: i, offset: offsetOf(doc, i) }));
  located.sort((a, b) => a.offset - b.offset);
  return fail(located.map(({ issue, offset }) => ({ path: formatPath(issue.path), message: issue.message, location: at(offset) })));
}

/**
 * Validates a job given as a plain object (an API body). The same schema and messages
 * as for files, without locations.
 */
export function validateJobObject(obj: unknown): Job {
  const result = runJobSchema(obj);
  if (result.ok) return result.job;
  const issues: FieldIssue[] = result.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  throw new ValidationError(formatIssues(issues), issues);
}

// ---------------------------------------------------------------------------------------

/**
 * Fields that hold text, where YAML's typing of plain scalars only loses information:
 * `1.10` would become 1.1, `0x1F` 31. Here they keep the text the user wrote.
 */
const TEXT_FIELDS: IssuePath[] = [
  ['meta', '*'],
  ['constraints', '*', 'value'],
  ['groups', '*', 'constraints', '*', 'value'],
  ['groups', '*', 'tasks', '*', 'env', '*'],
  ['groups', '*', 'tasks', '*', 'args', '*'],
  ['affinities', '*', 'value'],
  ['groups', '*', 'affinities', '*', 'value'],
  ['spreads', '*', 'targets', '*', 'value'],
  ['groups', '*', 'spreads', '*', 'targets', '*', 'value'],
  ['groups', '*', 'services', '*', 'tags', '*'],
  ['groups', '*', 'services', '*', 'checks', '*', 'command', '*'],
];

function keepWrittenText(doc: Document): void {
  for (const pattern of TEXT_FIELDS) visit(doc.contents, pattern);
}

function visit(node: unknown, pattern: IssuePath): void {
  const [head, ...rest] = pattern;
  if (head === undefined) {
    if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean') && node.source !== undefined) {
      node.value = node.source;
    }
    return;
  }
  if (head === '*') {
    if (isSeq(node)) for (const item of node.items) visit(item, rest);
    if (isMap(node)) for (const pair of node.items) visit(pair.value, rest);
    return;
  }
  if (isMap(node)) visit(node.get(head, true), rest);
}

/**
 * Where in the text an issue belongs: the key for unknown or bad keys, otherwise the
 * value; for a missing field, the nearest enclosing node that exists.
 */
function offsetOf(doc: Document, issue: SpecIssue): number {
  const { path } = issue;
  if (issue.atKey && path.length > 0) {
    const parent = nodeAt(doc, path.slice(0, -1));
    const last = String(path.at(-1));
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === last);
      if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
    }
  }
  for (let n = path.length; n >= 0; n--) {
    const node = nodeAt(doc, path.slice(0, n));
    const range = hasRange(node) ? node.range : undefined;
    if (range) return range[0];
  }
  return 0;
}

/** Where the first alias without an anchor is (the usual reason toJS throws), else 0. */
function unresolvedAliasOffset(doc: Document): number {
  let offset = 0;
  visitYaml(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return undefined;
      offset = alias.range?.[0] ?? 0;
      return visitYaml.BREAK;
    },
  });
  return offset;
}

function nodeAt(doc: Document, path: IssuePath): unknown {
  return path.length === 0 ? doc.contents : doc.getIn(path, true);
}

function hasRange(node: unknown): node is { range: [number, number, number] | null | undefined } {
  return typeof node === 'object' && node !== null && 'range' in node;
}
