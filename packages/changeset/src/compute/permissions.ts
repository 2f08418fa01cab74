// Nuxeo's permission lattice and ACL evaluation (spec/NUXEO.md §3).
//
// `can` runs for every document of every chain of every (user, event): it must not allocate.
// So the lattice is folded once, at module load, into "which ACE permissions grant or deny an
// asked permission" (its *holders*), and evaluating an ACE is two Set lookups.
import type { Acl } from "@drivecast/protocol";

/** Nuxeo's default permission names (the ones drivecast asks about or that include them). */
export const Permission = {
  Everything: "Everything",
  ReadWrite: "ReadWrite",
  Read: "Read",
  Browse: "Browse",
  ReadVersion: "ReadVersion",
  ReadProperties: "ReadProperties",
  ReadChildren: "ReadChildren",
  ReadLifeCycle: "ReadLifeCycle",
  ReadSecurity: "ReadSecurity",
  ReviewParticipant: "ReviewParticipant",
  Write: "Write",
  AddChildren: "AddChildren",
  WriteProperties: "WriteProperties",
  Remove: "Remove",
  RemoveChildren: "RemoveChildren",
  ManageWorkflows: "ManageWorkflows",
  WriteLifeCycle: "WriteLifeCycle",
  WriteVersion: "WriteVersion",
  ReadRemove: "ReadRemove",
  Version: "Version",
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

/** The group every user belongs to. */
export const EVERYONE = "Everyone";

const P = Permission;

/** Direct inclusions (Nuxeo's defaults); `Everything` is handled apart: it includes all. */
const DIRECT: Readonly<Record<string, readonly string[]>> = {
  [P.ReadWrite]: [P.Read, P.Write],
  [P.Read]: [
    P.Browse,
    P.ReadVersion,
    P.ReadProperties,
    P.ReadChildren,
    P.ReadLifeCycle,
    P.ReadSecurity,
    P.ReviewParticipant,
  ],
  [P.ReadProperties]: [P.Browse],
  [P.Write]: [
    P.AddChildren,
    P.WriteProperties,
    P.Remove,
    P.ManageWorkflows,
    P.WriteLifeCycle,
    P.WriteVersion,
  ],
  [P.WriteVersion]: [P.WriteProperties],
  [P.Remove]: [P.RemoveChildren, P.WriteLifeCycle],
  [P.ReadRemove]: [P.Read, P.Remove],
  [P.Version]: [P.ReadVersion, P.WriteVersion],
};

function closureOf(permission: string, into: Set<string>): Set<string> {
  if (into.has(permission)) return into;
  into.add(permission);
  for (const sub of DIRECT[permission] ?? []) closureOf(sub, into);
  return into;
}

const KNOWN: readonly string[] = Object.values(Permission);

/** permission → every permission it includes, itself included (transitive). */
const INCLUDED: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  KNOWN.map((p) => [p, p === P.Everything ? new Set(KNOWN) : closureOf(p, new Set())]),
);

/** asked permission → every ACE permission that includes it (itself and `Everything` included). */
const HOLDERS = new Map<string, ReadonlySet<string>>();
for (const asked of KNOWN) {
  const holders = new Set<string>([asked, P.Everything]);
  for (const [held, included] of INCLUDED) if (included.has(asked)) holders.add(held);
  HOLDERS.set(asked, holders);
}

function holdersOf(asked: string): ReadonlySet<string> {
  let holders = HOLDERS.get(asked);
  if (holders === undefined) {
    // A custom permission is included only by itself and by Everything. Callers ask a fixed
    // set of permissions, so this cache stays tiny.
    holders = new Set([asked, P.Everything]);
    HOLDERS.set(asked, holders);
  }
  return holders;
}

/** Whether an ACE on `held` decides a question about `asked` (`Everything` includes all). */
export function includes(held: string, asked: string): boolean {
  return holdersOf(asked).has(held);
}

/** Who a user is for ACL evaluation: computed once per user (and again when groups change). */
export interface Principals {
  readonly user: string;
  /** The user, every group of its `extendedGroups` and `Everyone`. */
  readonly names: ReadonlySet<string>;
  readonly isAdministrator: boolean;
}

export function principalsOf(
  user: string,
  groups: Iterable<string>,
  isAdministrator: boolean,
): Principals {
  const names = new Set<string>([user, EVERYONE]);
  for (const g of groups) names.add(g);
  return { user, names, isAdministrator };
}

/** Same user, same administrator flag, same principal names. */
export function samePrincipals(a: Principals, b: Principals): boolean {
  if (a.user !== b.user || a.isAdministrator !== b.isAdministrator) return false;
  if (a.names.size !== b.names.size) return false;
  for (const n of a.names) if (!b.names.has(n)) return false;
  return true;
}

/**
 * `can(u, P, d)` of spec §3: ACLs in order, ACEs in order, non-effective ACEs skipped (absent
 * status = effective); the first ACE naming one of the principals with a permission that
 * includes `permission` decides. No such ACE: denied. Administrators hold every permission.
 */
export function can(principals: Principals, permission: string, acls: readonly Acl[]): boolean {
  if (principals.isAdministrator) return true;
  const holders = holdersOf(permission);
  const names = principals.names;
  for (const acl of acls) {
    for (const ace of acl.aces) {
      // `!= null`: an absent status may arrive as null after a msgpack round trip.
      if (ace.status != null && ace.status !== "effective") continue;
      if (names.has(ace.username) && holders.has(ace.permission)) return ace.granted;
    }
  }
  return false;
}
