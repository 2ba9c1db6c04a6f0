#!/usr/bin/env bash
# One entrance of the compose stack: the simulated devices of a building and its edge agent,
# in one container, because the simulator's serial ports are ptys and a pty cannot cross
# containers. Installed in the image as `thermogate-edge-with-sim`.
#
#   EDGE_ID=edge-w2-main SIM_BUILDING=wenyuan-2 thermogate-edge-with-sim
#
# Environment: EDGE_ID and SIM_BUILDING (required), CONFIG_FILE (default
# /etc/thermogate/thermogate.toml), SIM_PORTS_DIR (default /var/lib/thermogate/sim: the
# devices' `port` in the configuration points there), SIM_RATE (entrants per second, default
# 0.2), SIM_FEVER_RATE (share of febrile entrants, default 0.01), SIM_MQTT_USERNAME and
# SIM_MQTT_PASSWORD (the broker account of the building's simulated lobby kiosk, which
# publishes straight to the broker as a real kiosk does; unset: the edge's own account, for a
# building without a kiosk). Names without the THERMOGATE_ prefix on purpose: every
# THERMOGATE_* variable is a configuration override.
#
# The edge starts right after the simulator and opens the ports as they appear (it reopens a
# missing port with backoff, as it would a pulled cable). SIGTERM stops both; when either one
# exits, the other is stopped too and the container ends with the status of the first, so
# the restart policy brings the pair back together.
set -euo pipefail

: "${EDGE_ID:?EDGE_ID must name an [[edges]] entry}"
: "${SIM_BUILDING:?SIM_BUILDING must name a [[buildings]] entry}"
config="${CONFIG_FILE:-/etc/thermogate/thermogate.toml}"

sim_account=()
if [ -n "${SIM_MQTT_USERNAME:-}" ]; then
  sim_account=(
    "THERMOGATE_MQTT__USERNAME=$SIM_MQTT_USERNAME"
    "THERMOGATE_MQTT__PASSWORD=${SIM_MQTT_PASSWORD:?SIM_MQTT_PASSWORD must go with SIM_MQTT_USERNAME}"
  )
fi

env "${sim_account[@]}" thermogate sim --config "$config" --building "$SIM_BUILDING" \
  --ports-dir "${SIM_PORTS_DIR:-/var/lib/thermogate/sim}" \
  --rate "${SIM_RATE:-0.2}" --fever-rate "${SIM_FEVER_RATE:-0.01}" &
sim=$!
thermogate edge --config "$config" --id "$EDGE_ID" &
edge=$!

stopping=0
stop() {
  stopping=1
  kill -TERM "$sim" "$edge" 2>/dev/null || true
}
trap stop TERM INT

status=0
wait -n "$sim" "$edge" || status=$?
if [ "$stopping" = 0 ]; then  # one of them ended by itself: take the other down too
  echo "edge-with-sim: $( kill -0 "$edge" 2>/dev/null && echo sim || echo edge ) exited" \
    "with status $status; stopping the other" >&2
  stop
  wait "$sim" "$edge" || true
  exit "$status"
fi
wait "$sim" || true  # stopped by a signal: the edge's own exit status is the answer
status=0
wait "$edge" || status=$?
exit "$status"
