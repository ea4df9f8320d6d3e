/**
 * The OpenAPI 3.1 document, generated from the route table: paths from the routes' patterns,
 * parameters / bodies / responses from their TypeBox schemas (JSON Schema 2020-12, which OpenAPI
 * 3.1 embeds), named schemas (those with an `$id`) as components.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Route } from './route.js';
import { ErrorBody } from './schemas.js';

type Json = Record<string, unknown>;

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Malformed request or a value outside its schema',
  401: 'No valid bearer token',
  403: 'Not permitted',
  404: 'No such entity (or not visible to you)',
  409: 'Conflict with the current state',
  412: 'If-Match does not match the current ETag',
  415: 'Content-Type is not application/json',
  422: 'A rule of the model refused the request',
};

/** Plain JSON of a schema (TypeBox's symbol keys dropped), named sub-schemas moved to components. */
function toJsonSchema(schema: TSchema, components: Json, isComponentRoot = false): Json {
  const plain = JSON.parse(JSON.stringify(schema)) as Json;
  return extract(plain, components, isComponentRoot);
}

function extract(node: unknown, components: Json, keepId: boolean): Json {
  if (Array.isArray(node)) return node.map((n) => extract(n, components, false)) as unknown as Json;
  if (typeof node !== 'object' || node === null) return node as Json;
  const obj = node as Json;
  const id = obj.$id;
  if (typeof id === 'string' && !keepId) {
    if (!(id in components)) {
      components[id] = {};
      components[id] = extract(obj, components, true);
    }
    return { $ref: `#/components/schemas/${id}` };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === '$id') continue;
    out[k] = typeof v === 'object' && v !== null ? extract(v, components, false) : v;
  }
  return out;
}

function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function operationId(route: Route): string {
  const words = route.path
    .split('/')
    .filter(Boolean)
    .map((s) => (s.startsWith(':') ? `by-${s.slice(1)}` : s.replace(/[^A-Za-z0-9]/g, '-')));
  return [route.method, ...words].join('-').replace(/-+(.)/g, (_m, c: string) => c.toUpperCase());
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

export function openApiDocument(routes: readonly Route[], info: OpenApiInfo): Json {
  const components: Json = {};
  const errorRef = toJsonSchema(ErrorBody, components);
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const parameters: Json[] = [];
    for (const [where, schema] of [
      ['path', route.params],
      ['query', route.query],
    ] as const) {
      if (!schema) continue;
      const json = toJsonSchema(schema, components) as {
        properties?: Record<string, Json>;
        required?: string[];
      };
      for (const [name, prop] of Object.entries(json.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (json.required ?? []).includes(name),
          schema: prop,
          ...(typeof prop.description === 'string' && { description: prop.description }),
        });
      }
    }
    if (route.versioned && route.method !== 'get') {
      parameters.push({
        name: 'If-Match',
        in: 'header',
        required: false,
        description: 'The ETag last read; a mismatch answers 412',
        schema: { type: 'string' },
      });
    }
    const responses: Json = {};
    for (const [status, schema] of Object.entries(route.responses)) {
      const code = Number(status);
      const response: Json = { description: REASONS[code] ?? String(code) };
      if (schema !== null) {
        response.content = {
          'application/json': { schema: code >= 400 ? errorRef : toJsonSchema(schema, components) },
        };
      }
      if (route.versioned && code < 300 && code !== 204)
        response.headers = { ETag: { schema: { type: 'string' } } };
      responses[status] = response;
    }
    const errors = [400, ...(route.auth === 'bearer' ? [401, 403] : []), ...(route.params ? [404] : [])];
    if (route.body) errors.push(415);
    if (route.versioned && route.method !== 'get') errors.push(412);
    for (const code of errors) {
      responses[code] ??= {
        description: REASONS[code],
        content: { 'application/json': { schema: errorRef } },
      };
    }
    const operation: Json = {
      operationId: operationId(route),
      summary: route.summary,
      tags: [route.tag],
      security: route.auth === 'bearer' ? [{ bearer: [] }] : [],
      ...(parameters.length > 0 && { parameters }),
      ...(route.body && {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: toJsonSchema(route.body, components) } },
        },
      }),
      responses,
    };
    const path = openApiPath(route.path);
    paths[path] ??= {};
    paths[path][route.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
