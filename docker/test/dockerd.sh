#!/usr/bin/env bash
# A private Docker daemon for the compose test: `dockerd.sh start` / `dockerd.sh stop`.
#
# It touches nothing of the host's network (no docker0 bridge, no iptables rule, no IP
# forwarding): containers run with `network_mode: host` (see docker/compose.test.yml). Its data
# root is a cache folder (images survive between runs); its state (socket, pid file, containerd)
# lives under a run folder. `stop` ends the daemon by its recorded pid, waits for it, and checks
# that no mount of it is left. Prints `export DOCKER_HOST=...` for the caller to eval.
set -euo pipefail

DOCKER_CACHE=${CELERIAC_DOCKER_CACHE:-/var/cache/celeriac-ci/docker}
RUN_DIR=${CELERIAC_DOCKER_RUN:-/run/celeriac-ci-docker}
DATA_ROOT=$DOCKER_CACHE/data
PIDFILE=$RUN_DIR/dockerd.pid
SOCKET=$RUN_DIR/docker.sock
LOG=$DOCKER_CACHE/dockerd.log
DOCKER=/usr/bin/docker # Debian's client: another one earlier in PATH may need buildx

die() { printf 'dockerd.sh: %s\n' "$*" >&2; exit 1; }

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  mkdir -p "$DATA_ROOT" "$RUN_DIR"
  if running && DOCKER_HOST=unix://$SOCKET "$DOCKER" info >/dev/null 2>&1; then
    echo "export DOCKER_HOST=unix://$SOCKET"
    return
  fi
  rm -f "$PIDFILE" "$SOCKET"
  # setsid: the daemon outlives the shell that starts it, and no terminal signal reaches it;
  # fd 9 (run.sh's lock) is not handed down, so the lock is free when run.sh exits.
  setsid dockerd \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" --pidfile "$PIDFILE" \
    -H "unix://$SOCKET" --storage-driver overlay2 \
    >>"$LOG" 2>&1 </dev/null 9>&- &
  local i
  for ((i = 0; i < 60; i++)); do
    if DOCKER_HOST=unix://$SOCKET "$DOCKER" info >/dev/null 2>&1; then
      echo "export DOCKER_HOST=unix://$SOCKET"
      return
    fi
    sleep 1
  done
  tail -20 "$LOG" >&2
  die "dockerd did not answer on $SOCKET within 60 s (log: $LOG)"
}

stop() {
  if ! running; then
    rm -f "$PIDFILE"
    return
  fi
  local pid
  pid=$(cat "$PIDFILE")
  # Containers first (by this daemon's own list), so none is left to the daemon's shutdown timeout.
  local ids
  ids=$(DOCKER_HOST=unix://$SOCKET "$DOCKER" ps -q 2>/dev/null || true)
  if [ -n "$ids" ]; then DOCKER_HOST=unix://$SOCKET "$DOCKER" kill $ids >/dev/null 2>&1 || true; fi
  kill -TERM "$pid"
  local i
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "dockerd.sh: dockerd $pid did not stop in 30 s; SIGKILL" >&2
    kill -KILL "$pid"
  fi
  rm -f "$PIDFILE"
  # Anything of it still mounted (an overlay, a netns, the exec root) would outlive the test.
  local left
  left=$(grep -E " ($DATA_ROOT|$RUN_DIR)" /proc/mounts | awk '{print $2}' || true)
  if [ -n "$left" ]; then
    echo "dockerd.sh: unmounting what the daemon left: $left" >&2
    # Deepest first.
    echo "$left" | sort -r | xargs -r -n1 umount -l
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: dockerd.sh start|stop" ;;
esac
