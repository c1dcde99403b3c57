#!/bin/sh
# One-shot, in temporalio/admin-tools, once the server is healthy: create the namespace the app uses
# (WORKBENCH_TEMPORAL_NAMESPACE) unless it exists. The plain server image, unlike auto-setup, creates none.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}"
attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  [ "$attempt" -ge 30 ] && { echo "Temporal at $TEMPORAL_ADDRESS is not healthy"; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done
if temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "${RETENTION:-7d}" \
    --address "$TEMPORAL_ADDRESS"
  echo "namespace $NAMESPACE created"
fi
