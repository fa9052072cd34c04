import { backoffDelay, isRetryable } from '../../src/outbox/dispatcher';
import { joinUrl } from '../../src/protocol/dsp/client';

describe('outbound delivery rules', () => {
  it('joins callback addresses with or without a trailing slash', () => {
    expect(joinUrl('https://c.example/cb', '/negotiations/x/offers')).toBe('https://c.example/cb/negotiations/x/offers');
    expect(joinUrl('https://c.example/cb/', '/negotiations/x/offers')).toBe('https://c.example/cb/negotiations/x/offers');
    expect(joinUrl('https://c.example/cb//', 'negotiations/x/offers')).toBe('https://c.example/cb/negotiations/x/offers');
  });

  it('retries on network errors, 404 (the TCK registers handlers late), 408, 425, 429 and 5xx; not on other 4xx', () => {
    for (const status of [404, 408, 425, 429, 500, 502, 503]) expect(isRetryable(status)).toBe(true);
    for (const status of [400, 409, 410, 413, 422]) expect(isRetryable(status)).toBe(false);
  });

  it('backs off exponentially with ±50 % jitter, capped', () => {
    const policy = { initialDelayMs: 250, maxDelayMs: 600_000 };
    expect(backoffDelay(0, policy, () => 0.5)).toBe(250);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(2000);
    expect(backoffDelay(3, policy, () => 0)).toBe(1000);
    expect(backoffDelay(3, policy, () => 0.999)).toBeLessThan(3000);
    expect(backoffDelay(40, policy, () => 0.5)).toBe(600_000);
  });
});
