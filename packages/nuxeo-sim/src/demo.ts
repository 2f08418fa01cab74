// Demo content: one personal workspace per user (a sync root of that user), a shared workspace
// for all of them through a group, a few files. Used by the CLI and by `drivecast all`.
import type { Simulator } from "./types.js";

export interface DemoOptions {
  /** Default alice, bob. */
  users?: string[];
  /** Group holding every demo user (default `demo`). */
  group?: string;
  /** Device name of the tokens handed out (default `demo`). */
  device?: string;
}

export interface DemoUser {
  id: string;
  /** Basic-auth password (the user id). */
  password: string;
  /** Token for `X-Authentication-Token`. */
  token: string;
  /** uid of the user's personal workspace (one of their sync roots). */
  workspaceUid: string;
}

export interface Demo {
  users: DemoUser[];
  /** uid of the shared workspace (a sync root of every demo user). */
  sharedUid: string;
}

export async function seedDemo(sim: Simulator, options: DemoOptions = {}): Promise<Demo> {
  const ids = options.users ?? ["alice", "bob"];
  const groupName = options.group ?? "demo";
  for (const id of ids) if (sim.user(id) === undefined) sim.createUser(id);
  if (sim.group(groupName) === undefined) await sim.createGroup(groupName, { members: ids });
  const workspaces = "/default-domain/workspaces";
  const shared = await sim.createWorkspace(workspaces, "Shared");
  await sim.grant(shared.uid, groupName, "ReadWrite");
  await sim.createFile(shared.uid, "welcome.txt", {
    content: "Files here are synchronised to every demo user.\n",
  });
  const users: DemoUser[] = [];
  for (const id of ids) {
    const ws = await sim.createWorkspace(workspaces, `${id} workspace`);
    await sim.blockInheritance(ws.uid);
    await sim.grant(ws.uid, id, "Everything");
    await sim.createFile(ws.uid, "notes.txt", { content: `${id}'s notes\n`, principal: id });
    await sim.createFolder(ws.uid, "Projects", { principal: id });
    await sim.registerRoot(id, ws.uid);
    await sim.registerRoot(id, shared.uid);
    users.push({
      id,
      password: id,
      token: sim.tokenFor(id, options.device ?? "demo"),
      workspaceUid: ws.uid,
    });
  }
  return { users, sharedUid: shared.uid };
}
