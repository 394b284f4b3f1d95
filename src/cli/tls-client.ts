import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/** The client certificate the CLI presents (the cluster admin's, for admin routes). */
export interface ClientCertFiles {
  certFile: string;
  keyFile: string;
}

/** Names of the admin credential `karu server` writes beside its `ca.pem`. */
export const ADMIN_CERT_NAME = 'admin.pem';
export const ADMIN_KEY_NAME = 'admin-key.pem';

/**
 * The client certificate to present: `--cert`/`--key`, else KARU_CLIENT_CERT/KARU_CLIENT_KEY,
 * else `admin.pem` and `admin-key.pem` beside the CA file in use (the default CA file when
 * neither --ca nor KARU_CA_CERT says) when both exist; none otherwise. Throws a usage-level
 * INVALID when only one of certificate and key is given.
 */
export function clientCertFor(flags: { cert?: string | undefined; key?: string | undefined }, env: Env, caFile: string | undefined): ClientCertFiles | undefined {
  const certFile = flags.cert ?? env.KARU_CLIENT_CERT;
  const keyFile = flags.key ?? env.KARU_CLIENT_KEY;
  if (certFile && keyFile) return { certFile, keyFile };
  if (certFile || keyFile) {
    throw new KaruError('INVALID', `a client certificate needs its key and the key its certificate: give both --cert FILE and --key FILE (or KARU_CLIENT_CERT and KARU_CLIENT_KEY)`);
  }
  if (!caFile) return undefined;
  const dir = dirname(caFile);
  const beside = { certFile: join(dir, ADMIN_CERT_NAME), keyFile: join(dir, ADMIN_KEY_NAME) };
  return existsSync(beside.certFile) && existsSync(beside.keyFile) ? beside : undefined;
}

/**
 * A fetch for an https:// server that trusts only the cluster CA in `caFile`, checks the
 * peer is the Karu server and presents `client` when given. Reads the files and loads the
 * TLS code on first use, so commands that never call the server pay nothing.
 */
export function cliTlsFetch(caFile: string | undefined, client?: ClientCertFiles): typeof fetch {
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
    const creds = client ? { certPem: readPem(client.certFile, 'client certificate'), keyPem: readPem(client.keyFile, 'client key') } : {};
    const { createTlsFetch } = await import('../pki/tls.js');
    return createTlsFetch({ caPem, ...creds }, 'server').fetch;
  };
  return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => (await (ready ??= load()))(input, init)) as typeof fetch;
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new KaruError('INVALID', `cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (--cert/--key, KARU_CLIENT_CERT/KARU_CLIENT_KEY)`, { cause: e });
  }
}
