import type { AllocId, NodeId } from './ids.js';

/** One proposed move of a rebalance: the scheduler plans it, the API and CLI show it. */
export interface RebalanceMove {
  allocId: AllocId;
  /** `job.group[index]`. */
  name: string;
  namespace: string;
  jobName: string;
  fromNodeId: NodeId;
  fromNodeName: string;
  toNodeId: NodeId;
  toNodeName: string;
  why: string;
}

/** How full a node is, before or after a rebalance. */
export interface NodeUtilisation {
  nodeId: NodeId;
  name: string;
  /** Fractions 0..1 of the node's total. */
  cpu: number;
  memory: number;
  allocs: number;
}
