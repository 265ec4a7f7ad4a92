// "The client went away" for one request, made cheap for the many requests where it never
// happens. An AbortController costs ~10 µs on Node 20 (EventTarget) and every request would
// pay for it; undici takes an EventEmitter as its `signal` too, so the upstream call listens
// here, and a real AbortSignal is only made for what needs one (a backoff sleep, a wait for
// the client to drain), which is rare.
import { EventEmitter } from 'node:events';
import type { GatewayError } from '../errors.js';

export class ClientAbort extends EventEmitter {
  /** Read by undici (as on an AbortSignal) before it listens for 'abort'. */
  aborted = false;
  /**
   * Why the gateway itself stopped the upstream call (its total timeout), so the error is
   * answered rather than taken for a client that left; null when the client left.
   */
  failure: GatewayError | null = null;
  private controller: AbortController | null = null;

  /** The client left before the answer was complete: stops whatever is still listening. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.controller?.abort();
    this.emit('abort');
  }

  /** Stops everything upstream with `failure` as the reason, unless the client left first. */
  fail(failure: GatewayError): void {
    if (this.aborted) return;
    this.failure = failure;
    this.abort();
  }

  /** Fails with `failure` after `ms`; returns what cancels that once the answer is complete. */
  failAfter(ms: number, failure: () => GatewayError): () => void {
    const timer = setTimeout(() => this.fail(failure()), ms);
    return () => clearTimeout(timer);
  }

  /** A real AbortSignal that follows this one, created on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }
}
