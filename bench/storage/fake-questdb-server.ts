/**
 * The loopback QuestDB endpoint (test/storage/telemetry/fake-questdb.ts) in its own process, so the benchmark's
 * writer does not share its event loop with the server. Counting mode (no line parsing). Controlled over IPC:
 *   → {type: 'mode', mode}        ← {type: 'ok'}
 *   → {type: 'stats'}             ← {type: 'stats', acknowledged, requests}
 * Sends {type: 'ready', port} once listening.
 */
import { FakeQuestDB, type WriteMode } from '../../test/storage/telemetry/fake-questdb.js';

type Command = { type: 'mode'; mode: WriteMode } | { type: 'stats' } | { type: 'stop' };

const server = await new FakeQuestDB().start();
server.recordLines = false;
const send = (message: object): void => {
  process.send?.(message);
};
process.on('message', (command: Command) => {
  if (command.type === 'mode') {
    server.mode = command.mode;
    send({ type: 'ok' });
  } else if (command.type === 'stats') {
    send({ type: 'stats', acknowledged: server.acknowledgedCount, requests: server.writes.length });
  } else {
    void server.stop().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', port: server.port });
