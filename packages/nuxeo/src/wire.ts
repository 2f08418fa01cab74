// Nuxeo's JSON as it arrives (REST API v1 marshallers, Nuxeo 2021/2023), typed loosely: optional
// where a server may leave a field out. convert.ts turns these into domain types once; nothing
// else in drivecast reads these shapes.

export interface WireBlob {
  name?: string | null;
  "mime-type"?: string | null;
  encoding?: string | null;
  digestAlgorithm?: string | null;
  digest?: string | null;
  /** A string in Nuxeo's JSON (a number from some other writers). */
  length?: string | number | null;
  data?: string;
}

export interface WireSubscription {
  username?: string | null;
  enabled?: boolean | null;
  lastChangeDate?: string | null;
}

export interface WireAce {
  id?: string;
  /** A user/group name, or an object (`{"id": …}`) when Nuxeo is asked to fetch principals. */
  username: string | { id?: string; username?: string; groupname?: string };
  externalUser?: boolean;
  permission: string;
  granted: boolean;
  creator?: string | null;
  begin?: string | null;
  end?: string | null;
  /** `effective` | `pending` | `archived`; absent counts as effective. */
  status?: string;
}

export interface WireAcl {
  name: string;
  aces: WireAce[];
}

export interface WireDocument {
  "entity-type": "document";
  repository: string;
  uid: string;
  path: string;
  type: string;
  state?: string;
  parentRef?: string | null;
  isVersion?: boolean;
  isProxy?: boolean;
  isTrashed?: boolean;
  changeToken?: string | null;
  title?: string;
  lastModified?: string | null;
  lockOwner?: string;
  lockCreated?: string;
  facets?: string[];
  properties?: {
    "dc:title"?: string | null;
    "dc:creator"?: string | null;
    "dc:lastContributor"?: string | null;
    "dc:created"?: string | null;
    "dc:modified"?: string | null;
    "file:content"?: WireBlob | null;
    "drv:subscriptions"?: WireSubscription[] | null;
    [property: string]: unknown;
  };
  contextParameters?: {
    acls?: WireAcl[];
    breadcrumb?: { "entity-type"?: "documents"; entries: WireDocument[] };
    [enricher: string]: unknown;
  };
}

export interface WireDocuments {
  "entity-type": "documents";
  entries: WireDocument[];
  resultsCount?: number;
  totalSize?: number;
  pageSize?: number;
  currentPageIndex?: number;
  numberOfPages?: number;
  isNextPageAvailable?: boolean;
}

export interface WireUser {
  "entity-type": "user";
  id: string;
  properties?: { groups?: string[]; [property: string]: unknown };
  extendedGroups?: { name: string; label?: string; url?: string }[];
  isAdministrator?: boolean;
  isAnonymous?: boolean;
}

export interface WireGroup {
  "entity-type": "group";
  id?: string;
  groupname: string;
  grouplabel?: string;
  memberUsers?: string[];
  memberGroups?: string[];
  parentGroups?: string[];
}

export interface WireException {
  "entity-type": "exception";
  status?: number;
  message?: string;
}
