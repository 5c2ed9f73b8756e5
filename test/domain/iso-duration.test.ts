import { describe, expect, it } from 'vitest';
import { parseIsoDuration } from '../../src/domain/iso-duration.js';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseIsoDuration', () => {
  it.each([
    ['PT0S', 0],
    ['P0D', 0],
    ['P1D', D],
    ['P3D', 3 * D],
    ['PT1H', H],
    ['PT36H', 36 * H],
    ['PT15M', 15 * M],
    ['PT90M', 90 * M],
    ['PT45S', 45 * S],
    ['P1DT2H3M4S', D + 2 * H + 3 * M + 4 * S],
    ['P2DT12H', 2 * D + 12 * H],
    ['PT1H30M', H + 30 * M],
    ['PT1M30S', M + 30 * S],
    ['P1DT30S', D + 30 * S],
    ['P1W', 7 * D],
    ['P52W', 364 * D],
    ['P366D', 366 * D],
    ['PT8784H', 366 * D],
    ['P365DT24H', 366 * D],
    ['P007D', 7 * D],
  ])('%s is %d ms', (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
  });

  it.each([
    [''],
    ['P'],
    ['PT'],
    ['P1DT'],
    ['T1H'],
    ['1D'],
    ['P1Y'],
    ['P1M'],
    ['P1Y2M3D'],
    ['P1MT1H'],
    ['-P1D'],
    ['P-1D'],
    ['PT-5M'],
    ['P1.5D'],
    ['PT0.5S'],
    ['PT1,5H'],
    ['p1d'],
    ['pt1h'],
    ['P1d'],
    ['PT1h'],
    [' P1D'],
    ['P1D '],
    ['P 1D'],
    ['PT1H 30M'],
    ['P1DT1H1M1S1S'],
    ['PT1M1H'],
    ['PT1S1M'],
    ['P1H'],
    ['PT1D'],
    ['P1W1D'],
    ['P1WT1H'],
    ['PW'],
    ['P367D'],
    ['P53W'],
    ['PT8785H'],
    ['P366DT1S'],
    ['P99999999999999999999D'],
    ['P+1D'],
    ['P1e3D'],
    ['P１D'],
  ])('%j is not a duration', (text) => {
    expect(parseIsoDuration(text)).toBeNull();
  });
});
