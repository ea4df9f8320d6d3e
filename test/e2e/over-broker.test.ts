/** The end-to-end example over a real broker: MQTT device, WebSocket consumer, MQTT eavesdropper. */
import { describe, expect, it } from 'vitest';
import { run } from '../helpers.js';

describe('examples/e2e/over-broker.ts', () => {
  it('the consumer decrypts every reading; the eavesdropper sees only ciphertext', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', 'examples/e2e/over-broker.ts'], 30_000);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('done: 1520.25, 1520.75, 1521.5');
    const eavesdropped = r.stdout.split('\n').filter((l) => l.startsWith('eavesdropper:'));
    expect(eavesdropped).toHaveLength(3);
    for (const line of eavesdropped) expect(line).toContain('(readable: false)');
  });
});
