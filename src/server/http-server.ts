import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HedgerowError } from '../errors';

/** Listen, turning EADDRINUSE and friends into one clear error. Resolves with the bound port. */
export function listen(server: Server, host: string, port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const reason =
        err.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is already in use`
          : err.code === 'EACCES'
            ? `no permission to listen on ${host}:${port}`
            : err.code === 'EADDRNOTAVAIL'
              ? `address ${host} is not available on this machine`
              : err.message;
      reject(new HedgerowError('LISTEN_FAILED', `${name} listener: ${reason}`, { exitCode: 1 }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Stop accepting connections, let in-flight requests finish, and cut whatever is still open when
 * `graceMs` runs out. Idle keep-alive connections are closed at once so they cannot hold us up.
 */
export function closeGracefully(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
