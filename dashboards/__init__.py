"""Grafana dashboards as code: a typed model, the dashboards, their data sources, the JSON
files Grafana provisions from, and ``thermogate dashboards push`` (grafana-client)."""
