/**
 * Management API entries of the consent registry and the participant groups (added to the route table
 * in src/management/api.ts).
 */
import { limitOf, LIMIT_QUERY, type ApiRoute, type JsonSchema } from '../management/route-table';
import { HedgerowError, NotFoundError } from '../errors';
import { CONSENT_STATUSES } from '../store/repositories/consents';
import type { ConsentService } from './consent-service';
import type { GroupService } from './group-service';

export interface ConsentManagementDeps {
  consents: ConsentService;
  groups: GroupService;
}

const text = (max: number, description?: string): JsonSchema => ({ type: 'string', minLength: 1, maxLength: max, ...(description ? { description } : {}) });
const instant = (description: string): JsonSchema => ({ type: 'string', maxLength: 40, description: `${description}; ISO 8601 date (2027-06-30) or date-time with time zone` });

const consentSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    originator: { type: 'string' },
    category: { type: ['string', 'null'] },
    purpose: { type: 'string' },
    beneficiary: { type: 'string' },
    validFrom: { type: ['string', 'null'] },
    validUntil: { type: ['string', 'null'] },
    status: { enum: [...CONSENT_STATUSES] },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
};
const historySchema: JsonSchema = {
  type: 'array',
  items: { type: 'object', properties: { seq: { type: 'integer' }, at: { type: 'string' }, status: { type: 'string' }, actor: { type: 'string' }, note: { type: ['string', 'null'] } } },
};
const consentDetailSchema: JsonSchema = {
  ...consentSchema,
  properties: { ...(consentSchema.properties as Record<string, unknown>), history: historySchema, approvalExpiresAt: { type: ['string', 'null'] } },
};

const requestInput: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['originator', 'purpose', 'beneficiary'],
  properties: {
    originator: text(500, 'the farm or data subject whose data it is (as in the assets\' originator)'),
    category: text(200, 'data category, e.g. parcel-yields; absent: every category of the originator\'s data'),
    purpose: text(500, 'the purpose the data may be used for (as declared in requests and agreements)'),
    beneficiary: text(500, 'participant id that may receive the data'),
    validFrom: instant('start of validity (default: when granted)'),
    validUntil: instant('end of validity (default: until revoked); also ends the approval link'),
    note: text(1000, 'note for the history'),
  },
};

const reasonInput: JsonSchema = { type: 'object', additionalProperties: false, properties: { reason: text(1000, 'recorded in the history (and sent to the consumer on revocation)') } };

const notWired = () => new HedgerowError('CONSENT_NOT_ENABLED', 'the consent registry is not wired into this connector', { httpStatus: 503 });

export function consentManagementRoutes(deps: ConsentManagementDeps | undefined): ApiRoute[] {
  const wired = (): ConsentManagementDeps => {
    if (!deps) throw notWired();
    return deps;
  };
  const consents = () => wired().consents;
  const groups = () => wired().groups;
  const member = { type: 'object', properties: { group: { type: 'string' }, participantId: { type: 'string' }, addedAt: { type: 'string' } } };
  const group = { type: 'object', properties: { name: { type: 'string' }, members: { type: 'array', items: member } } };
  return [
    // ---- consents
    {
      method: 'post',
      path: '/consents',
      tag: 'consents',
      summary: "Request a farmer's consent: returns the pending consent and its one-time approval URL (shown only here)",
      body: requestInput,
      status: 201,
      response: { type: 'object', properties: { consent: consentDetailSchema, approvalUrl: { type: 'string' }, approvalExpiresAt: { type: 'string' } } },
      handler: ({ body }) => consents().request({ ...body, actor: 'operator' }),
    },
    {
      method: 'get',
      path: '/consents',
      tag: 'consents',
      summary: 'List consents, newest first',
      query: {
        originator: { type: 'string' },
        beneficiary: { type: 'string' },
        purpose: { type: 'string' },
        status: { enum: [...CONSENT_STATUSES] },
        before: { type: 'string', description: 'page: consents created before this one' },
        limit: LIMIT_QUERY,
      },
      response: { type: 'array', items: consentSchema },
      handler: ({ query }) =>
        consents().list({
          originator: query.originator,
          beneficiary: query.beneficiary,
          purpose: query.purpose,
          status: query.status as never,
          before: query.before,
          limit: limitOf(query),
        }),
    },
    {
      method: 'get',
      path: '/consents/:id',
      tag: 'consents',
      summary: 'Get a consent with its status history (who changed it, when, note)',
      response: consentDetailSchema,
      handler: ({ params }) => {
        const c = consents().get(params.id!);
        if (!c) throw new NotFoundError(`consent ${params.id} not found`);
        return c;
      },
    },
    ...(['grant', 'refuse', 'revoke'] as const).map(
      (action): ApiRoute => ({
        method: 'post',
        path: `/consents/:id/${action}`,
        tag: 'consents',
        summary:
          action === 'revoke'
            ? 'Revoke a granted consent: dependent agreements and transfers are stopped'
            : `Record that the originator ${action === 'grant' ? 'granted' : 'refused'} a pending consent (e.g. on paper)`,
        body: reasonInput,
        response: consentDetailSchema,
        handler: ({ params, body }) => consents()[action](params.id!, 'operator', body.reason),
      }),
    ),
    // ---- participant groups (membership constraints)
    {
      method: 'get',
      path: '/groups',
      tag: 'groups',
      summary: 'List participant groups with their members (or, with participantId, the groups of one participant)',
      query: { participantId: { type: 'string', description: 'only the groups this participant belongs to' } },
      response: { type: 'array', items: group },
      handler: ({ query }) => {
        const all = groups().list();
        if (query.participantId === undefined) return all;
        const names = new Set(groups().groupsOf(query.participantId));
        return all.filter((g) => names.has(g.name));
      },
    },
    { method: 'get', path: '/groups/:name', tag: 'groups', summary: 'Get a group and its members', response: group, handler: ({ params }) => groups().get(params.name!) },
    {
      method: 'post',
      path: '/groups/:name/members',
      tag: 'groups',
      summary: 'Add a participant to a group (the group exists from its first member on)',
      body: { type: 'object', additionalProperties: false, required: ['participantId'], properties: { participantId: text(500, 'participant id, e.g. did:web:farm1.coop.example') } },
      status: 201,
      response: member,
      handler: ({ params, body }) => groups().add(params.name!, body.participantId),
    },
    {
      method: 'delete',
      path: '/groups/:name/members/:participantId',
      tag: 'groups',
      summary: 'Remove a participant from a group',
      handler: ({ params }) => {
        groups().remove(params.name!, params.participantId!);
        return undefined;
      },
    },
  ];
}
