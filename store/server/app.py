"""The ASGI app: both SageMaker services on one port over one FeatureStore, and ``serve`` to run it.

Runtime operations are REST routes taken from the service model (``PUT /FeatureGroup/{name}``...);
the control plane is ``POST /`` with ``X-Amz-Target: SageMaker.<Op>``; ``GET /ping`` answers
health checks without touching the store; ``POST /FeatureServices/{name}/OnlineFeatures`` and
Feast's ``POST /get-online-features`` read online feature vectors (vectors.py). Every call goes:
signature (with a keyring) -> operation -> policy on the action -> model (or vectors.py)
validation -> policy on the named groups -> handler -> JSON, or the one error mapping.
"""
from __future__ import annotations

import ipaddress
import os
import re
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..access import published
from ..databases import shared
from ..errors import AccessDenied, ValidationError
from ..featurestore import FLUSH_INTERVAL, FeatureStore
from . import control, runtime, vectors
from .auth import AccessKey, Keyring, SignedRequest, region_of
from .call import Call
from .errors import WireError, error_response
from .model import parse_json, parse_rest
from .service_models import OPERATIONS
from .shapes import group_name
from .vendor import CONTROL, RUNTIME

ENV_STORE, ENV_KEYS = "FEATURESTORE_HOME", "FEATURESTORE_SERVER_KEYS"
ENV_FLUSH_INTERVAL = "FEATURESTORE_FLUSH_INTERVAL"
MAX_BODY_BYTES = 16 * 1024 * 1024  # 25 records of 350 KB fit in one BatchWriteRecord
TARGET_PREFIX = "SageMaker."
_HANDLERS = {RUNTIME: runtime.HANDLERS, CONTROL: control.HANDLERS}
_MEDIA = {RUNTIME: "application/json", CONTROL: "application/x-amz-json-1.1"}
# Online reads take tens of microseconds and never wait for SQLite's write lock (WAL), so they run
# on the event loop: the thread hop costs more than the read (twice the GetRecord requests/s at 32
# clients in bench/http_bench.py). Writes, which may wait for the lock or flush Parquet, and
# everything else run in the thread pool.
_ON_LOOP = {"GetRecord", "BatchGetRecord"}
# A feature vector of a few entity rows is a few such reads (and its on-demand features' compute):
# on the loop too; a larger batch goes to the thread pool, so one call never holds the loop long.
LOOP_ROWS = 16
# How long a stop waits for requests in flight; idle kept-alive TLS connections would hold it longer.
GRACEFUL_SECONDS = 10


class _Api:
    def __init__(self, fs: FeatureStore, keys: Keyring | None) -> None:
        self.fs, self.keys = fs, keys
        # The keys follow the policy they come from, as it changes: the --keys file (which the
        # engine enforces, see create_app), or without --keys a shared store's published policy.
        self.from_file = keys is not None and keys.path is not None and fs.governed
        self.follow = self.from_file or (keys is None and _published(fs))
        self._keys_of: Any = None  # the policy self.keys came from, when following
        # access key id -> (its principal, the store seen as it): a view's guard keeps its decisions
        # until the policy changes, so a caller's next request does not decide them again
        self._views: dict[str, tuple[Any, FeatureStore]] = {}

    def keyring(self) -> Keyring | None:
        """The keys that sign requests now: a published policy's checked against the registry
        version (which PostgreSQL's notifications keep in memory), a file's against its stat. A
        file that lost its keys accepts none; one gone or unparsable refuses (AccessDenied)."""
        if self.follow:
            file = self.fs.policy()
            if file is not self._keys_of:
                self._keys_of = file
                if file is not None and file.keys:
                    self.keys = Keyring.of(file)
                else:
                    self.keys = Keyring([], file.path if file else None) if self.from_file else None
        return self.keys

    def view(self, key: AccessKey | None) -> FeatureStore:
        """The store as the key's principal sees it (the same view while the key's principal is)."""
        if key is None or not key.principal:
            return self.fs
        hit = self._views.get(key.access_key_id)
        if hit is None or hit[0] is not key.principal:
            if len(self._views) > 1024:
                self._views.clear()
            hit = self._views[key.access_key_id] = (key.principal, self.fs.with_principal(key.principal))
        return hit[1]

    def runtime_endpoint(self, op: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self.dispatch(request, RUNTIME, op)
        return endpoint

    async def control(self, request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        return await self.dispatch(request, CONTROL, op)

    async def unknown_route(self, request: Request, exc: Exception) -> Response:
        return await self.dispatch(request, RUNTIME, "")

    async def dispatch(self, request: Request, service: str, op: str) -> Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        try:
            body = await _read_body(request)
            keys = self.keyring()
            key = keys.verify(_signed(request, body)) if keys else None
            vector = vectors.HANDLERS.get(op) if service == RUNTIME else None
            if vector is None and op not in _HANDLERS[service]:
                status = 404 if service == RUNTIME else 400
                raise WireError("UnknownOperationException", _unknown(service, request, op), status)
            action = vectors.ACTION if vector else op
            if key and not key.allows_action(f"sagemaker:{action}"):
                raise AccessDenied(f"This access key may not call sagemaker:{action}")
            if vector:
                params = vector[0](request.path_params, body)
            elif service == RUNTIME:
                params = parse_rest(service, op, request.path_params, request.query_params, body)
            else:
                params = parse_json(service, op, body)
            if key and not vector:  # a vector's input names no group: its service's are checked as it reads
                _authorize(key, op, params)
            region = region_of(request.headers.get("authorization"))
            fs = self.view(key)
            call = Call(fs, params, region, key.allows_group if key else None,
                        f"http:{key.access_key_id}" if key else "http-api")
            handler = vector[1] if vector else _HANDLERS[service][op]
            on_loop = op in _ON_LOOP or (vector is not None and params.get("rows", len(params.get("EntityRows") or ()))
                                         <= LOOP_ROWS)
            result = handler(call) if on_loop else await run_in_threadpool(handler, call)
            if vector:
                return Response(vectors.render(result), headers=headers, media_type=_MEDIA[service])
            return JSONResponse(result, headers=headers, media_type=_MEDIA[service])
        except Exception as exc:  # every failure leaves through the one error mapping
            return error_response(exc, service, headers, _MEDIA[service])


def _published(fs: FeatureStore) -> bool:
    """Whether the store was opened under a policy published in its tables (an access file
    without a path), rather than a local file or none. A governed store whose policy reads as
    None had a published one withdrawn (a local file that goes missing refuses instead): it is
    followed too, so publishing again brings the keys back."""
    if not fs.governed:
        return False
    try:
        file = fs.policy()
    except AccessDenied:  # a local file gone or unreadable since the store opened: not a published one
        return False
    return file is None or file.path is None


def _unknown(service: str, request: Request, op: str) -> str:
    if service == CONTROL:
        return (f"X-Amz-Target {request.headers.get('x-amz-target')!r} is not an operation this server offers; "
                f"it serves SageMaker.{', SageMaker.'.join(sorted(control.HANDLERS))}")
    return (f"{request.method} {request.url.path} is not a sagemaker-featurestore-runtime operation this server "
            f"offers; it serves {', '.join(sorted(runtime.HANDLERS))}, and POST /FeatureServices/{{name}}/OnlineFeatures "
            "and POST /get-online-features")


def _authorize(key: AccessKey, op: str, params: dict[str, Any]) -> None:
    for name in sorted(_named_groups(params)):
        if not key.allows_group(name):
            raise AccessDenied(f"This access key may not call sagemaker:{op} on feature group {name!r}")


def _named_groups(value: Any) -> set[str]:
    """Every feature group a request names, at any depth (batches name several)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("FeatureGroupName", "ResourceArn") and isinstance(item, str):
                found.add(group_name(item))
            else:
                found |= _named_groups(item)
    elif isinstance(value, list):
        for item in value:
            found |= _named_groups(item)
    return found


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "0")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ValidationError(f"The request body is larger than {MAX_BODY_BYTES // 2**20} MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ValidationError(f"The request body is larger than {MAX_BODY_BYTES // 2**20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _signed(request: Request, body: bytes) -> SignedRequest:
    scope = request.scope
    return SignedRequest(
        method=request.method, raw_path=scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]], body=body,
    )


async def ping(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(store_path: str | None = None, keys: Keyring | None = None) -> Starlette:
    """The app over the store at ``store_path`` (default: $FEATURESTORE_HOME); open unless ``keys``."""
    fs = FeatureStore(store_path, writer="http-api", background=True,
                      flush_interval=float(os.environ.get(ENV_FLUSH_INTERVAL, FLUSH_INTERVAL)),
                      access=keys.path if keys else None)  # the keys' roles, enforced on each call
    api = _Api(fs, keys)
    routes = [Route("/ping", ping, methods=["GET"]), Route("/", api.control, methods=["POST"])]
    routes += [Route("/FeatureServices/{name}/OnlineFeatures", api.runtime_endpoint("GetOnlineFeatures"),
                     methods=["POST"]),
               Route("/get-online-features", api.runtime_endpoint("GetOnlineFeaturesFeast"), methods=["POST"])]
    # ":path" because a name may be an ARN, whose "/" arrives percent-encoded and is decoded before routing
    routes += [Route(re.sub(r"\{(\w+)\}", r"{\1:path}", spec["http"]["requestUri"]), api.runtime_endpoint(op),
                     methods=[spec["http"]["method"]]) for op, spec in OPERATIONS[RUNTIME].items()]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        fs.close()  # flush buffered offline rows to Parquet

    unknown = {404: api.unknown_route, 405: api.unknown_route}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=unknown)


def app_from_env() -> Starlette:
    """The factory uvicorn's workers call; ``serve`` passes the store and keys file in the environment."""
    keys_path = os.environ.get(ENV_KEYS)
    return create_app(os.environ.get(ENV_STORE), Keyring.load(keys_path) if keys_path else None)


def serve(store_path: str, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          keys_path: str | None = None, access_log: bool = True, echo: Callable[[str], None] = print,
          flush_interval: float = FLUSH_INTERVAL, tls: tuple[str, str] | None = None, insecure: bool = False) -> None:
    """Run the server until interrupted. Raises ValidationError for a bad keys file, or for a
    non-loopback ``host`` without TLS and keys (unless ``insecure``), before binding. Records
    written through it reach the Parquet folder within ``flush_interval`` seconds."""
    import uvicorn

    keyring = Keyring.load(keys_path) if keys_path else None
    folder = shared.folder_for(store_path)
    if keyring is None:
        policy = published.in_folder(folder)
        keyring = Keyring.of(policy) if policy is not None and policy.keys else None
    if not _is_loopback(host) and not (tls and keyring) and not insecure:
        raise ValidationError(f"{host} is reachable from other machines: serve it with --certfile/--keyfile (HTTPS) "
                              "and --keys (signed requests), or give --insecure to accept the risk")
    os.environ[ENV_STORE] = folder
    os.environ[ENV_FLUSH_INTERVAL] = str(flush_interval)
    if keys_path:
        os.environ[ENV_KEYS] = os.path.abspath(keys_path)
    else:
        os.environ.pop(ENV_KEYS, None)
    scheme = "https" if tls else "http"
    echo(f"Serving SageMaker Feature Store APIs (sagemaker, sagemaker-featurestore-runtime) for "
         f"{os.environ[ENV_STORE]} on {scheme}://{host}:{port} with {workers} worker{'s' if workers > 1 else ''}; "
         f"records reach the offline Parquet files within {flush_interval:g} s")
    if keyring:
        source = keys_path or "the store's published access policy"
        echo(f"Access: AWS Signature V4 required; {len(keyring)} access key{'s' if len(keyring) > 1 else ''} "
             f"from {source}, each with its roles")
    else:
        echo("Access: OPEN. No --keys file, so any client that reaches this port can read and change every "
             "feature group")
    missing = [what for what, given in (("TLS", tls), ("signed requests", keyring)) if not given]
    if not _is_loopback(host) and missing:
        echo(f"Warning: {host} is reachable from other machines without {' or '.join(missing)} (--insecure)")
    uvicorn.run("store.server.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=access_log, ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
                timeout_graceful_shutdown=GRACEFUL_SECONDS)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
