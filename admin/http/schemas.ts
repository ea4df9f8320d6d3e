/**
 * The JSON shapes of the management API, as TypeBox schemas: one definition gives request
 * validation, the TypeScript types of handlers, and the OpenAPI document.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import './formats.js';
import { PERMISSION_NAMES } from '../../auth/permissions.js';
import { SHARE_ROLE_NAMES } from '../../auth/share-roles.js';

export const Id = Type.String({ format: 'uuid', description: 'UUID' });
export const Name = Type.String({ minLength: 1, maxLength: 200 });
export const Metadata = Type.Record(Type.String(), Type.Unknown(), {
  description: 'Free-form JSON object',
});
export const Timestamp = Type.String({ format: 'date-time' });

const audit = {
  version: Type.Integer({ description: 'Bumped by every change; also the ETag' }),
  createdAt: Timestamp,
  createdBy: Type.Union([Id, Type.Null()]),
  updatedAt: Timestamp,
  updatedBy: Type.Union([Id, Type.Null()]),
};

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Machine-readable name, e.g. not-found' }),
    message: Type.String(),
  },
  { $id: 'Error' },
);

export function PageOf<T extends TSchema>(item: T, name: string) {
  return Type.Object(
    {
      items: Type.Array(item),
      total: Type.Integer({ description: 'Items matching the filters, all pages' }),
      limit: Type.Integer(),
      offset: Type.Integer(),
    },
    { $id: `${name}Page` },
  );
}

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 20 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
};

export const FilterQuery = {
  ...PageQuery,
  name: Type.Optional(Type.String({ maxLength: 200, description: 'Case-insensitive substring of the name' })),
  metadata: Type.Optional(
    Type.String({
      description: 'JSON object; every top-level key must equal (scalars), e.g. {"model":"T1"}',
    }),
  ),
};

export const IdParams = Type.Object({ id: Id });

// ---- nodes ----

export const NodeKind = Type.Union([
  Type.Literal('tenant'),
  Type.Literal('customer'),
  Type.Literal('deployment'),
  Type.Literal('unit'),
]);

export const Node = Type.Object(
  {
    id: Id,
    tenantId: Id,
    parentId: Type.Union([Id, Type.Null()]),
    kind: NodeKind,
    name: Name,
    metadata: Metadata,
    ...audit,
  },
  { $id: 'Node' },
);

export const NewNode = Type.Object(
  {
    parentId: Type.Optional(Id),
    kind: NodeKind,
    name: Name,
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const NodePatch = Type.Object(
  { name: Type.Optional(Name), metadata: Type.Optional(Metadata) },
  { additionalProperties: false },
);

// ---- users ----

export const UserKind = Type.Union([Type.Literal('human'), Type.Literal('system')]);
export const Status = Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]);
export const Email = Type.String({ format: 'email', maxLength: 254 });
export const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const User = Type.Object(
  {
    id: Id,
    tenantId: Type.Union([Id, Type.Null()]),
    kind: UserKind,
    email: Email,
    name: Name,
    status: Status,
    profile: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'Extended information: only with users.read-extended (or for yourself)',
      }),
    ),
    ...audit,
  },
  { $id: 'User' },
);

export const NewUser = Type.Object(
  {
    email: Email,
    name: Name,
    password: Password,
    kind: Type.Optional(UserKind),
    nodeId: Type.Optional(
      Type.Unsafe<string>({ ...Id, description: 'Node the user joins; absent: a platform user' }),
    ),
    profile: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const UserPatch = Type.Object(
  { name: Type.Optional(Name), profile: Type.Optional(Metadata), password: Type.Optional(Password) },
  { additionalProperties: false },
);

export const Membership = Type.Object(
  { userId: Id, nodeId: Id, createdAt: Timestamp, createdBy: Type.Union([Id, Type.Null()]) },
  { $id: 'Membership' },
);

// ---- roles and permissions ----

export const RoleType = Type.Union([
  Type.Literal('VIEW'),
  Type.Literal('MANAGE'),
  Type.Literal('ADMIN'),
  Type.Literal('SUPER'),
]);
export const PermissionName = Type.Union(
  PERMISSION_NAMES.map((p) => Type.Literal(p)),
  { description: 'A permission of the catalogue (GET /permissions)' },
);

export const Role = Type.Object(
  {
    id: Id,
    tenantId: Type.Union([Id, Type.Null()]),
    nodeId: Type.Union([Id, Type.Null()], { description: 'null: SYSTEM scope' }),
    name: Name,
    type: RoleType,
    isDefault: Type.Boolean(),
    permissions: Type.Array(Type.String()),
    ...audit,
  },
  { $id: 'Role' },
);

export const NewRole = Type.Object(
  {
    nodeId: Type.Optional(Type.Union([Id, Type.Null()], { description: 'null or absent: SYSTEM scope' })),
    name: Name,
    type: RoleType,
    permissions: Type.Array(Type.String(), { maxItems: 100 }),
  },
  { additionalProperties: false },
);

export const RolePatch = Type.Object(
  { name: Type.Optional(Name), permissions: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })) },
  { additionalProperties: false },
);

export const DirectPermission = Type.Object(
  {
    id: Id,
    userId: Id,
    permission: Type.String(),
    nodeId: Type.Union([Id, Type.Null()]),
    createdAt: Timestamp,
    createdBy: Type.Union([Id, Type.Null()]),
  },
  { $id: 'DirectPermission' },
);

export const NewDirectPermission = Type.Object(
  { permission: Type.String(), nodeId: Type.Optional(Type.Union([Id, Type.Null()])) },
  { additionalProperties: false },
);

export const PermissionInfo = Type.Object({
  name: Type.String(),
  type: RoleType,
  description: Type.String(),
});

// ---- things, channels, connections ----

export const Thing = Type.Object(
  { id: Id, tenantId: Id, nodeId: Id, name: Name, metadata: Metadata, status: Status, ...audit },
  { $id: 'Thing' },
);

export const ThingWithSecret = Type.Object(
  {
    thing: Thing,
    secret: Type.String({ description: 'Shown once: store it on the device now' }),
  },
  { $id: 'ThingWithSecret' },
);

export const NewThing = Type.Object(
  { nodeId: Id, name: Name, metadata: Type.Optional(Metadata) },
  { additionalProperties: false },
);

export const ThingPatch = Type.Object(
  { name: Type.Optional(Name), metadata: Type.Optional(Metadata) },
  { additionalProperties: false },
);

export const Channel = Type.Object(
  {
    id: Id,
    tenantId: Id,
    nodeId: Id,
    name: Name,
    metadata: Metadata,
    strictSenml: Type.Boolean({ description: 'Validate SenML before fan-out' }),
    ...audit,
  },
  { $id: 'Channel' },
);

export const NewChannel = Type.Object(
  { nodeId: Id, name: Name, metadata: Type.Optional(Metadata), strictSenml: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

export const ChannelPatch = Type.Object(
  {
    name: Type.Optional(Name),
    metadata: Type.Optional(Metadata),
    strictSenml: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const Connection = Type.Object(
  {
    thingId: Id,
    channelId: Id,
    publish: Type.Boolean(),
    subscribe: Type.Boolean(),
    createdAt: Timestamp,
    createdBy: Type.Union([Id, Type.Null()]),
  },
  { $id: 'Connection' },
);

export const ConnectionRights = Type.Object(
  { publish: Type.Optional(Type.Boolean()), subscribe: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

// ---- assets ----

export const TypedProperty = Type.Object(
  {
    type: Type.Union([
      Type.Literal('string'),
      Type.Literal('number'),
      Type.Literal('boolean'),
      Type.Literal('json'),
    ]),
    value: Type.Unknown(),
  },
  { additionalProperties: false },
);
export const Properties = Type.Record(Type.String({ minLength: 1, maxLength: 100 }), TypedProperty);

export const Asset = Type.Object(
  {
    id: Id,
    tenantId: Id,
    nodeId: Id,
    name: Name,
    type: Type.String(),
    properties: Properties,
    metadata: Metadata,
    access: Type.Optional(
      Type.String({ description: "'owner' or the role of the share through which the caller sees it" }),
    ),
    ...audit,
  },
  { $id: 'Asset' },
);

export const NewAsset = Type.Object(
  {
    nodeId: Id,
    name: Name,
    type: Type.String({ minLength: 1, maxLength: 100 }),
    properties: Type.Optional(Properties),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const AssetPatch = Type.Object(
  {
    name: Type.Optional(Name),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    properties: Type.Optional(Properties),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const ShareRole = Type.Union(SHARE_ROLE_NAMES.map((r) => Type.Literal(r)));

export const AssetShare = Type.Object(
  {
    id: Id,
    assetId: Id,
    nodeId: Id,
    role: Type.String(),
    createdAt: Timestamp,
    createdBy: Type.Union([Id, Type.Null()]),
  },
  { $id: 'AssetShare' },
);

export const NewShare = Type.Object({ nodeId: Id, role: ShareRole }, { additionalProperties: false });

// ---- auth ----

export const Credentials = Type.Object({ email: Email, password: Password }, { additionalProperties: false });

export const TokenResponse = Type.Object(
  {
    accessToken: Type.String(),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer({ description: 'Seconds' }),
    tokenId: Type.String(),
  },
  { $id: 'Token' },
);

export const SetupRequest = Type.Object(
  { token: Type.String({ minLength: 1 }), email: Email, password: Password, name: Type.Optional(Name) },
  { additionalProperties: false },
);

export const AuditEntry = Type.Object(
  {
    id: Type.Integer(),
    at: Timestamp,
    actorId: Type.Union([Type.String(), Type.Null()]),
    tenantId: Type.Union([Type.String(), Type.Null()]),
    action: Type.String(),
    entityType: Type.String(),
    entityId: Type.String(),
    details: Metadata,
  },
  { $id: 'AuditEntry' },
);

export type NewNodeBody = Static<typeof NewNode>;
