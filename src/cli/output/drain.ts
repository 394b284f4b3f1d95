import type { DrainProgress } from '../../client/types.js';
import { plural } from './format.js';

/** `3 allocations left: 1 migrating, 1 batch finishing, 1 not movable`. */
export function progressLine(p: DrainProgress): string {
  const parts = [`${p.migrating} migrating`];
  if (p.batch > 0) parts.push(`${p.batch} batch finishing`);
  if (p.notMovable.length > 0) parts.push(`${p.notMovable.length} not movable`);
  return `${plural(p.left, 'allocation')} left: ${parts.join(', ')}`;
}
