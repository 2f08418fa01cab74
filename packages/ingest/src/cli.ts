// `drivecast-ingest deadletters list|replay`: the operator's view of DRIVE_DEADLETTER.
//
// Replay writes each letter's bytes back to its Kafka topic and partition, with its key, so
// the running ingest pool reads it again with today's configuration (a schema file added, the
// codec fixed). Going through Kafka rather than a private pipeline keeps one code path, one
// place that holds the Nuxeo and NATS settings (the ingest), and the same commit/dedup rules.
import { parseArgs } from "node:util";
import { connectNatsBus, type Bus } from "@drivecast/bus";
import { Names } from "@drivecast/protocol";
import { Kafka, logLevel, type Producer } from "kafkajs";
import type { DeadLetterCliConfig } from "./config.js";
import {
  deadLetterJson,
  formatDeadLetter,
  listDeadLetters,
  replayDeadLetters,
  type DeadLetter,
  type ListOptions,
} from "./deadletters.js";
import { DeadLetterCommandError } from "./errors.js";

export const DEAD_LETTER_USAGE = `usage: drivecast-ingest deadletters <list|replay> [options]

  list     print the dead letters (oldest first)
  replay   write them back to their Kafka topic and partition, then mark them replayed

options:
  --reason <code>     only this reason (e.g. unknown_schema)
  --seq <n,n,…>       only these sequence numbers
  --from <seq>        from this sequence on
  --limit <n>         at most n letters
  --pending           list: leave out the letters already replayed
  --force             replay: also the letters already replayed
  --dry-run           replay: say what would be replayed, write nothing
  --json              one JSON object per line (bytes as base64)

environment: DRIVECAST_NATS_URL, DRIVECAST_NAME_PREFIX, DRIVECAST_SUBJECT_PREFIX,
DRIVECAST_KAFKA_BROKERS (replay)`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) {
    throw new DeadLetterCommandError(
      `--${name} expects a positive integer, got ${JSON.stringify(v)}`,
    );
  }
  return Number(v);
}

function kafkaSink(producer: Producer) {
  return async (letter: DeadLetter): Promise<void> => {
    if (letter.topic === "" || letter.partition < 0) {
      throw new DeadLetterCommandError(
        `dead letter #${letter.seq} does not say which topic/partition it came from`,
      );
    }
    await producer.send({
      topic: letter.topic,
      acks: -1,
      messages: [
        {
          partition: letter.partition,
          key: letter.key === null ? null : Buffer.from(letter.key),
          value: letter.value === null ? null : Buffer.from(letter.value),
        },
      ],
    });
  };
}

/** Runs the command; resolves with the process exit status. */
export async function deadLetterCommand(
  argv: string[],
  config: DeadLetterCliConfig,
  io: CliIo,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        reason: { type: "string" },
        seq: { type: "string" },
        from: { type: "string" },
        limit: { type: "string" },
        pending: { type: "boolean" },
        force: { type: "boolean" },
        "dry-run": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${DEAD_LETTER_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const action = positionals[0];
  if (values.help || (action !== "list" && action !== "replay")) {
    (values.help ? io.out : io.err)(DEAD_LETTER_USAGE);
    return values.help ? 0 : 2;
  }
  let list: ListOptions;
  try {
    list = {
      reason: values.reason,
      seqs: values.seq?.split(",").map((v) => positiveInt("seq", v.trim())!),
      fromSeq: positiveInt("from", values.from),
      limit: positiveInt("limit", values.limit),
      pendingOnly: values.pending,
    };
  } catch (error) {
    io.err((error as Error).message);
    return 2;
  }
  const names = new Names(config.naming);
  const print = (l: DeadLetter) =>
    io.out(values.json ? JSON.stringify(deadLetterJson(l)) : formatDeadLetter(l));

  let bus: Bus | null = null;
  let producer: Producer | null = null;
  try {
    bus = await connectNatsBus({ servers: config.natsUrl, name: "drivecast-deadletters" });
    if (action === "list") {
      const letters = await listDeadLetters(bus, names, list);
      for (const l of letters) print(l);
      if (!values.json) io.err(`${letters.length} dead letter(s)`);
      return 0;
    }
    if (!values["dry-run"]) {
      producer = new Kafka({
        clientId: "drivecast-deadletters",
        brokers: config.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      }).producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 });
      await producer.connect();
    }
    const result = await replayDeadLetters(
      bus,
      names,
      producer === null ? async () => {} : kafkaSink(producer),
      { ...list, force: values.force, dryRun: values["dry-run"] },
    );
    for (const l of result.replayed) print(l);
    io.err(
      `${values["dry-run"] ? "would replay" : "replayed"} ${result.replayed.length} dead letter(s)` +
        (result.skipped.length > 0
          ? `; skipped ${result.skipped.length} already replayed (--force to replay them again)`
          : ""),
    );
    return 0;
  } catch (error) {
    io.err(`deadletters ${action}: ${(error as Error).message}`);
    return error instanceof DeadLetterCommandError ? 2 : 1;
  } finally {
    await producer?.disconnect().catch(() => {});
    await bus?.close().catch(() => {});
  }
}
