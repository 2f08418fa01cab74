// Expiry of device registrations in KV `drive_devices`.
//
// The gateway writes a device's record on subscribe and ack (last seen, last acknowledged
// position, client version); nothing else writes it. A device not seen for longer than the
// feeds' max age cannot resume anyway (its position is no longer retained: it rescans), so its
// record is only clutter. The changeset worker that holds shard 0's lease deletes such records,
// so exactly one worker sweeps at a time without any further coordination. Deletes are
// compare-and-set on the revision read, so a device that reconnects during a sweep keeps its
// fresh record.
import type { Kv } from "@drivecast/bus";
import { WrongRevisionError } from "@drivecast/bus";
import { msgpackCodec, type DeviceRecord } from "@drivecast/protocol";

const codec = msgpackCodec<DeviceRecord>();

export interface SweepResult {
  scanned: number;
  deleted: number;
}

/**
 * Deletes the records last seen before `now - maxAgeMs`. `keepGoing` is checked between keys
 * (stop when the sweeper lost shard 0). Records that cannot be decoded are left alone.
 */
export async function sweepDevices(
  kv: Kv,
  now: number,
  maxAgeMs: number,
  keepGoing: () => boolean = () => true,
): Promise<SweepResult> {
  const cutoff = now - maxAgeMs;
  let scanned = 0;
  let deleted = 0;
  for (const key of await kv.keys()) {
    if (!keepGoing()) break;
    const entry = await kv.get(key);
    if (entry === null) continue;
    scanned++;
    let record: DeviceRecord;
    try {
      record = codec.decode(entry.value);
    } catch {
      continue;
    }
    if (typeof record.lastSeen !== "number" || record.lastSeen >= cutoff) continue;
    try {
      await kv.delete(key, entry.revision);
      deleted++;
    } catch (error) {
      if (!(error instanceof WrongRevisionError)) throw error;
    }
  }
  return { scanned, deleted };
}
