/**
 * Named groups of participants (cooperative members, ministries, insurers), the verified facts behind
 * the policy engine's `membership` operand: `facts.groups = groups.groupsOf(verifiedParticipantId)`.
 */
import type { Store } from '../store/store';
import type { GroupMember } from '../store/repositories/groups';
import { ConflictError, NotFoundError } from '../errors';
import type { Logger } from '../log/logger';
import { checkText } from './consent-service';

export type { GroupMember } from '../store/repositories/groups';

export interface Group {
  name: string;
  members: GroupMember[];
}

export class GroupService {
  constructor(private readonly deps: { store: Store; logger?: Logger; clock?: () => Date }) {}

  /** Add `participantId` to `group` (the group exists from its first member on). ConflictError if already a member. */
  add(group: string, participantId: string): GroupMember {
    checkText(group, '/group', 200);
    checkText(participantId, '/participantId', 500);
    const at = (this.deps.clock?.() ?? new Date()).toISOString();
    if (!this.deps.store.groups.add(group, participantId, at)) throw new ConflictError(`${participantId} is already a member of group ${group}`, 'ALREADY_EXISTS');
    this.deps.logger?.info('group member added', { group, participantId });
    return { group, participantId, addedAt: at };
  }

  /** Remove a member; NotFoundError if it was none. */
  remove(group: string, participantId: string): void {
    if (!this.deps.store.groups.remove(group, participantId)) throw new NotFoundError(`${participantId} is not a member of group ${group}`);
    this.deps.logger?.info('group member removed', { group, participantId });
  }

  /** Every group with its members, by name. */
  list(): Group[] {
    const groups = new Map<string, GroupMember[]>();
    for (const m of this.deps.store.groups.all()) groups.set(m.group, [...(groups.get(m.group) ?? []), m]);
    return [...groups].map(([name, members]) => ({ name, members }));
  }

  /** One group; NotFoundError when it has no members. */
  get(group: string): Group {
    const members = this.deps.store.groups.members(group);
    if (!members.length) throw new NotFoundError(`group ${group} has no members`);
    return { name: group, members };
  }

  /** Names of the groups `participantId` belongs to, sorted: the `groups` policy fact. One indexed query. */
  groupsOf(participantId: string): string[] {
    return this.deps.store.groups.groupsOf(participantId);
  }
}
