// Harness for the client SDK's end-to-end tests: a REAL gateway on the memory bus, a stub
// authenticator, a remote model per user that appends FeedEntries to DRIVE_FEEDS the way the
// changeset role does, and a stub scroll responder on `drive.rpc.<shard>` answering from that
// model (until the real one lands in the changeset role).
import net from "node:net";
import { createMemoryBus, Registry, RemoteError } from "@drivecast/bus";
import type { MemoryBus, Subscription } from "@drivecast/bus";
import { Names, TOP_LEVEL_ID, msgpackCodec, nextPosition, shardOf } from "@drivecast/protocol";
import type {
  FeedEntry,
  FileSystemItem,
  FileSystemItemChange,
  ScrollDescendantsReply,
  ScrollDescendantsRequest,
} from "@drivecast/protocol";
import { gatewayConfig, startGateway } from "@drivecast/gateway";
import type { Gateway, GatewayConfig, Identity } from "@drivecast/gateway";
import { randomName } from "@drivecast/testkit";

export const SHARDS = 4;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const feedCodec = msgpackCodec<FeedEntry>();
const requestCodec = msgpackCodec<ScrollDescendantsRequest>();
const replyCodec = msgpackCodec<ScrollDescendantsReply>();

export const rootId = (uuid: string): string => `defaultSyncRootFolderItemFactory#default#${uuid}`;
export const itemId = (uuid: string): string => `defaultFileSystemItemFactory#default#${uuid}`;

export interface ClientHarness {
  bus: MemoryBus;
  names: Names;
  gateway: Gateway;
  url: string;
  /** A new user with a token the stub authenticator accepts, and its remote model. */
  user(): RemoteUser;
  close(): Promise<void>;
}

export async function startClientHarness(
  overrides: Partial<GatewayConfig> = {},
): Promise<ClientHarness> {
  const bus = createMemoryBus();
  const id = randomName("cl");
  const naming = { prefix: `${id}_`, subjectPrefix: `${id}.` };
  const names = new Names(naming);
  await bus.streams.ensure({
    name: names.feedsStream,
    subjects: [names.feedsSubjects],
    maxAgeMs: 24 * 60 * 60 * 1000,
    maxMsgsPerSubject: 1000,
  });
  const tokens = new Map<string, Identity>();
  const users = new Map<string, RemoteUser>();
  const gateway = await startGateway(
    gatewayConfig({
      host: "127.0.0.1",
      port: 0,
      shardCount: SHARDS,
      naming,
      feedMaxAgeMs: 24 * 60 * 60 * 1000,
      ...overrides,
    }),
    {
      bus,
      registry: new Registry(),
      logger: silent,
      authenticate: async (token) => tokens.get(token) ?? null,
    },
  );
  const scrolls = new Map<string, { user: string; ids: string[]; next: number }>();
  let scrollSeq = 0;
  const subs: Subscription[] = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    subs.push(
      bus.serve(names.rpcSubject(shard), "actors", (msg) => {
        const req = requestCodec.decode(msg.data);
        const remote = users.get(req.user);
        if (remote === undefined) throw new RemoteError("not_found", `no user ${req.user}`);
        remote.scrollRequests.push(req);
        let scrollId = req.scrollId;
        if (scrollId === null) {
          if (req.id !== TOP_LEVEL_ID && remote.items.get(req.id)?.folder !== true) {
            throw new RemoteError("not_found", `${req.id} is not a folder the user can see`);
          }
          scrollId = `scroll-${++scrollSeq}`;
          scrolls.set(scrollId, { user: req.user, ids: remote.descendants(req.id), next: 0 });
        }
        const scroll = scrolls.get(scrollId);
        if (scroll === undefined || scroll.user !== req.user) {
          throw new RemoteError("scroll_expired", `unknown scroll ${scrollId}`);
        }
        const batch: FileSystemItem[] = [];
        while (batch.length < req.batchSize && scroll.next < scroll.ids.length) {
          const item = remote.items.get(scroll.ids[scroll.next++] as string);
          if (item !== undefined) batch.push(item);
        }
        return replyCodec.encode({ type: "scrollDescendants", scrollId, fileSystemItems: batch });
      }),
    );
  }
  return {
    bus,
    names,
    gateway,
    url: `ws://127.0.0.1:${gateway.port}`,
    user() {
      const user = `${randomName("user")}@example.com`;
      const token = randomName("token");
      tokens.set(token, { user, groups: ["members"], isAdministrator: false });
      const remote = new RemoteUser(bus, names, user, token);
      users.set(user, remote);
      return remote;
    },
    async close() {
      for (const s of subs) s.unsubscribe();
      await gateway.close();
      await bus.close();
    },
  };
}

function base(id: string, parentId: string, name: string, folder: boolean): FileSystemItem {
  return {
    id,
    parentId,
    name,
    folder,
    creator: "alice",
    lastContributor: "alice",
    creationDate: 1,
    lastModificationDate: 1,
    canRename: true,
    canDelete: true,
    lockInfo: null,
    path: `/${TOP_LEVEL_ID}/${id}`,
    userName: "alice",
  };
}

/**
 * What one user may see, and its feed. Mutations update the model and return the Drive change a
 * changeset actor would compute; `append` writes them as one change set.
 */
export class RemoteUser {
  readonly items = new Map<string, FileSystemItem>();
  readonly scrollRequests: ScrollDescendantsRequest[] = [];
  readonly subject: string;
  last = 0;
  private clock = Date.now();

  constructor(
    private readonly bus: MemoryBus,
    names: Names,
    readonly user: string,
    readonly token: string,
  ) {
    this.subject = names.feed(shardOf(user, SHARDS), user);
  }

  /** Distinct, increasing event dates. */
  private date(): number {
    this.clock = Math.max(this.clock + 1, Date.now());
    return this.clock;
  }

  private change(eventId: string, item: FileSystemItem): FileSystemItemChange {
    return {
      repositoryId: "default",
      eventId,
      eventDate: this.date(),
      docUuid: item.id.slice(item.id.lastIndexOf("#") + 1),
      fileSystemItem: item,
      fileSystemItemId: item.id,
      fileSystemItemName: item.name,
    };
  }

  root(uuid: string, name: string): FileSystemItemChange {
    const item = { ...base(rootId(uuid), TOP_LEVEL_ID, name, true), canScrollDescendants: true };
    this.items.set(item.id, item);
    return this.change("rootRegistered", item);
  }

  folder(uuid: string, parentId: string, name: string): FileSystemItemChange {
    const item = { ...base(itemId(uuid), parentId, name, true), canScrollDescendants: true };
    this.items.set(item.id, item);
    return this.change("documentCreated", item);
  }

  file(uuid: string, parentId: string, name: string, digest = `md5-${uuid}`): FileSystemItemChange {
    const item: FileSystemItem = {
      ...base(itemId(uuid), parentId, name, false),
      digest,
      digestAlgorithm: "md5",
      size: name.length,
      canUpdate: true,
    };
    this.items.set(item.id, item);
    return this.change("documentCreated", item);
  }

  /** Adds items the user could not see before, without a change of their own (a subtree). */
  appear(...items: FileSystemItem[]): void {
    for (const item of items) this.items.set(item.id, item);
  }

  update(
    id: string,
    patch: Partial<FileSystemItem>,
    eventId = "documentModified",
  ): FileSystemItemChange {
    const item = { ...(this.items.get(id) as FileSystemItem), ...patch };
    this.items.set(id, item);
    return this.change(eventId, item);
  }

  rename(id: string, name: string): FileSystemItemChange {
    return this.update(id, { name });
  }

  move(id: string, parentId: string): FileSystemItemChange {
    return this.update(id, { parentId }, "documentMoved");
  }

  /** The item and its subtree leave the user's view: `deleted` with the short id. */
  remove(id: string): FileSystemItemChange {
    for (const d of [id, ...this.descendants(id)]) this.items.delete(d);
    const uuid = id.slice(id.lastIndexOf("#") + 1);
    return {
      repositoryId: "default",
      eventId: "deleted",
      eventDate: this.date(),
      docUuid: uuid,
      fileSystemItem: null,
      fileSystemItemId: `default#${uuid}`,
      fileSystemItemName: null,
    };
  }

  /** Ids beneath `id` (TOP_LEVEL_ID: everything), parents first. */
  descendants(id: string): string[] {
    const children = new Map<string, string[]>();
    for (const item of this.items.values()) {
      const list = children.get(item.parentId) ?? [];
      list.push(item.id);
      children.set(item.parentId, list);
    }
    const out: string[] = [];
    const queue = [id];
    for (let i = 0; i < queue.length; i++) {
      for (const c of children.get(queue[i] as string) ?? []) {
        out.push(c);
        queue.push(c);
      }
    }
    return out;
  }

  /** Appends one change set (changes in the server's eventDate-descending order). */
  async append(
    changes: FileSystemItemChange[] = [],
    hasTooManyChanges = false,
  ): Promise<FeedEntry> {
    const upperBound = nextPosition(this.last, Date.now());
    const entry: FeedEntry = {
      user: this.user,
      lowerBound: this.last,
      eventSeq: 0,
      summary: {
        fileSystemChanges: hasTooManyChanges
          ? []
          : [...changes].sort((a, b) => b.eventDate - a.eventDate),
        syncDate: Math.floor(Date.now() / 1000) * 1000,
        upperBound,
        hasTooManyChanges,
        activeSynchronizationRootDefinitions: "",
      },
    };
    await this.bus.streams.append(this.subject, feedCodec.encode(entry));
    this.last = upperBound;
    return entry;
  }

  /** The tree a device of this user must end with (DriveTree.snapshot's shape). */
  snapshot(): { id: string; parentId: string; name: string; folder: boolean; digest?: string }[] {
    return [...this.items.values()]
      .map((i) => {
        const row: {
          id: string;
          parentId: string;
          name: string;
          folder: boolean;
          digest?: string;
        } = { id: i.id, parentId: i.parentId, name: i.name, folder: i.folder };
        if (!i.folder && i.digest !== undefined) row.digest = i.digest;
        return row;
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

export interface DropProxy {
  port: number;
  /** Drops the next server → client text frame whose payload satisfies `pred`. */
  dropNext(pred: (text: string) => boolean): Promise<string>;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of the gateway that can drop one WebSocket frame from server to client,
 * so the client sees a real gateway's stream with a change set missing: a contiguity break.
 */
export async function startDropProxy(targetPort: number): Promise<DropProxy> {
  let drop: { pred: (text: string) => boolean; done: (text: string) => void } | null = null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    const destroy = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", destroy);
    upstream.on("error", destroy);
    client.on("close", destroy);
    upstream.on("close", destroy);
    client.pipe(upstream);
    let handshaken = false;
    let buffer = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!handshaken) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        client.write(buffer.subarray(0, end + 4));
        buffer = buffer.subarray(end + 4);
        handshaken = true;
      }
      // Server frames are unmasked: FIN/opcode byte, length byte (126: +2 bytes, 127: +8).
      for (;;) {
        if (buffer.length < 2) return;
        let length = (buffer[1] as number) & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const frame = buffer.subarray(0, offset + length);
        const opcode = (buffer[0] as number) & 0x0f;
        const text = opcode === 1 ? frame.subarray(offset).toString("utf8") : "";
        if (drop !== null && opcode === 1 && drop.pred(text)) {
          drop.done(text);
          drop = null;
        } else {
          client.write(frame);
        }
        buffer = buffer.subarray(offset + length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    dropNext(pred) {
      return new Promise((resolve) => {
        drop = { pred, done: resolve };
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
