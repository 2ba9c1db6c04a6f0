#!/usr/bin/env bash
# Development TLS certificates for the broker's TLS listener (8883): a private certificate
# authority and a server certificate signed by it, made with openssl.
#
#   deploy/make-dev-certs.sh [OUTPUT_DIR]        (default OUTPUT_DIR: deploy/mosquitto/certs)
#
# Writes into OUTPUT_DIR:
#   ca.crt        the CA certificate: give it to every client that connects on 8883
#   ca.key        the CA's private key (0600): keep it off the broker in production
#   server.crt    the broker's certificate, valid for the names below, signed by the CA
#   server.key    the broker's private key (0600)
# The CA is kept when OUTPUT_DIR already holds one, so re-running (for example with a new
# server name) issues a new server certificate that clients trusting ca.crt still accept.
#
# The certificate names the broker by "mosquitto" (its name inside the compose network),
# "localhost" and 127.0.0.1, plus every name or address in CERT_HOSTS (space separated), e.g.
#   CERT_HOSTS="thermogate.campus.lan 10.20.0.5" deploy/make-dev-certs.sh
# These are development certificates: in production use a certificate from the university's
# own CA and put it at the same paths (docs/operations.md, "TLS").
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/mosquitto/certs}"
ca_days="${CA_DAYS:-3650}"
server_days="${SERVER_DAYS:-825}"
command -v openssl >/dev/null 2>&1 || {
  echo "make-dev-certs.sh: needs openssl (apt-get install openssl)" >&2
  exit 1
}

mkdir -p "$out"
out="$(cd "$out" && pwd)"
umask 077
work="$(mktemp -d "$out/.certs.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ -f "$out/ca.key" ] && [ -f "$out/ca.crt" ]; then
  echo "make-dev-certs.sh: keeping the CA in $out"
else
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/ca.key" -out "$work/ca.crt" -days "$ca_days" -sha256 \
    -subj "/O=thermogate development/CN=thermogate development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  mv -f "$work/ca.key" "$out/ca.key"
  mv -f "$work/ca.crt" "$out/ca.crt"
fi

names=(DNS:mosquitto DNS:localhost IP:127.0.0.1)
for host in ${CERT_HOSTS:-}; do
  if [[ "$host" =~ ^[0-9.]+$ || "$host" == *:* ]]; then
    names+=("IP:$host")
  else
    names+=("DNS:$host")
  fi
done
san="$(IFS=,; echo "${names[*]}")"

cat > "$work/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=$san
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/server.key" -out "$work/server.csr" \
  -subj "/O=thermogate development/CN=mosquitto" 2>/dev/null
openssl x509 -req -in "$work/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
  -CAcreateserial -CAserial "$work/ca.srl" -out "$work/server.crt" -days "$server_days" \
  -sha256 -extfile "$work/server.ext" 2>/dev/null
openssl verify -CAfile "$out/ca.crt" "$work/server.crt" >/dev/null

chmod 0600 "$out/ca.key" "$work/server.key"
chmod 0644 "$out/ca.crt" "$work/server.crt"
mv -f "$work/server.key" "$out/server.key"
mv -f "$work/server.crt" "$out/server.crt"
echo "make-dev-certs.sh: wrote $out (ca.crt, ca.key, server.crt, server.key; names: $san)"
