import { pullTargetOf } from '../../src/transfer/consumer-data';

/** pullTargetOf reads what a provider sent (TransferStartMessage or a token refresh): any JSON, never a throw. */
describe('pullTargetOf', () => {
  const token = ['e30', Buffer.from(JSON.stringify({ exp: 1_900_000_000 })).toString('base64url'), 'sig'].join('.');
  const address = (endpointProperties: unknown) => ({ '@type': 'DataAddress', endpointType: 'https://w3id.org/idsa/v4.1/HTTP', endpoint: 'https://coop.example/data/t1', endpointProperties });

  it('reads endpoint, token, digest, size and expiry', () => {
    const props = [
      { '@type': 'EndpointProperty', name: 'authorization', value: token },
      { '@type': 'EndpointProperty', name: 'sha256', value: 'ab'.repeat(32) },
      { '@type': 'EndpointProperty', name: 'size', value: '4096' },
    ];
    expect(pullTargetOf(address(props))).toEqual({ endpoint: 'https://coop.example/data/t1', authorization: `Bearer ${token}`, sha256: 'ab'.repeat(32), size: 4096, expiresAt: 1_900_000_000 });
  });

  it.each([
    ['endpointProperties is an object', { authorization: token }],
    ['endpointProperties is a string', 'authorization'],
    ['the only property is null', [null]],
    ['the token is not a string', [{ name: 'authorization', value: { token } }]],
    ['the token holds a line break', [{ name: 'authorization', value: `${token}\r\nx-injected: 1` }]],
  ])('gives null, without throwing, when %s', (_what, props) => {
    expect(pullTargetOf(address(props))).toBeNull();
  });

  it.each([null, 'text', 42, [], { endpoint: 7 }])('gives null for %p', (value) => {
    expect(pullTargetOf(value)).toBeNull();
  });

  it('skips malformed entries and reads a size that is not a number as unknown', () => {
    const target = pullTargetOf(address([null, 3, 'x', { name: 'size', value: 'lots' }, { name: 'authorization', value: token }]));
    expect(target).toMatchObject({ authorization: `Bearer ${token}`, size: null });
  });
});
