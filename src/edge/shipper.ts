// Ships an edge's records to the control plane: batched (by count or time), posted in order,
// and while the control plane is unreachable appended to an on-disk spool that is delivered,
// oldest first, once it answers again. The control plane stores records by id, so a batch
// sent twice (a crash between delivering and committing) is stored once.
import type { LogRecord } from '../domain.js';
import type { Spool } from '../store/spool.js';

export interface ShipperOptions {
  controlPlane: string;
  token: string;
  spool: Spool<LogRecord>;
  /** Records per POST. */
  batchSize?: number;
  /** The longest a record waits in memory before its batch goes. */
  flushIntervalMs?: number;
  /** How soon to try again after the control plane could not be reached. */
  retryMs?: number;
  /** One POST's time limit. */
  timeoutMs?: number;
  onError(err: unknown, message: string): void;
}

export interface ShipperStats {
  /** Records the control plane accepted. */
  shipped: number;
  /** Records lost: the spool was full, or the control plane rejected them as invalid. */
  dropped: number;
}

type Delivery = 'sent' | 'failed' | 'rejected';

export class Shipper {
  readonly stats: ShipperStats = { shipped: 0, dropped: 0 };
  private buffer: LogRecord[] = [];
  /** Batches waiting to be posted, oldest first; they go after whatever the spool holds. */
  private pending: LogRecord[][] = [];
  private working: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  /** The control plane could not be reached: batches go to the spool until the retry. */
  private down = false;
  /** The outage was logged already: one line per outage, not one per retry. */
  private warned = false;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly retryMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: ShipperOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.flushIntervalMs = options.flushIntervalMs ?? 1_000;
    this.retryMs = options.retryMs ?? 1_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** True while the last delivery reached the control plane. */
  get reachable(): boolean {
    return !this.down;
  }

  /** Records waiting on disk. */
  get spooled(): number {
    return this.options.spool.stats.items;
  }

  /** Drops past the spool's cap included. */
  get dropped(): number {
    return this.stats.dropped + this.options.spool.stats.dropped;
  }

  ship(record: LogRecord): void {
    this.buffer.push(record);
    if (this.buffer.length >= this.batchSize) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Moves the buffered records into a batch and gets it going. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length > 0) this.pending.push(this.buffer.splice(0));
    this.kick();
  }

  /** Starts the worker unless it runs; it posts while it can and spools the rest. */
  private kick(): void {
    if (this.working) return;
    this.working = this.work().finally(() => {
      this.working = null;
      // A batch that came in as the worker was finishing, or a retry that fell due while it spooled.
      if (this.pending.length > 0 || (!this.down && this.options.spool.stats.items > 0)) this.kick();
    });
  }

  private async work(): Promise<void> {
    const { spool } = this.options;
    while (!this.down) {
      if (spool.stats.items > 0) {
        const records = await spool.peek(this.batchSize);
        const delivery = await this.post(records);
        if (delivery === 'failed') break;
        await spool.commit(records.length);
        continue;
      }
      const batch = this.pending.shift();
      if (!batch) return;
      const delivery = await this.post(batch);
      if (delivery === 'failed') {
        this.pending.unshift(batch);
        break;
      }
    }
    this.markDown();
    await this.spill();
  }

  /** Appends the waiting batches to the spool, in order. */
  private async spill(): Promise<void> {
    for (let batch = this.pending.shift(); batch; batch = this.pending.shift()) {
      if (!(await this.options.spool.append(batch))) {
        this.options.onError(
          new Error(`${batch.length} records dropped`),
          'edge spool full: records dropped (counted in /metrics)',
        );
      }
    }
  }

  private markDown(): void {
    this.down = true;
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.down = false;
      this.kick();
    }, this.retryMs);
    this.retry.unref();
  }

  private async post(records: LogRecord[]): Promise<Delivery> {
    let response: Response;
    try {
      response = await fetch(new URL('/api/edge/records', this.options.controlPlane), {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ records }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      if (!this.warned) this.options.onError(err, 'control plane unreachable: records go to the spool');
      this.warned = true;
      return 'failed';
    }
    const text = await response.text().catch(() => '');
    // Bodies can make a batch larger than the control plane takes: halves go one after the other.
    if (response.status === 413 && records.length > 1) {
      const half = Math.ceil(records.length / 2);
      const first = await this.post(records.slice(0, half));
      return first === 'failed' ? first : this.post(records.slice(half));
    }
    if (response.ok) {
      this.warned = false;
      this.stats.shipped += records.length;
      return 'sent';
    }
    // Invalid records would be refused forever: dropped (and counted) so the rest can go.
    if (response.status === 400 || response.status === 413 || response.status === 403) {
      this.stats.dropped += records.length;
      this.options.onError(new Error(`${response.status}: ${text.slice(0, 500)}`), 'control plane rejected records');
      return 'rejected';
    }
    // 401 (a revoked token), 5xx: kept, and tried again.
    if (!this.warned) {
      this.options.onError(new Error(`${response.status}: ${text.slice(0, 500)}`), 'control plane refused records');
    }
    this.warned = true;
    return 'failed';
  }

  /** Sends what is buffered, or spools it: nothing is left only in memory. */
  async close(): Promise<void> {
    this.flush();
    while (this.working) await this.working;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    // Down: the worker spooled what it could not send; stop the retry from starting another.
    this.down = true;
    await this.spill();
    await this.options.spool.settle();
  }
}
