import type { Request, Response } from 'express';
import { DSP_BASE_PATH } from '../paths';

/** GET /.well-known/dspace-version: unversioned and unauthenticated (DSP 2025-1, "Exposure of Versions"). */
export function versionEndpoint(participantIdentifierType: () => string) {
  return (_req: Request, res: Response) => {
    res.json({
      protocolVersions: [
        {
          version: '2025-1',
          path: DSP_BASE_PATH,
          binding: 'HTTPS',
          identifierType: participantIdentifierType(),
          auth: { protocol: 'hedgerow-x5c-jwt', version: '1', profile: ['x5c-jwt-es256-ps256'] },
        },
      ],
    });
  };
}
