import type { Sqlite } from '../database';
import { prepared } from './sql';

export interface GroupMember {
  group: string;
  participantId: string;
  addedAt: string;
}

interface Row {
  group_name: string;
  participant_id: string;
  added_at: string;
}

const fromRow = (r: Row): GroupMember => ({ group: r.group_name, participantId: r.participant_id, addedAt: r.added_at });

/**
 * Named groups of participants (table `participant_groups`, migration 5): the local participant lists
 * behind the policy engine's `membership` operand. A group exists while it has members.
 */
export class GroupRepository {
  constructor(private readonly db: Sqlite) {}

  private stmt(sql: string) {
    return prepared(this.db, sql);
  }

  /** Add a member; false when it already was one (nothing changes). */
  add(group: string, participantId: string, at: string): boolean {
    return this.stmt('INSERT OR IGNORE INTO participant_groups (group_name, participant_id, added_at) VALUES (?, ?, ?)').run(group, participantId, at).changes === 1;
  }

  remove(group: string, participantId: string): boolean {
    return this.stmt('DELETE FROM participant_groups WHERE group_name = ? AND participant_id = ?').run(group, participantId).changes === 1;
  }

  get(group: string, participantId: string): GroupMember | undefined {
    const row = this.stmt('SELECT * FROM participant_groups WHERE group_name = ? AND participant_id = ?').get(group, participantId) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  members(group: string): GroupMember[] {
    return (this.stmt('SELECT * FROM participant_groups WHERE group_name = ? ORDER BY participant_id').all(group) as Row[]).map(fromRow);
  }

  /** Every membership, by group then participant. */
  all(): GroupMember[] {
    return (this.stmt('SELECT * FROM participant_groups ORDER BY group_name, participant_id').all() as Row[]).map(fromRow);
  }

  /** Names of the groups `participantId` belongs to, sorted (index `participant_groups_by_participant`). */
  groupsOf(participantId: string): string[] {
    return (this.stmt('SELECT group_name FROM participant_groups WHERE participant_id = ? ORDER BY group_name').all(participantId) as Array<{ group_name: string }>).map(
      (r) => r.group_name,
    );
  }
}
