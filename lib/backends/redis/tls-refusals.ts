import type { Redis } from '../../util/ioredis.js';
import { classifyTlsError, type TlsFailure } from '../../util/tls-failure.js';
import { diagnoseTlsFailure, type ProbeTarget } from '../../util/tls-probe.js';

/** What makes a plain-text Redis answer (a TLS handshake sent to it gets no answer at all). */
const PING = Buffer.from('PING\r\n');

/**
 * Tells the TLS refusals among one Redis connection's errors from network faults, and fails fast
 * on them before the connection was ever ready (the rule the broker connection keeps too):
 *
 * - each connection error is classified (lib/util/tls-failure.ts); before the first ready, a
 *   reset or timeout is probed once more (lib/util/tls-probe.ts), one probe at a time, for a
 *   TLS port given to redis://, a plain-text port given to rediss://, or a client certificate the
 *   server refused after the handshake;
 * - a refusal before the first ready stops ioredis's reconnect loop (disconnect), so queued
 *   commands fail now instead of after every retry; the next command (`reopen()`) tries again
 *   with one new connection, so a fixed server is picked up without a restart;
 * - after a ready, ioredis reconnects as for any loss (a certificate renewed wrongly on the
 *   server can be fixed there), and `refusal` names the cause in the errors commands get;
 * - `refusal` is cleared by the next ready.
 */
export class TlsRefusals {
  /** The TLS refusal of the latest failed attempt, null once connected. */
  refusal: TlsFailure | null = null;
  private everReady = false;
  private probing = false;

  constructor(
    private readonly client: Redis,
    private readonly target: ProbeTarget | null,
    private readonly report: (refusal: TlsFailure) => void,
  ) {
    client.on('error', (error: unknown) => this.observe(error));
    client.on('ready', () => {
      this.everReady = true;
      this.refusal = null;
    });
  }

  /** Before a command: a client stopped by a refusal connects again (the command waits for it). */
  reopen(): void {
    if (this.client.status === 'end' && this.refusal !== null) this.client.connect().catch(() => undefined);
  }

  private observe(error: unknown): void {
    if (this.target === null) return;
    const direct = this.target.tls === null ? null : classifyTlsError(error);
    if (direct !== null) return this.refuse(direct);
    if (this.everReady) {
      this.refusal = null;
      return;
    }
    if (this.probing) return;
    this.probing = true;
    void diagnoseTlsFailure(error, { ...this.target, plainHello: PING }).then((found) => {
      this.probing = false;
      if (found === null) this.refusal = null;
      else if (!this.everReady && this.client.status !== 'ready' && this.client.status !== 'end') this.refuse(found);
    });
  }

  private refuse(failure: TlsFailure): void {
    const first = this.refusal?.text !== failure.text;
    this.refusal = failure;
    if (first) this.report(failure);
    if (!this.everReady) this.client.disconnect();
  }
}
