import { Hono } from 'hono';
import type { AllocView } from '../../core/alloc.js';
import type { NodeId } from '../../core/ids.js';
import type { Group, Job, JobType } from '../../core/job.js';
import type { ControlPlane } from '../../controllers/control-plane.js';
import { isListedToAgent } from '../../controllers/cluster.js';
import type { HeartbeatResponse, NodeAllocation, NodeAllocationsResponse, RegisterNodeResponse, SharedGroupsNodeAllocationsResponse } from '../../client/types.js';
import type { Logger } from '../../lib/logger.js';
import type { ApiDeps } from '../deps.js';
import { invalid, unauthorized } from '../errors.js';
import { NODE_SECRET_HEADER, requireNodeSecret } from '../node-auth.js';
import { checkNodeCert, requireNodeCert } from '../node-cert-auth.js';
import { heartbeatBody, nodeAllocsQuery, parseJsonBody, parseQuery, registerNodeBody, updateAllocStatusBody } from '../schemas.js';

/** Longest a blocking query may hold a connection, whatever the agent asks for. */
export const MAX_BLOCKING_WAIT_MS = 60_000;

/**
 * The agent's side of the API: register, heartbeat, the blocking query for its
 * allocations, and status reports. Everything but a first registration needs the node secret.
 */
export function agentRoutes({ controlPlane: cp, logger, pki, peerOf }: ApiDeps) {
  // With TLS the client certificate is the node's identity; without, the node secret.
  const auth = pki ? requireNodeCert(cp, peerOf) : requireNodeSecret(cp);
  return new Hono()
    .post('/nodes/register', async (c) => {
      const body = await parseJsonBody(c, registerNodeBody);
      const { secret: bodySecret, ...registration } = body;
      if (pki) await checkNodeCert(c, cp, peerOf, registration.nodeId);
      if (registration.nodeId) {
        // Re-registering an identity needs its secret, or anyone could take over a node.
        // The control plane checks it (and decides about nodes it has forgotten).
        const secret = bodySecret ?? c.req.header(NODE_SECRET_HEADER);
        if (!secret) throw unauthorized(`cannot register again as node '${registration.nodeId}' without its secret (body field 'secret' or header ${NODE_SECRET_HEADER}); drop the saved identity to join as a new node`);
        const res = await cp.registerNode({ ...registration, secret });
        return c.json(registered(res), 200);
      }
      const res = await cp.registerNode(registration);
      return c.json(registered(res), 201);
    })
    .post('/nodes/:id/heartbeat', auth, async (c) => {
      const body = await parseJsonBody(c, heartbeatBody, { emptyOk: true });
      const res: HeartbeatResponse = await cp.heartbeat(c.req.param('id') as NodeId, body.drivers);
      return c.json(res);
    })
    .get('/nodes/:id/allocations', auth, async (c) => {
      const nodeId = c.req.param('id') as NodeId;
      const { index, waitMs } = parseQuery(nodeAllocsQuery, c.req.query());
      const signal = c.req.raw.signal;
      let next: number;
      try {
        next = await cp.waitForNodeAllocs(nodeId, index, Math.min(waitMs, MAX_BLOCKING_WAIT_MS), signal);
      } catch (e) {
        // The agent hung up mid-wait: nobody is left to answer.
        if (signal.aborted) return c.body(null, 204);
        throw e;
      }
      // `delta=true`: the agent holds the list as of `index` and can apply the changes since
      // (O(changes) per wake, not O(allocations on the node)); the server answers with the
      // whole list whenever it cannot vouch for a delta, and to agents that do not ask.
      const changed = c.req.query('delta') === 'true' && index > 0 ? cp.nodeAllocChanges(nodeId, index) : undefined;
      let res: NodeAllocationsResponse;
      if (changed) {
        const listed = changed.map((id) => cp.state.alloc(id)).filter((a): a is AllocView => a?.nodeId === nodeId && isListedToAgent(a));
        const allocations = await nodeAllocationsOf(cp, listed, logger);
        const sent = new Set(allocations.map((na) => na.alloc.id));
        res = { index: next, allocations, delta: true, removed: changed.filter((id) => !sent.has(id)) };
      } else {
        res = { index: next, allocations: await nodeAllocations(cp, nodeId, logger) };
      }
      return c.json(c.req.query('groups') === 'shared' ? sharingGroups(res) : res);
    })
    .put('/nodes/:id/allocations/status', auth, async (c) => {
      const nodeId = c.req.param('id') as NodeId;
      const { updates } = await parseJsonBody(c, updateAllocStatusBody);
      assertUpdatesOfNode(nodeId, updates);
      await cp.updateAllocStatus(nodeId, updates);
      return c.body(null, 204);
    });
}

/** A node reports only its own allocations (the status route and its fast path, heartbeat-fast-path.ts). */
export function assertUpdatesOfNode(nodeId: NodeId, updates: readonly { nodeId: string }[]): void {
  updates.forEach((u, i) => {
    if (u.nodeId !== nodeId) throw invalid(`request body field 'updates[${i}].nodeId' must be the node in the path ('${nodeId}'), not '${u.nodeId}'`, { issues: [{ path: `updates[${i}].nodeId`, message: `must be '${nodeId}'` }] });
  });
}

function registered(res: Awaited<ReturnType<ControlPlane['registerNode']>>): RegisterNodeResponse {
  return { nodeId: res.node.id, secret: res.secret, heartbeatTtlMs: res.heartbeatTtlMs, serverToken: res.serverToken, serviceCidr: res.serviceCidr };
}

/** The answer with each distinct group spec once (the agent asked with `groups=shared`). */
export function sharingGroups({ allocations, ...rest }: NodeAllocationsResponse): SharedGroupsNodeAllocationsResponse {
  // nodeAllocations hands out the job's own group objects: one per job version and group.
  const refs = new Map<Group, number>();
  const groups: Group[] = [];
  return {
    ...rest,
    groups,
    allocations: allocations.map(({ alloc, group, jobType }) => {
      let groupRef = refs.get(group);
      if (groupRef === undefined) {
        refs.set(group, (groupRef = groups.length));
        groups.push(group);
      }
      return { alloc, groupRef, jobType };
    }),
  };
}

/**
 * What the agent still has to act on: every allocation meant to run, and stopped ones
 * until the agent has reported them terminal (so it learns to kill them). Each comes with
 * the group spec at the allocation's own job version, which may be older than the job's.
 */
export function nodeAllocations(cp: ControlPlane, nodeId: NodeId, logger: Logger): Promise<NodeAllocation[]> {
  return nodeAllocationsOf(cp, cp.state.allocsByNode(nodeId).filter(isListedToAgent), logger);
}

/** `relevant` (allocations the agent is to be sent) with their group specs, in id order; those whose spec is gone are left out. */
async function nodeAllocationsOf(cp: ControlPlane, relevant: readonly AllocView[], logger: Logger): Promise<NodeAllocation[]> {
  const history = new Map<string, Promise<Job[]>>();
  const jobAt = async (a: AllocView): Promise<Job | undefined> => {
    const current = cp.state.job(a.namespace, a.jobName);
    if (current?.version === a.jobVersion) return current;
    const key = `${a.namespace}/${a.jobName}`;
    let versions = history.get(key);
    if (!versions) history.set(key, (versions = cp.listJobVersions(a.namespace, a.jobName)));
    return (await versions).find((j) => j.version === a.jobVersion);
  };
  const out: NodeAllocation[] = [];
  for (const alloc of [...relevant].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const job = await jobAt(alloc);
    const group: Group | undefined = job?.groups.find((g) => g.name === alloc.group);
    if (!job || !group) {
      // Its spec is gone (purged): the agent will stop a container it has no allocation for.
      // Expected for a purged job's allocations on their way out; a surprise for one meant to run.
      const level = alloc.desiredStatus === 'stop' ? 'debug' : 'warn';
      logger[level]({ allocId: alloc.id, job: `${alloc.namespace}/${alloc.jobName}`, version: alloc.jobVersion, group: alloc.group }, 'allocation has no group spec at its job version; not sent to the agent');
      continue;
    }
    const jobType: JobType = job.type;
    out.push({ alloc, group, jobType });
  }
  return out;
}
