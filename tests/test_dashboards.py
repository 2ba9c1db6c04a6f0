"""The dashboards as code: the committed JSON is what the code generates, it is a valid
Grafana dashboard model, every query names only what is stored, and every panel uses a data
source that the provisioning files and ``dashboards push`` create alike."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from grafana_queries import targets

from thermogate.config import DashboardsSettings
from thermogate.dashboards import build
from thermogate.dashboards.catalog import dashboards
from thermogate.dashboards.datasources import INFLUX, POSTGRES, data_sources
from thermogate.dashboards.influxql import EDGES, GATEWAYS, READINGS
from thermogate.dashboards.model import Dashboard, InfluxQuery, Panel, SqlQuery
from thermogate.gateway.own_metrics import FIELDS as GATEWAY_FIELDS
from thermogate.ingest.line_protocol import FLOAT_FIELDS, STRING_FIELDS
from thermogate.ingest.points import TAG_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).with_name("grafana_dashboard.schema.json")
PROVISIONING = ROOT / "dashboards" / "provisioning" / "datasources"
EDGE_FIELDS = {"buffer_pending", "buffer_capacity", "buffer_fill", "buffer_dropped", "clock_jumps"}
STORED: dict[str, tuple[set[str], set[str]]] = {
    READINGS: (set(TAG_COLUMNS), {"seq", *FLOAT_FIELDS, *STRING_FIELDS}),
    EDGES: ({"edge_id", "building"}, EDGE_FIELDS),
    GATEWAYS: ({"gateway_id"}, set(GATEWAY_FIELDS)),
}
"""measurement -> (tags, fields), as the gateway writes them."""


def documents() -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted(build.JSON_DIR.glob("*.json"))
    ]


def test_the_committed_json_is_what_the_code_generates() -> None:
    assert build.stale_files() == [], "run `thermogate dashboards build` and commit dashboards/json"
    assert {d["uid"] for d in documents()} == {b.uid for b in dashboards()}


def test_every_dashboard_is_a_valid_grafana_dashboard_model() -> None:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text(encoding="utf-8")))
    for document in documents():
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, f"{document['uid']}: {errors}"


def test_the_schema_refuses_what_grafana_would_not_import() -> None:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text(encoding="utf-8")))
    good = documents()[0]
    assert validator.is_valid(good)
    panel = good["panels"][0]
    broken = [
        {**good, "panels": [{**panel, "gridPos": {**panel["gridPos"], "w": 25}}]},
        {**good, "panels": [{**panel, "type": "graph-old"}]},
        {**good, "panels": [{**panel, "targets": [{"refId": "A"}]}]},
        {k: v for k, v in good.items() if k != "uid"},
        {**good, "id": 7},  # an exported id would clash on import into another Grafana
    ]
    assert not any(validator.is_valid(document) for document in broken)


def test_uids_are_stable_and_panels_tile_the_grid() -> None:
    assert [b.uid for b in dashboards()][:2] == [
        "thermogate-duty-desk",
        "thermogate-devices-pipeline",
    ]
    assert dashboards()[0].file_name == "duty-desk.json"  # Grafana's home dashboard in the stack
    for document in documents():
        ids = [p["id"] for p in document["panels"]]
        assert len(ids) == len(set(ids)), document["uid"]
        cells: set[tuple[int, int]] = set()
        for panel in document["panels"]:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24, panel["title"]
            area = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & area, f"{panel['title']} overlaps another panel"
            cells |= area
        titles = [p["title"] for p in document["panels"]]
        assert len(titles) == len(set(titles)), document["uid"]


def test_every_board_filters_by_building_entrance_and_device() -> None:
    for document in documents():
        variables = document["templating"]["list"]
        assert [v["name"] for v in variables] == ["building", "entrance", "device"]
        assert all(v["multi"] and v["includeAll"] for v in variables)
        assert all(v["datasource"] == INFLUX.to_json() for v in variables)


def _identifiers(query: str) -> set[str]:
    """Double-quoted identifiers of an InfluxQL query, aliases (after AS) left out."""
    query = re.sub(r'\bAS\s+"?\w+"?', "", query, flags=re.IGNORECASE)
    return set(re.findall(r'"([^"]+)"', query))


def test_influxql_names_only_stored_measurements_tags_and_fields() -> None:
    queries = {t.where: t.target["query"] for t in targets() if not t.is_sql}
    queries |= {
        f"{d['uid']}/${v['name']}": v["query"] for d in documents() for v in d["templating"]["list"]
    }
    assert len(queries) >= 20
    for where, query in queries.items():
        (measurement,) = re.findall(r'FROM "(\w+)"', query)
        assert measurement in STORED, f"{where}: unknown measurement {measurement}"
        tags, fields = STORED[measurement]
        unknown = _identifiers(query) - {measurement} - tags - fields
        assert not unknown, f"{where}: {unknown} is neither a tag nor a field of {measurement}"
        # Filters and groups go through tags (indexed); "decision" is the one field compared.
        for name in re.findall(r'"(\w+)" =~', query):
            assert name in tags, f"{where}: {name} filtered but not a tag"
        for group in re.findall(r"GROUP BY (.*?)(?: fill\(|$)", query):
            for name in re.findall(r'"(\w+)"', group):
                assert name in tags, f"{where}: grouped by {name}, not a tag"


def test_every_panel_query_is_bounded_by_the_time_range() -> None:
    for target in targets():
        if target.is_sql:
            continue
        assert "$timeFilter" in target.target["query"], target.where


def test_every_panel_uses_one_provisioned_data_source() -> None:
    provisioned = {}
    for path in sorted(PROVISIONING.glob("*.yaml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]:
            provisioned[source["uid"]] = source
    assert set(provisioned) == {INFLUX.uid, POSTGRES.uid}
    for target in targets():
        assert target.target["datasource"] == target.panel["datasource"], target.where
        assert target.panel["datasource"]["uid"] in provisioned, target.where
        expected = INFLUX if not target.is_sql else POSTGRES
        assert target.panel["datasource"] == expected.to_json(), target.where

    # The files and `dashboards push` describe the same data sources (defaults = the stack).
    settings = DashboardsSettings(influx_token="t", postgres_password="p")  # type: ignore[arg-type]
    for spec in data_sources(settings):
        source = provisioned[spec.ref.uid]
        visible = spec.visible()
        for key in ("uid", "name", "type", "url", "isDefault", "jsonData"):
            assert source.get(key, visible[key]) == visible[key], f"{spec.ref.uid}: {key}"
        assert set(source.get("secureJsonData", {})) == set(spec.secrets), spec.ref.uid
        assert source.get("user", "") == spec.user


def test_the_model_refuses_panels_grafana_would_misplace() -> None:
    query = InfluxQuery(INFLUX, 'SELECT count("seq") FROM "screening" WHERE $timeFilter')
    sql = SqlQuery(POSTGRES, "SELECT 1")
    with pytest.raises(ValueError, match="width 25"):
        Panel("stat", "t", "d", (query,), width=25)
    with pytest.raises(ValueError, match="one data source"):
        Panel("table", "t", "d", (query, SqlQuery(POSTGRES, "SELECT 1", ref_id="B")))
    with pytest.raises(ValueError, match="duplicate refIds"):
        Panel("table", "t", "d", (sql, SqlQuery(POSTGRES, "SELECT 2")))
    with pytest.raises(ValueError, match="needs a query"):
        Panel("table", "t", "d", ())


def test_layout_fills_rows_left_to_right() -> None:
    query = InfluxQuery(INFLUX, 'SELECT count("seq") FROM "screening" WHERE $timeFilter')
    panels = tuple(
        Panel("stat", f"p{i}", "d", (query,), width=w, height=4)
        for i, w in enumerate((12, 12, 16, 8, 10))
    )
    board = Dashboard("u", "t", "d", "u.json", (), panels).to_json()
    assert [(p["id"], p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]] == [
        (1, 0, 0),
        (2, 12, 0),
        (3, 0, 4),
        (4, 16, 4),
        (5, 0, 8),
    ]
