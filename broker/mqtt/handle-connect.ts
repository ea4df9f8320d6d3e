/**
 * CONNECT (MQTT 3.1.1 §3.1, MQTT 5 §3.1): protocol version, client identifier rules, will,
 * authentication, session takeover and resumption, then CONNACK.
 */
import { randomBytes } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { AuthenticationResult, ClientInfo, ConnectRequest } from '../core/authorizer.js';
import { Message, type MessageProperties } from '../core/message.js';
import { validateTopicName } from '../core/topic.js';
import type { MqttConnection } from './connection.js';
import { connackCodeV4, ReasonCode } from './reason-codes.js';

export function handleConnect(conn: MqttConnection, packet: IConnectPacket): Promise<void> | undefined {
  const version = packet.protocolVersion ?? 4;
  conn.version = version;
  if (version !== 3 && version !== 4 && version !== 5) {
    conn.version = 4;
    refuse(conn, ReasonCode.UnsupportedProtocolVersion, 'unsupported protocol version');
    return undefined;
  }
  const clean = packet.clean !== false;
  let clientId = packet.clientId ?? '';
  let assignedClientId: string | undefined;
  if (clientId === '') {
    // MQTT 3.1.1 allows a server-assigned id only for a clean session (MQTT-3.1.3-7/8); MQTT 5 always.
    if (version !== 5 && !clean) {
      refuse(conn, ReasonCode.ClientIdentifierNotValid, 'empty client id with a persistent session');
      return undefined;
    }
    clientId = assignedClientId = `omap-${randomBytes(9).toString('base64url')}`;
  }
  if (Buffer.byteLength(clientId) > conn.ctx.limits.maxClientIdBytes) {
    refuse(conn, ReasonCode.ClientIdentifierNotValid, 'client id too long');
    return undefined;
  }

  if (version === 5 && packet.properties?.authenticationMethod !== undefined) {
    // Enhanced authentication (AUTH exchanges) is not offered (MQTT-4.12.0-1: answer 0x8C).
    refuse(conn, ReasonCode.BadAuthenticationMethod, 'enhanced authentication is not supported');
    return undefined;
  }

  let will: Message | null = null;
  if (packet.will) {
    const topicError = validateTopicName(packet.will.topic, conn.core.limits);
    if (topicError !== null) {
      conn.protocolError(`invalid will topic: ${topicError}`, ReasonCode.TopicNameInvalid);
      return undefined;
    }
    const payload =
      typeof packet.will.payload === 'string' ? Buffer.from(packet.will.payload) : packet.will.payload;
    const { willDelayInterval, ...properties } = packet.will.properties ?? {};
    conn.willDelay = version === 5 ? (willDelayInterval ?? 0) : 0;
    will = new Message(
      packet.will.topic,
      Buffer.from(payload),
      packet.will.qos ?? 0,
      packet.will.retain ?? false,
      clientId,
      version === 5 && Object.keys(properties).length > 0 ? (properties as MessageProperties) : undefined,
    );
  }

  const request: ConnectRequest = { clientId, protocol: conn.ctx.protocol };
  if (packet.username !== undefined) request.username = packet.username;
  if (packet.password !== undefined) request.password = packet.password;
  if (conn.transport.remoteAddress !== undefined) request.remoteAddress = conn.transport.remoteAddress;
  if (conn.transport.certificate !== undefined) request.certificate = conn.transport.certificate;

  conn.state = 'authenticating';
  const finish = (result: AuthenticationResult): void =>
    accept(conn, packet, request, result, clean, will, assignedClientId);
  const result = conn.core.authorizer.authenticate(request);
  if (result instanceof Promise) return result.then(finish);
  finish(result);
  return undefined;
}

function accept(
  conn: MqttConnection,
  packet: IConnectPacket,
  request: ConnectRequest,
  result: AuthenticationResult,
  clean: boolean,
  will: Message | null,
  assignedClientId: string | undefined,
): void {
  if (conn.state === 'closed') return; // the client left while we were deciding
  if (!result.ok) {
    const code =
      result.reason === 'bad-credentials' ? ReasonCode.BadUserNameOrPassword : ReasonCode.NotAuthorized;
    refuse(
      conn,
      result.reason === 'unavailable' ? ReasonCode.ServerUnavailable : code,
      'authentication failed',
    );
    return;
  }
  const core = conn.core;
  const clientId = request.clientId;
  const client: ClientInfo = {
    id: clientId,
    protocol: request.protocol,
    ...(request.username !== undefined && { username: request.username }),
    ...(result.principal !== undefined && { principal: result.principal }),
    ...(request.remoteAddress !== undefined && { remoteAddress: request.remoteAddress }),
  };

  // Takeover: an existing connection with this client id ends (MQTT-3.1.4-2).
  core.sessions.get(clientId)?.link?.takeover();

  const { session, present } = core.openSession(clientId, clean);
  const v5 = conn.version === 5;
  conn.sessionExpiry = v5
    ? (packet.properties?.sessionExpiryInterval ?? 0)
    : clean
      ? 0
      : core.limits.defaultSessionExpirySeconds;
  session.clean = conn.sessionExpiry === 0;
  conn.clientId = clientId;
  conn.client = client;
  conn.expiresAt = result.expiresAt;
  conn.session = session;
  session.client = client;
  conn.will = will;
  const limits = conn.ctx.limits;
  let keepalive = packet.keepalive ?? 0;
  // MQTT 5 clients asking for more than our maximum (or for none) are told Server Keep Alive.
  const overrideKeepalive = v5 && (keepalive === 0 || keepalive > limits.maxKeepaliveSeconds);
  if (overrideKeepalive) keepalive = limits.maxKeepaliveSeconds;
  conn.keepaliveMs = keepalive * 1000;
  if (v5) {
    const p = packet.properties;
    if (p?.maximumPacketSize !== undefined) conn.clientMaxPacketSize = p.maximumPacketSize;
    conn.clientTopicAliasMaximum = p?.topicAliasMaximum ?? 0;
    conn.problemInformation = p?.requestProblemInformation !== false;
  }
  conn.state = 'connected';

  const connack: IConnackPacket = { cmd: 'connack', sessionPresent: present };
  if (v5) {
    connack.reasonCode = ReasonCode.Success;
    connack.properties = {
      maximumPacketSize: limits.maxPacketSize,
      receiveMaximum: limits.receiveMaximum,
      topicAliasMaximum: limits.topicAliasMaximum,
      ...(overrideKeepalive && { serverKeepAlive: keepalive }),
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      ...(assignedClientId !== undefined && { assignedClientIdentifier: assignedClientId }),
    };
  } else {
    connack.returnCode = 0;
  }
  conn.sendPacket(connack);
  session.attach(conn, v5 ? packet.properties?.receiveMaximum : undefined);
  core.emit('clientConnected', client);
}

/** Answers CONNACK with a failure code and closes (no will: the connection never existed). */
function refuse(conn: MqttConnection, reason: number, why: string): void {
  conn.core.logger.info(
    { clientId: conn.clientId, remote: conn.transport.remoteAddress, why },
    'CONNECT refused',
  );
  const connack: IConnackPacket = { cmd: 'connack', sessionPresent: false };
  if (conn.version === 5) {
    connack.reasonCode = reason;
    connack.properties = { reasonString: why };
  } else {
    connack.returnCode = connackCodeV4(reason);
  }
  conn.sendPacket(connack);
  conn.close(why, false);
}
