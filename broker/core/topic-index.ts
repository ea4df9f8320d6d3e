/**
 * The subscription index: a trie over topic levels with a result cache keyed by topic name.
 *
 * Each level of a filter is one trie edge; `+` and `#` get their own edges so a match walks at most
 * three branches per level. A publish first looks its topic up in the cache, so a steady stream on
 * the same topics costs one Map lookup; a miss walks the trie once and caches the result.
 *
 * Invalidation is deliberately coarse and cheap: a change to an exact filter can only alter the
 * result for that one topic, so just that entry goes; a change to a wildcard filter may alter any
 * entry, so the whole cache goes. Subscriptions change rarely compared to publishes.
 */
import { hasWildcard } from './topic.js';

export interface IndexedSubscription {
  /** Identifies the subscriber; one subscriber holds at most one subscription per filter. */
  readonly subscriberId: string;
}

/** The members of one `$share/<group>/<filter>`: each message goes to one of them, in turn. */
export class SharedGroup<S extends IndexedSubscription> {
  readonly members: S[] = [];
  private next = 0;

  constructor(
    readonly name: string,
    readonly filter: string,
  ) {}

  /** The next member in round-robin order that `accept` allows, or undefined. */
  pick(accept?: (member: S) => boolean): S | undefined {
    const n = this.members.length;
    for (let tried = 0; tried < n; tried++) {
      const member = this.members[this.next % n]!;
      this.next = (this.next + 1) % n;
      if (!accept || accept(member)) return member;
    }
    return undefined;
  }
}

export interface MatchResult<S extends IndexedSubscription> {
  /** Ordinary (non-shared) subscriptions whose filter matches. */
  readonly subscriptions: readonly S[];
  /** Shared groups whose filter matches; one member of each receives the message. */
  readonly groups: readonly SharedGroup<S>[];
  /** True when one subscriber matches through more than one filter (deliver once, at the highest QoS). */
  readonly overlapping: boolean;
}

class TrieNode<S extends IndexedSubscription> {
  children: Map<string, TrieNode<S>> | null = null;
  plus: TrieNode<S> | null = null;
  hash: TrieNode<S> | null = null;
  subs: Map<string, S> | null = null;
  groups: Map<string, SharedGroup<S>> | null = null;

  constructor(
    readonly parent: TrieNode<S> | null,
    readonly level: string,
  ) {}

  isEmpty(): boolean {
    return (
      (this.children === null || this.children.size === 0) &&
      this.plus === null &&
      this.hash === null &&
      (this.subs === null || this.subs.size === 0) &&
      (this.groups === null || this.groups.size === 0)
    );
  }
}

const EMPTY_RESULT: MatchResult<never> = Object.freeze({
  subscriptions: Object.freeze([]) as readonly never[],
  groups: Object.freeze([]) as readonly never[],
  overlapping: false,
});

export interface TopicIndexOptions {
  /** Most topics whose match result is kept; the oldest entry is evicted first. */
  maxCachedTopics?: number;
}

export class TopicIndex<S extends IndexedSubscription> {
  private readonly root = new TrieNode<S>(null, '');
  private readonly cache = new Map<string, MatchResult<S>>();
  private readonly maxCachedTopics: number;
  private count = 0;
  /** Counters for the benchmark and metrics: how often the cache answered. */
  cacheHits = 0;
  cacheMisses = 0;

  constructor(options: TopicIndexOptions = {}) {
    this.maxCachedTopics = options.maxCachedTopics ?? 16_384;
  }

  /** Number of subscriptions (shared members included). */
  get size(): number {
    return this.count;
  }

  get cachedTopics(): number {
    return this.cache.size;
  }

  /**
   * Adds or replaces the subscription of `sub.subscriberId` on `filter` (in `group` when shared).
   * Returns the subscription it replaced, if any.
   */
  add(filter: string, sub: S, group?: string): S | undefined {
    const node = this.nodeFor(filter, true)!;
    let previous: S | undefined;
    if (group === undefined) {
      node.subs ??= new Map();
      previous = node.subs.get(sub.subscriberId);
      node.subs.set(sub.subscriberId, sub);
    } else {
      node.groups ??= new Map();
      let g = node.groups.get(group);
      if (!g) {
        g = new SharedGroup<S>(group, filter);
        node.groups.set(group, g);
      }
      const i = g.members.findIndex((m) => m.subscriberId === sub.subscriberId);
      if (i >= 0) {
        previous = g.members[i];
        g.members[i] = sub;
      } else {
        g.members.push(sub);
      }
    }
    if (!previous) this.count++;
    this.invalidate(filter);
    return previous;
  }

  /** Removes the subscription of `subscriberId` on `filter`; returns it, or undefined if there was none. */
  remove(filter: string, subscriberId: string, group?: string): S | undefined {
    const node = this.nodeFor(filter, false);
    if (!node) return undefined;
    let removed: S | undefined;
    if (group === undefined) {
      removed = node.subs?.get(subscriberId);
      if (removed) node.subs!.delete(subscriberId);
    } else {
      const g = node.groups?.get(group);
      const i = g ? g.members.findIndex((m) => m.subscriberId === subscriberId) : -1;
      if (g && i >= 0) {
        removed = g.members[i];
        g.members.splice(i, 1);
        if (g.members.length === 0) node.groups!.delete(group);
      }
    }
    if (!removed) return undefined;
    this.count--;
    this.prune(node);
    this.invalidate(filter);
    return removed;
  }

  /** Every subscription with its filter and group (for management actions; not for the hot path). */
  *entries(): IterableIterator<{ filter: string; group: string | undefined; subscription: S }> {
    const stack: [TrieNode<S>, string[]][] = [[this.root, []]];
    while (stack.length > 0) {
      const [node, path] = stack.pop()!;
      const filter = path.join('/');
      if (node.subs) for (const s of node.subs.values()) yield { filter, group: undefined, subscription: s };
      if (node.groups) {
        for (const g of node.groups.values())
          for (const s of g.members) yield { filter, group: g.name, subscription: s };
      }
      if (node.children) for (const [level, child] of node.children) stack.push([child, [...path, level]]);
      if (node.plus) stack.push([node.plus, [...path, '+']]);
      if (node.hash) stack.push([node.hash, [...path, '#']]);
    }
  }

  /** All subscriptions matching `topic` (a valid topic name). */
  match(topic: string): MatchResult<S> {
    const cached = this.cache.get(topic);
    if (cached !== undefined) {
      this.cacheHits++;
      return cached;
    }
    this.cacheMisses++;
    const result = this.matchUncached(topic);
    if (this.cache.size >= this.maxCachedTopics) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(topic, result);
    return result;
  }

  /** Walks the trie without touching the cache (the benchmark's "cold" case). */
  matchUncached(topic: string): MatchResult<S> {
    const levels = topic.split('/');
    const subs: S[] = [];
    const groups: SharedGroup<S>[] = [];
    this.collect(this.root, levels, 0, topic.charCodeAt(0) === 0x24, subs, groups);
    if (subs.length === 0 && groups.length === 0) return EMPTY_RESULT as MatchResult<S>;
    return { subscriptions: subs, groups, overlapping: hasDuplicates(subs) };
  }

  private collect(
    node: TrieNode<S>,
    levels: string[],
    i: number,
    dollar: boolean,
    subs: S[],
    groups: SharedGroup<S>[],
  ): void {
    // A wildcard in the first level never matches a `$` topic (MQTT-4.7.2-1).
    const wildcardsAllowed = !(dollar && i === 0);
    if (wildcardsAllowed && node.hash !== null) addAll(node.hash, subs, groups);
    if (i === levels.length) {
      addAll(node, subs, groups);
      return;
    }
    const child = node.children?.get(levels[i]!);
    if (child !== undefined) this.collect(child, levels, i + 1, dollar, subs, groups);
    if (wildcardsAllowed && node.plus !== null) this.collect(node.plus, levels, i + 1, dollar, subs, groups);
  }

  private nodeFor(filter: string, create: boolean): TrieNode<S> | undefined {
    let node = this.root;
    for (const level of filter.split('/')) {
      let next: TrieNode<S> | null | undefined;
      if (level === '+') next = node.plus;
      else if (level === '#') next = node.hash;
      else next = node.children?.get(level);
      if (!next) {
        if (!create) return undefined;
        next = new TrieNode<S>(node, level);
        if (level === '+') node.plus = next;
        else if (level === '#') node.hash = next;
        else (node.children ??= new Map()).set(level, next);
      }
      node = next;
    }
    return node;
  }

  /** Removes now-empty nodes from `node` up to the root so the trie does not keep dead branches. */
  private prune(node: TrieNode<S>): void {
    let current: TrieNode<S> | null = node;
    while (current?.parent && current.isEmpty()) {
      const parent: TrieNode<S> = current.parent;
      if (parent.plus === current) parent.plus = null;
      else if (parent.hash === current) parent.hash = null;
      else parent.children?.delete(current.level);
      current = parent;
    }
  }

  private invalidate(filter: string): void {
    if (this.cache.size === 0) return;
    if (hasWildcard(filter)) this.cache.clear();
    else this.cache.delete(filter);
  }
}

function addAll<S extends IndexedSubscription>(node: TrieNode<S>, subs: S[], groups: SharedGroup<S>[]): void {
  if (node.subs !== null) for (const s of node.subs.values()) subs.push(s);
  if (node.groups !== null) for (const g of node.groups.values()) groups.push(g);
}

function hasDuplicates<S extends IndexedSubscription>(subs: readonly S[]): boolean {
  if (subs.length < 2) return false;
  const seen = new Set<string>();
  for (const s of subs) {
    if (seen.has(s.subscriberId)) return true;
    seen.add(s.subscriberId);
  }
  return false;
}
