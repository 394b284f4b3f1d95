import { DriverError } from '../driver.js';

/** What docker-modem attaches to a failed request (HTTP status and the engine's body). */
interface EngineError {
  statusCode?: number;
  code?: string;
  json?: unknown;
  message?: string;
}

// Socket errors that mean "the engine is not there right now": retrying later can help.
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EACCES', 'ESOCKETTIMEDOUT']);

/** HTTP status of a failed engine call, if it got that far. */
export function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as EngineError).statusCode : undefined;
}

/** True when the call never reached the engine (socket missing, refused, reset). */
export function isUnreachable(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as EngineError).code : undefined;
  return code !== undefined && UNREACHABLE.has(code);
}

/** The engine's own message (`{"message": …}` body) rather than docker-modem's wrapper text. */
export function engineMessage(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const json = (e as EngineError).json;
    if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') {
      return (json as { message: string }).message;
    }
    if (typeof (e as EngineError).message === 'string') return (e as EngineError).message!;
  }
  return String(e);
}

/**
 * Classifies a failed engine call. Unreachable engine and 5xx are passing faults
 * (retryable); 4xx are about the request itself (bad command, bad config) and will fail
 * the same way again.
 */
export function toDriverError(e: unknown, what: string, socketPath: string): DriverError {
  if (e instanceof DriverError) return e;
  if (isUnreachable(e)) {
    return new DriverError(`${what}: Docker Engine unreachable at ${socketPath} (${engineMessage(e)}); is dockerd running?`, true, { cause: e });
  }
  const status = statusOf(e);
  const retryable = status === undefined || status >= 500;
  return new DriverError(`${what}: ${engineMessage(e)}`, retryable, { cause: e });
}
