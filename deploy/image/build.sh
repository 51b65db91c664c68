#!/usr/bin/env bash
# Builds the oais container image (deploy/image/Containerfile) with podman or
# docker, whichever can build here, and prints its name and size.
#
#   deploy/image/build.sh [IMAGE]     default IMAGE: localhost/oais:$(git describe)
#
# Static binaries (CGO_ENABLED=0: modernc SQLite needs no cgo), -trimpath,
# stripped, the version stamped from `git describe`. The dashboard is embedded
# from web/dist as it is: `make image` builds it first. The host's CA bundle is
# copied into a throw-away build context, never into the repository.
# CONTAINER_ENGINE=podman|docker picks the engine; GO picks the go command.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  for e in podman docker; do
    if command -v "$e" >/dev/null && "$e" info >/dev/null 2>&1; then engine="$e"; break; fi
  done
fi
if [ -z "$engine" ]; then
  echo "no container engine: neither 'podman info' nor 'docker info' works (as root, 'make podman' installs podman and runc)" >&2
  exit 1
fi

version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
created="$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)"
image="${1:-localhost/oais:${version}}"
ca=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca" ] || { echo "$ca is missing: install Debian's ca-certificates (apt-get install -y ca-certificates)" >&2; exit 1; }

ctx="$(mktemp -d "${TMPDIR:-/tmp}/oais-image-XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/data-root/data/spool"
chmod 1777 "$ctx/rootfs/tmp"
chmod 0750 "$ctx/data-root/data" "$ctx/data-root/data/spool"

CGO_ENABLED=0 "${GO:-go}" build -trimpath \
  -ldflags "-s -w -X github.com/oais/oais/internal/version.Version=${version}" \
  -o "$ctx/rootfs/usr/local/bin/" ./cmd/controlplane ./cmd/gateway

install -m 0644 "$ca" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
chmod 0644 "$ctx/rootfs/etc/passwd" "$ctx/rootfs/etc/group"

# podman keeps an image per instruction unless told not to; a build every
# test run would pile them up.
layers=()
[ "$engine" = podman ] && layers=(--layers=false)
"$engine" build --quiet "${layers[@]}" -f deploy/image/Containerfile \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
  -t "$image" "$ctx" >/dev/null
size="$("$engine" image inspect --format '{{.Size}}' "$image")"
echo "built $image with $engine: $((size / 1000000)) MB ($size bytes)"
