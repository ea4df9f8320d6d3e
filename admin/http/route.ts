/**
 * A management route as data: method, path, TypeBox schemas for params / query / body and the
 * responses, and a handler. The same object validates requests, types the handler, and describes
 * the route in the OpenAPI document; a host adapter mounts it on an HTTP server.
 */
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import type { Actor } from '../services/actor.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What a handler answers: a status, a JSON body, optionally an ETag (the entity's version). */
export interface ApiResult {
  status: number;
  body?: unknown;
  etag?: number;
  headers?: Readonly<Record<string, string>>;
}

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The authenticated caller (routes with `auth: 'bearer'`), else null. */
  actor: Actor | null;
  /** The version in `If-Match`, when one was sent (`*` sends none). */
  ifMatch: number | undefined;
  headers: Readonly<Record<string, string>>;
}

export interface RouteSpec<P extends TObject, Q extends TObject, B extends TSchema> {
  method: HttpMethod;
  /** `/things/:id` style (the host's pattern syntax). */
  path: string;
  summary: string;
  tag: string;
  /** `bearer`: a valid token is required and the handler gets its Actor. */
  auth: 'none' | 'bearer';
  params?: P;
  query?: Q;
  body?: B;
  /** Status → response schema (null: no body). Errors are documented for every route. */
  responses: Record<number, TSchema | null>;
  /** This route answers with an ETag / accepts If-Match. */
  versioned?: boolean;
  handler(input: HandlerInput<Static<P>, Static<Q>, Static<B>>): Promise<ApiResult>;
}

/** A route with its types erased, as routes are kept in tables. */
export interface Route {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  auth: 'none' | 'bearer';
  params?: TObject;
  query?: TObject;
  body?: TSchema;
  responses: Record<number, TSchema | null>;
  versioned?: boolean;
  handler(input: HandlerInput<unknown, unknown, unknown>): Promise<ApiResult>;
}

/** Defines a route with its handler typed from its schemas. */
export function defineRoute<
  P extends TObject = TObject<Record<never, never>>,
  Q extends TObject = TObject<Record<never, never>>,
  B extends TSchema = TSchema,
>(spec: RouteSpec<P, Q, B>): Route {
  return spec as unknown as Route;
}
