import type { Job } from '../core/job.js';
import type { Logger } from '../lib/logger.js';
import type { ControlPlane } from '../controllers/control-plane.js';
import type { ClusterPkiService, PeerOf } from './node-cert-auth.js';

/** What every route module gets: the control plane and the few things it cannot reach itself. */
export interface ApiDeps {
  controlPlane: ControlPlane;
  logger: Logger;
  /** Reaches agents' own APIs (log streaming). */
  fetchAgent: typeof fetch;
  /** Turns a job object as submitted into a trusted Job; throws ValidationError with issues. */
  validateJob: (obj: unknown) => Job;
  /** The cluster CA; present when the server runs with TLS (agent routes then need node certificates). */
  pki?: ClusterPkiService;
  /** The verified client certificate's identity (default: from the TLS socket). */
  peerOf: PeerOf;
}
