import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { KaruError, type ErrorCode, type ErrorDetails } from '../core/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ApiErrorBody } from '../client/types.js';

/**
 * The one place where error codes become HTTP statuses. Clients branch on `code`
 * (stable), people read `message` (says what to do), tools read `details`.
 */
export const HTTP_STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** Request bodies above this are refused with 413 before any route reads them. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The wire shape of an error; `details` is always present (possibly empty). */
export function errorBody(err: KaruError): ApiErrorBody & { details: ErrorDetails } {
  return { code: err.code, message: err.message, details: err.details };
}

/** A 400 about the request itself (query, body): never retryable. */
export function invalid(message: string, details: ErrorDetails = {}): KaruError {
  return new KaruError('INVALID', message, { details, retryable: false });
}

export function unauthorized(message: string): KaruError {
  return new KaruError('UNAUTHORIZED', message, { retryable: false });
}

/**
 * Hono's `onError`: KaruErrors answer with their own code; anything else is a bug, so it
 * is logged with its stack and the client gets a generic 500 (internals stay inside).
 */
export function createErrorHandler(logger: Logger): (err: Error, c: Context) => Response {
  return (err, c) => {
    if (err instanceof HTTPException) {
      // Raised by Hono itself or its middleware; keep the status, speak our error shape.
      const status = err.status as ContentfulStatusCode;
      const code: ErrorCode = status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHORIZED' : status >= 500 ? 'INTERNAL' : 'INVALID';
      return c.json({ code, message: err.message || `HTTP ${status}`, details: {} }, status);
    }
    const { status, body } = failureAnswer(err, logger, c.req.method, c.req.path);
    return c.json(body, status);
  };
}

/**
 * What a request that threw gets, logged as the API logs failures: a KaruError its own
 * code (logged when a 5xx), anything else — a bug — a generic 500 with the stack in the
 * log. Shared by Hono's handler and the heartbeat fast path (heartbeat-fast-path.ts).
 */
export function failureAnswer(err: unknown, logger: Logger, method: string | undefined, path: string | undefined): { status: ContentfulStatusCode; body: ApiErrorBody & { details: ErrorDetails } } {
  if (err instanceof KaruError) {
    const status = HTTP_STATUS[err.code];
    if (status >= 500) logger.warn({ err, method, path }, 'request failed: %s', err.message);
    return { status, body: errorBody(err) };
  }
  logger.error({ err, method, path }, 'unhandled error in API route');
  return { status: 500, body: { code: 'INTERNAL', message: 'internal server error; the server log has the details', details: {} } };
}

/** Hono's `notFound`: names the method and path so a typo is obvious. */
export function notFoundHandler(c: Context): Response {
  return c.json({ code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}`, details: {} }, 404);
}

/** `bodyLimit`'s overflow answer. */
export function bodyTooLarge(c: Context): Response {
  return c.json(
    { code: 'INVALID', message: `request body is larger than the limit of ${MAX_BODY_BYTES} bytes (1 MiB)`, details: { limitBytes: MAX_BODY_BYTES } },
    413,
  );
}
