/**
 * Deliveries to WebSocket and SSE subscribers are queued per connection and written once per
 * event-loop turn, inside one cork: a burst of messages to one subscriber becomes one syscall.
 *
 * setImmediate, not process.nextTick: a publish usually happens inside a uWS callback of the
 * publisher's socket, which uWS keeps corked until the callback returns to native code, and the
 * nextTick queue runs before that. uWS can cork one socket at a time, so a flush from nextTick
 * would write every message to every subscriber with its own syscall (measured: ~5× slower fan-out).
 */
export interface Flushable {
  flush(): void;
}

const dirty: Flushable[] = [];
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  // A flush may queue more work (it never should, but a loop over a growing array stays correct).
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

/** Calls `target.flush()` once the current I/O callbacks are done; the caller adds it once per turn. */
export function flushSoon(target: Flushable): void {
  dirty.push(target);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}
