import type { Projection } from './projection.js';

/** Every read model of the service. Each feature adds its projection here. */
export function allProjections(): Projection[] {
  return [];
}
