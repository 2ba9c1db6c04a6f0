"""Storage of screening readings in time-series databases (InfluxDB v1/v2 API, VictoriaMetrics,
and an embedded SQLite store for the demo)."""
