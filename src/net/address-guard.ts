import dns from 'node:dns';
import net from 'node:net';
import { ForbiddenError } from '../errors';

/**
 * Server-side request forgery guard for addresses that come from peers (callback addresses, push
 * data addresses, provider DSP URLs). By default refuses loopback, link-local, unspecified and
 * multicast targets and this connector's own management listener, unless allow-listed. The check
 * runs on the resolved address at connect time, so DNS rebinding cannot slip past it.
 */
export interface AddressGuardOptions {
  /** Hosts, IPs or CIDRs that may be reached although they are loopback or link-local (tests, LAN setups). */
  allow: string[];
  /** host:port pairs that are never reachable (our management listener). */
  deny?: Array<{ host: string; port: number }>;
  /** Accept plain http peers (the DSP TCK's callback server); only the conformance profile sets this. */
  allowHttp?: boolean;
  /** Name resolution behind `lookup()`; default dns.lookup (tests give a host a chosen address). */
  resolve?: (hostname: string, options: dns.LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;
}

function parseCidr(entry: string): { net: string; bits: number; family: 4 | 6 } | null {
  const [addr, bitsRaw] = entry.split('/');
  const family = net.isIP(addr!);
  if (!family) return null;
  const bits = bitsRaw === undefined ? (family === 4 ? 32 : 128) : Number(bitsRaw);
  return { net: addr!, bits, family: family as 4 | 6 };
}

function forbiddenRange(ip: string): string | null {
  const blocks = new net.BlockList();
  blocks.addSubnet('127.0.0.0', 8, 'ipv4');
  blocks.addSubnet('169.254.0.0', 16, 'ipv4');
  blocks.addSubnet('0.0.0.0', 8, 'ipv4');
  blocks.addSubnet('224.0.0.0', 4, 'ipv4');
  blocks.addAddress('::1', 'ipv6');
  blocks.addAddress('::', 'ipv6');
  blocks.addSubnet('fe80::', 10, 'ipv6');
  blocks.addSubnet('ff00::', 8, 'ipv6');
  const family = net.isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  // IPv4-mapped IPv6 (::ffff:127.0.0.1) is checked as IPv4.
  const mapped = family === 'ipv6' && /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return forbiddenRange(mapped[1]!);
  return blocks.check(ip, family) ? 'loopback, link-local or unspecified address' : null;
}

export class AddressGuard {
  private readonly allowHosts = new Set<string>();
  private readonly allowList = new net.BlockList();

  constructor(private readonly opts: AddressGuardOptions) {
    for (const entry of opts.allow) {
      const cidr = parseCidr(entry);
      if (cidr) this.allowList.addSubnet(cidr.net, cidr.bits, cidr.family === 4 ? 'ipv4' : 'ipv6');
      else this.allowHosts.add(entry.toLowerCase());
    }
  }

  private allowed(hostOrIp: string): boolean {
    if (this.allowHosts.has(hostOrIp.toLowerCase())) return true;
    const family = net.isIP(hostOrIp);
    return family !== 0 && this.allowList.check(hostOrIp, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** Check a URL before any connection: scheme and literal addresses. Throws ForbiddenError. */
  checkUrl(raw: string, what: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ForbiddenError(`${what} ${JSON.stringify(raw)} is not a URL`, 'ADDRESS_INVALID');
    }
    if (url.protocol !== 'https:' && !(this.opts.allowHttp && url.protocol === 'http:')) throw new ForbiddenError(`${what} must use https: ${raw}`, 'ADDRESS_NOT_HTTPS');
    if (url.username || url.password) throw new ForbiddenError(`${what} must not carry credentials`, 'ADDRESS_INVALID');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 443);
    // Never reachable, allow-list or not: the management API must not be driven by a peer.
    if (this.isManagementListener(host, port)) {
      throw new ForbiddenError(`${what} points at this connector's management listener`, 'ADDRESS_FORBIDDEN');
    }
    if (net.isIP(host)) this.checkResolved(host, what);
    else if (host === 'localhost' || host.endsWith('.localhost')) {
      if (!this.allowed(host)) throw new ForbiddenError(`${what} ${host} is a loopback name (allow-list it in dsp.allowedAddresses)`, 'ADDRESS_FORBIDDEN');
    }
    return url;
  }

  private isManagementListener(host: string, port: number): boolean {
    const loopback = (h: string) => h === 'localhost' || h === '::1' || h.startsWith('127.');
    const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
    return (this.opts.deny ?? []).some(
      (d) => d.port === port && (d.host === host || wildcard(d.host) || (loopback(d.host) && loopback(host))),
    );
  }

  /** Check one resolved IP. */
  checkResolved(ip: string, what: string): void {
    const range = forbiddenRange(ip);
    if (range && !this.allowed(ip)) {
      throw new ForbiddenError(`${what} resolves to ${ip}, a ${range} (allow-list it in dsp.allowedAddresses)`, 'ADDRESS_FORBIDDEN');
    }
  }

  /** A `lookup` for net/tls.connect that refuses forbidden resolutions (DNS-rebinding safe). */
  lookup(): net.LookupFunction {
    return (hostname, options, callback) => {
      const resolve = this.opts.resolve ?? ((h, o, cb) => dns.lookup(h, o, cb));
      resolve(hostname, { ...(options as dns.LookupOptions), all: true }, (err, addresses) => {
        if (err) return callback(err, '', 4);
        const list = addresses;
        try {
          if (!this.allowed(hostname)) for (const a of list) this.checkResolved(a.address, `address of ${hostname}`);
        } catch (guardErr) {
          return callback(guardErr as NodeJS.ErrnoException, '', 4);
        }
        if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
        callback(null, list[0]!.address, list[0]!.family);
      });
    };
  }
}
