import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../lib/logger.js';
import { certIdentity, certValidity, issueAdminCert, verifyCert, type CaBundle } from '../pki/certs.js';

/** The cluster admin's client certificate and key, beside `ca.pem` in the server's data dir. */
export const ADMIN_CERT_FILE = 'admin.pem';
export const ADMIN_KEY_FILE = 'admin-key.pem';

/** An admin certificate with less left than this is re-issued at start-up. */
const REISSUE_BEFORE_MS = 30 * 24 * 3600_000;

/**
 * Makes sure `<dataDir>/admin.pem` and `admin-key.pem` (0600) hold an admin certificate of
 * this CA that is good for a while yet: written on the first TLS start, kept afterwards,
 * re-issued when missing, from another CA (a store reset) or near its end. Whoever can read
 * these files is cluster admin. Returns the paths.
 */
export async function ensureAdminCert(dataDir: string, ca: CaBundle, now: Date, logger: Logger): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dataDir, ADMIN_CERT_FILE);
  const keyFile = join(dataDir, ADMIN_KEY_FILE);
  if (await stillGood(certFile, keyFile, ca, now)) return { certFile, keyFile };
  const admin = await issueAdminCert(ca, { now });
  // Key first, each through a temp file: a crash never leaves a certificate without its key.
  writePrivate(keyFile, admin.keyPem);
  writePrivate(certFile, admin.certPem);
  logger.info({ certFile, keyFile }, 'issued the cluster admin certificate (whoever holds these files is cluster admin)');
  return { certFile, keyFile };
}

async function stillGood(certFile: string, keyFile: string, ca: CaBundle, now: Date): Promise<boolean> {
  if (!existsSync(certFile) || !existsSync(keyFile)) return false;
  try {
    const certPem = readFileSync(certFile, 'utf8');
    return certIdentity(certPem)?.role === 'admin' && (await verifyCert(certPem, ca.certPem, now)) && certValidity(certPem).notAfter - now.getTime() > REISSUE_BEFORE_MS;
  } catch {
    return false;
  }
}

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600); // the mode above is ignored when the file already existed
  renameSync(tmp, file);
}
