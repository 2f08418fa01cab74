// The synthetic repository of the changeset benchmark: N users, each with two personal sync
// roots (a workspace and a project folder, so 2N root documents), and teams of 100 users sharing
// a team folder that is a root of every member. DocEvents are baked the way the ingest bakes
// them (document snapshot, ancestors with their ACLs, the receiving shard's users), built
// directly rather than through the simulator: a simulated repository of 200,000 roots takes
// longer to build than the benchmark takes to run.
import type { Acl, DocEvent, DocSnapshot, RootEntry } from "@drivecast/protocol";
import { shardOf } from "@drivecast/protocol";

export const REPO = "default";
export const TEAM_SIZE = 100;

const T0 = 1_700_000_000_000;
const ADMINS = { username: "administrators", permission: "Everything", granted: true };
const MEMBERS = { username: "members", permission: "Read", granted: true };

function snap(
  path: string,
  uid: string,
  parentUid: string | null,
  acls: Acl[],
  blob = false,
): DocSnapshot {
  const name = path.slice(path.lastIndexOf("/") + 1) || "Root";
  return {
    repository: REPO,
    uid,
    path,
    parentUid,
    type: blob ? "File" : "Folder",
    title: name,
    facets: blob ? ["Versionable", "Commentable"] : ["Folderish"],
    isVersion: false,
    isProxy: false,
    isTrashed: false,
    creator: "Administrator",
    lastContributor: "Administrator",
    created: T0,
    modified: T0,
    blob: blob
      ? {
          name,
          mimeType: "text/plain",
          digestAlgorithm: "MD5",
          digest: `d41d8cd98f00b204e9800998ecf8427e`,
          length: 1234,
        }
      : null,
    acls,
    subscriptions: [],
  };
}

const inheritedTop: Acl = { name: "inherited", aces: [ADMINS, MEMBERS] };
const ROOT = snap("/", "root-0000", null, [{ name: "local", aces: [ADMINS, MEMBERS] }]);
const DOMAIN = snap("/default-domain", "domain-0000", ROOT.uid, [inheritedTop]);
const WORKSPACES = snap("/default-domain/workspaces", "workspaces-0000", DOMAIN.uid, [
  inheritedTop,
]);
const PROJECTS = snap("/default-domain/projects", "projects-0000", DOMAIN.uid, [inheritedTop]);
const TEAMS = snap("/default-domain/teams", "teams-0000", DOMAIN.uid, [inheritedTop]);

export function userId(i: number): string {
  return `u${String(i).padStart(6, "0")}@example.com`;
}

export function teamOf(i: number): number {
  return Math.floor(i / TEAM_SIZE);
}

function personal(area: DocSnapshot, prefix: string, i: number): DocSnapshot {
  const u = userId(i);
  return snap(`${area.path}/${prefix}-${i}`, `${prefix}-${i}`, area.uid, [
    { name: "local", aces: [{ username: u, permission: "ReadWrite", granted: true }] },
    inheritedTop,
  ]);
}

function team(k: number): DocSnapshot {
  return snap(`${TEAMS.path}/team-${k}`, `team-${k}`, TEAMS.uid, [
    { name: "local", aces: [{ username: `team-${k}`, permission: "ReadWrite", granted: true }] },
    inheritedTop,
  ]);
}

/** Every root of the world, as the ingest keeps them in KV `drive_roots`. */
export function* rootEntries(users: number): Generator<RootEntry> {
  for (let i = 0; i < users; i++) {
    for (const d of [personal(WORKSPACES, "ws", i), personal(PROJECTS, "proj", i)]) {
      yield { repository: REPO, uid: d.uid, path: d.path, users: [userId(i)] };
    }
  }
  for (let k = 0; k * TEAM_SIZE < users; k++) {
    const d = team(k);
    const members: string[] = [];
    for (let i = k * TEAM_SIZE; i < Math.min(users, (k + 1) * TEAM_SIZE); i++)
      members.push(userId(i));
    yield { repository: REPO, uid: d.uid, path: d.path, users: members };
  }
}

export interface WorldEvents {
  /** Audit events generated so far. */
  audit: number;
  /** The next DocEvents: one per receiving shard of the next audit event. */
  next(): { shard: number; event: DocEvent }[];
}

/**
 * A stream of audit events: `teamShare` of them modify a file in a team folder (every member
 * may see it), the rest create or modify a file in one user's personal root. `userOrder`:
 * `sequential` visits every user once in order (activation), `random` picks users at random.
 */
export function worldEvents(options: {
  users: number;
  shardCount: number;
  teamShare: number;
  userOrder: "sequential" | "random";
  seed: number;
}): WorldEvents {
  let seed = options.seed;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let audit = 0;
  let cursor = 0;
  const teams = Math.ceil(options.users / TEAM_SIZE);
  const base = {
    source: "",
    category: "eventDocumentCategory",
    repositoryId: REPO,
    docType: "File",
    docLifeCycle: "project",
    principalName: "Administrator",
    comment: null,
    extended: {},
    before: null,
  };
  return {
    get audit() {
      return audit;
    },
    next() {
      audit++;
      const n = audit;
      const eventDate = T0 + n;
      if (options.userOrder === "random" && random() < options.teamShare) {
        const k = Math.floor(random() * teams);
        const folder = team(k);
        const doc = snap(
          `${folder.path}/file-${n % 50}.txt`,
          `tf-${k}-${n % 50}`,
          folder.uid,
          [inheritedTop],
          true,
        );
        const byShard = new Map<number, string[]>();
        for (let i = k * TEAM_SIZE; i < Math.min(options.users, (k + 1) * TEAM_SIZE); i++) {
          const u = userId(i);
          const s = shardOf(u, options.shardCount);
          const list = byShard.get(s);
          if (list) list.push(u);
          else byShard.set(s, [u]);
        }
        const event: Omit<DocEvent, "users"> = {
          ...base,
          source: `bench/0/${n}`,
          eventId: "documentModified",
          docUuid: doc.uid,
          docPath: doc.path,
          eventDate,
          doc,
          ancestors: [ROOT, DOMAIN, TEAMS, folder],
        };
        return [...byShard].map(([shard, users]) => ({ shard, event: { ...event, users } }));
      }
      const i =
        options.userOrder === "sequential"
          ? cursor++ % options.users
          : Math.floor(random() * options.users);
      const u = userId(i);
      const area = random() < 0.5 ? WORKSPACES : PROJECTS;
      const root = personal(area, area === WORKSPACES ? "ws" : "proj", i);
      const doc = snap(
        `${root.path}/file-${n % 20}.txt`,
        `pf-${i}-${area === WORKSPACES ? "w" : "p"}-${n % 20}`,
        root.uid,
        [
          {
            name: "inherited",
            aces: [{ username: u, permission: "ReadWrite", granted: true }, ADMINS, MEMBERS],
          },
        ],
        true,
      );
      const event: DocEvent = {
        ...base,
        source: `bench/0/${n}`,
        eventId: n % 3 === 0 ? "documentCreated" : "documentModified",
        docUuid: doc.uid,
        docPath: doc.path,
        eventDate,
        doc,
        ancestors: [ROOT, DOMAIN, area, root],
        users: [u],
      };
      return [{ shard: shardOf(u, options.shardCount), event }];
    },
  };
}

/** The groups the benchmark's Nuxeo answers for a user. */
export function groupsOf(user: string): string[] {
  const i = Number(user.slice(1, 7));
  return [`team-${teamOf(i)}`, "members"];
}
