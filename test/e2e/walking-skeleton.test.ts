// The walking skeleton, end to end on the real brokers, each role its own process:
// simulator edit → audit Record on Kafka → ingest → DRIVE_EVENTS → changeset → DRIVE_FEEDS →
// gateway → a WebSocket device of the user.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startNatsServer, randomName, type NatsServerHandle } from "@drivecast/testkit";
import {
  createSimulator,
  kafkaAuditSink,
  startRestServer,
  type RestServer,
  type Simulator,
} from "@drivecast/nuxeo-sim";
import { freePort } from "@drivecast/testkit";
import { connectDevice, startRole, type Device, type RoleProcess } from "./harness.js";

const TOP = "org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#";

type Change = { eventId: string; docUuid: string; fileSystemItem: Record<string, unknown> | null };
type Changes = { type: "changes"; summary: { fileSystemChanges: Change[]; upperBound: number } };

function changesOf(m: Record<string, unknown>): Change[] {
  return m.type === "changes" ? (m as unknown as Changes).summary.fileSystemChanges : [];
}

describe("e2e - walking skeleton", () => {
  let nats: NatsServerHandle;
  let sim: Simulator;
  let rest: RestServer;
  const roles: RoleProcess[] = [];
  let wsUrl: string;
  let aliceRoot: string;
  let bobRoot: string;

  beforeAll(async () => {
    const brokers = inject("kafkaBrokers");
    const topic = randomName("audit");
    nats = await startNatsServer();
    sim = createSimulator({ audit: await kafkaAuditSink({ brokers, topic }) });
    rest = await startRestServer(sim, { host: "127.0.0.1", port: 0 });

    sim.createUser("alice");
    sim.createUser("bob");
    const team = await sim.createWorkspace("/default-domain/workspaces", "Team");
    // bob may read Team too: he still gets nothing from it, having no sync root there.
    await sim.grant(team.uid, "alice", "ReadWrite");
    await sim.grant(team.uid, "bob", "Read");
    await sim.registerRoot("alice", team.uid, { principal: "alice" });
    const own = await sim.createWorkspace("/default-domain/workspaces", "Bob's");
    await sim.grant(own.uid, "bob", "Everything");
    await sim.registerRoot("bob", own.uid, { principal: "bob" });
    await sim.flush();
    aliceRoot = team.uid;
    bobRoot = own.uid;

    const gatewayPort = await freePort();
    const prefix = randomName("E");
    const env = {
      DRIVECAST_NATS_URL: nats.url,
      DRIVECAST_NUXEO_URL: rest.url,
      DRIVECAST_NUXEO_USER: "Administrator",
      DRIVECAST_NUXEO_PASSWORD: "Administrator",
      DRIVECAST_KAFKA_BROKERS: brokers.join(","),
      DRIVECAST_KAFKA_TOPICS: topic,
      DRIVECAST_KAFKA_GROUP: randomName("group"),
      DRIVECAST_NAME_PREFIX: `${prefix}_`,
      DRIVECAST_SUBJECT_PREFIX: `${prefix}.`,
      DRIVECAST_SHARDS: "8",
      DRIVECAST_GATEWAY_HOST: "127.0.0.1",
      DRIVECAST_GATEWAY_PORT: String(gatewayPort),
      DRIVECAST_LOG_LEVEL: "warn",
    };
    // Sequential starts: the changeset creates DRIVE_FEEDS, which the gateway reads.
    roles.push(await startRole("ingest", env));
    roles.push(await startRole("changeset", env));
    roles.push(await startRole("gateway", env));
    wsUrl = `ws://127.0.0.1:${gatewayPort}/drive/v1/ws`;
  }, 120_000);

  afterAll(async () => {
    for (const r of roles.reverse()) await r.kill("SIGTERM");
    await rest?.close();
    await sim?.close();
    await nats?.stop();
  });

  it("e2e - a file created under alice's root reaches her device as documentCreated; bob gets nothing", async () => {
    const alice: Device = await connectDevice(wsUrl, sim.tokenFor("alice"), "alice-laptop");
    const bob: Device = await connectDevice(wsUrl, sim.tokenFor("bob"), "bob-laptop");
    alice.send({ type: "subscribe", lowerBound: null });
    bob.send({ type: "subscribe", lowerBound: null });
    await alice.next((m) => m.type === "changes", "the initial changes message");
    await bob.next((m) => m.type === "changes", "the initial changes message");

    const file = await sim.createFile(aliceRoot, "Quarterly report", {
      name: "report Q3.txt",
      content: "numbers\n",
      mimeType: "text/plain",
      principal: "alice",
    });
    const created = await alice.next(
      (m) => changesOf(m).some((c) => c.docUuid === file.uid),
      `a change set with ${file.uid}`,
    );
    const change = changesOf(created).find((c) => c.docUuid === file.uid)!;
    const rootId = `defaultSyncRootFolderItemFactory#default#${aliceRoot}`;
    const itemId = `defaultFileSystemItemFactory#default#${file.uid}`;
    expect(change).toEqual({
      repositoryId: "default",
      eventId: "documentCreated",
      eventDate: expect.any(Number),
      docUuid: file.uid,
      fileSystemItemId: itemId,
      fileSystemItemName: "report Q3.txt",
      fileSystemItem: {
        id: itemId,
        parentId: rootId,
        name: "report Q3.txt",
        folder: false,
        creator: "alice",
        lastContributor: "alice",
        creationDate: file.created,
        lastModificationDate: file.modified,
        canRename: true,
        canDelete: true,
        lockInfo: null,
        path: `/${TOP}/${rootId}/${itemId}`,
        userName: "alice",
        downloadURL: `nxfile/default/${file.uid}/blobholder:0/report%20Q3.txt`,
        digestAlgorithm: "md5",
        digest: file.blob!.digest,
        size: 8,
        canUpdate: true,
      },
    });

    // Barrier for bob: a change in his own root reaches him; nothing of alice's came before it.
    const mine = await sim.createFile(bobRoot, "todo", { content: "x", principal: "bob" });
    await bob.next((m) => changesOf(m).some((c) => c.docUuid === mine.uid), `his own ${mine.uid}`);
    const seen = bob.messages.flatMap(changesOf).map((c) => c.docUuid);
    expect(seen).not.toContain(file.uid);
    expect(seen).toContain(mine.uid);

    // Contiguity: each changes message follows the previous one's upperBound.
    const positions = alice.messages.filter((m) => m.type === "changes") as unknown as (Changes & {
      lowerBound: number;
    })[];
    for (let i = 1; i < positions.length; i++) {
      expect(positions[i]!.lowerBound).toBe(positions[i - 1]!.summary.upperBound);
    }
    alice.close();
    bob.close();
  });
});
