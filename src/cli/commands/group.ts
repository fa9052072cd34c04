import { defineCommand, stringOption } from '../command';
import type { Group as ApiGroup, GroupMember as ApiMember } from '../../consent/group-service';
import { printList, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient, seg } from '../management-client';

/**
 * Participant groups (the `membership` policy operand) from the command line:
 *   hedgerow group add <group> <participant-id>
 *   hedgerow group remove <group> <participant-id>
 *   hedgerow group list [group] [--participant ID] [--json]
 */

const DESCRIPTION = MANAGEMENT_DESCRIPTION + '\nPolicies name groups with the membership operand, e.g. {"leftOperand": "membership", "operator": "eq", "rightOperand": "coop-members"}.';

export const groupAddCommand = defineCommand(
  {
    name: 'group add',
    summary: 'add a participant to a group (membership constraints)',
    args: '<group> <participant-id>',
    positionals: [2, 2],
    description: DESCRIPTION + '\nexample: hedgerow group add coop-members did:web:farm1.coop.example',
    options: { json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values, positionals }, io) {
      const [group, participantId] = positionals as [string, string];
      const member = await managementClient(values, io).post<ApiMember>(`/groups/${seg(group)}/members`, { participantId });
      if (values.json) io.out(JSON.stringify(member, null, 2));
      else io.out(`added ${member.participantId} to group ${member.group}`);
      return 0;
    },
  },
  { ...MANAGEMENT_HELP, json: 'print the membership as JSON' },
);

export const groupRemoveCommand = defineCommand(
  {
    name: 'group remove',
    summary: 'remove a participant from a group',
    args: '<group> <participant-id>',
    positionals: [2, 2],
    description: DESCRIPTION,
    options: { ...MANAGEMENT_OPTIONS },
    async run({ values, positionals }, io) {
      const [group, participantId] = positionals as [string, string];
      await managementClient(values, io).delete(`/groups/${seg(group)}/members/${seg(participantId)}`);
      io.out(`removed ${participantId} from group ${group}`);
      return 0;
    },
  },
  { ...MANAGEMENT_HELP },
);

export const groupListCommand = defineCommand(
  {
    name: 'group list',
    summary: 'list groups and their members',
    args: '[group]',
    positionals: [0, 1],
    description: DESCRIPTION,
    options: { participant: { type: 'string' }, json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values, positionals }, io) {
      const client = managementClient(values, io);
      const participant = stringOption(values, 'participant');
      const groups = positionals[0]
        ? [await client.get<ApiGroup>(`/groups/${seg(positionals[0])}`)]
        : await client.get<ApiGroup[]>('/groups', { participantId: participant });
      return printList(io, groups, {
        json: values.json,
        empty: participant ? `${participant} is in no group` : 'no groups (add a member with "hedgerow group add")',
        headers: ['group', 'participant', 'added'],
        rows: (items) => items.flatMap((g) => g.members.map((m) => [g.name, m.participantId, m.addedAt])),
      });
    },
  },
  { ...MANAGEMENT_HELP, participant: 'only the groups this participant belongs to', json: 'print as JSON' },
);
