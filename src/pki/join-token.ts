import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KaruError } from '../core/errors.js';

/**
 * A join token: `karu1.<id>.<secret>.<ca-sha256>`. The id names the token on the server
 * (so rotation can drop it), the secret proves the holder may join, and the CA's
 * fingerprint lets the agent check it reached the right server before sending the secret.
 */
export interface JoinToken {
  id: string;
  secret: string;
  /** SHA-256 of the cluster CA certificate's DER, lower-case hex. */
  caFingerprint: string;
}

export const JOIN_TOKEN_PREFIX = 'karu1';
const SHAPE = `${JOIN_TOKEN_PREFIX}.<id>.<secret>.<ca-sha256>`;

/** A fresh token for the CA of `caFingerprint`. */
export function newJoinToken(caFingerprint: string): JoinToken {
  return { id: randomBytes(6).toString('hex'), secret: randomBytes(24).toString('base64url'), caFingerprint };
}

export function formatJoinToken(t: JoinToken): string {
  return [JOIN_TOKEN_PREFIX, t.id, t.secret, t.caFingerprint].join('.');
}

/** Parses a token as printed by `karu server` / `karu token rotate`; INVALID names what is wrong. */
export function parseJoinToken(text: string): JoinToken {
  const fail = (why: string) =>
    new KaruError('INVALID', `invalid join token: ${why}; it must look like ${SHAPE} (copy it from \`karu server\`'s output or \`karu token rotate\`)`);
  const parts = text.trim().split('.');
  if (parts[0] !== JOIN_TOKEN_PREFIX) throw fail(`it does not start with '${JOIN_TOKEN_PREFIX}.'`);
  if (parts.length !== 4) throw fail(`it has ${parts.length} dot-separated parts instead of 4`);
  const [, id, secret, fp] = parts as [string, string, string, string];
  if (!/^[0-9a-f]{4,64}$/.test(id)) throw fail('the id (2nd part) must be lower-case hex');
  if (!/^[A-Za-z0-9_-]{16,}$/.test(secret)) throw fail('the secret (3rd part) must be at least 16 base64url characters');
  if (!/^[0-9a-f]{64}$/.test(fp)) throw fail('the CA fingerprint (4th part) must be 64 lower-case hex characters (SHA-256)');
  return { id, secret, caFingerprint: fp };
}

/** Constant-time comparison of two secrets of any length (hashing first equalises lengths). */
export function secretsEqual(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
