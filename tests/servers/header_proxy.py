"""A small authenticating reverse proxy for the studio's proxy sign-in tests: every request and
the websocket reach the studio with ``X-Forwarded-User`` set, as oauth2-proxy or an nginx
``auth_request`` setup would send it (a browser cannot be made to add a header to Streamlit's
websocket, so the tests need a real proxy in between)."""
from __future__ import annotations

import asyncio
import http.client
import threading
import time
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "content-encoding"}


def _app(upstream: str, user: str):
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect
    from websockets.asyncio.client import connect

    target = urlsplit(upstream)

    def forward(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers={**headers, "X-Forwarded-User": user})
            reply = conn.getresponse()
            return reply.status, reply.getheaders(), reply.read()
        finally:
            conn.close()

    async def http_route(request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP | {"accept-encoding"}}
        status, reply_headers, body = await run_in_threadpool(forward, request.method, path, headers,
                                                             await request.body())
        kept = {k: v for k, v in reply_headers if k.lower() not in HOP}
        return Response(body, status_code=status, headers=kept)

    async def ws_route(websocket: WebSocket) -> None:
        wanted = websocket.scope.get("subprotocols") or []
        extra = {"X-Forwarded-User": user, "Origin": f"http://{target.netloc}"}
        if "cookie" in websocket.headers:
            extra["Cookie"] = websocket.headers["cookie"]
        async with connect(f"ws://{target.netloc}{websocket.url.path}", subprotocols=wanted or None,
                           additional_headers=extra, max_size=None) as studio:
            await websocket.accept(subprotocol=studio.subprotocol)

            async def up() -> None:
                try:
                    while True:
                        message = await websocket.receive()
                        if message["type"] == "websocket.disconnect":
                            break
                        await studio.send(message.get("bytes") or message.get("text"))
                except WebSocketDisconnect:
                    pass
                await studio.close()

            async def down() -> None:
                async for message in studio:
                    if isinstance(message, bytes):
                        await websocket.send_bytes(message)
                    else:
                        await websocket.send_text(message)

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()

    return Starlette(routes=[WebSocketRoute("/{path:path}", ws_route),
                             Route("/{path:path}", http_route, methods=["GET", "POST", "PUT", "DELETE", "HEAD"])])


@contextmanager
def header_proxy(upstream: str, user: str) -> Iterator[str]:
    """Serve the proxy on a free loopback port until the block ends; yields its URL."""
    import uvicorn

    from store.server.process import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app(upstream.rstrip("/"), user), host="127.0.0.1", port=port,
                                           log_level="warning", ws="websockets"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the header proxy did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
