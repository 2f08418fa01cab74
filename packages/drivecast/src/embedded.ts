// Embedded mode: every role in one process on the in-memory bus, with the simulator standing in
// for Nuxeo. The decode path is production's: the simulator hands the ingest the very Record
// bytes it would write to Kafka; and drivecast reaches the simulator's REST API over real HTTP,
// as it would reach Nuxeo.
import { createMemoryBus, type Logger, type Registry } from "@drivecast/bus";
import {
  DEFAULT_CHANGESET_CONFIG,
  startChangeset,
  type ChangesetHandle,
} from "@drivecast/changeset";
import { gatewayConfig, nuxeoAuthenticator, startGateway, type Gateway } from "@drivecast/gateway";
import {
  createMemorySource,
  DEFAULT_INGEST_CONFIG,
  startIngest,
  type IngestHandle,
} from "@drivecast/ingest";
import { createNuxeoClient } from "@drivecast/nuxeo";
import {
  callbackAuditSink,
  createSimulator,
  seedDemo,
  startActivity,
  startRestServer,
  type Activity,
  type Demo,
  type RestServer,
  type Simulator,
} from "@drivecast/nuxeo-sim";
import { createRecordDecoder } from "@drivecast/protocol";

export interface EmbeddedOptions {
  host: string;
  gatewayPort: number;
  nuxeoPort: number;
  shardCount: number;
  /** Simulated edits: one every this many ms (0: none). */
  activityMs: number;
  demoUsers: string[];
  logger: Logger;
  registry: Registry;
}

export interface Embedded {
  sim: Simulator;
  demo: Demo;
  nuxeoUrl: string;
  gatewayPort: number;
  ready(): boolean;
  drain(): Promise<void>;
}

const TOPIC = "nuxeo-audit-audit";

export async function startEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const { logger, registry } = options;
  const bus = createMemoryBus();
  const source = createMemorySource();
  const sim = createSimulator({
    audit: callbackAuditSink((records) => source.push(TOPIC, records)),
  });
  const rest: RestServer = await startRestServer(sim, {
    host: options.host,
    port: options.nuxeoPort,
  });
  const nuxeo = createNuxeoClient({
    baseUrl: rest.url,
    auth: { kind: "basic", user: "Administrator", password: "Administrator" },
  });
  const naming = { prefix: "", subjectPrefix: "" };

  const ingest: IngestHandle = await startIngest(
    { ...DEFAULT_INGEST_CONFIG, shardCount: options.shardCount, naming },
    {
      bus,
      source,
      nuxeo,
      decoder: createRecordDecoder({ codec: "avro" }),
      logger: logger.child({ role: "ingest" }),
      registry,
    },
  );
  const changeset: ChangesetHandle = await startChangeset(
    { ...DEFAULT_CHANGESET_CONFIG, workerId: "embedded", shardCount: options.shardCount, naming },
    { bus, nuxeo, logger: logger.child({ role: "changeset" }), registry },
  );
  const config = gatewayConfig({
    host: options.host,
    port: options.gatewayPort,
    shardCount: options.shardCount,
    naming,
  });
  const gateway: Gateway = await startGateway(config, {
    bus,
    authenticate: nuxeoAuthenticator(nuxeo, {
      ttlMs: config.authCacheTtlMs,
      max: config.authCacheMax,
      registry,
    }),
    logger: logger.child({ role: "gateway" }),
    registry,
  });

  const demo = await seedDemo(sim, { users: options.demoUsers });
  let activity: Activity | null = null;
  if (options.activityMs > 0) {
    activity = startActivity(sim, {
      users: demo.users.map((u) => u.id),
      intervalMs: options.activityMs,
      onError: (error) => logger.warn({ err: error }, "simulated activity failed"),
    });
  }

  return {
    sim,
    demo,
    nuxeoUrl: rest.url,
    gatewayPort: gateway.port,
    ready: () => ingest.ready() && changeset.ready() && gateway.ready(),
    async drain() {
      activity?.stop();
      await gateway.drain();
      await ingest.drain();
      await changeset.drain();
      await rest.close();
      await bus.close();
    },
  };
}
