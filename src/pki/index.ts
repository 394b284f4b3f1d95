/** Cluster PKI: the CA, certificates, join tokens, renewal timing and the Node TLS plumbing. */
export * from './certs.js';
export * from './join-token.js';
export * from './renewal.js';
export * from './tls.js';
