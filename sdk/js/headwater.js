// Headwater's JavaScript SDK: write a source connector as an object with
// spec/check/discover/read, build it with componentize-js, and run it
// sandboxed by the `headwater` host.
//
// The bindings componentize-js generates from `wit/` are the modules
// `headwater:connector/*@0.1.0`: plain functions over WIT records that throw
// on `err`. This module puts an idiomatic face on them: error classes per WIT
// error variant (a connector can catch `Paused` and rethrow it), requests and
// responses with `.json()`, paginators, JSON state, and the resume rule of an
// incremental sync (`Incremental`).
//
// The components are built without `wasi:http` (`-d http fetch-event`): a
// connector's HTTP goes through `send`/`sendRead` here, the host's policy
// (allowlist, rate limit, retries, credentials by name). `fetch` is not there.
//
// A connector module ends with `export const connector = exportConnector({...})`.

import * as witHttp from 'headwater:connector/http@0.1.0';
import * as witOutput from 'headwater:connector/output@0.1.0';
import * as witState from 'headwater:connector/state@0.1.0';

// ---------------------------------------------------------------------------
// Errors: one class per WIT `error` variant.
// ---------------------------------------------------------------------------

/** An error the host understands; `kind` is the WIT variant's name. */
export class HeadwaterError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
    this.name = 'HeadwaterError';
  }
}
const kinds = ['config', 'auth', 'transient', 'denied', 'data', 'paused', 'other'];
const classOf = {};
for (const kind of kinds) {
  const cls = class extends HeadwaterError {
    constructor(message) {
      super(kind, message);
      this.name = kind[0].toUpperCase() + kind.slice(1) + 'Error';
    }
  };
  classOf[kind] = cls;
}
/** The pipeline's config for this connector is wrong; rerunning will not help. */
export const ConfigError = classOf.config;
/** The source refused the credentials. */
export const AuthError = classOf.auth;
/** May pass if retried later (network, 5xx, timeouts). */
export const TransientError = classOf.transient;
/** The host's policy refused a request (host, path or size not granted). */
export const DeniedError = classOf.denied;
/** The source returned data that does not fit the stream's schema or format. */
export const DataError = classOf.data;
/** The source's quota is spent: checkpoint what you have and rethrow it. */
export const PausedError = classOf.paused;
/** Anything else. */
export const OtherError = classOf.other;

/** The SDK error for what a host import threw (its `payload` is the WIT error). */
function lift(e) {
  const p = e && typeof e === 'object' && 'payload' in e ? e.payload : e;
  if (p && typeof p === 'object' && kinds.includes(p.tag)) return new classOf[p.tag](String(p.val));
  return new OtherError(String(e && e.message ? e.message : e));
}

function host(call, ...args) {
  try {
    return call(...args);
  } catch (e) {
    throw lift(e);
  }
}

/** Runs a connector method; what it throws reaches the host as its WIT variant. */
function guard(call) {
  try {
    return call();
  } catch (e) {
    const he = e instanceof HeadwaterError ? e : lift(e);
    // The SDK's own errors and the host's (a WIT error a binding threw) keep their
    // message as it is; anything else gets its name and stack, for the user to debug.
    const known = e instanceof HeadwaterError || (e && typeof e === 'object' && e.payload && kinds.includes(e.payload.tag));
    const wit = new Error(he.message);
    wit.payload = { tag: he.kind, val: known ? he.message : `${e && e.name ? e.name + ': ' : ''}${he.message}${e && e.stack ? '\n' + e.stack : ''}` };
    throw wit;
  }
}

function parseConfig(text) {
  let value;
  try {
    value = text ? JSON.parse(text) : {};
  } catch (e) {
    throw new ConfigError(`the config is not JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('the config must be a JSON object');
  return value;
}

/**
 * The `connector` export for an implementation:
 * `{ name, version, description, configSchema, streams(config), check?(config), read(config, streams) }`.
 * Streams are `{ name, fields?: [{ name, type, nullable? }], primaryKey?, cursorField? }`.
 */
export function exportConnector(impl) {
  return {
    spec() {
      return {
        name: impl.name,
        version: impl.version || '0.1.0',
        description: impl.description || '',
        configSchema: JSON.stringify(impl.configSchema || { type: 'object' }),
      };
    },
    check(config) {
      guard(() => impl.check && impl.check(parseConfig(config)));
    },
    discover(config) {
      return guard(() =>
        impl.streams(parseConfig(config)).map((s) => ({
          name: s.name,
          fields: (s.fields || []).map((f) => ({ name: f.name, dataType: f.type, nullable: f.nullable !== false })),
          primaryKey: s.primaryKey || [],
          cursorField: s.cursorField ?? undefined,
        })),
      );
    },
    read(config, streams) {
      guard(() => impl.read(parseConfig(config), [...streams]));
    },
  };
}

// ---------------------------------------------------------------------------
// HTTP through the host's policy.
// ---------------------------------------------------------------------------

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** A response: `status`, `headers` ([name, value] pairs), `body` (Uint8Array). */
export class Response {
  constructor(r) {
    this.status = r.status;
    this.headers = r.headers;
    this.body = r.body;
  }
  header(name) {
    const lower = name.toLowerCase();
    const hit = this.headers.find(([k]) => k.toLowerCase() === lower);
    return hit ? hit[1] : undefined;
  }
  text() {
    return utf8.decode(this.body);
  }
  json() {
    try {
      return JSON.parse(this.text());
    } catch (e) {
      throw new DataError(`the response (HTTP ${this.status}) is not JSON: ${e.message}`);
    }
  }
  /** Throws the error the status means (the host already waited out 429s, and retried 5xx for requests that only read). */
  ok(url = '') {
    const where = url ? ` from ${url}` : '';
    if (this.status === 401 || this.status === 403) throw new AuthError(`HTTP ${this.status}${where}`);
    if (this.status >= 500) throw new TransientError(`HTTP ${this.status}${where}`);
    if (this.status >= 400) throw new OtherError(`HTTP ${this.status}${where}: ${this.text().slice(0, 200)}`);
    return this;
  }
}

/** `url` with `params` (undefined and null left out) in its query. */
export function withParams(url, params = {}) {
  const query = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  if (!query) return url;
  return url + (url.includes('?') ? '&' : '?') + query;
}

/**
 * A request: `{ url, method?, params?, headers?, body?, auth? }`; `auth` names a
 * credential of the pipeline's `[auth.NAME]`, added by the host.
 */
function toWit(req) {
  let body = req.body;
  if (typeof body === 'string') body = encoder.encode(body);
  return {
    method: req.method || 'GET',
    url: withParams(req.url, req.params),
    headers: Object.entries(req.headers || {}),
    body: body ?? undefined,
    auth: req.auth ?? undefined,
  };
}

/** Sends a request that may change something on the server (not retried on 5xx). */
export function send(req) {
  return new Response(host(witHttp.send, toWit(req)));
}

/** Sends a request that only reads, whatever its method: retried on 5xx like a GET. */
export function sendRead(req) {
  return new Response(host(witHttp.sendRead, toWit(req)));
}

/** GET `url` with `params`, and check the status. */
export function get(url, params = {}, auth = undefined) {
  const req = { url, params, auth };
  return sendRead(req).ok(withParams(url, params));
}

function pointer(doc, ptr) {
  if (ptr === '' || ptr === '/') return doc;
  for (const raw of ptr.replace(/^\//, '').split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(doc) && /^(0|[1-9][0-9]*)$/.test(key)) doc = doc[Number(key)];
    else if (doc && typeof doc === 'object' && !Array.isArray(doc)) doc = doc[key];
    else return undefined;
    if (doc === undefined || doc === null) return undefined;
  }
  return doc;
}

/**
 * Pages of a cursor API, each page's records emitted by the host straight
 * from the body (never parsed in JS): yields `{ rows, rest, next }`.
 * Checkpoint between pages to commit them.
 */
export function* emitCursorPages(stream, req, { records, cursorParam, cursorPath, start }) {
  let cursor = start ?? undefined;
  for (;;) {
    const params = { ...(req.params || {}) };
    if (cursor !== undefined) params[cursorParam] = cursor;
    const pageReq = { ...req, params };
    const response = sendRead(pageReq).ok(withParams(req.url, params));
    const { rows, rest } = emitRecords(stream, response.body, records);
    let next = pointer(rest, cursorPath);
    next = next === undefined || next === '' ? undefined : String(next);
    yield { rows, rest, next };
    if (next === undefined || next === cursor) return;
    cursor = next;
  }
}

/** Pages whose body names the next page's URL at `nextPath`: yields `{ response, page }`. */
export function* nextUrlPages(req, nextPath) {
  let current = req;
  const seen = new Set();
  while (current) {
    const response = sendRead(current).ok(current.url);
    const page = response.json();
    yield { response, page };
    const next = pointer(page, nextPath);
    if (!next || seen.has(next)) return;
    seen.add(next);
    current = { ...current, url: String(next), params: {} };
  }
}

// ---------------------------------------------------------------------------
// Output, state and the incremental sync.
// ---------------------------------------------------------------------------

/** NDJSON or a JSON array (text or bytes), converted by the host; returns the rows read. */
export function emitJson(stream, json) {
  return Number(host(witOutput.emitJson, stream, typeof json === 'string' ? encoder.encode(json) : json));
}

/** Plain objects as rows. */
export function emitRows(stream, rows) {
  if (rows.length === 0) return 0;
  return emitJson(stream, rows.map((r) => JSON.stringify(r)).join('\n'));
}

/** Emits the array at the JSON pointer `records` of a page; returns `{ rows, rest }`. */
export function emitRecords(stream, body, records) {
  const page = host(witOutput.emitRecords, stream, body, records);
  return { rows: Number(page.rows), rest: JSON.parse(page.rest) };
}

/** Commits what was emitted for `stream` since its last checkpoint, with `state` (any JSON value). */
export function checkpoint(stream, state) {
  host(witOutput.checkpoint, stream, JSON.stringify(state));
}

export function progress(stream, done, total = undefined) {
  witOutput.progress(stream, BigInt(Math.max(0, Math.floor(done))), total === undefined ? undefined : BigInt(Math.max(0, Math.floor(total))));
}

/** `log.info('…')` and friends: lines in the host's log, under the connector's name. */
export const log = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error'].map((level) => [level, (message) => witOutput.log(level, String(message))]));

/** The JSON state this connector last checkpointed for `stream`, or undefined. */
export function state(stream) {
  const text = witState.get(stream);
  if (text === undefined || text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new DataError(`the committed state of \`${stream}\` is not JSON`);
  }
}

/** The highest committed value of the stream's cursor field, across phases. */
export function watermark(stream) {
  return witState.watermark(stream) ?? undefined;
}

/**
 * The resume rule of an incremental stream: a sync asks for rows after `since`
 * (the committed watermark); while it is under way, its state holds that
 * `since` and the next page's cursor, so a run stopped between pages resumes
 * the same sync at `resume`.
 */
export class Incremental {
  constructor(stream) {
    this.stream = stream;
    const saved = state(stream);
    if (saved && typeof saved === 'object' && saved.next !== undefined && saved.next !== null) {
      this.since = saved.since ?? undefined;
      this.resume = String(saved.next);
    } else {
      this.since = watermark(stream);
      this.resume = undefined;
    }
  }
  /** Commits the pages emitted so far; `next` undefined ends the sync. */
  checkpoint(next) {
    checkpoint(this.stream, { since: this.since ?? null, next: next ?? null });
  }
}
