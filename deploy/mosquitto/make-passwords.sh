#!/usr/bin/env bash
# Create the broker's password file (deploy/mosquitto/passwd) from environment variables.
#
#   deploy/mosquitto/make-passwords.sh [OUTPUT]      (default OUTPUT: deploy/mosquitto/passwd)
#
# One broker account per component; user names match deploy/mosquitto/acl:
#   gateway        MQTT_GATEWAY_PASSWORD
#   edge-w2-main   MQTT_EDGE_W2_PASSWORD
#   edge-w3-main   MQTT_EDGE_W3_PASSWORD
#   ks-w2-lobby-1  MQTT_KIOSK_W2_LOBBY_PASSWORD   (the lobby kiosk of Wenyuan Building 2)
#   operator       MQTT_OPERATOR_PASSWORD   (read-only; duty staff and the broker healthcheck)
# A variable already in the environment wins; otherwise it is read from .env at the top of
# the repository (ENV_FILE=... to read another file), as `docker compose` does. Passwords are
# never put on a command line: a plain-text file is written with mode 0600 and hashed in
# place with `mosquitto_passwd -U` (PBKDF2-SHA512), from the local mosquitto package or,
# when it is not installed, from the same image the stack runs. After changing a password,
# run this again and `docker compose restart mosquitto` plus the service that uses it.
set -euo pipefail

MOSQUITTO_IMAGE="eclipse-mosquitto:2.0.20"   # keep equal to docker-compose.yml
here="$(cd "$(dirname "$0")" && pwd)"
output="${1:-$here/passwd}"
env_file="${ENV_FILE:-$here/../../.env}"
accounts=(
  "gateway:MQTT_GATEWAY_PASSWORD"
  "edge-w2-main:MQTT_EDGE_W2_PASSWORD"
  "edge-w3-main:MQTT_EDGE_W3_PASSWORD"
  "ks-w2-lobby-1:MQTT_KIOSK_W2_LOBBY_PASSWORD"
  "operator:MQTT_OPERATOR_PASSWORD"
)

if [ -f "$env_file" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line#export }"
    [[ "$line" =~ ^(MQTT_[A-Z0-9_]+_PASSWORD)=(.*)$ ]] || continue
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    if [[ "$value" =~ ^\'(.*)\'$ || "$value" =~ ^\"(.*)\"$ ]]; then
      value="${BASH_REMATCH[1]}"
    fi
    if [ -z "${!key:-}" ]; then
      export "$key=$value"
    fi
  done < "$env_file"
fi

missing=()
for account in "${accounts[@]}"; do
  variable="${account#*:}"
  [ -n "${!variable:-}" ] || missing+=("$variable")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "make-passwords.sh: not set (in the environment or $env_file): ${missing[*]}" >&2
  echo "make-passwords.sh: generate each with: openssl rand -hex 24" >&2
  exit 2
fi

directory="$(cd "$(dirname "$output")" && pwd)"
umask 077
plain="$(mktemp "$directory/.passwd.XXXXXX")"
trap 'rm -f "$plain"' EXIT
for account in "${accounts[@]}"; do
  user="${account%%:*}"
  variable="${account#*:}"
  printf '%s:%s\n' "$user" "${!variable}" >> "$plain"
done

if command -v mosquitto_passwd >/dev/null 2>&1; then
  mosquitto_passwd -U "$plain"
elif command -v docker >/dev/null 2>&1; then
  docker run --rm --user "$(id -u):$(id -g)" --volume "$directory:/work" \
    --entrypoint mosquitto_passwd "$MOSQUITTO_IMAGE" -U "/work/$(basename "$plain")"
else
  echo "make-passwords.sh: needs mosquitto_passwd (apt-get install mosquitto) or docker" >&2
  exit 1
fi
if grep -qv '^[^:]*:\$7\$' "$plain"; then
  echo "make-passwords.sh: mosquitto_passwd left a line unhashed; nothing written" >&2
  exit 1
fi
chmod 0600 "$plain"
mv -f "$plain" "$output"
trap - EXIT
echo "make-passwords.sh: wrote $output (${#accounts[@]} accounts: $(for a in "${accounts[@]}"; do printf '%s ' "${a%%:*}"; done| sed 's/ $//'))"
