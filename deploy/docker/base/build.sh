#!/bin/sh
# A local stand-in for python:3.11-slim-bookworm where no image registry is reachable: Debian
# bookworm's minimal root filesystem with Debian's Python 3.11, made by debootstrap from the
# machine's own Debian mirror and imported as a local image. Run as root (debootstrap needs it).
#
#   deploy/docker/base/build.sh [IMAGE]      # default keymint-base:bookworm
#
# Cached: an image already tagged IMAGE that was made by this same script is kept (seconds).
# FORCE=1 rebuilds it.
set -eu

image=${1:-keymint-base:bookworm}
suite=bookworm
here=$(cd "$(dirname "$0")" && pwd)
recipe=$(sha256sum "$0" | cut -c1-16)

if [ "${FORCE:-0}" != 1 ] &&
    [ "$(docker image inspect -f '{{ index .Config.Labels "org.keymint.base.recipe" }}' "$image" 2>/dev/null)" = "$recipe" ]; then
    echo "local base $image is up to date (recipe $recipe)"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "$0: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "$0: debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

# The mirror is whatever this machine's apt uses; nothing committed names one.
apt_sources() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -E '^deb ' || true
    # deb822 (.sources) files: turn each stanza into one-line entries.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
            { t = ""; u = ""; s = ""; c = ""
              for (i = 1; i <= NF; i++) {
                  split($i, kv, ": ")
                  if (kv[1] == "Types") t = kv[2]; if (kv[1] == "URIs") u = kv[2]
                  if (kv[1] == "Suites") s = kv[2]; if (kv[1] == "Components") c = kv[2] }
              if (t ~ /(^| )deb( |$)/) { n = split(u, us, " "); m = split(s, ss, " ")
                  for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print "deb " us[a] " " ss[b] " " c } }' "$f"
    done
}
sources=$(apt_sources | sed -E 's/\[[^]]*\] //' | sed -E "s/ (bookworm|trixie|bullseye)([- ])/ $suite\2/")
mirror=$(printf '%s\n' "$sources" | awk -v s="$suite" '$3 == s { print $2; exit }')
[ -n "$mirror" ] || { echo "$0: no Debian mirror for $suite in this machine's apt sources" >&2; exit 1; }

work=$(mktemp -d /var/tmp/keymint-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
echo "debootstrap $suite from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }

printf '%s\n' "$sources" >"$root/etc/apt/sources.list"
# What Debian's own container images do: services never start at install time, no
# recommends, no documentation, and apt's lists and caches are not kept.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/apt/apt.conf.d/docker-minimal" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-minimal" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq' \
    >"$work/upgrade.log" 2>&1 || { tail -20 "$work/upgrade.log" >&2; exit 1; }
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/tmp/* "$root"/var/tmp/*
python_version=$(chroot "$root" python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')

tar --numeric-owner -C "$root" -c . | docker import \
    --change "LABEL org.keymint.base.recipe=$recipe" \
    --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase, Python $python_version: deploy/docker/base/build.sh\"" \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$image" >/dev/null
echo "built local base $image: Debian $suite, Python $python_version, $(docker image inspect -f '{{ .Size }}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
