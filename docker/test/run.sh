#!/usr/bin/env bash
# `npm run test:compose`: the docker-compose deployment brought up for real and checked
# (spec/compose/stack.compose.ts), on a machine with no image registry, as root:
#
#   1. installs docker.io, docker-compose and debootstrap when missing (apt);
#   2. starts a private dockerd that leaves the host network alone (docker/test/dockerd.sh);
#   3. builds the base-image stand-ins once (docker/test/images.sh; kept in the daemon's data
#      root under CELERIAC_DOCKER_CACHE, default /var/cache/celeriac-ci/docker) and the app image
#      with the shipped docker/Dockerfile (BuildKit's layer cache makes a warm build quick);
#   4. runs the spec against docker/docker-compose.yml + docker/compose.test.yml;
#   5. takes the stack down with its volumes and stops the daemon, whatever happened.
# Prints one timing line per phase.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# Debian's client and docker-compose 1.29's builds through it (BuildKit without buildx).
export PATH=/usr/bin:/usr/sbin:$PATH
export COMPOSE_DOCKER_CLI_BUILD=1 DOCKER_BUILDKIT=1
export CELERIAC_DOCKER_CACHE=${CELERIAC_DOCKER_CACHE:-/var/cache/celeriac-ci/docker}
# The stack's ports (docker/compose.test.yml), for the spec's producer and checks.
export CELERIAC_SPEC_AMQP_URL=amqp://guest:guest@127.0.0.1:5679
export CELERIAC_SPEC_REDIS_URL=redis://127.0.0.1:6389/0
COMPOSE=(docker-compose -p celeriac-ci -f docker/docker-compose.yml -f docker/compose.test.yml)

die() { printf 'test:compose: %s\n' "$*" >&2; exit 1; }
clock() { date +%s.%N; }
started=$(clock)
phase_started=$started
timing() {
  local now; now=$(clock)
  awk -v a="$phase_started" -v b="$now" -v n="$1" 'BEGIN { printf "compose timing: %-34s %5.1f s\n", n, b - a }'
  phase_started=$now
}

[ "$(id -u)" = 0 ] || die "needs root (apt, dockerd)"

# One run at a time on a machine: they would share the daemon, its cache and the stack's ports.
mkdir -p "$CELERIAC_DOCKER_CACHE"
exec 9>"$CELERIAC_DOCKER_CACHE/run.lock"
if ! flock -n 9; then
  echo "another test:compose is running on this machine; waiting for it"
  flock 9
fi

# --- 1. packages --------------------------------------------------------------------------
missing=()
for pkg in docker.io docker-compose debootstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 \
    || { cat "$log" >&2; die "apt-get install failed"; }
  rm -f "$log"
fi
timing "packages"

# --- 2. daemon, cleaned up on every exit ----------------------------------------------------
share=$(mktemp -d /tmp/celeriac-compose.XXXXXX)
chmod 0777 "$share" # the containers run as uid 1000
export CELERIAC_COMPOSE_SHARE=$share
cleanup() {
  local status=$?
  phase_started=$(clock)
  if [ -n "${DOCKER_HOST:-}" ]; then
    if ((status != 0)); then
      "${COMPOSE[@]}" ps >&2 || true
      "${COMPOSE[@]}" logs --no-color --tail 40 >&2 || true
    fi
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  docker/test/dockerd.sh stop || true
  rm -rf "$share"
  timing "down -v, daemon stopped"
  awk -v a="$started" -v b="$(clock)" 'BEGIN { printf "compose timing: %-34s %5.1f s\n", "total", b - a }'
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
eval "$(docker/test/dockerd.sh start)"
timing "dockerd"

# --- 3. images ------------------------------------------------------------------------------
docker/test/images.sh
timing "base images"
# dist/spec: the spec, and the task module the containers mount. CELERIAC_BUILT=1: the caller
# (.ci/run) built this checkout already.
if [ "${CELERIAC_BUILT:-}" != 1 ]; then
  npm run build --silent
  timing "npm run build (host)"
fi
build_log=$CELERIAC_DOCKER_CACHE/app-build.log
{ "${COMPOSE[@]}" build worker && "${COMPOSE[@]}" build beat; } >"$build_log" 2>&1 \
  || { tail -40 "$build_log" >&2; die "app image build failed (log: $build_log)"; } # beat: the same image, every layer cached
# What earlier builds left: images the new one replaced, build cache beyond 2 GB.
docker image prune -f >/dev/null
docker builder prune -f --keep-storage 2gb >/dev/null
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' celeriac-ci/celeriac | sed 's/^/images: /'
timing "app image (docker/Dockerfile)"

# --- 4. the spec ----------------------------------------------------------------------------
# Whatever a killed earlier run left in this daemon goes first; then the stack's ports
# (docker/compose.test.yml) must be free, or the stack would meet someone else's server.
"${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1
for port in 5679 15679 25679 4379 6389; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use on this machine; the test stack needs it (docker/compose.test.yml)"
  fi
done
node --test --test-concurrency=1 --test-timeout=600000 dist/spec/compose/stack.compose.js
