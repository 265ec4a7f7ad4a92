// An edge gateway: the proxy without a database. Its connections, policies and auto-replies
// come from the control plane (synced, kept on disk), its records go back to it (batched,
// spooled on disk while it is away); it has no admin API, dashboard or retention of its own.
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import type { LogRecord } from './domain.js';
import { EdgeDirectory } from './edge/directory.js';
import { Shipper } from './edge/shipper.js';
import { EdgeSync } from './edge/sync.js';
import { transportBox } from './edge/token.js';
import { type GatewayOptions, serve } from './gateway.js';
import type { MockUpstream } from './mock-upstream/server.js';
import { Spool } from './store/spool.js';

export interface EdgeGateway {
  url: string;
  app: FastifyInstance;
  mockUpstream: MockUpstream | null;
  sync: EdgeSync;
  shipper: Shipper;
  close(): Promise<void>;
}

/** True when the config makes this process an edge. */
export const isEdgeConfig = (config: Config): boolean => config.controlPlane !== undefined;

export async function startEdge(config: Config, options: GatewayOptions = {}): Promise<EdgeGateway> {
  const { controlPlane, edgeToken } = config;
  if (!controlPlane || !edgeToken) throw new Error('an edge gateway needs a control plane URL and an edge token');
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await chmod(config.dataDir, 0o700);
  // Until the app's logger exists (it is made with the server), problems go to stderr.
  let log: FastifyBaseLogger | null = null;
  const report = (level: 'warn' | 'error') => (err: unknown, message: string) => {
    if (log) log[level]({ err }, message);
    else if (config.logLevel !== 'silent') process.stderr.write(`${message}: ${String(err)}\n`);
  };

  const directory = new EdgeDirectory(transportBox(edgeToken));
  const sync = new EdgeSync({
    controlPlane,
    token: edgeToken,
    dataDir: config.dataDir,
    intervalMs: config.edgeSyncIntervalMs,
    directory,
    onError: report('warn'),
  });
  await sync.start();
  const spool = await Spool.open<LogRecord>(join(config.dataDir, 'edge-spool'), {
    maxBytes: config.edgeSpoolMaxBytes,
  });
  const shipper = new Shipper({
    controlPlane,
    token: edgeToken,
    spool,
    retryMs: Math.min(config.edgeSyncIntervalMs, 5_000),
    onError: report('error'),
  });
  // Delivers what a previous run left spooled.
  shipper.flush();

  const served = await serve(config, options, {
    connections: directory,
    autoReplies: directory,
    admin: null,
    controlPlane: () => ({
      url: controlPlane,
      reachable: sync.reachable && shipper.reachable,
      lastSyncAt: sync.lastSyncAt === null ? null : new Date(sync.lastSyncAt).toISOString(),
      spooled: shipper.spooled,
    }),
    edgeMetrics: () => ({
      syncAgeSeconds: sync.lastSyncAt === null ? null : (Date.now() - sync.lastSyncAt) / 1000,
      spooledRecords: spool.stats.items,
      spoolBytes: spool.stats.bytes,
      droppedRecords: shipper.dropped,
      shippedRecords: shipper.stats.shipped,
    }),
    keep: (record) => shipper.ship(record),
    beforeListen(app) {
      log = app.log;
    },
  });
  return {
    url: served.url,
    app: served.app,
    mockUpstream: served.mockUpstream,
    sync,
    shipper,
    async close() {
      await served.close({
        beforeServer: async () => sync.stop(),
        afterServer: () => shipper.close(),
      });
    },
  };
}
