#!/usr/bin/env bash
# InfluxDB 2 initialisation of the compose stack, run once by the influxdb image after its
# first-start setup (org, bucket, retention, admin token from DOCKER_INFLUXDB_INIT_*), from
# /docker-entrypoint-initdb.d, with the `influx` CLI already logged in as the admin.
#
# Maps the InfluxQL database "screening" (retention policy "autogen") to the bucket, so the
# InfluxQL dashboards (dashboards/provisioning/datasources/influxdb.yaml, dbName "screening")
# read the bucket exactly as they read an InfluxDB 1.x database. InfluxDB 2.7 also answers
# through a virtual mapping of every bucket; the explicit one is listed by
# `influx v1 dbrp list` and survives a rename of the bucket.
set -euo pipefail

: "${DOCKER_INFLUXDB_INIT_BUCKET_ID:?run by the influxdb image after setup}"
: "${DOCKER_INFLUXDB_INIT_BUCKET:?}"
: "${DOCKER_INFLUXDB_INIT_ORG:?}"

influx v1 dbrp create \
  --org "$DOCKER_INFLUXDB_INIT_ORG" \
  --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" \
  --db "$DOCKER_INFLUXDB_INIT_BUCKET" \
  --rp autogen \
  --default
influx v1 dbrp list --org "$DOCKER_INFLUXDB_INIT_ORG"
