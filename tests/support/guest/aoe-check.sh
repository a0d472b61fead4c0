# pyaoe guest script: check an AoE export through the Linux aoe driver, as a user would.
# Environment: AOE_SHELF AOE_SLOT; AOE_MODE rw (default: raw write/read-back, mkfs, mount, fsck,
# remount and verify) or ro (export made with -r: read, mount -o ro, a refused write);
# AOE_PAYLOAD expected payload bytes (optional); AOE_RAW_MIB where raw data goes (56);
# AOE_FS_MIB file system size (48); AOE_ARGS extra aoe module parameters; AOE_UP_SECS (30);
# AOE_STEP_SECS, the longest any I/O step may take (30).
# Needs lib.sh (mark, must, must_within, uptime_cs). Results are "@@pyaoe NAME VALUE" lines.

dev="e$AOE_SHELF.$AOE_SLOT"
node="/dev/etherd/$dev"
sys="/sys/block/etherd!$dev"
raw_mib=${AOE_RAW_MIB:-56}
fs_mib=${AOE_FS_MIB:-48}
step=${AOE_STEP_SECS:-30}

sha() { sha256sum | cut -d' ' -f1; }
# sha_within CMD: the sha256 of what shell command CMD writes, or "failed-STATUS" (124: stuck).
# The output goes through a file: a stuck reader holding a $(...) pipe would block the script.
sha_within() {
    rm -f /tmp/sha.out
    if run_within "$step" sh -c "$1 | sha256sum >/tmp/sha.out" >/dev/null; then
        cut -d' ' -f1 </tmp/sha.out
    else
        echo "failed-$?"
    fi
}
# The raw MiB, read through O_DIRECT so the answer comes from the target, not the page cache.
raw_sha() { sha_within "dd if=$node bs=1M skip=$raw_mib count=1 iflag=direct 2>/dev/null"; }

# shellcheck disable=SC2086
must insmod insmod /lib/modules/aoe.ko aoe_iflist=eth0 $AOE_ARGS
start=$(uptime_cs)
# Load-time discovery can go out before the target hears it; ask again every second until up.
ticks=0
until [ "$(cat "$sys/state" 2>/dev/null)" = up ] && [ -b "$node" ]; do
    [ $((ticks % 10)) = 0 ] && echo 1 >/dev/etherd/discover
    ticks=$((ticks + 1))
    if [ "$ticks" -gt $((${AOE_UP_SECS:-30} * 10)) ]; then
        mark failed discover "$(cat "$sys/state" 2>/dev/null || echo absent)"
        ls /sys/block /dev/etherd
        exit 1
    fi
    usleep 100000
done
mark up-cs $(($(uptime_cs) - start))
mark state "$(cat "$sys/state")"
mark payload "$(cat "$sys/payload")"
mark sectors "$(cat "$sys/size")"
mark netif "$(cat "$sys/netif")"
mark target-mac "$(cat "$sys/mac")"
mark fwver "$(cat "$sys/firmware-version")"
if [ -n "$AOE_PAYLOAD" ]; then
    must payload [ "$(cat "$sys/payload")" = "$AOE_PAYLOAD" ]
fi

if [ "${AOE_MODE:-rw}" = rw ]; then
    must raw-make dd if=/dev/urandom of=/tmp/raw bs=64k count=16
    want=$(sha </tmp/raw)
    mark raw-sha256 "$want"
    must_within "$step" raw-write dd if=/tmp/raw of="$node" bs=1M seek="$raw_mib" count=1 conv=notrunc,fsync
    got=$(raw_sha)
    mark raw-readback-sha256 "$got"
    must raw-compare [ "$got" = "$want" ]

    must_within "$step" mkfs /usr/sbin/mke2fs -q -F -t ext4 -E nodiscard "$node" "${fs_mib}M"
    must_within "$step" mount mount -t ext4 "$node" /mnt
    must_within "$step" write-data dd if=/dev/urandom of=/mnt/data.bin bs=64k count=32
    echo "hello from the aoe guest" >/mnt/hello.txt
    mkdir /mnt/many
    for i in $(seq 1 40); do
        echo "small file $i" >"/mnt/many/f$i"
    done
    (cd /mnt && find . -type f | sort | xargs sha256sum) >/tmp/sums
    mark file-data.bin "$(sha_within "cat /mnt/data.bin")"
    mark file-hello.txt "$(sha_within "cat /mnt/hello.txt")"
    mark files "$(wc -l </tmp/sums)"
    must_within "$step" umount umount /mnt
    must_within "$step" fsck /usr/sbin/e2fsck -fn "$node"
    mark fsck clean
    # Forget every cached block, so the remount reads what the target stored.
    echo 3 >/proc/sys/vm/drop_caches
    must_within "$step" remount mount -t ext4 "$node" /mnt
    must_within "$step" verify sh -c 'cd /mnt && sha256sum -c -s /tmp/sums'
    mark verified "$(wc -l </tmp/sums)"
    must_within "$step" umount-again umount /mnt
else
    mark raw-sha256 "$(raw_sha)"
    must_within "$step" mount-ro mount -t ext4 -o ro "$node" /mnt
    mark file-data.bin "$(sha_within "cat /mnt/data.bin")"
    mark file-hello.txt "$(sha_within "cat /mnt/hello.txt")"
    must_within "$step" umount umount /mnt
    # busybox dd reports a refused write only with conv=fsync.
    t0=$(uptime_cs)
    if run_within "$step" dd if=/dev/zero of="$node" bs=4k count=1 seek=$((raw_mib * 256)) conv=notrunc,fsync; then
        rc=0
    else
        rc=$?
    fi
    mark write-rc "$rc"
    mark write-cs $(($(uptime_cs) - t0))
    mark state-after-write "$(cat "$sys/state")"
    mark raw-sha256-after "$(raw_sha)"
    must write-refused [ "$rc" != 0 ]
fi
mark checks done
