#!/bin/sh
# Bring the database to the latest migration and content, then become the server.
set -eu
hipfix migrate
exec "$@"
