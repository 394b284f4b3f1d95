import type { Rng } from '../lib/rng.js';
import { certValidity } from './certs.js';

/** Renewal happens somewhere in this share of a certificate's lifetime, so nodes joined together do not renew together. */
export const RENEW_AT = { min: 0.5, max: 0.8 } as const;

/**
 * Milliseconds from `now` until the certificate should be renewed: at a random 50–80% of
 * its lifetime (drawn from `rng`). 0 when that moment has passed (renew at once).
 */
export function renewalDelay(certPem: string, rng: Rng, now: number): number {
  const { notBefore, notAfter } = certValidity(certPem);
  const share = RENEW_AT.min + (RENEW_AT.max - RENEW_AT.min) * rng.next();
  const at = notBefore + (notAfter - notBefore) * share;
  return Math.max(0, Math.round(at - now));
}
