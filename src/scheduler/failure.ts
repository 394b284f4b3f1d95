import type { PlacementFailure } from '../core/evaluation.js';
import type { FilterTally } from './feasibility.js';

/** Folds one failed placement attempt into the record kept on the evaluation. */
export function placementFailure(unplaced: number, nodesEvaluated: number, nodesAvailable: number, tally: FilterTally): PlacementFailure {
  return { unplaced, nodesEvaluated, nodesAvailable, filtered: tally.filtered(), explanations: tally.explanations() };
}

/**
 * One sentence for people (CLI, evaluation status):
 * "could not place 2 allocations (5 nodes evaluated, 3 available): 2 nodes: not enough
 * memory (needs 512 MB, most free 300 MB); 1 node: draining".
 */
export function describeFailure(f: PlacementFailure): string {
  const what = `could not place ${f.unplaced} allocation${f.unplaced === 1 ? '' : 's'}`;
  if (f.nodesEvaluated === 0) return `${what}: no nodes registered`;
  const head = `${what} (${f.nodesEvaluated} node${f.nodesEvaluated === 1 ? '' : 's'} evaluated, ${f.nodesAvailable} available)`;
  return f.explanations.length === 0 ? head : `${head}: ${f.explanations.join('; ')}`;
}
