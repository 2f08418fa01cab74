// Device registrations in KV `drive_devices` (key `<userToken>.<deviceToken>`, msgpack
// DeviceRecord): last seen, last acknowledged position, client version. Writes are serialized
// per device and coalesced (only the newest pending state is written), so a device acking fast
// costs one KV write in flight at a time.
import { msgpackCodec } from "@drivecast/protocol";
import type { DeviceRecord, Names } from "@drivecast/protocol";
import type { Bus, Kv } from "@drivecast/bus";
import type { Logger } from "./types.js";

export interface DeviceRegistry {
  /** The device connected (keeps its last acknowledged position). */
  seen(user: string, deviceId: string, clientVersion: string | null): void;
  /** The device acknowledged everything up to `position`. */
  acked(user: string, deviceId: string, position: number, clientVersion: string | null): void;
  /** Resolves when every pending write is done. */
  flush(): Promise<void>;
}

const codec = msgpackCodec<DeviceRecord>();

interface Pending {
  user: string;
  deviceId: string;
  clientVersion: string | null;
  /** undefined: keep what is stored. */
  position: number | undefined;
}

export function createDeviceRegistry(
  bus: Bus,
  names: Names,
  now: () => number,
  logger: Logger,
): DeviceRegistry {
  let kv: Promise<Kv> | null = null;
  const open = (): Promise<Kv> => {
    if (kv === null) {
      kv = bus.kv({ bucket: names.devicesBucket });
      kv.catch(() => {
        kv = null; // try again on the next write
      });
    }
    return kv;
  };
  const pending = new Map<string, Pending>();
  const running = new Map<string, Promise<void>>();

  const write = async (key: string, p: Pending): Promise<void> => {
    const bucket = await open();
    let position: number | null | undefined = p.position;
    if (position === undefined) {
      const existing = await bucket.get(key);
      position = existing === null ? null : codec.decode(existing.value).lastAckedPosition;
    }
    const record: DeviceRecord = {
      user: p.user,
      deviceId: p.deviceId,
      lastSeen: now(),
      lastAckedPosition: position,
      clientVersion: p.clientVersion,
    };
    await bucket.put(key, codec.encode(record));
  };

  const drainKey = (key: string): Promise<void> => {
    const loop = async (): Promise<void> => {
      for (;;) {
        const p = pending.get(key);
        if (p === undefined) break;
        pending.delete(key);
        try {
          await write(key, p);
        } catch (err) {
          logger.warn({ err, user: p.user, deviceId: p.deviceId }, "device registry write failed");
        }
      }
      running.delete(key);
    };
    const promise = loop();
    running.set(key, promise);
    return promise;
  };

  const enqueue = (p: Pending): void => {
    const key = names.deviceKey(p.user, p.deviceId);
    const previous = pending.get(key);
    // A "seen" after an unwritten ack must not forget the ack.
    if (p.position === undefined && previous !== undefined) p.position = previous.position;
    pending.set(key, p);
    if (!running.has(key)) void drainKey(key);
  };

  return {
    seen(user, deviceId, clientVersion) {
      enqueue({ user, deviceId, clientVersion, position: undefined });
    },
    acked(user, deviceId, position, clientVersion) {
      enqueue({ user, deviceId, clientVersion, position });
    },
    async flush() {
      while (running.size > 0) await Promise.all([...running.values()]);
    },
  };
}
