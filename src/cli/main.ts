#!/usr/bin/env node
import { describeError, HedgerowError } from '../errors';
import { helpText, parseCommandArgs, type Command, type CommandIo } from './command';

/**
 * `hedgerow start` is the long-lived process: it loads only the start command (and what it runs),
 * not the modules of every other command. Everything else loads the whole command table.
 */
function commands(argv: string[]): Command[] {
  if (argv[0] === 'start') return [(require('./commands/start') as typeof import('./commands/start')).startCommand];
  return (require('./commands') as typeof import('./commands')).COMMANDS;
}
import { VERSION } from '../version';

function topLevelHelp(): string {
  const groups = new Map<string, Command[]>();
  for (const c of commands([])) {
    const head = c.name.split(' ')[0]!;
    groups.set(head, [...(groups.get(head) ?? []), c]);
  }
  const rows = [...groups.values()].flat().map((c) => `  ${c.name.padEnd(20)}${c.summary}`);
  return [
    'usage: hedgerow <command> [options]',
    '',
    'hedgerow: a sovereign dataspace connector (Dataspace Protocol 2025-1)',
    '',
    'commands:',
    ...rows,
    '',
    'Run "hedgerow <command> --help" for the options of a command.',
  ].join('\n');
}

function groupHelp(group: string, members: Command[]): string {
  return [`usage: hedgerow ${group} <subcommand> [options]`, '', 'subcommands:', ...members.map((c) => `  ${c.name.padEnd(20)}${c.summary}`)].join('\n');
}

/** Find the command named by the leading words of argv (longest match: `certs status` before `certs`). */
function resolve(argv: string[]): { command?: Command; rest: string[]; group?: string } {
  const COMMANDS = commands(argv);
  for (let words = Math.min(argv.length, 3); words >= 1; words--) {
    const name = argv.slice(0, words).join(' ');
    const command = COMMANDS.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  const group = argv[0] && COMMANDS.some((c) => c.name.startsWith(argv[0] + ' ')) ? argv[0] : undefined;
  return { rest: argv.slice(1), group };
}

export async function runCli(argv: string[], io: CommandIo): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      io.out(topLevelHelp());
      return argv.length === 0 ? 64 : 0;
    }
    if (argv[0] === '--version' || argv[0] === 'version') {
      io.out(VERSION);
      return 0;
    }
    const { command, rest, group } = resolve(argv);
    if (!command) {
      if (group) {
        const members = commands([]).filter((c) => c.name.startsWith(group + ' '));
        const asked = rest[0];
        if (!asked || asked === '--help' || asked === '-h') {
          io.out(groupHelp(group, members));
          return asked ? 0 : 64;
        }
        io.err(`hedgerow: unknown subcommand "${group} ${asked}" (see "hedgerow ${group} --help")`);
        return 64;
      }
      io.err(`hedgerow: unknown command "${argv[0]}" (see "hedgerow --help")`);
      return 64;
    }
    const input = parseCommandArgs(command, rest);
    if (input.values.help) {
      io.out(helpText(command));
      return 0;
    }
    return (await command.run(input, io)) ?? 0;
  } catch (err) {
    io.err(`hedgerow: ${describeError(err)}`);
    if (process.env.HEDGEROW_DEBUG && err instanceof Error) io.err(err.stack ?? '');
    return err instanceof HedgerowError ? err.exitCode : 1;
  }
}

if (require.main === module) {
  // `hedgerow doctor | head -3`: a reader that goes away is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  const io: CommandIo = {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    env: process.env,
    isTty: process.stdout.isTTY === true,
  };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      // `start` keeps running until a signal; every other command ends here.
      if (code !== -1) process.exitCode = code;
    },
    (err) => {
      io.err(`hedgerow: ${describeError(err)}`);
      process.exitCode = 1;
    },
  );
}
