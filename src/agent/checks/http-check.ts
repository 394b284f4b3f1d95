import { request } from 'node:http';
import type { HttpCheck } from '../../core/job.js';
import { errorReason, hostPort, type CheckOutcome } from './outcome.js';

/** Bytes of a response body read before the check stops reading (and passes on the status). */
const MAX_BODY_BYTES = 64 * 1024;

/** How an http check names itself in its output: `http GET /health`. */
export const describeHttpCheck = (check: Pick<HttpCheck, 'path'>): string => `http GET ${check.path}`;

/**
 * GET `check.path` on `host:port`; passes when the status equals `check.expectStatus`.
 * The body is read (up to 64 KiB) and discarded, so a backend that answers its headers and
 * then hangs does not pass. A fresh connection each run (no agent): a pooled socket could
 * hide a listener that stopped accepting. `signal` aborts the request (timeout, stop).
 */
export function runHttpCheck(target: { host: string; port: number }, check: Pick<HttpCheck, 'path' | 'expectStatus'>, signal: AbortSignal): Promise<CheckOutcome> {
  const name = describeHttpCheck(check);
  return new Promise<CheckOutcome>((resolve) => {
    let done = false;
    const finish = (outcome: CheckOutcome) => {
      if (done) return;
      done = true;
      resolve(outcome);
    };
    const req = request({
      host: target.host,
      port: target.port,
      path: check.path,
      method: 'GET',
      agent: false,
      signal,
      headers: { 'user-agent': 'karu-health-check', accept: '*/*', connection: 'close' },
    });
    req.on('error', (e) => finish({ ok: false, output: `${name}: ${errorReason(e)}` }));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const outcome: CheckOutcome =
        status === check.expectStatus
          ? { ok: true, output: `${name}: status ${status}` }
          : { ok: false, output: `${name}: status ${status} (want ${check.expectStatus})` };
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= MAX_BODY_BYTES) {
          finish(outcome);
          res.destroy();
        }
      });
      res.on('end', () => finish(outcome));
      res.on('error', (e) => finish({ ok: false, output: `${name}: ${errorReason(e)} (${hostPort(target.host, target.port)})` }));
    });
    req.end();
  });
}
