import { configFrom, defineCommand } from '../command';
import { configReference } from '../../config/load';

export const configCommand = defineCommand(
  {
    name: 'config',
    summary: 'print the effective configuration and where each value comes from',
    options: { reference: { type: 'boolean' } },
    async run({ values }, io) {
      if (values.reference) {
        io.out(configReference());
        return 0;
      }
      const { config, sources } = configFrom(values, io);
      io.out(JSON.stringify({ config, sources }, null, 2));
      return 0;
    },
  },
  { reference: 'print the Markdown reference table of every key (used for the README)' },
);
