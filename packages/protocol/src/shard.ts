// The one shard function every role uses: shard(user) = fnv1a32(utf8(user)) mod S.

const encoder = new TextEncoder();

/** 32-bit FNV-1a over the UTF-8 bytes of `text`, as an unsigned integer. */
export function fnv1a32(text: string): number {
  const bytes = encoder.encode(text);
  let hash = 0x811c9dc5;
  for (const byte of bytes) {
    hash ^= byte;
    // 16777619 = 2^24 + 403; Math.imul keeps the product in 32 bits.
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export const DEFAULT_SHARD_COUNT = 64;

export function shardOf(user: string, shardCount: number): number {
  return fnv1a32(user) % shardCount;
}
