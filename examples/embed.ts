// Embeds the OMAP broker in an application: listens for MQTT, authorizes, reacts to messages.
import { type Authorizer, createBroker } from '../broker/index.js';

const authorizer: Authorizer = {
  // Any client may connect; a real application checks req.username / req.password here.
  authenticate: (req) => ({ ok: true, principal: { name: req.username ?? req.clientId } }),
  // Clients may publish and subscribe only below sensors/.
  authorizePublish: (_client, topic) => topic.startsWith('sensors/'),
  authorizeSubscribe: (_client, filter) => filter.startsWith('sensors/'),
};

const broker = createBroker({ mqtt: { port: Number(process.env.PORT ?? 1883) }, authorizer });
broker.on('message', (message, client) => {
  console.log(`${client?.id ?? 'app'} -> ${message.topic}: ${message.payload.toString()}`);
});
const { mqtt } = await broker.listen();
console.log(`MQTT on ${mqtt?.host}:${mqtt?.port}`);

// The application can publish too, e.g. a retained status message.
broker.publish({ topic: 'sensors/status', payload: 'online', retain: true });

process.once('SIGINT', () => void broker.close());
