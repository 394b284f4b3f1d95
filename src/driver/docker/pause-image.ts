import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { DriverError } from '../driver.js';
import { isPauseArch, pauseProgram } from './pause-program.js';
import { tarArchive } from './tar.js';

/** The image of every pod's pause container. Built locally: no registry is reachable. */
export const PAUSE_IMAGE = 'karu/pause:1';

/** What to do on a machine this driver cannot generate the program for. */
export function unsupportedArchMessage(arch: string, image = PAUSE_IMAGE): string {
  return (
    `the pause image ${image} is missing and Karu can only build it on x86-64 and arm64, not ${arch}. ` +
    `Make it yourself from any static program that waits and exits 0 on SIGTERM (it runs as PID 1 with no init), e.g. ` +
    `Kubernetes' pause built for ${arch}: \`tar -C DIR -c pause | docker import -c 'CMD ["/pause"]' - ${image}\``
  );
}

/**
 * Builds the pause image (`karu/pause:1` unless told otherwise) by importing a one-file root filesystem (`/pause`, generated in
 * pause-program.ts) — the same way `scripts/images.sh` imports busybox. Takes a few
 * hundred milliseconds; the result is a ~200-byte image.
 */
export async function buildPauseImage(docker: Dockerode, image: string = PAUSE_IMAGE, arch: string = process.arch): Promise<void> {
  if (!isPauseArch(arch)) throw new DriverError(unsupportedArchMessage(arch, image), false);
  const rootfs = tarArchive([{ name: 'pause', data: pauseProgram(arch), mode: 0o755 }]);
  const colon = image.lastIndexOf(':');
  const [repo, tag] = colon > image.lastIndexOf('/') ? [image.slice(0, colon), image.slice(colon + 1)] : [image, 'latest'];
  // `changes` is sent as repeated query parameters (docker import -c …).
  const progress = await docker.importImage(Readable.from([rootfs]), {
    repo,
    tag,
    changes: ['CMD ["/pause"]'],
  });
  // As with pulls, the engine reports failures inside the progress stream with HTTP 200.
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(progress, (err: Error | null, output: { error?: string }[]) => {
      const failed = output?.find((o) => o.error);
      if (err) reject(err);
      else if (failed) reject(new Error(failed.error));
      else resolve();
    });
  });
}
