import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KaruError } from '../core/errors.js';
import type { Env } from './context.js';
import { DEFAULT_DATA_DIR } from './lifecycle.js';

/** Where `karu server` (default data dir) leaves its CA for the CLI. */
export const DEFAULT_CA_FILE = join(DEFAULT_DATA_DIR, 'server', 'ca.pem');

/** The CA file to trust: `--ca`, else KARU_CA_CERT, else the local server's `ca.pem` when present. */
export function caFileFor(flag: string | undefined, env: Env): string | undefined {
  if (flag) return flag;
  if (env.KARU_CA_CERT) return env.KARU_CA_CERT;
  return existsSync(DEFAULT_CA_FILE) ? DEFAULT_CA_FILE : undefined;
}

/**
 * A fetch for an https:// server that trusts only the cluster CA in `caFile` and checks the
 * peer is the Karu server. Reads the file and loads the TLS code on first use, so commands
 * that never call the server pay nothing.
 */
export function cliTlsFetch(caFile: string | undefined): typeof fetch {
  if (!caFile) {
    throw new KaruError('INVALID', `an https:// server uses the cluster's own CA: give its certificate with --ca FILE or KARU_CA_CERT (karu server writes it to <data dir>/ca.pem; looked for ${DEFAULT_CA_FILE})`);
  }
  let ready: Promise<typeof fetch> | undefined;
  const load = async (): Promise<typeof fetch> => {
    let caPem: string;
    try {
      caPem = readFileSync(caFile, 'utf8');
    } catch (e) {
      throw new KaruError('INVALID', `cannot read the CA certificate ${caFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    const { createTlsFetch } = await import('../pki/tls.js');
    return createTlsFetch({ caPem }, 'server').fetch;
  };
  return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => (await (ready ??= load()))(input, init)) as typeof fetch;
}
