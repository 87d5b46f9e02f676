#!/usr/bin/env bash
# Build a local stand-in for python:3.12-slim when no container registry can be reached: Debian bookworm
# (debootstrap --variant=minbase from the Debian mirror apt already uses) with Debian's python3, committed as
# the image $BASE (default localhost/llmlab-debian-python:bookworm) in buildah's vfs storage.
#
#   deploy/debian-base.sh            # builds it once; an existing image is kept (delete it with buildah rmi)
#
# Its Python is Debian's 3.11, not the 3.12 of python:3.12-slim: the Dockerfiles only need `python3` with
# venv, so both bases build the same way. Needs root, debootstrap and buildah (apt-get install buildah debootstrap).
set -euo pipefail
BASE="${BASE:-localhost/llmlab-debian-python:bookworm}"
SUITE=bookworm
BUILDAH=(buildah --storage-driver vfs)

if "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
    echo "base image $BASE: present, reused"
    exit 0
fi

# The Debian mirror apt is set up with (deb822 .sources or one-line sources.list), unless DEBIAN_MIRROR is set
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ {print $2; exit}')"
fi
if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
              | awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}')"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs="$(mktemp -d "${TMPDIR:-/var/tmp}/llmlab-rootfs.XXXXXX")"
ctr=""
cleanup() {
    rm -rf "$rootfs"
    if [ -n "$ctr" ]; then "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "base image $BASE: debootstrap $SUITE from $mirror"
start=$SECONDS
# ca-certificates: pip reaches PyPI over TLS; python3-venv: `python3 -m venv` with pip, as on python:3.12-slim
nice debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log"; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
# this machine's trust store, so that pip in the builds reaches PyPI through whatever TLS proxy this machine
# trusts (Debian's pip reads the system bundle)
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
# what an image does not need: apt's package lists and caches, docs and manuals
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
ctr="$("${BUILDAH[@]}" from scratch)"
"${BUILDAH[@]}" copy --quiet "$ctr" "$rootfs" / >/dev/null
"${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd '["python3"]' "$ctr"
"${BUILDAH[@]}" commit --quiet "$ctr" "$BASE" >/dev/null
echo "base image $BASE: built in $((SECONDS - start)) s"
