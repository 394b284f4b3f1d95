/**
 * agent: the node agent. Registers the node and heartbeats (the session), follows the
 * node's allocations with a blocking query, runs each through an AllocRunner (one
 * TaskRunner per task, driving the Driver), reports what it observed, and serves logs to
 * the server over its own small HTTP API. Imports only core, lib, driver and client;
 * `main.ts` is the composition root (`startAgent`), imported directly by the CLI
 * so this index stays free of the Docker client. See docs/design/agent.md.
 */
export { Agent, type AgentDeps, type AgentServerApi, type AgentState } from './agent.js';
export { AllocRunner, deriveClientStatus, type AllocRunnerOptions } from './alloc-runner.js';
export { TaskRunner, type TaskRunnerOptions, type PodNetwork } from './task-runner.js';
export { decideRestart, describeExit, type RestartDecision } from './restart-policy.js';
export { buildTaskSpec, buildPauseSpec, containerName, volumeName, type NodeIdentity } from './task-spec.js';
export { Pod, type PodOptions } from './pod.js';
export { taskRole, type TaskRole } from './lifecycle.js';
export { StatusReporter, type StatusReporterOptions } from './status-reporter.js';
export { DriverHealthTracker } from './driver-health.js';
export { resolveAgentConfig, agentConfigInput, AGENT_DEFAULTS, type AgentConfig, type AgentConfigInput } from './config.js';
export { startAgentHttpServer, type AgentHttpServer, type AgentHttpSource } from './http-server.js';
