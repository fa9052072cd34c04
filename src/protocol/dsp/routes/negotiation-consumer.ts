import type { Router } from 'express';
import { expressLib } from '../../../lazy';
import type { NegotiationService } from '../../../negotiation/negotiation-service';
import { dspEndpoint, type DspContext } from '../handler';

/** Contract negotiation, consumer side, relative to the callback address we advertise. */
export function consumerNegotiationRoutes(ctx: DspContext & { negotiations: NegotiationService }): Router {
  const router = expressLib().Router();
  const service = ctx.negotiations;
  const followUp = (id: string) => () => service.runPending(id);

  router.get(
    '/negotiations/:consumerPid',
    dspEndpoint(ctx, 'negotiation', null, ({ peer, params }) => ({ status: 200, body: service.ack(service.findForPeer('consumer', params.consumerPid!, peer)) })),
  );

  router.post(
    '/negotiations/:consumerPid/offers',
    dspEndpoint(ctx, 'negotiation', ['ContractOfferMessage'], ({ peer, body, params }) => {
      const n = service.receiveOffer(peer, params.consumerPid!, body);
      return { status: 200, body: service.ack(n), after: followUp(n.id) };
    }),
  );

  router.post(
    '/negotiations/:consumerPid/agreement',
    dspEndpoint(ctx, 'negotiation', ['ContractAgreementMessage'], ({ peer, body, params }) => {
      const n = service.receiveAgreement(peer, params.consumerPid!, body);
      return { status: 200, body: service.ack(n), after: followUp(n.id) };
    }),
  );

  router.post(
    '/negotiations/:consumerPid/events',
    dspEndpoint(ctx, 'negotiation', ['ContractNegotiationEventMessage'], ({ peer, body, params }) => {
      const n = service.receiveProviderEvent(peer, params.consumerPid!, body);
      return { status: 200, body: service.ack(n), after: followUp(n.id) };
    }),
  );

  router.post(
    '/negotiations/:consumerPid/termination',
    dspEndpoint(ctx, 'negotiation', ['ContractNegotiationTerminationMessage'], ({ peer, body, params }) => {
      const n = service.receiveTermination('consumer', peer, params.consumerPid!, body);
      return { status: 200, body: service.ack(n) };
    }),
  );
  return router;
}

/** POST /negotiations/offers on the DSP base: a provider starts a negotiation with us. */
export function initialOfferRoute(ctx: DspContext & { negotiations: NegotiationService }): Router {
  const router = expressLib().Router();
  router.post(
    '/negotiations/offers',
    dspEndpoint(ctx, 'negotiation', ['ContractOfferMessage'], ({ peer, body }) => {
      const n = ctx.negotiations.receiveInitialOffer(peer, body);
      return { status: 201, body: ctx.negotiations.ack(n), after: () => ctx.negotiations.runPending(n.id) };
    }),
  );
  return router;
}
