"""``thermogate dashboards push``: upsert the folder, the data sources and the dashboards into
a running Grafana through its HTTP API (grafana-client), idempotently.

Everything is looked up by its stable uid and changed only when it differs, so a second run
changes nothing. Grafana never returns secrets, so a data source counts as unchanged when its
visible settings match and every secret it should have is set; ``force`` rewrites them all
(for a rotated token or password).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from thermogate.config import DashboardsSettings
from thermogate.dashboards.catalog import FOLDER_UID
from thermogate.dashboards.datasources import DataSourceSpec, data_sources
from thermogate.dashboards.model import Dashboard

log = logging.getLogger(__name__)

NOT_FOUND: Final = 404
_ASSIGNED_BY_GRAFANA: Final = ("id", "version")


@dataclass(slots=True)
class PushReport:
    """What a push did, by kind and uid."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the operator."""
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )


def connect(url: str, token: str, timeout_s: float = 10.0) -> GrafanaApi:
    """A client for the Grafana at ``url`` with a service account token."""
    api: GrafanaApi = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    return api


def _get(call: Any, *args: Any) -> Any | None:
    """The answer of a lookup, or None when Grafana has no such thing."""
    try:
        return call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == NOT_FOUND:
            return None
        raise


def push(
    api: GrafanaApi,
    settings: DashboardsSettings,
    boards: Sequence[Dashboard],
    *,
    force: bool = False,
) -> PushReport:
    """Upsert the folder, every data source and every dashboard."""
    report = PushReport()
    grafana: Any = api  # grafana-client's methods carry no annotations
    _folder(grafana, settings.folder_title, report)
    for spec in data_sources(settings):
        _data_source(grafana, spec, report, force=force)
    for board in boards:
        _dashboard(grafana, board, report)
    log.info("dashboards pushed", extra={"summary": report.summary()})
    return report


def _folder(api: Any, title: str, report: PushReport) -> None:
    name = f"folder/{FOLDER_UID}"
    existing = _get(api.folder.get_folder, FOLDER_UID)
    if existing is None:
        api.folder.create_folder(title, uid=FOLDER_UID)
        report.created.append(name)
    elif existing.get("title") != title:
        api.folder.update_folder(FOLDER_UID, title=title, overwrite=True)
        report.updated.append(name)
    else:
        report.unchanged.append(name)


def _data_source(api: Any, spec: DataSourceSpec, report: PushReport, *, force: bool) -> None:
    name = f"datasource/{spec.ref.uid}"
    existing = _get(api.datasource.get_datasource_by_uid, spec.ref.uid)
    if existing is None:
        api.datasource.create_datasource(spec.body())
        report.created.append(name)
        return
    wanted = spec.visible()
    same = all(existing.get(key) == value for key, value in wanted.items())
    secrets_set = set(spec.secrets) <= {
        key for key, present in (existing.get("secureJsonFields") or {}).items() if present
    }
    if same and secrets_set and not force:
        report.unchanged.append(name)
        return
    api.datasource.update_datasource_by_uid(spec.ref.uid, spec.body())
    report.updated.append(name)


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _ASSIGNED_BY_GRAFANA}


def _dashboard(api: Any, board: Dashboard, report: PushReport) -> None:
    name = f"dashboard/{board.uid}"
    document = board.to_json()
    existing = _get(api.dashboard.get_dashboard, board.uid)
    if existing is not None:
        in_folder = existing.get("meta", {}).get("folderUid") == FOLDER_UID
        if in_folder and _comparable(existing.get("dashboard", {})) == _comparable(document):
            report.unchanged.append(name)
            return
    api.dashboard.update_dashboard(
        {
            "dashboard": document,
            "folderUid": FOLDER_UID,
            "overwrite": True,
            "message": "thermogate dashboards push",
        }
    )
    (report.created if existing is None else report.updated).append(name)
