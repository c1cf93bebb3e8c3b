"""Headwater's Python SDK: write a source connector as a class, build it with
componentize-py, and run it sandboxed by the `headwater` host.

The generated bindings (`wit_world`, made by componentize-py from `wit/`) are
plain functions over WIT records and raise `Err(Error_…)`. This module puts an
idiomatic face on them: a :class:`Connector` base class with ``spec``,
``check``, ``discover`` and ``read``; exceptions per WIT error variant, so a
connector can catch :class:`Paused` and re-raise it; HTTP requests and
responses with ``.json()``; paginators; JSON state; and the seam rule for an
incremental sync (:class:`Incremental`).

A connector module ends with ``Connector = headwater.export(MyConnector)``:
componentize-py looks for a class named ``Connector`` in the app module, the
implementation of the WIT interface ``headwater:connector/connector``.
"""

from __future__ import annotations

import json as _json
import traceback as _traceback
from dataclasses import dataclass, field as _field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Type

from componentize_py_types import Err
from wit_world.exports import connector as _wit_connector
from wit_world.imports import http as _wit_http
from wit_world.imports import output as _wit_output
from wit_world.imports import state as _wit_state
from wit_world.imports import types as _wit_types

__all__ = [
    "Connector", "Stream", "Field", "export",
    "HeadwaterError", "ConfigError", "AuthError", "Transient", "Denied", "DataError", "Paused", "OtherError",
    "Request", "Response", "send", "send_read", "send_all", "get",
    "emit_json", "emit_rows", "emit_records", "emit_arrow", "checkpoint", "progress", "log",
    "state", "watermark", "Incremental",
    "cursor_pages", "emit_cursor_pages", "next_url_pages", "link_header_pages", "offset_pages",
]


# ---------------------------------------------------------------------------
# Errors: one exception class per WIT `error` variant.
# ---------------------------------------------------------------------------

class HeadwaterError(Exception):
    """An error the host understands. Raise a subclass from a connector method;
    the host's imports raise them too (e.g. :class:`Denied` for a host the
    pipeline does not allow)."""

    _variant: Callable[[str], Any] = _wit_types.Error_Other

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wit(self) -> Any:
        return type(self)._variant(self.message)


class ConfigError(HeadwaterError):
    """The pipeline's config for this connector is wrong; rerunning will not help."""
    _variant = _wit_types.Error_Config


class AuthError(HeadwaterError):
    """The source refused the credentials."""
    _variant = _wit_types.Error_Auth


class Transient(HeadwaterError):
    """May pass if retried later (network, 5xx, timeouts)."""
    _variant = _wit_types.Error_Transient


class Denied(HeadwaterError):
    """The host's policy refused a request (host, path or size not granted)."""
    _variant = _wit_types.Error_Denied


class DataError(HeadwaterError):
    """The source returned data that does not fit the stream's schema or format."""
    _variant = _wit_types.Error_Data


class Paused(HeadwaterError):
    """The source's quota is spent: checkpoint what you have and re-raise this;
    the run marks the stream paused and the next run resumes from the checkpoint."""
    _variant = _wit_types.Error_Paused


class OtherError(HeadwaterError):
    """Anything else."""
    _variant = _wit_types.Error_Other


_BY_VARIANT = {
    _wit_types.Error_Config: ConfigError,
    _wit_types.Error_Auth: AuthError,
    _wit_types.Error_Transient: Transient,
    _wit_types.Error_Denied: Denied,
    _wit_types.Error_Data: DataError,
    _wit_types.Error_Paused: Paused,
    _wit_types.Error_Other: OtherError,
}


def _lift(e: Err) -> HeadwaterError:
    """The SDK exception for an `Err` a host import raised."""
    value = e.value
    return _BY_VARIANT.get(type(value), OtherError)(getattr(value, "value", str(value)))


def _host(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except Err as e:
        raise _lift(e) from None


# ---------------------------------------------------------------------------
# Streams and the connector class.
# ---------------------------------------------------------------------------

@dataclass
class Field:
    """A declared column: `data_type` as the WIT documents it (int64, string,
    float64, bool, timestamp, decimal(P, S), ...)."""
    name: str
    data_type: str
    nullable: bool = True


@dataclass
class Stream:
    """What `discover` returns for a stream. No fields: the host infers the
    schema from the rows."""
    name: str
    fields: List[Field] = _field(default_factory=list)
    primary_key: List[str] = _field(default_factory=list)
    cursor_field: Optional[str] = None

    def _to_wit(self) -> Any:
        return _wit_connector.StreamInfo(
            name=self.name,
            fields=[_wit_connector.Field(name=f.name, data_type=f.data_type, nullable=f.nullable) for f in self.fields],
            primary_key=list(self.primary_key),
            cursor_field=self.cursor_field,
        )


class Connector:
    """Subclass this. Set ``name``, ``version``, ``description`` and
    ``config_schema`` (a JSON Schema as a dict: the host validates each config
    against it before any method runs), and implement ``streams`` and ``read``;
    ``check`` passes by default. Methods get the config as a dict."""

    name: str = "python-connector"
    version: str = "0.1.0"
    description: str = ""
    config_schema: Dict[str, Any] = {"type": "object"}

    def check(self, config: Dict[str, Any]) -> None:
        """Raise an error if the source cannot be reached with this config."""

    def streams(self, config: Dict[str, Any]) -> List[Stream]:
        raise NotImplementedError("a connector lists its streams in `streams`")

    def read(self, config: Dict[str, Any], streams: List[str]) -> None:
        raise NotImplementedError("a connector reads its streams in `read`")


def _guard(call: Callable[[], Any]) -> Any:
    """Runs a connector method, turning what it raises into the WIT error the
    host reads: a HeadwaterError as its variant, any other exception as `other`
    with its traceback's last lines (the host shows them to the user)."""
    try:
        return call()
    except HeadwaterError as e:
        raise Err(e.to_wit()) from None
    except Err:
        raise
    except Exception as e:  # noqa: BLE001 - every failure must reach the host as a message
        tail = "".join(_traceback.format_exception(e)[-3:]).strip()
        raise Err(_wit_types.Error_Other(f"{type(e).__name__}: {e}\n{tail}")) from None


def _config(text: str) -> Dict[str, Any]:
    try:
        value = _json.loads(text) if text else {}
    except ValueError as e:
        raise ConfigError(f"the config is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ConfigError("the config must be a JSON object")
    return value


def export(cls: Type[Connector]) -> type:
    """The class componentize-py exports for `cls`: assign it to ``Connector``
    at the top level of the app module."""

    class _Exported:
        def spec(self) -> Any:
            c = cls()
            return _wit_connector.ConnectorSpec(
                name=c.name, version=c.version, description=c.description,
                config_schema=_json.dumps(c.config_schema),
            )

        def check(self, config: str) -> None:
            _guard(lambda: cls().check(_config(config)))

        def discover(self, config: str) -> List[Any]:
            return _guard(lambda: [s._to_wit() for s in cls().streams(_config(config))])

        def read(self, config: str, streams: List[str]) -> None:
            _guard(lambda: cls().read(_config(config), list(streams)))

    _Exported.__name__ = "Connector"
    _Exported.__qualname__ = "Connector"
    return _Exported


# ---------------------------------------------------------------------------
# HTTP through the host's policy.
# ---------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        """The first header of that name, case-insensitively."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def json(self) -> Any:
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise DataError(f"the response (HTTP {self.status}) is not JSON: {e}") from None

    def raise_for_status(self, url: str = "") -> "Response":
        """Raise the error the status means (the host already waited out 429s, and
        retried 5xx for requests that only read: GET, HEAD, PUT, DELETE, `send_read`)."""
        where = f" from {url}" if url else ""
        if self.status in (401, 403):
            raise AuthError(f"HTTP {self.status}{where}")
        if self.status >= 500:
            raise Transient(f"HTTP {self.status}{where}")
        if self.status >= 400:
            raise OtherError(f"HTTP {self.status}{where}: {self.body[:200].decode('utf-8', 'replace')}")
        return self


@dataclass
class Request:
    """An HTTP request. `auth` names a credential of the pipeline's `[auth.NAME]`:
    the host adds it, the connector never sees it."""
    url: str
    method: str = "GET"
    params: Dict[str, Any] = _field(default_factory=dict)
    headers: Dict[str, str] = _field(default_factory=dict)
    body: Optional[bytes] = None
    auth: Optional[str] = None

    @staticmethod
    def post_json(url: str, payload: Any, **kw: Any) -> "Request":
        headers = {"content-type": "application/json", **kw.pop("headers", {})}
        return Request(url, "POST", body=_json.dumps(payload).encode(), headers=headers, **kw)

    def full_url(self) -> str:
        if not self.params:
            return self.url
        query = "&".join(f"{_quote(str(k))}={_quote(str(v))}" for k, v in self.params.items() if v is not None)
        if not query:
            return self.url
        return self.url + ("&" if "?" in self.url else "?") + query

    def _to_wit(self) -> Any:
        return _wit_http.Request(
            method=self.method, url=self.full_url(), headers=list(self.headers.items()),
            body=self.body, auth=self.auth,
        )


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(text: str) -> str:
    """Percent-encodes a query component (urllib is heavy to import inside a component)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def _response(r: Any) -> Response:
    return Response(status=r.status, headers=list(r.headers), body=bytes(r.body))


def send(request: Request) -> Response:
    """Sends a request that may change something on the server (not retried on 5xx)."""
    return _response(_host(_wit_http.send, request._to_wit()))


def send_read(request: Request) -> Response:
    """Sends a request that only reads, whatever its method: retried on 5xx like a GET."""
    return _response(_host(_wit_http.send_read, request._to_wit()))


def send_all(requests: Sequence[Request]) -> List[Response | HeadwaterError]:
    """Sends up to 64 requests concurrently (each retried on 5xx as its method
    allows, as `send` does); each result is a Response or the error for it."""
    out: List[Response | HeadwaterError] = []
    for r in _wit_http.send_all([q._to_wit() for q in requests]):
        if isinstance(r, Err):
            out.append(_lift(r))
        else:
            out.append(_response(r.value))
    return out


def get(url: str, params: Optional[Dict[str, Any]] = None, auth: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None) -> Response:
    """GET `url` and check the status."""
    request = Request(url, params=dict(params or {}), headers=dict(headers or {}), auth=auth)
    return send_read(request).raise_for_status(request.full_url())


# ---------------------------------------------------------------------------
# Paginators: generators of (response, parsed page).
# ---------------------------------------------------------------------------

def _pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901 lookup; None where the path is missing."""
    if pointer in ("", "/"):
        return doc
    for raw in pointer.lstrip("/").split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            doc = doc.get(key)
        elif isinstance(doc, list) and key.isdigit() and (key == "0" or not key.startswith("0")):
            i = int(key)
            doc = doc[i] if i < len(doc) else None
        else:
            return None
        if doc is None:
            return None
    return doc


def cursor_pages(request: Request, cursor_param: str, cursor_path: str,
                 start: Optional[str] = None) -> Iterator[Tuple[Response, Any, Optional[str]]]:
    """Pages of a cursor API: yields (response, page, next cursor); the next
    request carries `cursor_param=<next cursor>` until the page's `cursor_path`
    is null or empty. Start from `start` (a cursor kept in state) to resume."""
    cursor = start
    while True:
        params = dict(request.params)
        if cursor is not None:
            params[cursor_param] = cursor
        page_request = Request(request.url, request.method, params, request.headers, request.body, request.auth)
        response = send_read(page_request).raise_for_status(page_request.full_url())
        page = response.json()
        nxt = _pointer(page, cursor_path)
        nxt = None if nxt in (None, "") else str(nxt)
        yield response, page, nxt
        if nxt is None or nxt == cursor:
            return
        cursor = nxt


def next_url_pages(request: Request, next_path: str) -> Iterator[Tuple[Response, Any]]:
    """Pages whose body names the next page's URL at `next_path`."""
    current: Optional[Request] = request
    seen = set()
    while current is not None:
        response = send_read(current).raise_for_status(current.full_url())
        page = response.json()
        yield response, page
        nxt = _pointer(page, next_path)
        if not nxt or nxt in seen:
            return
        seen.add(nxt)
        current = Request(str(nxt), current.method, {}, current.headers, current.body, current.auth)


def link_header_pages(request: Request) -> Iterator[Tuple[Response, Any]]:
    """Pages linked by `Link: <…>; rel="next"` headers (GitHub, Shopify REST)."""
    current: Optional[Request] = request
    seen = set()
    while current is not None:
        response = send_read(current).raise_for_status(current.full_url())
        yield response, response.json()
        nxt = _next_link(response.header("link") or "")
        if nxt is None or nxt in seen:
            return
        seen.add(nxt)
        current = Request(nxt, current.method, {}, current.headers, current.body, current.auth)


def _next_link(header: str) -> Optional[str]:
    for part in header.split(","):
        if "<" not in part or ">" not in part:
            continue
        url, _, params = part.strip().partition(">")
        rels = [p.strip() for p in params.split(";")]
        if any(p.replace(" ", "") in ('rel="next"', "rel=next") for p in rels):
            return url.lstrip("<").strip()
    return None


def offset_pages(request: Request, limit: int, records: str = "",
                 offset_param: str = "offset", limit_param: str = "limit") -> Iterator[Tuple[Response, Any]]:
    """Pages by offset and limit, until a page holds fewer than `limit` records
    (found at the JSON pointer `records`)."""
    offset = 0
    while True:
        params = {**request.params, offset_param: offset, limit_param: limit}
        page_request = Request(request.url, request.method, params, request.headers, request.body, request.auth)
        response = send_read(page_request).raise_for_status(page_request.full_url())
        page = response.json()
        yield response, page
        items = _pointer(page, records)
        if not isinstance(items, list) or len(items) < limit:
            return
        offset += limit


# ---------------------------------------------------------------------------
# Output, state and the incremental cursor.
# ---------------------------------------------------------------------------

def emit_json(stream: str, data: bytes) -> int:
    """NDJSON or a JSON array, converted by the host; returns the rows read."""
    return _host(_wit_output.emit_json, stream, bytes(data))


def emit_rows(stream: str, rows: Iterable[Dict[str, Any]]) -> int:
    """Python dicts as rows (serialised to NDJSON once, decoded by the host)."""
    text = "\n".join(_json.dumps(r, separators=(",", ":")) for r in rows)
    return emit_json(stream, text.encode()) if text else 0


def emit_records(stream: str, body: bytes, records: str) -> Tuple[int, Any]:
    """Emits the array at the JSON pointer `records` of an API page, parsed by
    the host, never by Python; returns (rows, the rest of the page as a dict)."""
    page = _host(_wit_output.emit_records, stream, bytes(body), records)
    return page.rows, _json.loads(page.rest)


def emit_arrow(stream: str, ipc: bytes) -> None:
    """Arrow IPC stream bytes (e.g. from pyarrow, where it is available)."""
    _host(_wit_output.emit, stream, bytes(ipc))


def checkpoint(stream: str, state: Any) -> None:
    """Commits what was emitted for `stream` since its last checkpoint, with
    `state` (any JSON value), atomically."""
    _host(_wit_output.checkpoint, stream, _json.dumps(state))


def progress(stream: str, done: int, total: Optional[int] = None) -> None:
    _wit_output.progress(stream, max(0, int(done)), None if total is None else max(0, int(total)))


class _Log:
    def _at(self, level: Any, message: str) -> None:
        _wit_output.log(level, str(message))

    def debug(self, message: str) -> None:
        self._at(_wit_types.Level.DEBUG, message)

    def info(self, message: str) -> None:
        self._at(_wit_types.Level.INFO, message)

    def warn(self, message: str) -> None:
        self._at(_wit_types.Level.WARN, message)

    def error(self, message: str) -> None:
        self._at(_wit_types.Level.ERROR, message)


log = _Log()
"""`log.info("…")` and friends: lines in the host's log, under the connector's name."""


def state(stream: str) -> Optional[Any]:
    """The JSON state this connector last checkpointed for `stream`, or None."""
    text = _wit_state.get(stream)
    if text is None:
        return None
    try:
        return _json.loads(text)
    except ValueError:
        raise DataError(f"the committed state of `{stream}` is not JSON") from None


def watermark(stream: str) -> Optional[str]:
    """The highest committed value of the stream's cursor field, across phases
    (after a backfill: where incremental reading continues from)."""
    return _wit_state.watermark(stream)


class Incremental:
    """The resume rule of an incremental stream. A sync asks the source for
    rows after `since`: the committed watermark (the highest value of the
    stream's cursor field the sink holds, which the host keeps, across the
    backfill and incremental phases). While a sync is under way its state holds
    that `since` and the next page's cursor, so a run stopped between pages
    resumes the same sync at the next page rather than starting a new one from
    a watermark that the pages already committed have moved."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        saved = state(stream)
        if isinstance(saved, dict) and saved.get("next") is not None:
            self.since: Optional[str] = saved.get("since")
            self.resume: Optional[str] = str(saved["next"])
        else:
            self.since = watermark(stream)
            self.resume = None

    def checkpoint(self, next_cursor: Optional[str]) -> None:
        """Commits the pages emitted so far; `next_cursor` None ends the sync."""
        checkpoint(self.stream, {"since": self.since, "next": next_cursor})


def emit_cursor_pages(stream: str, request: Request, records: str, cursor_param: str, cursor_path: str,
                      start: Optional[str] = None) -> Iterator[Tuple[int, Any, Optional[str]]]:
    """Pages of a cursor API, each page's records emitted by the host straight
    from the body (never parsed in Python): yields (rows, the rest of the page,
    the next cursor). Checkpoint between pages to commit them."""
    cursor = start
    while True:
        params = dict(request.params)
        if cursor is not None:
            params[cursor_param] = cursor
        page_request = Request(request.url, request.method, params, request.headers, request.body, request.auth)
        response = send_read(page_request).raise_for_status(page_request.full_url())
        rows, rest = emit_records(stream, response.body, records)
        nxt = _pointer(rest, cursor_path)
        nxt = None if nxt in (None, "") else str(nxt)
        yield rows, rest, nxt
        if nxt is None or nxt == cursor:
            return
        cursor = nxt
