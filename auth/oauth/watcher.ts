/**
 * Hot reload of OAuth client definitions: polls a folder tree (fs.watch `recursive` is not
 * reliable on Linux with Node 20) for `*.config.json` files sitting directly in a folder named
 * `omap`. A new file adds its clients, a changed one replaces them, a deleted one removes them (a
 * rename is a delete plus a create); a malformed file is reported (logged) and changes nothing.
 *
 * Every scan that changed something, or found a malformed file, emits `reload` with what it did;
 * `nextReload()` is the same as a promise (tests await it instead of sleeping).
 */
import { EventEmitter } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ClientConfigError, type ClientRegistry, parseClientFile } from './clients.js';

export const DEFAULT_POLL_INTERVAL_MS = 2000;

export interface ClientWatcherOptions {
  /** The folder to watch (recursively). */
  root: string;
  /** Time between scans, ms. Default 2000. */
  pollIntervalMs?: number;
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface ReloadEvent {
  /** Files whose clients were added / replaced / removed in this scan. */
  added: string[];
  changed: string[];
  removed: string[];
  /** Malformed files (their previous clients, if any, stay) with the reason. */
  errors: { file: string; reason: string }[];
}

/** Is `path` a client file: `<…>/omap/<name>.config.json`? */
export function isClientFile(path: string): boolean {
  return basename(dirname(path)) === 'omap' && /^.+\.config\.json$/.test(basename(path));
}

async function findClientFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch {
    return out; // vanished (or unreadable) folder: nothing there
  }
  for (const e of entries) {
    const path = join(root, e.name);
    if (e.isDirectory()) out.push(...(await findClientFiles(path)));
    else if (e.isFile() && isClientFile(path)) out.push(path);
  }
  return out;
}

export class ClientWatcher extends EventEmitter<{ reload: [ReloadEvent] }> {
  readonly pollIntervalMs: number;
  /** Path → the text last seen (valid or not). */
  private readonly seen = new Map<string, string>();
  /** Paths whose clients are in the registry. */
  private readonly loaded = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<ReloadEvent> | null = null;
  private stopped = false;

  constructor(
    private readonly registry: ClientRegistry,
    private readonly options: ClientWatcherOptions,
  ) {
    super();
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  /** Loads what is there now, then keeps polling. */
  async start(): Promise<ReloadEvent> {
    const first = await this.scan();
    this.schedule();
    return first;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The next reload that changes something or reports an error. */
  nextReload(): Promise<ReloadEvent> {
    return new Promise((resolve) => this.once('reload', resolve));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.scan()
        .catch((err: unknown) => this.options.logger?.warn({ err }, 'OAuth client scan failed'))
        .finally(() => this.schedule());
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  /** One pass over the folder; scans never overlap. */
  scan(): Promise<ReloadEvent> {
    this.scanning ??= this.doScan().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private async doScan(): Promise<ReloadEvent> {
    const event: ReloadEvent = { added: [], changed: [], removed: [], errors: [] };
    const files = new Set(await findClientFiles(this.options.root));
    for (const path of [...this.seen.keys()]) {
      if (files.has(path)) continue;
      this.seen.delete(path);
      if (this.loaded.delete(path)) {
        this.registry.remove(path);
        event.removed.push(path);
      }
    }
    for (const path of files) {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        continue; // removed between listing and reading: the next scan sees it gone
      }
      if (this.seen.get(path) === text) continue;
      this.seen.set(path, text);
      try {
        const { tenantId, clients } = parseClientFile(JSON.parse(text) as unknown, path);
        const had = this.loaded.has(path);
        this.registry.set(path, tenantId, clients);
        this.loaded.add(path);
        (had ? event.changed : event.added).push(path);
      } catch (err) {
        const reason =
          err instanceof ClientConfigError || err instanceof SyntaxError ? err.message : String(err);
        event.errors.push({ file: path, reason });
        this.options.logger?.warn(
          { file: path, reason },
          'malformed OAuth client file ignored (nothing changed)',
        );
      }
    }
    const changed = event.added.length + event.changed.length + event.removed.length;
    if (changed > 0) this.options.logger?.info({ ...event }, 'OAuth clients reloaded');
    if (changed > 0 || event.errors.length > 0) this.emit('reload', event);
    return event;
  }
}
