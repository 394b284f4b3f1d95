/**
 * driver: how a node runs tasks. The agent talks only to the `Driver` interface
 * (driver.ts); `DockerDriver` runs containers on the Docker Engine, `FakeDriver` runs
 * in-memory tasks for unit tests and simulated nodes. Both pass one conformance suite
 * (driver.suite.ts). Imports core and lib only; only agent/main.ts picks a concrete driver.
 */
export * from './driver.js';
export { DockerDriver, type DockerDriverOptions } from './docker/docker-driver.js';
export { PAUSE_IMAGE } from './docker/pause-image.js';
export { FakeDriver, type FakeDriverOptions, type FakeTarget, type FakeExitOptions, type FakeExecAnswer } from './fake/fake-driver.js';
