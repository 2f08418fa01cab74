import { describe, expect, it } from "vitest";
import { createMemoryBus } from "@drivecast/bus";
import { msgpackCodec, Names, type DeviceRecord } from "@drivecast/protocol";
import { sweepDevices } from "@drivecast/changeset";

const codec = msgpackCodec<DeviceRecord>();
const names = new Names();

describe("device registry expiry", () => {
  it("devices - records not seen within the max age are deleted, the others kept", async () => {
    const bus = createMemoryBus();
    const kv = await bus.kv({ bucket: names.devicesBucket });
    const now = 1_700_000_000_000;
    const put = (user: string, device: string, lastSeen: number) =>
      kv.put(
        names.deviceKey(user, device),
        codec.encode({
          user,
          deviceId: device,
          lastSeen,
          lastAckedPosition: 5,
          clientVersion: "1",
        }),
      );
    await put("alice", "laptop", now - 1000);
    await put("alice", "old-phone", now - 10 * 86_400_000);
    await put("bob", "desktop", now - 8 * 86_400_000);
    await kv.put("not-a-device", new Uint8Array([0xc1]));
    const result = await sweepDevices(kv, now, 7 * 86_400_000);
    expect(result).toEqual({ scanned: 4, deleted: 2 });
    expect((await kv.keys()).sort()).toEqual(
      [names.deviceKey("alice", "laptop"), "not-a-device"].sort(),
    );
  });

  it("devices - a device seen again during the sweep keeps its fresh record", async () => {
    const bus = createMemoryBus();
    const kv = await bus.kv({ bucket: names.devicesBucket });
    const now = 1_700_000_000_000;
    const key = names.deviceKey("alice", "laptop");
    const record = (lastSeen: number) =>
      codec.encode({
        user: "alice",
        deviceId: "laptop",
        lastSeen,
        lastAckedPosition: null,
        clientVersion: null,
      });
    await kv.put(key, record(now - 30 * 86_400_000));
    // The gateway writes between the sweep's read and its delete: the CAS delete loses.
    const racing: typeof kv = Object.assign(Object.create(kv) as typeof kv, {
      get: async (k: string) => {
        const e = await kv.get(k);
        await kv.put(key, record(now));
        return e;
      },
    });
    const result = await sweepDevices(racing, now, 7 * 86_400_000);
    expect(result.deleted).toBe(0);
    expect(codec.decode((await kv.get(key))!.value).lastSeen).toBe(now);
  });
});
