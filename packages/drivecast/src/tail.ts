// `drivecast tail`: a minimal WebSocket client that prints what the gateway sends, for trying
// drivecast by hand (the full SDK is @drivecast/client).
import WebSocket from "ws";
import { Subprotocol } from "@drivecast/protocol";

export interface TailOptions {
  url: string;
  token: string;
  deviceId: string;
  lowerBound: number | null;
  print(line: string): void;
}

export function tail(options: TailOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(options.url, [Subprotocol.Json], {
      headers: { "X-Authentication-Token": options.token, "X-Device-Id": options.deviceId },
    });
    ws.on("unexpected-response", (_req, res) => {
      reject(new Error(`the gateway answered HTTP ${res.statusCode}: check the token and URL`));
    });
    ws.on("open", () =>
      ws.send(JSON.stringify({ type: "subscribe", lowerBound: options.lowerBound })),
    );
    ws.on("message", (data) => {
      const text = data.toString();
      options.print(JSON.stringify(JSON.parse(text), null, 2));
      const msg = JSON.parse(text) as { type: string; summary?: { upperBound: number } };
      if (msg.type === "changes" && msg.summary) {
        ws.send(JSON.stringify({ type: "ack", upperBound: msg.summary.upperBound }));
      }
    });
    ws.on("close", (code, reason) => {
      options.print(`closed: ${code} ${reason.toString()}`);
      resolve();
    });
    ws.on("error", reject);
  });
}
