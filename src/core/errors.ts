/**
 * One error model for the whole of Karu. Every error carries a stable `code` (clients
 * branch on it, never on the message), says whether retrying can help, and keeps its cause.
 * The API maps code → HTTP status in one place (src/api/errors.ts).
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INVALID'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** One problem with an input, pointing at where it is. */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `groups[0].tasks[1].resources.memory`. */
  path: string;
  message: string;
  /** `file:line:col` when the input came from a file. */
  location?: string;
}

export interface ErrorDetails {
  issues?: FieldIssue[];
  [key: string]: unknown;
}

export class KaruError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, opts: { details?: ErrorDetails; retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KaruError';
    this.code = code;
    this.retryable = opts.retryable ?? (code === 'UNAVAILABLE' || code === 'CONFLICT');
    this.details = opts.details ?? {};
  }

  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export class NotFoundError extends KaruError {
  constructor(kind: string, id: string) {
    super('NOT_FOUND', `${kind} '${id}' not found`, { details: { kind, id } });
  }
}

/** A compare-and-swap lost to another writer: re-read and try again. */
export class ConflictError extends KaruError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('CONFLICT', message, { details, retryable: true });
  }
}

export class ValidationError extends KaruError {
  constructor(message: string, issues: FieldIssue[]) {
    super('INVALID', message, { details: { issues }, retryable: false });
  }
}

export class UnavailableError extends KaruError {
  constructor(message: string, cause?: unknown) {
    super('UNAVAILABLE', message, { retryable: true, cause });
  }
}

export function isKaruError(e: unknown): e is KaruError {
  return e instanceof KaruError;
}

/** Turns anything thrown into a KaruError, keeping the original as `cause`. */
export function toKaruError(e: unknown): KaruError {
  if (e instanceof KaruError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new KaruError('INTERNAL', message, { cause: e, retryable: false });
}
