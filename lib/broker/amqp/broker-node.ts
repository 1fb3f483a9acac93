import { redactUrl, schemeOf } from '../../util/url.js';
import { withoutTlsParameters, type TlsSocketOptions } from '../../util/tls-settings.js';
import { endpointOf, type ProbeTarget } from '../../util/tls-probe.js';
import type { TransportOptions } from '../transport.js';

/** One node of the broker list. */
export interface BrokerNode {
  /** What amqplib connects to: the URL without its TLS parameters, with the connection parameters added. */
  readonly connectUrl: string;
  /** The URL with its password and TLS parameters (file paths) hidden, for logs and errors. */
  readonly redacted: string;
  /** tls.connect options of an amqps:// URL; null for amqp://. */
  readonly tls: TlsSocketOptions | null;
  /** What a TLS probe needs, to tell a TLS refusal hidden behind a reset from a network fault. */
  readonly probeTarget: ProbeTarget | null;
}

/** The node of one URL of the list: its connect URL, name, TLS settings and probe target all come from that URL. */
export function brokerNode(url: string, options: TransportOptions): BrokerNode {
  const secure = schemeOf(url) === 'amqps';
  const tls = secure ? (options.tls?.socketOptions ?? { rejectUnauthorized: true }) : null;
  const endpoint = endpointOf(url, secure ? 5671 : 5672);
  return {
    connectUrl: withConnectParameters(withoutTlsParameters(url), options),
    redacted: redactUrl(withoutTlsParameters(url)),
    tls,
    probeTarget: endpoint && { endpoint, tls, tlsScheme: 'amqps' },
  };
}

/**
 * The URL amqplib connects to: the heartbeat (0 disables it) and the largest frame accepted from
 * the broker (`maxFrameSize`; amqplib's default when unset, 0 = no limit) from options, unless
 * the URL sets them itself.
 */
function withConnectParameters(url: string, options: TransportOptions): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(options.heartbeatSeconds));
    if (options.maxFrameSize != null && !parsed.searchParams.has('maxFrameSize')) {
      parsed.searchParams.set('maxFrameSize', String(options.maxFrameSize));
    }
    return parsed.toString();
  } catch {
    return url;
  }
}
