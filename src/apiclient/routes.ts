// Bottlerocket's update API paths answered over berth.v1.Updates: each path and method → one call, each
// outcome → Bottlerocket's status code and body. As thar-be-updates, an action answers 204 once it has
// started (prepare and activate go on in berthd; their outcome lands in most_recent_command), 423 while
// another update operation holds the lock, 409 when the update state does not allow it. The reboot answers
// 204 before updates.reboot-command runs (it usually stops berthd), or 423 when the host's fleet granted it no
// reboot slot within REBOOT_WAIT_MS (brupop retries a 423, as it does while the update lock is held).
import type { UpdateStatusInfo } from '../wire/updates.js';
import { bottlerocketOs, bottlerocketUpdateStatus } from './shapes.js';

/** The calls this needs; BerthClient's `updates` has them. */
export interface UpdatesBackend {
  status(): Promise<UpdateStatusInfo>;
  check(): Promise<UpdateStatusInfo>;
  prepare(): Promise<UpdateStatusInfo>;
  activate(): Promise<UpdateStatusInfo>;
  deactivate(): Promise<UpdateStatusInfo>;
  /** Waits at most `waitMs` for a reboot slot; answers before updates.reboot-command runs. */
  reboot(o: { waitMs: number }): Promise<{ message: string }>;
}

/**
 * How long a reboot waits for its fleet's reboot slot (updates.reboot-strategy etcd or fleetlock) before the
 * 423: brupop's agent runs this synchronously and retries, so the answer must come soon and say "not now".
 */
export const REBOOT_WAIT_MS = 10_000;

export interface HttpRequest {
  readonly method: string;
  readonly uri: string;
  readonly body?: string;
}

export interface HttpResponse {
  readonly status: number;
  /** Empty for 204. */
  readonly body: string;
  /** Said on stderr besides (a 204 has no body): the reboot's "rebooting into 2.0.0". */
  readonly note?: string;
}

type Action = 'refresh' | 'prepare' | 'activate' | 'deactivate';

interface Route {
  readonly method: 'GET' | 'POST';
  readonly run: (b: UpdatesBackend) => Promise<HttpResponse>;
}

const json = (value: unknown): HttpResponse => ({ status: 200, body: JSON.stringify(value) });
const NO_CONTENT: HttpResponse = { status: 204, body: '' };

// gRPC codes berthd answers with (numbers: this module loads no gRPC library).
const ABORTED = 10;
const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;
const UNIMPLEMENTED = 12;
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

function codeOf(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A failed call as Bottlerocket's apiserver would answer it. */
export function errorResponse(err: unknown): HttpResponse {
  const message = messageOf(err);
  switch (codeOf(err)) {
    case ABORTED:
      // brupop retries on exactly this code; the text is the apiserver's.
      return { status: 423, body: 'Update lock held' };
    case RESOURCE_EXHAUSTED:
      // No reboot slot within the wait (berthd's message names who holds them): "not now", as 423 tells brupop.
      return { status: 423, body: message };
    case FAILED_PRECONDITION:
      return { status: 409, body: `Update action not allowed according to update state: ${message}` };
    case UNIMPLEMENTED:
      return { status: 501, body: `berthd has no updater (berth.v1.Updates is not served): ${message}` };
    case UNAVAILABLE:
    case DEADLINE_EXCEEDED:
      return { status: 503, body: message.startsWith('cannot reach') ? message : `berthd is not answering: ${message}` };
    default:
      return { status: 500, body: message };
  }
}

const ACTION_CALLS: Record<Action, (b: UpdatesBackend) => Promise<unknown>> = {
  refresh: (b) => b.check(),
  prepare: (b) => b.prepare(),
  activate: (b) => b.activate(),
  deactivate: (b) => b.deactivate(),
};

/**
 * Runs an update command. A command berthd ran and that failed (a repository that did not answer) is, as in
 * Bottlerocket, a 204 whose failure is in most_recent_command; one refused before it ran keeps its code.
 */
async function action(b: UpdatesBackend, type: Action): Promise<HttpResponse> {
  const startedAt = Date.now();
  try {
    await ACTION_CALLS[type](b);
    return NO_CONTENT;
  } catch (err) {
    if (codeOf(err) === ABORTED) return errorResponse(err);
    const recorded = await b.status().then((s) => s.mostRecentCommand, () => undefined);
    if (recorded && recorded.cmdType === type && recorded.cmdStatus === 'Failed' && Date.parse(recorded.timestamp) >= startedAt) return NO_CONTENT;
    return errorResponse(err);
  }
}

const ROUTES: Readonly<Record<string, Route>> = {
  '/os': { method: 'GET', run: async (b) => json(bottlerocketOs(await b.status())) },
  '/updates/status': { method: 'GET', run: async (b) => json(bottlerocketUpdateStatus(await b.status())) },
  '/actions/refresh-updates': { method: 'POST', run: (b) => action(b, 'refresh') },
  '/actions/prepare-update': { method: 'POST', run: (b) => action(b, 'prepare') },
  '/actions/activate-update': { method: 'POST', run: (b) => action(b, 'activate') },
  '/actions/deactivate-update': { method: 'POST', run: (b) => action(b, 'deactivate') },
  '/actions/reboot': {
    method: 'POST',
    run: async (b) => ({ ...NO_CONTENT, note: (await b.reboot({ waitMs: REBOOT_WAIT_MS })).message }),
  },
};

export const PATHS: readonly string[] = Object.keys(ROUTES);

export async function route(req: HttpRequest, backend: UpdatesBackend): Promise<HttpResponse> {
  // A query string selects nothing on these paths; a trailing slash is the same path.
  const path = req.uri.split('?')[0]!.replace(/(.)\/+$/, '$1');
  const r = ROUTES[path];
  if (!r) return { status: 404, body: `no such path: ${path} (berth answers ${PATHS.join(', ')})` };
  if (req.method !== r.method) return { status: 405, body: `${req.method} is not allowed on ${path}: use ${r.method}` };
  try {
    return await r.run(backend);
  } catch (err) {
    return errorResponse(err);
  }
}

/** The status line's reason phrase, for -v. */
export const REASONS: Readonly<Record<number, string>> = {
  200: 'OK', 204: 'No Content', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 423: 'Locked', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
};

/** apiclient's failure line: `Failed POST request to '/x': Status 423 when POSTing /x: Update lock held`. */
export function failureLine(req: HttpRequest, res: HttpResponse): string {
  return `Failed ${req.method} request to '${req.uri}': Status ${res.status} when ${req.method}ing ${req.uri}: ${res.body}`;
}
