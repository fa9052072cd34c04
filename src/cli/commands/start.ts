import { configFrom, defineCommand } from '../command';
import { createLogger } from '../../log/logger';
import { startConnector } from '../../connector';
import { CertStore } from '../../pki';
import { initialiseNode, printInitResult } from '../../setup/initialise';
import { describeError } from '../../errors';

export const startCommand = defineCommand(
  {
    name: 'start',
    summary: 'run the connector (public HTTPS listener and local management listener)',
    description:
      'Stops gracefully on SIGTERM or SIGINT: stops accepting, lets in-flight requests finish within\n' +
      'shutdown.graceSeconds, closes the database and exits 0. SIGHUP reloads the certificate.',
    options: { 'init-if-missing': { type: 'boolean' } },
    async run({ values }, io) {
      const { config } = configFrom(values, io);
      const logger = createLogger({ level: config.log.level, format: config.log.format });
      if (values['init-if-missing'] && !new CertStore(config.certsDir).hasIdentity()) {
        printInitResult(initialiseNode(config, {}), io);
      }
      const node = await startConnector(config, logger);
      process.on('SIGHUP', () => node.identity.reload());
      await new Promise<void>((resolve) => {
        let signalled = false;
        const onSignal = (signal: NodeJS.Signals) => {
          if (signalled) {
            logger.warn('second signal, exiting immediately', { signal });
            process.exit(1);
          }
          signalled = true;
          logger.info('shutting down', { signal });
          node.stop().then(resolve, (err) => {
            logger.error('shutdown failed', { error: describeError(err) });
            resolve();
          });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      return 0;
    },
  },
  { 'init-if-missing': 'run "hedgerow init" with defaults first if this node has no key yet (used by npm start)' },
);
