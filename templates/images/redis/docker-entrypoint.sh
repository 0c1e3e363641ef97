#!/bin/sh
# As the official image's entrypoint: `docker-entrypoint.sh --appendonly yes` runs redis-server
# with those options; anything else runs as given. Already the redis user (the image's USER).
# Redis keeps its protected mode: without --requirepass it answers loopback clients only.
set -eu
case "${1:-}" in
    -*|*.conf) set -- redis-server "$@" ;;
esac
exec "$@"
