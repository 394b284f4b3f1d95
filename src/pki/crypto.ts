import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 signs and verifies through WebCrypto: give it Node's once, here, so every
// pki module that imports `x509` from this file gets a configured library.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

export type Key = webcrypto.CryptoKey;
export type KeyPair = webcrypto.CryptoKeyPair;

/** ECDSA P-256 with SHA-256: the only algorithm Karu issues or accepts. */
export const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A fresh P-256 key pair, extractable so the private key can be written as PKCS#8 PEM. */
export async function generateKeys(): Promise<KeyPair> {
  return webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
}

/** PKCS#8 PEM ("PRIVATE KEY"), the form node:tls reads. */
export async function exportKeyPem(key: Key): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/** The signing key of a PKCS#8 PEM. */
export async function importKeyPem(pem: string): Promise<Key> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error('no PEM block in the private key');
  return webcrypto.subtle.importKey('pkcs8', der, EC_ALG, false, ['sign']);
}
