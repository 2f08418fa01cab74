// Names of every stream, subject and bucket the roles meet through. Roles never spell these
// themselves, so a rename happens here once.

export const Streams = {
  Events: "DRIVE_EVENTS",
  Feeds: "DRIVE_FEEDS",
  DeadLetter: "DRIVE_DEADLETTER",
} as const;

export const Buckets = {
  Roots: "drive_roots",
  Shards: "drive_shards",
  Devices: "drive_devices",
} as const;

/** Optional prefix so several drivecast clusters (or tests) can share one NATS account. */
export interface Naming {
  /** Prepended to stream and bucket names, e.g. `T1_`; empty in production. */
  prefix: string;
  /** Prepended to subjects, e.g. `t1.`; empty in production. */
  subjectPrefix: string;
}

export const DEFAULT_NAMING: Naming = { prefix: "", subjectPrefix: "" };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Subject-safe, reversible encoding of a user id: base64url of its UTF-8 bytes, no padding.
 * NATS subject tokens may not contain `.`, `*`, `>` or white space; user ids may.
 * (No Buffer here: this package also runs in browsers, through the client SDK.)
 */
export function userToken(user: string): string {
  // Computed for every stored change set (subject, message id): from a table, since the
  // encoder call, btoa and three replacements cost microseconds each time. ASCII ids (nearly
  // all) are their own UTF-8 bytes.
  let ascii = true;
  for (let i = 0; i < user.length && ascii; i++) ascii = user.charCodeAt(i) < 0x80;
  const utf8 = ascii ? null : encoder.encode(user);
  const byte = (i: number): number => (utf8 === null ? user.charCodeAt(i) : (utf8[i] as number));
  const n = utf8 === null ? user.length : utf8.length;
  let out = "";
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += B64[v >>> 18]! + B64[(v >>> 12) & 63]! + B64[(v >>> 6) & 63]! + B64[v & 63]!;
  }
  // base64url without padding: 2 characters for one byte left, 3 for two.
  if (i + 1 === n) {
    const v = byte(i) << 16;
    out += B64[v >>> 18]! + B64[(v >>> 12) & 63]!;
  } else if (i + 2 === n) {
    const v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += B64[v >>> 18]! + B64[(v >>> 12) & 63]! + B64[(v >>> 6) & 63]!;
  }
  return out;
}

/** The base64url alphabet. */
const B64 = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"];

export function userFromToken(token: string): string {
  const binary = atob(token.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/** KV key of a sync root in `drive_roots`: `<repo>.<uid>` (both are KV-key safe in Nuxeo). */
export function rootKey(repository: string, uid: string): string {
  return `${repository}.${uid}`;
}

/** Every name derived once from a Naming, so hot paths concatenate nothing but the varying part. */
export class Names {
  readonly eventsStream: string;
  readonly feedsStream: string;
  readonly deadLetterStream: string;
  readonly rootsBucket: string;
  readonly shardsBucket: string;
  readonly devicesBucket: string;
  readonly eventsSubjects: string;
  readonly feedsSubjects: string;
  readonly deadLetterSubjects: string;
  /**
   * `drive.auth.revoke`: core subject every gateway listens on; a message naming a token or a
   * user (JSON, see the gateway README) closes the matching sockets with 4001.
   */
  readonly authRevoke: string;
  private readonly ev: string;
  private readonly feedPrefix: string;
  private readonly rpc: string;
  private readonly dl: string;

  constructor(naming: Naming = DEFAULT_NAMING) {
    const p = naming.prefix;
    const s = naming.subjectPrefix;
    this.eventsStream = p + Streams.Events;
    this.feedsStream = p + Streams.Feeds;
    this.deadLetterStream = p + Streams.DeadLetter;
    this.rootsBucket = p + Buckets.Roots;
    this.shardsBucket = p + Buckets.Shards;
    this.devicesBucket = p + Buckets.Devices;
    this.ev = `${s}drive.ev.`;
    this.feedPrefix = `${s}drive.feed.`;
    this.rpc = `${s}drive.rpc.`;
    this.dl = `${s}drive.dl.`;
    this.eventsSubjects = `${this.ev}*`;
    this.feedsSubjects = `${this.feedPrefix}*.*`;
    this.deadLetterSubjects = `${this.dl}>`;
    this.authRevoke = `${s}drive.auth.revoke`;
  }

  /** `drive.ev.<shard>`: DocEvents routed to one shard. */
  events(shard: number): string {
    return this.ev + shard;
  }

  /** `drive.feed.<shard>.<userToken>`: one user's change sets. */
  feed(shard: number, user: string): string {
    return `${this.feedPrefix}${shard}.${userToken(user)}`;
  }

  /** `drive.rpc.<shard>`: requests to the actors of one shard (scroll, summary). */
  rpcSubject(shard: number): string {
    return this.rpc + shard;
  }

  /** `drive.dl.<reason>`: dead letters, by reason code. */
  deadLetter(reason: string): string {
    return this.dl + reason;
  }

  /** KV key of a device registration. */
  deviceKey(user: string, deviceId: string): string {
    return `${userToken(user)}.${userToken(deviceId)}`;
  }

  /** KV key of a shard lease. */
  shardKey(shard: number): string {
    return `shard.${shard}`;
  }
}
