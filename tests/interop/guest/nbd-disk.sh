# pyaoe guest script: the guest's own disk (/dev/vda, virtio) is whatever QEMU's -drive serves;
# make ext4 on it, write files, unmount, fsck. Needs lib.sh (mark, must_within, wait_for).
must disk wait_for 20 test -b /dev/vda
mark vda-sectors "$(cat /sys/block/vda/size)"
must_within 60 mkfs /usr/sbin/mke2fs -q -F -t ext4 -E nodiscard /dev/vda
must_within 60 mount mount -t ext4 /dev/vda /mnt
must_within 60 write-data dd if=/dev/urandom of=/mnt/data.bin bs=64k count=32
echo "hello from a VM on an AoE disk" >/mnt/hello.txt
mark file-data.bin "$(sha256sum </mnt/data.bin | cut -d' ' -f1)"
must_within 60 umount umount /mnt
must_within 60 fsck /usr/sbin/e2fsck -fn /dev/vda
mark fsck clean
mark checks done
