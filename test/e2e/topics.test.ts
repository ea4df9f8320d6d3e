import { describe, expect, it } from 'vitest';
import { E2E_CONTENT_TYPE, KEY_SHARE_CONTENT_TYPE } from '../../e2e/index.js';
import { keyShareTopic, telemetryTopic } from '../../e2e/topics.js';

describe('topic convention and content types', () => {
  it('builds telemetry and key-share topics', () => {
    expect(telemetryTopic('c1')).toBe('channels/c1/messages');
    expect(telemetryTopic('c1', 'room/temp')).toBe('channels/c1/messages/room/temp');
    expect(keyShareTopic('c1', 'AbC-_x')).toBe('channels/c1/messages/_keys/AbC-_x');
  });

  it('refuses wildcards, separators, empty levels and the reserved _keys subtopic', () => {
    for (const bad of ['', 'a/b', 'a+', '#', 'a\u0000']) {
      expect(() => telemetryTopic(bad)).toThrow(/INVALID_ARGUMENT/);
      expect(() => keyShareTopic('c1', bad)).toThrow(/INVALID_ARGUMENT/);
    }
    expect(() => telemetryTopic('c1', 'a//b')).toThrow(/INVALID_ARGUMENT/);
    expect(() => telemetryTopic('c1', '_keys/x')).toThrow(/INVALID_ARGUMENT/);
  });

  it('exports the content types from the public entry', () => {
    expect(E2E_CONTENT_TYPE).toBe('application/vnd.omap.megolm.v1');
    expect(KEY_SHARE_CONTENT_TYPE).toBe('application/vnd.omap.megolm-keyshare.v1');
  });
});
