import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { createRuntime } from '../src/runtime.js';
import { tempDir, testConfig } from './support/app.js';

describe('runtime on an embedded data folder', () => {
  it('keeps the event log across a restart', async () => {
    const dir = tempDir();
    try {
      const stream = `keep-${randomUUID()}`;
      const rt1 = await createRuntime(testConfig({ dataDir: dir.path }), silentLogger);
      await rt1.store.append(stream, [{ type: 'Kept', data: { v: 1 } }], 'no_stream');
      await rt1.close();
      const rt2 = await createRuntime(testConfig({ dataDir: dir.path }), silentLogger);
      const events = await rt2.store.readStream(stream);
      expect(events.map((e) => e.data)).toEqual([{ v: 1 }]);
      await rt2.close();
    } finally {
      dir.remove();
    }
  }, 60_000);
});
