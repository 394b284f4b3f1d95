import { DriverError, type TaskSpec } from './driver.js';

/**
 * Refuses network settings that cannot go together, the same way in every driver: a task
 * that joins another's network namespace (`joinNetworkOf`) has no network settings of its
 * own — the holder publishes the pod's ports, and its resolv.conf is the one the task sees
 * (Docker refuses DNS options with a container network mode, and would refuse ports less
 * clearly). Throws a non-retryable DriverError saying why.
 */
export function checkNetworkSpec(spec: TaskSpec): void {
  if (spec.joinNetworkOf === undefined) return;
  const why = `task ${spec.name} joins the network of ${spec.joinNetworkOf.slice(0, 12)}`;
  if (spec.kind === 'pause') throw new DriverError(`${why}, but a pause container holds a network namespace of its own`, false);
  if (spec.ports.length > 0) {
    throw new DriverError(`${why}, so it cannot publish ports: publish them on the pause container, which owns the namespace`, false);
  }
  if (spec.dns !== undefined) {
    throw new DriverError(
      `${why}, so it cannot set DNS servers: Docker refuses DNS options with a container network mode; set them on the pause container, whose resolv.conf the task shares`,
      false,
    );
  }
}
