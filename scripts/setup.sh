#!/bin/sh
# Install what pyaoe's demo and tests use on a fresh Debian machine (run as root):
# Debian packages with apt-get (only when one is missing) and a venv in .venv with pyaoe in it.
set -eu
cd "$(dirname "$0")/.."
PACKAGES="vblade aoetools tshark qemu-system-x86 linux-image-amd64 e2fsprogs busybox-static \
nftables fuse3 libfuse3-dev pkg-config iproute2 kmod cpio gcc make util-linux fdisk procps python3-venv fio \
prometheus systemd systemd-container man-db nbdkit nbdkit-plugin-python libnbd-bin qemu-utils"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.pyaoe-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[test,fuse]'
    touch "$stamp"
fi
