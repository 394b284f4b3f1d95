/**
 * agent/checks: the health checks of an allocation's services (http, tcp, exec), run by
 * the agent next to the containers. `AllocChecks` runs them on their intervals and reports
 * each service's verdict (`CheckResult`) for `AllocStatus.checks`; the catalog follows it.
 * See docs/design/networking.md §3.
 */
export { AllocChecks, type AllocChecksOptions } from './alloc-checks.js';
export { runHttpCheck, describeHttpCheck } from './http-check.js';
export { runTcpCheck, describeTcpCheck } from './tcp-check.js';
export { runExecCheck, describeExecCheck } from './exec-check.js';
export { formatDuration, type CheckOutcome } from './outcome.js';
