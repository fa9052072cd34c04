#!/bin/sh
# One-shot set-up of the compose demo (deploy/compose.yaml): a dataspace CA, and for each connector a key and a
# certificate issued by that CA (so the two trust each other), a database and a management API key (printed
# once: docker compose logs pki). Idempotent: what exists is kept.
# Also runs outside a container (the tests do): HEDGEROW names the CLI, DATASPACE_DIR the directory.
set -eu
HEDGEROW="${HEDGEROW:-hedgerow}"
BASE="${DATASPACE_DIR:-/dataspace}"

if [ ! -f "$BASE/ca/ca.key.pem" ]; then
  $HEDGEROW ca init --dir "$BASE/ca" --name "hedgerow demo dataspace CA" --organization "hedgerow demo" --country FR
fi
init_node() { # name, organization
  if [ -f "$BASE/$1/certs/connector.key.pem" ]; then
    echo "$1: already initialised"
    return
  fi
  # The service name is the host name inside the compose network; localhost for clients on the host.
  $HEDGEROW init --ca "$BASE/ca" --participant-id "did:web:$1%3A8443" --hostname "$1" --hostname localhost \
    --organization "$2" --country FR --data-dir "$BASE/$1/data" --certs-dir "$BASE/$1/certs"
}
init_node coop "Cooperative du Bocage"
init_node agronomy "Agronomy Advisory Service"
# The one-shot service runs as root to write into fresh volumes; the connectors run as the image's user.
if [ -n "${CHOWN_TO:-}" ]; then chown -R "$CHOWN_TO" "$BASE/coop" "$BASE/agronomy"; fi
