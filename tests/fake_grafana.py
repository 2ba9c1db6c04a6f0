"""A local stand-in for Grafana's HTTP API (Grafana cannot run here): folders, data sources
and dashboards by uid, answering as Grafana 11 does, and recording every call.

It keeps what a real Grafana keeps (ids and versions it assigns; secrets hidden behind
``secureJsonFields``) so that a client that upserts by uid can be checked for idempotence.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    body: Any


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    next_id: int = 1

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class FakeGrafana:
    """``with FakeGrafana(token) as grafana: grafana.url``."""

    def __init__(self, token: str) -> None:
        self.state = GrafanaState(token)
        self._lock = threading.Lock()
        state, lock = self.state, self._lock

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with lock:
                    state.calls.append(Call(self.command, self.path, body))
                    if self.headers.get("Authorization") != f"Bearer {state.token}":
                        self._answer(401, {"message": "invalid API key"})
                        return
                    status, answer = route(state, self.command, self.path, body)
                self._answer(status, answer)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


NOT_FOUND = (404, {"message": "not found"})


def route(state: GrafanaState, method: str, path: str, body: Any) -> tuple[int, Any]:
    if m := re.fullmatch(r"/api/folders/([\w-]+)", path):
        return _folder(state, method, m[1], body)
    if path == "/api/folders" and method == "POST":
        uid = body["uid"]
        if uid in state.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        state.folders[uid] = {
            "id": state.new_id(),
            "uid": uid,
            "title": body["title"],
            "version": 1,
        }
        return 200, state.folders[uid]
    if m := re.fullmatch(r"/api/datasources/uid/([\w-]+)", path):
        return _datasource(state, method, m[1], body)
    if path == "/api/datasources" and method == "POST":
        if body["uid"] in state.datasources or any(
            d["name"] == body["name"] for d in state.datasources.values()
        ):
            return 409, {"message": "data source with the same name already exists"}
        _store_datasource(state, body, 0)
        return 200, {"message": "Datasource added", "datasource": state.datasources[body["uid"]]}
    if m := re.fullmatch(r"/api/dashboards/uid/([\w-]+)", path):
        if method != "GET" or m[1] not in state.dashboards:
            return NOT_FOUND
        return 200, state.dashboards[m[1]]
    if path == "/api/dashboards/db" and method == "POST":
        return _save_dashboard(state, body)
    return NOT_FOUND


def _folder(state: GrafanaState, method: str, uid: str, body: Any) -> tuple[int, Any]:
    folder = state.folders.get(uid)
    if folder is None:
        return NOT_FOUND
    if method == "PUT":
        folder.update(title=body["title"], version=folder["version"] + 1)
    return 200, folder


def _store_datasource(state: GrafanaState, body: dict[str, Any], version: int) -> None:
    secrets = dict(body.get("secureJsonData") or {})
    previous = state.secrets.get(body["uid"], {})
    state.secrets[body["uid"]] = {**previous, **secrets}
    stored = {k: v for k, v in body.items() if k != "secureJsonData"}
    existing = state.datasources.get(body["uid"], {})
    stored.update(
        id=existing.get("id") or state.new_id(),
        orgId=1,
        basicAuth=False,
        readOnly=False,
        version=version + 1,
        secureJsonFields=dict.fromkeys(state.secrets[body["uid"]], True),
    )
    state.datasources[body["uid"]] = stored


def _datasource(state: GrafanaState, method: str, uid: str, body: Any) -> tuple[int, Any]:
    existing = state.datasources.get(uid)
    if existing is None:
        return NOT_FOUND
    if method == "PUT":
        _store_datasource(state, {**body, "uid": uid}, existing["version"])
        return 200, {"message": "Datasource updated", "datasource": state.datasources[uid]}
    return 200, existing


def _save_dashboard(state: GrafanaState, body: dict[str, Any]) -> tuple[int, Any]:
    dashboard = dict(body["dashboard"])
    uid = dashboard["uid"]
    folder_uid = body.get("folderUid", "")
    if folder_uid and folder_uid not in state.folders:
        return 400, {"message": "folder not found"}
    existing = state.dashboards.get(uid)
    if existing is not None and not body.get("overwrite"):
        return 412, {"status": "version-mismatch", "message": "the dashboard has been changed"}
    version = existing["dashboard"]["version"] + 1 if existing else 1
    dashboard.update(
        id=existing["dashboard"]["id"] if existing else state.new_id(), version=version
    )
    state.dashboards[uid] = {
        "dashboard": dashboard,
        "meta": {"folderUid": folder_uid, "version": version, "slug": uid},
    }
    return 200, {"status": "success", "uid": uid, "id": dashboard["id"], "version": version}
