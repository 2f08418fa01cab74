// What the change computation knows about one user. Built once per user (and again when the
// user's groups or roots change), never per event: the principal set and the root keys are the
// hot path's lookups.
import { principalsOf, type Principals } from "./permissions.js";
import { rootSetOf, type RootSet, type UserRoot } from "./scope.js";

export interface UserContextInit {
  user: string;
  /** The user's `extendedGroups` names (transitive). */
  groups: Iterable<string>;
  isAdministrator: boolean;
  /** The user's active sync roots, as the actor knows them. */
  roots: readonly UserRoot[];
}

export interface UserContext {
  readonly user: string;
  readonly principals: Principals;
  readonly roots: readonly UserRoot[];
  /** The same roots, for lookups. */
  readonly rootSet: RootSet;
}

export function userContext(init: UserContextInit): UserContext {
  return {
    user: init.user,
    principals: principalsOf(init.user, init.groups, init.isAdministrator),
    roots: init.roots,
    rootSet: rootSetOf(init.roots),
  };
}

/** The same user and principals with another root list. */
export function withRoots(ctx: UserContext, roots: readonly UserRoot[]): UserContext {
  return { user: ctx.user, principals: ctx.principals, roots, rootSet: rootSetOf(roots) };
}
