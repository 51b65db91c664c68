#!/usr/bin/env bash
# Makes sure this machine can build and run the oais image (`make podman`,
# a prerequisite of `make image` and `make test-go`). Nothing to do when
# docker runs containers and podman is absent. As root on Debian it installs
# podman and runc if missing and sets, in /etc/containers/containers.conf,
# only what is not set there already:
#   runtime = "runc"                                    ([engine])
#   default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]  ([containers])
# (podman's default ulimits are above what a sandboxed machine lets runc
# set: "error setting rlimit type 7: operation not permitted"). Otherwise it
# prints the command to run and exits 0, and the image test skips with that reason.
set -uo pipefail

runs() { command -v "$1" >/dev/null && "$1" info >/dev/null 2>&1; }
if ! command -v podman >/dev/null && runs docker; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  runs podman && exit 0 # rootless podman: its own containers.conf is the user's to set
  echo "no container engine: run 'sudo apt-get install -y podman runc' (the image test skips meanwhile)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null && ! command -v podman >/dev/null; then
  echo "no container engine: run 'sudo apt-get install -y podman runc' (the image test skips meanwhile)" >&2
  exit 0
fi

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  command -v apt-get >/dev/null || { echo "podman or runc is missing and there is no apt-get: install both (the image test skips meanwhile)" >&2; exit 0; }
  echo "installing podman and runc with apt-get"
  apt_podman() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null; }
  # apt mirrors fail now and then: one retry.
  apt_podman || { sleep 5; apt_podman; } || {
    echo "'apt-get install -y podman runc' failed twice: run it by hand (the image test skips meanwhile)" >&2
    exit 0
  }
fi

conf=/etc/containers/containers.conf
mkdir -p "$(dirname "$conf")" && touch "$conf"
# set_key TABLE KEY VALUE: add KEY under [TABLE] unless KEY is set anywhere.
set_key() {
  if grep -Eq "^[[:space:]]*$2[[:space:]]*=" "$conf"; then return; fi
  if grep -q "^\[$1\]" "$conf"; then
    sed -i "/^\[$1\]/a $2 = $3" "$conf"
  else
    printf '\n[%s]\n%s = %s\n' "$1" "$2" "$3" >>"$conf"
  fi
}
set_key containers default_ulimits '["nofile=20000:20000", "nproc=32768:32768"]'
set_key engine runtime '"runc"'

runs podman || echo "podman is installed but 'podman info' fails: see 'podman info' (the image test skips meanwhile)" >&2
exit 0
