#!/bin/sh
# Creates debian:bookworm-slim locally when it is missing: there is no
# registry to pull it from, so it is debootstrapped from the host's own
# Debian mirror and imported.  Idempotent: does nothing if the image exists.
#
#   docker/make-base-image.sh [IMAGE]

set -eu

image=${1:-debian:bookworm-slim}
suite=bookworm

if docker image inspect "$image" >/dev/null 2>&1; then
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "make-base-image: needs root (debootstrap)" >&2; exit 1; }

# The first mirror the host uses for SUITE (one-line or deb822 sources).
# Prints nothing when there is none.
host_mirror() {
    want=$1
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
            awk -v s="$want" '$1 == "deb" && $3 == s { print $2; exit }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # stanzas separated by blank lines; the URI of one whose Suites has SUITE
        awk -v s="$want" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") && uri != "")
                    { print uri; found = 1; exit }
                uri = ""; suites = ""; types = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "uris:"   { uri = $2 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "types:"  { $1 = ""; types = $0 }
            END { if (!found) flush() }' "$f"
    done
}

mirror=$(host_mirror "$suite" | head -n1)
security=$(host_mirror "$suite-security" | head -n1)
: "${mirror:=http://deb.debian.org/debian}"

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "make-base-image: installing debootstrap" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

tmp=$(mktemp -d /var/tmp/replog-rootfs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
dir=$tmp/rootfs

echo "make-base-image: debootstrap $suite from $mirror" >&2
if ! debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$tmp/log" 2>&1; then
    tail -20 "$tmp/log" >&2
    exit 1
fi

# apt inside image builds (run with host networking) uses the host's mirror
{
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [ -z "$security" ] || echo "deb $security $suite-security main"
} > "$dir/etc/apt/sources.list"

# slim as in the official image: no docs, man pages or translations from
# later installs, and apt keeps no downloaded packages
cat > "$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
cat > "$dir/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
Acquire::Languages "none";
CFG
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/*
find "$dir/usr/share/doc" -type f ! -name copyright -delete
find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

# docker provides /dev, /proc and /sys itself; the device nodes are not wanted
tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$dir" -c . | docker import - "$image" >/dev/null
echo "make-base-image: created $image" >&2
