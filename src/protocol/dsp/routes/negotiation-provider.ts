import type { Router } from 'express';
import { expressLib } from '../../../lazy';
import type { NegotiationService } from '../../../negotiation/negotiation-service';
import { dspEndpoint, type DspContext } from '../handler';

/** Contract negotiation, provider side, relative to the DSP base. */
export function providerNegotiationRoutes(ctx: DspContext & { negotiations: NegotiationService }): Router {
  const router = expressLib().Router();
  const service = ctx.negotiations;
  const followUp = (id: string) => () => service.runPending(id);

  router.get(
    '/negotiations/:providerPid',
    dspEndpoint(ctx, 'negotiation', null, ({ peer, params }) => ({ status: 200, body: service.ack(service.findForPeer('provider', params.providerPid!, peer)) })),
  );

  router.post(
    '/negotiations/request',
    dspEndpoint(ctx, 'negotiation', ['ContractRequestMessage'], ({ peer, body }) => {
      const n = service.receiveInitialRequest(peer, body);
      return { status: 201, body: service.ack(n), after: followUp(n.id) };
    }),
  );

  router.post(
    '/negotiations/:providerPid/request',
    dspEndpoint(ctx, 'negotiation', ['ContractRequestMessage'], ({ peer, body, params }) => {
      const n = service.receiveCounterRequest(peer, params.providerPid!, body);
      return { status: 200, body: service.ack(n), after: followUp(n.id) };
    }),
  );

  router.post(
    '/negotiations/:providerPid/events',
    dspEndpoint(ctx, 'negotiation', ['ContractNegotiationEventMessage'], ({ peer, body, params }) => {
      const n = service.receiveConsumerEvent(peer, params.providerPid!, body);
      return { status: 200, body: service.ack(n), after: followUp(n.id) };
    }),
  );

  router.post(
    '/negotiations/:providerPid/agreement/verification',
    dspEndpoint(ctx, 'negotiation', ['ContractAgreementVerificationMessage'], ({ peer, body, params }) => {
      const n = service.receiveVerification(peer, params.providerPid!, body);
      return { status: 200, body: service.ack(n), after: followUp(n.id) };
    }),
  );

  router.post(
    '/negotiations/:providerPid/termination',
    dspEndpoint(ctx, 'negotiation', ['ContractNegotiationTerminationMessage'], ({ peer, body, params }) => {
      const n = service.receiveTermination('provider', peer, params.providerPid!, body);
      return { status: 200, body: service.ack(n) };
    }),
  );
  return router;
}
