import { type Position, comparePositions } from './port.js';

/** The furthest position a piece of work reached, for read-your-writes (the reply waits for the read models to get there). */
export class Positions {
  last: Position | null = null;
  add(p: Position | null) {
    if (p && (!this.last || comparePositions(p, this.last) > 0)) this.last = p;
  }
}
