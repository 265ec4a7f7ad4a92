// Keeps an edge's directory in step with the control plane: fetches the snapshot at start
// (or, the control plane unreachable, the one kept on disk), then asks for changes every
// interval with If-None-Match, and keeps serving the last one while the control plane is away.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { hashSecret } from '../secrets/keys.js';
import type { EdgeDirectory } from './directory.js';
import { type EdgeSnapshot, EdgeSnapshotSchema } from './snapshot.js';

export interface EdgeSyncOptions {
  controlPlane: string;
  token: string;
  dataDir: string;
  intervalMs: number;
  directory: EdgeDirectory;
  onError(err: unknown, message: string): void;
  /** Told when a new snapshot is loaded (not on a 304). */
  onChange?(snapshot: EdgeSnapshot): void;
}

export const SNAPSHOT_FILE = 'edge-snapshot.json';

/** The file keeps which token the snapshot's secrets are sealed for: another token cannot open them. */
const StoredSchema = z.object({ tokenHash: z.string(), snapshot: EdgeSnapshotSchema });

export class EdgeSync {
  /** When the control plane last answered (200 or 304), epoch ms; null before the first time. */
  lastSyncAt: number | null = null;
  /** Whether the last attempt reached the control plane and was accepted. */
  reachable = false;
  /** The status of the last refusal (401 once the token is revoked), or null. */
  lastStatus: number | null = null;
  private version: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly file: string;

  constructor(private readonly options: EdgeSyncOptions) {
    this.file = join(options.dataDir, SNAPSHOT_FILE);
  }

  /** The first snapshot, from the control plane or else from disk; throws when neither has one. */
  async start(): Promise<void> {
    const fetched = await this.syncOnce();
    if (!fetched) {
      const stored = await this.readStored();
      if (!stored) {
        throw new Error(
          `cannot start the edge: the control plane ${this.options.controlPlane} is unreachable or refused the edge token, and no snapshot is kept in ${this.file}`,
        );
      }
      this.load(stored);
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.syncOnce().finally(() => this.schedule()), this.options.intervalMs);
    this.timer.unref();
  }

  /** Asks for changes once; true when the control plane answered. */
  async syncOnce(): Promise<boolean> {
    let response: Response;
    try {
      response = await fetch(new URL('/api/edge/config', this.options.controlPlane), {
        headers: {
          authorization: `Bearer ${this.options.token}`,
          ...(this.version ? { 'if-none-match': `"${this.version}"` } : {}),
        },
        signal: AbortSignal.timeout(Math.max(this.options.intervalMs, 10_000)),
      });
    } catch (err) {
      if (this.reachable || this.lastSyncAt === null) this.options.onError(err, 'control plane unreachable');
      this.reachable = false;
      return false;
    }
    if (response.status === 304) {
      await response.body?.cancel();
      this.synced();
      return true;
    }
    if (!response.ok) {
      const text = await response.text();
      if (this.reachable || this.lastStatus !== response.status) {
        this.options.onError(new Error(`${response.status}: ${text.slice(0, 500)}`), 'control plane refused the sync');
      }
      this.reachable = false;
      this.lastStatus = response.status;
      return false;
    }
    const parsed = EdgeSnapshotSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) {
      this.options.onError(parsed.error, 'control plane sent an unreadable snapshot');
      this.reachable = false;
      return false;
    }
    this.load(parsed.data);
    this.synced();
    await this.store(parsed.data).catch((err: unknown) => this.options.onError(err, 'keeping the snapshot failed'));
    return true;
  }

  private synced(): void {
    this.reachable = true;
    this.lastStatus = null;
    this.lastSyncAt = Date.now();
  }

  private load(snapshot: EdgeSnapshot): void {
    this.version = snapshot.version;
    this.options.directory.load(snapshot);
    this.options.onChange?.(snapshot);
  }

  private async readStored(): Promise<EdgeSnapshot | null> {
    try {
      const stored = StoredSchema.parse(JSON.parse(await readFile(this.file, 'utf8')));
      return stored.tokenHash === hashSecret(this.options.token) ? stored.snapshot : null;
    } catch {
      return null;
    }
  }

  /** Owner-only, and whole or not at all: written aside, then renamed over the old one. */
  private async store(snapshot: EdgeSnapshot): Promise<void> {
    const temporary = `${this.file}.tmp`;
    await writeFile(temporary, JSON.stringify({ tokenHash: hashSecret(this.options.token), snapshot }), {
      mode: 0o600,
    });
    await rename(temporary, this.file);
  }
}
