import { connect } from 'node:net';
import { errorReason, hostPort, type CheckOutcome } from './outcome.js';

/** How a tcp check names itself in its output: `tcp 10.0.0.1:23456`. */
export const describeTcpCheck = (target: { host: string; port: number }): string => `tcp ${hostPort(target.host, target.port)}`;

/** Passes when a TCP connection to `host:port` opens; closes it at once. `signal` aborts the connect. */
export function runTcpCheck(target: { host: string; port: number }, signal: AbortSignal): Promise<CheckOutcome> {
  const name = describeTcpCheck(target);
  return new Promise<CheckOutcome>((resolve) => {
    if (signal.aborted) return resolve({ ok: false, output: `${name}: aborted` });
    const socket = connect({ host: target.host, port: target.port });
    const onAbort = () => {
      socket.destroy();
      resolve({ ok: false, output: `${name}: aborted` });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ok: true, output: `${name}: connected` });
    });
    socket.once('error', (e) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ok: false, output: `${name}: ${errorReason(e)}` });
    });
  });
}
