/**
 * Retained messages: at most one per topic, found by the filters of new subscriptions.
 *
 * Stored as a trie of topic levels so that a wildcard filter walks only the branches it can match
 * instead of testing every retained topic. An empty payload clears the topic (MQTT-3.3.1-10/11).
 */
import type { Message } from './message.js';

class RetainedNode {
  children: Map<string, RetainedNode> | null = null;
  message: Message | null = null;

  constructor(
    readonly parent: RetainedNode | null,
    readonly level: string,
  ) {}
}

export interface RetainedStoreOptions {
  /** Most retained topics kept; a new topic beyond it is refused (counted), a replacement always works. */
  maxRetained?: number;
}

export class RetainedStore {
  private readonly root = new RetainedNode(null, '');
  private count = 0;
  private readonly maxRetained: number;
  /** New retained topics refused because the store was full. */
  refused = 0;

  constructor(options: RetainedStoreOptions = {}) {
    this.maxRetained = options.maxRetained ?? 100_000;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Sets, replaces or (with an empty payload) clears the retained message of `message.topic`.
   * Returns false when a new topic was refused because the store is full.
   */
  set(message: Message): boolean {
    if (message.payload.byteLength === 0) {
      this.delete(message.topic);
      return true;
    }
    let node = this.root;
    for (const level of message.topic.split('/')) {
      node.children ??= new Map();
      let next = node.children.get(level);
      if (!next) {
        next = new RetainedNode(node, level);
        node.children.set(level, next);
      }
      node = next;
    }
    if (node.message === null) {
      if (this.count >= this.maxRetained) {
        this.refused++;
        this.prune(node);
        return false;
      }
      this.count++;
    }
    node.message = message;
    return true;
  }

  get(topic: string): Message | undefined {
    let node: RetainedNode | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (!node) return undefined;
    }
    return node.message ?? undefined;
  }

  delete(topic: string): void {
    let node: RetainedNode | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (!node) return;
    }
    if (node.message !== null) {
      node.message = null;
      this.count--;
      this.prune(node);
    }
  }

  /** Retained messages whose topic matches `filter` (a valid, non-shared filter), expired ones skipped. */
  match(filter: string, now = Date.now()): Message[] {
    const out: Message[] = [];
    this.collect(this.root, filter.split('/'), 0, out, now);
    return out;
  }

  private collect(node: RetainedNode, levels: string[], i: number, out: Message[], now: number): void {
    if (i === levels.length) {
      pushLive(node.message, out, now);
      return;
    }
    const level = levels[i]!;
    if (level === '#') {
      // `#` matches the parent level too, then every descendant (but no `$` topic at the first level).
      pushLive(node.message, out, now);
      this.collectAll(node, out, now, i === 0);
      return;
    }
    if (!node.children) return;
    if (level === '+') {
      for (const [name, child] of node.children) {
        if (i === 0 && name.startsWith('$')) continue;
        this.collect(child, levels, i + 1, out, now);
      }
      return;
    }
    const child = node.children.get(level);
    if (child) this.collect(child, levels, i + 1, out, now);
  }

  private collectAll(node: RetainedNode, out: Message[], now: number, skipDollar: boolean): void {
    if (!node.children) return;
    for (const [name, child] of node.children) {
      if (skipDollar && name.startsWith('$')) continue;
      pushLive(child.message, out, now);
      this.collectAll(child, out, now, false);
    }
  }

  private prune(node: RetainedNode): void {
    let current: RetainedNode | null = node;
    while (
      current?.parent &&
      current.message === null &&
      (!current.children || current.children.size === 0)
    ) {
      current.parent.children?.delete(current.level);
      current = current.parent;
    }
  }
}

function pushLive(message: Message | null, out: Message[], now: number): void {
  if (message === null) return;
  if (message.expiresAt !== undefined && message.expiresAt <= now) return;
  out.push(message);
}
