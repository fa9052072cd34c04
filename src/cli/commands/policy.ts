import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../config/load';
import { defineCommand, stringOption } from '../command';
import { HedgerowError, NotFoundError, UsageError } from '../../errors';
import type { PolicyDefinition as ApiPolicy } from '../../store/repositories/policies';
import { allPages, printList, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient, parseJsonArgument } from '../management-client';

const TEMPLATE_DIR = path.join(PACKAGE_ROOT, 'config', 'policy-templates');

function readPolicyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`policy file ${file} does not exist`);
    throw new HedgerowError('FILE_UNREADABLE', `cannot read policy file ${file}: ${code ?? (err as Error).message}`);
  }
}

/** The policy templates shipped in config/policy-templates (common farm-data cases). */
export function policyTemplates(): string[] {
  try {
    return fs.readdirSync(TEMPLATE_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

function readTemplate(name: string): { title: string; policy: Record<string, unknown> } {
  if (!policyTemplates().includes(name)) throw new UsageError(`unknown template "${name}"; shipped: ${policyTemplates().join(', ')}`);
  return JSON.parse(fs.readFileSync(path.join(TEMPLATE_DIR, `${name}.json`), 'utf8')) as { title: string; policy: Record<string, unknown> };
}

/** Count of rules in a policy, for the list. */
function ruleSummary(policy: object): string {
  const p = policy as Record<string, unknown>;
  const count = (k: string) => (Array.isArray(p[k]) ? (p[k] as unknown[]).length : p[k] ? 1 : 0);
  const parts = [
    ['permission', count('permission')],
    ['prohibition', count('prohibition')],
    ['obligation', count('obligation')],
  ].filter(([, n]) => (n as number) > 0);
  return parts.map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`).join(', ') || '(no rules)';
}

export const policyAddCommand = defineCommand(
  {
    name: 'policy add',
    summary: 'create an ODRL policy (used as access or contract policy of offers)',
    description:
      MANAGEMENT_DESCRIPTION +
      '\nGive the ODRL policy (compact DSP JSON) with exactly one of --file or --json. A refused policy is reported\n' +
      'with the JSON path of the first problem, e.g. /policy/permission/0/constraint/1.\n' +
      'example: hedgerow policy add --id members-only --json \'{"permission":[{"action":"use","constraint":[{"leftOperand":"membership","operator":"eq","rightOperand":"coop-a"}]}]}\'',
    options: { id: { type: 'string' }, title: { type: 'string' }, file: { type: 'string' }, json: { type: 'string' }, template: { type: 'string' }, ...MANAGEMENT_OPTIONS },
    async run({ values }, io) {
      const id = stringOption(values, 'id');
      if (!id) throw new UsageError('--id ID is required (see "hedgerow policy add --help")');
      const template = stringOption(values, 'template');
      const file = stringOption(values, 'file');
      const inline = stringOption(values, 'json');
      if ([file, inline, template].filter((v) => v !== undefined).length !== 1) throw new UsageError('give exactly one of --file policy.json, --json \'{...}\' or --template NAME');
      if (template !== undefined) {
        const t = readTemplate(template);
        const created = await managementClient(values, io).post<ApiPolicy>('/policies', { id, title: stringOption(values, 'title') ?? t.title, policy: t.policy });
        io.out(`added policy ${created.id} from template ${template}: ${ruleSummary(created.policy)}`);
        return 0;
      }
      const policy = file !== undefined ? parseJsonArgument(readPolicyFile(file), `policy file ${file}`) : parseJsonArgument(inline!, '--json');
      if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
        throw new HedgerowError('INVALID_JSON', `${file !== undefined ? `policy file ${file}` : '--json'} must hold a JSON object (the ODRL policy)`, { exitCode: 65, httpStatus: 400 });
      }
      const created = await managementClient(values, io).post<ApiPolicy>('/policies', { id, title: stringOption(values, 'title'), policy });
      io.out(`added policy ${created.id}: ${ruleSummary(created.policy)}`);
      return 0;
    },
  },
  {
    ...MANAGEMENT_HELP,
    id: 'policy id (letters, digits and . _ ~ -); required',
    title: 'human-readable title',
    file: 'JSON file holding the ODRL policy',
    json: 'the ODRL policy as a JSON string',
    template: `a shipped template: ${policyTemplates().join(', ')}`,
  },
);

export const policyListCommand = defineCommand(
  {
    name: 'policy list',
    summary: 'list the policies',
    description: MANAGEMENT_DESCRIPTION,
    options: { json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values }, io) {
      const policies = await allPages<ApiPolicy>(managementClient(values, io), '/policies');
      return printList(io, policies, {
        json: values.json,
        empty: 'no policies (add one with "hedgerow policy add")',
        headers: ['id', 'title', 'rules', 'created'],
        rows: (items) => items.map((p) => [p.id, p.title ?? '', ruleSummary(p.policy), p.createdAt]),
      });
    },
  },
  { ...MANAGEMENT_HELP, json: 'print as JSON' },
);
