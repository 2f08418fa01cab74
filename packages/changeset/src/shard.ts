// One leased shard: a durable pull consumer on `drive.ev.<shard>` feeding the shard's actors.
//
// Invariant: a DocEvent is acknowledged only when every user it concerns has it in a stored
// change set (or it means nothing to them). The consumer is durable and named for the shard, so
// a takeover by another worker resumes at the first unacknowledged event: nothing lost; events
// already covered by stored sets are skipped by the actors' watermark: nothing duplicated.
import type { Consumer, Delivery } from "@drivecast/bus";
import { msgpackCodec, type DocEvent } from "@drivecast/protocol";
import { UserActor, type ActorEnv, type Tracker } from "./actor.js";

const eventCodec = msgpackCodec<DocEvent>();

export interface ShardOptions {
  shard: number;
  consumer: Consumer;
  actorEnv: ActorEnv;
  batchSize: number;
  /** Passivate actors idle this long. */
  idleMs: number;
  /** Nak delay when an event fails. */
  retryDelayMs: number;
  onEvent(outcome: "processed" | "failed" | "malformed"): void;
  onError(error: unknown, context: string): void;
}

export class ShardProcessor {
  readonly actors = new Map<string, UserActor>();
  private running = true;
  private loop: Promise<void>;
  private inflight = 0;
  private readonly settled = new Set<Promise<void>>();

  constructor(private readonly o: ShardOptions) {
    this.loop = this.run();
  }

  /** Deliveries not yet acknowledged; used to widen flush windows under load. */
  backlog(): number {
    return this.inflight;
  }

  private actor(user: string): UserActor {
    let a = this.actors.get(user);
    if (!a || a.state === "stopped") {
      a = new UserActor(user, this.o.actorEnv);
      this.actors.set(user, a);
    }
    return a;
  }

  private dispatch(delivery: Delivery): void {
    let event: DocEvent;
    try {
      event = eventCodec.decode(delivery.data);
    } catch (error) {
      // Not ours to fix by retrying: keep it out of the way, loudly.
      this.o.onError(error, `undecodable DocEvent at seq ${delivery.seq}; terminated`);
      this.o.onEvent("malformed");
      delivery.term();
      return;
    }
    const users = new Set(event.users);
    if (event.eventId.startsWith("group_")) {
      // Users whose cached groups may have held it: every active actor re-checks.
      for (const u of this.actors.keys()) users.add(u);
    }
    if (users.size === 0) {
      void delivery.ack();
      this.o.onEvent("processed");
      return;
    }
    this.inflight++;
    let remaining = users.size;
    let failed = false;
    let resolve!: () => void;
    const settled = new Promise<void>((r) => (resolve = r));
    this.settled.add(settled);
    const finish = () => {
      this.inflight--;
      this.settled.delete(settled);
      resolve();
    };
    const tracker = (user: string): Tracker => ({
      done: () => {
        if (--remaining === 0 && !failed) {
          delivery.ack().catch((e) => this.o.onError(e, `ack of seq ${delivery.seq}`));
          this.o.onEvent("processed");
          finish();
        }
      },
      fail: (error) => {
        this.actors.delete(user);
        if (failed) return;
        failed = true;
        this.o.onError(error, `event seq ${delivery.seq} for ${user}; redelivering`);
        this.o.onEvent("failed");
        delivery.nak(this.o.retryDelayMs);
        finish();
      },
    });
    for (const u of users) this.actor(u).tell(event, delivery.seq, tracker(u));
  }

  private async run(): Promise<void> {
    let lastSweep = Date.now();
    while (this.running) {
      let batch: Delivery[] = [];
      try {
        batch = await this.o.consumer.fetch(this.o.batchSize, 1000);
      } catch (error) {
        this.o.onError(error, `fetching shard ${this.o.shard}`);
        await new Promise((r) => setTimeout(r, this.o.retryDelayMs));
        continue;
      }
      for (const d of batch) {
        if (!this.running) {
          d.nak(); // the next owner takes it
          continue;
        }
        this.dispatch(d);
      }
      if (Date.now() - lastSweep > this.o.idleMs / 2) {
        lastSweep = Date.now();
        this.passivateIdle();
      }
    }
  }

  private passivateIdle(): void {
    const cutoff = this.o.actorEnv.now() - this.o.idleMs;
    for (const [user, a] of this.actors) {
      if (a.lastActivity < cutoff && !a.hasPending()) {
        this.actors.delete(user);
        void a.stop();
      }
    }
  }

  /** Stops fetching, flushes every actor, waits until every delivery is settled. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.actors.values()].map((a) => a.stop()));
    await Promise.all([...this.settled]);
    this.actors.clear();
    await this.o.consumer.close();
  }
}
