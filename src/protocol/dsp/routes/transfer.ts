import type { Router } from 'express';
import { expressLib } from '../../../lazy';
import type { TransferService } from '../../../transfer/transfer-service';
import type { Role } from '../../../store/repositories/negotiations';
import { dspEndpoint, type DspContext } from '../handler';

type Ctx = DspContext & { transfers: TransferService };

/** The four messages both roles accept on an existing transfer, under `/transfers/:pid`. */
function sharedTransferRoutes(router: Router, ctx: Ctx, role: Role, param: 'providerPid' | 'consumerPid'): void {
  const service = ctx.transfers;
  const followUp = (id: string) => () => service.runPending(id);
  router.get(
    `/transfers/:${param}`,
    dspEndpoint(ctx, 'transfer', null, ({ peer, params }) => ({ status: 200, body: service.ack(service.findForPeer(role, params[param]!, peer)) })),
  );
  const message = (suffix: string, type: 'TransferStartMessage' | 'TransferCompletionMessage' | 'TransferSuspensionMessage' | 'TransferTerminationMessage', handle: typeof service.receiveStart) =>
    router.post(
      `/transfers/:${param}/${suffix}`,
      dspEndpoint(ctx, 'transfer', [type], ({ peer, body, params }) => {
        const t = handle.call(service, role, peer, params[param]!, body);
        return { status: 200, body: service.ack(t), after: followUp(t.id) };
      }),
    );
  message('start', 'TransferStartMessage', service.receiveStart);
  message('completion', 'TransferCompletionMessage', service.receiveCompletion);
  message('suspension', 'TransferSuspensionMessage', service.receiveSuspension);
  message('termination', 'TransferTerminationMessage', service.receiveTermination);
}

/** Transfer process, provider side, relative to the DSP base. */
export function providerTransferRoutes(ctx: Ctx): Router {
  const router = expressLib().Router();
  router.post(
    '/transfers/request',
    dspEndpoint(ctx, 'transfer', ['TransferRequestMessage'], ({ peer, body }) => {
      const t = ctx.transfers.receiveRequest(peer, body);
      return { status: 201, body: ctx.transfers.ack(t), after: () => ctx.transfers.runPending(t.id) };
    }),
  );
  sharedTransferRoutes(router, ctx, 'provider', 'providerPid');
  return router;
}

/** Transfer process, consumer side, relative to our callback address (GET is required by the DSP TCK). */
export function consumerTransferRoutes(ctx: Ctx): Router {
  const router = expressLib().Router();
  sharedTransferRoutes(router, ctx, 'consumer', 'consumerPid');
  return router;
}
