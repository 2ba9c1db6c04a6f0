"""``thermogate dashboards push`` against a local stand-in for Grafana's API: the first run
creates the folder, both data sources and every dashboard; a second run changes nothing; a
dashboard edited in Grafana, a missing secret or ``--force`` update exactly what they must."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fake_grafana import FakeGrafana

from thermogate.cli import main
from thermogate.dashboards.build import expected_files
from thermogate.dashboards.catalog import FOLDER_UID, dashboards

TOKEN = "glsa_test_service_account_token"
INFLUX_TOKEN = "influx-read-token"
PG_PASSWORD = "grafana-reader-password"


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGrafana]:
    for name, value in {
        "THERMOGATE_DASHBOARDS__INFLUX_TOKEN": INFLUX_TOKEN,
        "THERMOGATE_DASHBOARDS__POSTGRES_PASSWORD": PG_PASSWORD,
        "THERMOGATE_DASHBOARDS__INFLUX_URL": "http://influxdb.campus.test:8086",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("THERMOGATE_CONFIG", raising=False)
    with FakeGrafana(TOKEN) as server:
        yield server


def push(grafana: FakeGrafana, *extra: str) -> int:
    return main(["dashboards", "push", "--url", grafana.url, "--token", TOKEN, *extra])


def test_first_push_creates_everything_in_the_folder(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana) == 0
    boards = dashboards()
    writes = [(c.method, c.path) for c in grafana.state.writes()]
    assert writes == [
        ("POST", "/api/folders"),
        ("POST", "/api/datasources"),
        ("POST", "/api/datasources"),
        *[("POST", "/api/dashboards/db")] * len(boards),
    ]
    state = grafana.state
    assert state.folders[FOLDER_UID]["title"] == "thermogate"
    influx = state.datasources["thermogate-influxdb"]
    assert influx["type"] == "influxdb" and influx["jsonData"]["version"] == "InfluxQL"
    assert influx["url"] == "http://influxdb.campus.test:8086"
    assert influx["jsonData"]["httpHeaderName1"] == "Authorization"
    assert state.secrets["thermogate-influxdb"] == {"httpHeaderValue1": f"Token {INFLUX_TOKEN}"}
    records = state.datasources["thermogate-records"]
    assert records["type"] == "grafana-postgresql-datasource"
    assert records["jsonData"]["database"] == "records" and records["user"] == "grafana"
    assert state.secrets["thermogate-records"] == {"password": PG_PASSWORD}
    # The dashboards are exactly the committed files, in the folder.
    files = expected_files()
    for board in boards:
        stored = state.dashboards[board.uid]
        assert stored["meta"]["folderUid"] == FOLDER_UID
        document = {k: v for k, v in stored["dashboard"].items() if k != "id"}
        assert document == json.loads(files[board.file_name])
    out = capsys.readouterr().out
    assert f"{2 + len(boards) + 1} created, 0 updated, 0 unchanged" in out
    assert TOKEN not in out and INFLUX_TOKEN not in out and PG_PASSWORD not in out


def test_second_push_changes_nothing(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana) == 0
    versions = {uid: d["dashboard"]["version"] for uid, d in grafana.state.dashboards.items()}
    before = len(grafana.state.writes())
    capsys.readouterr()

    assert push(grafana) == 0
    assert grafana.state.writes()[before:] == []  # lookups only
    assert {uid: d["dashboard"]["version"] for uid, d in grafana.state.dashboards.items()} == (
        versions
    )
    assert f"0 created, 0 updated, {3 + len(dashboards())} unchanged" in capsys.readouterr().out


def test_push_repairs_only_what_drifted(grafana: FakeGrafana) -> None:
    assert push(grafana) == 0
    state = grafana.state
    # Someone edited the duty desk in Grafana, renamed the folder, and a secret went missing.
    state.dashboards["thermogate-duty-desk"]["dashboard"]["title"] = "edited by hand"
    state.folders[FOLDER_UID]["title"] = "renamed"
    state.secrets["thermogate-records"] = {}
    state.datasources["thermogate-records"]["secureJsonFields"] = {}
    before = len(state.writes())

    assert push(grafana) == 0
    writes = [(c.method, c.path) for c in state.writes()[before:]]
    assert writes == [
        ("PUT", f"/api/folders/{FOLDER_UID}"),
        ("PUT", "/api/datasources/uid/thermogate-records"),
        ("POST", "/api/dashboards/db"),
    ]
    assert state.dashboards["thermogate-duty-desk"]["dashboard"]["title"] == "thermogate duty desk"
    assert state.folders[FOLDER_UID]["title"] == "thermogate"
    assert state.secrets["thermogate-records"] == {"password": PG_PASSWORD}


def test_force_rewrites_the_data_sources_for_rotated_secrets(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert push(grafana) == 0
    monkeypatch.setenv("THERMOGATE_DASHBOARDS__INFLUX_TOKEN", "rotated-token")
    before = len(grafana.state.writes())
    assert push(grafana) == 0
    assert grafana.state.writes()[before:] == []  # a secret cannot be compared
    assert push(grafana, "--force") == 0
    paths = [c.path for c in grafana.state.writes()[before:]]
    assert paths == [
        "/api/datasources/uid/thermogate-influxdb",
        "/api/datasources/uid/thermogate-records",
    ]
    assert grafana.state.secrets["thermogate-influxdb"]["httpHeaderValue1"] == "Token rotated-token"


def test_a_refused_token_fails_with_a_clear_message(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["dashboards", "push", "--url", grafana.url, "--token", "wrong"])
    assert code == 1
    assert "refused the push" in capsys.readouterr().err
    assert grafana.state.writes() == []


def test_push_needs_a_token(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert main(["dashboards", "push", "--url", grafana.url]) == 2
    assert "--token" in capsys.readouterr().err
    assert grafana.state.calls == []


def test_build_writes_the_files_and_check_finds_stale_ones(tmp_path, capsys) -> None:
    out = tmp_path / "json"
    assert main(["dashboards", "build", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.json")) == sorted(expected_files())
    assert main(["dashboards", "build", "--out", str(out), "--check"]) == 0
    (out / "duty-desk.json").write_text("{}", encoding="utf-8")
    (out / "removed-board.json").write_text("{}", encoding="utf-8")
    capsys.readouterr()
    assert main(["dashboards", "build", "--out", str(out), "--check"]) == 1
    err = capsys.readouterr().err
    assert "duty-desk.json" in err and "removed-board.json" in err
