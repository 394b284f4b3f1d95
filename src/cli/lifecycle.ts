/** Resolves when `signal` aborts (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** The server and agent data live in subfolders, so `karu dev` and the two separate commands share a layout. */
export const DEFAULT_DATA_DIR = '.karu';
