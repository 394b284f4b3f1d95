/**
 * How a KaruClient sends a request when it is not through `fetch`. A transport sends bytes
 * and hands back the status and the body as text; the client keeps everything else (paths,
 * headers, the error model), so a client on a transport speaks the same API as one on fetch.
 * `karu sim` uses one (src/agent/http-transport.ts): thousands of simulated nodes share one
 * process, and fetch's per-call objects (web streams, Headers, Response, abort signals)
 * were most of its CPU (issue 5).
 */
export interface TransportRequest {
  method: string;
  /** The client's base URL, e.g. `http://127.0.0.1:4646` (no trailing slash). */
  base: string;
  /** Path and query, e.g. `/v1/nodes/n1/heartbeat`. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Abandons the request (the caller shuts down). */
  signal?: AbortSignal;
  /** Gives up after this long without an answer; 0 = never. */
  timeoutMs: number;
  /** A blocking query: the server holds it open for up to its wait, so it must not queue behind (or hold up) short calls. */
  blocking: boolean;
  /** A heartbeat: a late one is worthless, so it must not queue behind bulk calls (status reports) either. */
  urgent?: boolean;
}

export interface TransportResponse {
  status: number;
  text: string;
}

/** Rejects only when the server could not be reached or answer in time (or `signal` fired). */
export type Transport = (req: TransportRequest) => Promise<TransportResponse>;
