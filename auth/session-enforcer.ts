/**
 * What the authorizer needs from the broker to make a management change take effect on live
 * clients at once. The broker side implements it (admin/ wires it to the broker); `match` selects
 * clients by the principal `authenticate` returned for them.
 */
export type PrincipalMatch = (principal: unknown) => boolean;

export interface SessionEnforcer {
  /**
   * Ends the live connections of matching clients (MQTT 5: DISCONNECT 0x87 not authorized; no will)
   * and, with `discardSessions`, their persistent sessions too. Returns how many connections ended.
   */
  disconnect(match: PrincipalMatch, reason: string, discardSessions: boolean): number;
  /** Makes the broker forget the publish decisions it cached for matching clients. */
  invalidate(match: PrincipalMatch): void;
  /**
   * Asks the authorizer again about every subscription of matching clients (only filters passing
   * `filter`, when given) and removes those now refused. Resolves with the number removed.
   */
  recheckSubscriptions(match: PrincipalMatch, filter?: (topicFilter: string) => boolean): Promise<number>;
}
