/** codecs/ is the bottom layer: it imports Node built-ins, its three libraries and itself, nothing else of OMAP. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './vectors.js';

const codecsDir = path.join(repoRoot, 'codecs');
const ALLOWED_PACKAGES = new Set(['cbor-x', 'msgpackr', 'piscina']);

describe('codecs layering', () => {
  it('imports nothing of the rest of the project', () => {
    const files = readdirSync(codecsDir, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    expect(files.length).toBeGreaterThan(5);
    let seen = 0;
    for (const file of files) {
      const source = readFileSync(path.join(codecsDir, file), 'utf8');
      const statements = /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*'([^']+)'|^\s*import\s*'([^']+)'/gm;
      const dynamic = /\bimport\(\s*'([^']+)'\s*\)/g;
      const specifiers = [...source.matchAll(statements), ...source.matchAll(dynamic)].map(
        (m) => (m[1] ?? m[2])!,
      );
      seen += specifiers.length;
      for (const spec of specifiers) {
        if (spec.startsWith('node:')) continue;
        if (spec.startsWith('.')) {
          const target = path.resolve(path.dirname(path.join(codecsDir, file)), spec);
          expect(target.startsWith(codecsDir + path.sep), `${file} imports ${spec}`).toBe(true);
          expect(spec.endsWith('.js'), `${file}: relative imports use .js (${spec})`).toBe(true);
        } else {
          expect(ALLOWED_PACKAGES.has(spec), `${file} imports package ${spec}`).toBe(true);
        }
      }
    }
    expect(seen).toBeGreaterThan(20); // the pattern does find the imports
  });
});
