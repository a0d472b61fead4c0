/* aoenull: a no-op AoE target for `pyaoe bench`: the ceiling of the load generator.
 *
 * Answers Query Config, IDENTIFY and every ATA READ/WRITE at once, in place, from a static
 * buffer (reads return whatever bytes the buffer holds; writes are dropped), in batches of
 * recvmmsg/sendmmsg. No storage, no checks beyond addressing and the frame size: a load
 * generator that reaches a higher rate against it than against a real target is not what
 * limits that target's figures.
 *
 * usage: aoenull IFACE SHELF SLOT [SECTORS [BUFCNT]]   (defaults: 2097152 sectors = 1 GiB, 16)
 * Runs until killed. Build: gcc -O2 -o aoenull aoenull.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define ETH_P_AOE 0x88A2
#define ATA_HLEN 36
#define ZLEN 60
#define SECTOR 512
#define MAXFRAME 9216
#define BATCH 64
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

static unsigned char buf[BATCH][MAXFRAME];
static struct mmsghdr rmsg[BATCH], smsg[BATCH];
static struct iovec riov[BATCH], siov[BATCH];
static struct sockaddr_ll saddr[BATCH];
static unsigned char mymac[6], ident[SECTOR];
static int shelf, slotno, maxsect, bufcnt, ifindex;

static void die(const char *what) {
  fprintf(stderr, "aoenull: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void put16(unsigned char *w, int word, unsigned v) { w[2 * word] = v & 0xff; w[2 * word + 1] = v >> 8; }

static void make_identify(uint64_t sectors) {
  put16(ident, 49, 0x0200);  /* LBA supported */
  put16(ident, 83, 0x5400);  /* LBA48 */
  put16(ident, 86, 0x1400);
  uint64_t s28 = sectors > 0x0fffffff ? 0x0fffffff : sectors;
  put16(ident, 60, s28 & 0xffff);
  put16(ident, 61, s28 >> 16);
  for (int i = 0; i < 4; i++) put16(ident, 100 + i, (sectors >> (16 * i)) & 0xffff);
}

/* turn request r (n bytes) into its reply in place; returns the reply length, 0 to stay silent */
static int answer(unsigned char *r, int n) {
  if (n < 24 || (r[14] & 0x08)) return 0;
  int sh = r[16] << 8 | r[17], sl = r[18];
  if ((sh != shelf && sh != 0xffff) || (sl != slotno && sl != 0xff)) return 0;
  memcpy(r, r + 6, 6);
  memcpy(r + 6, mymac, 6);
  r[14] = 0x18; /* version 1, response */
  r[15] = 0;
  r[16] = shelf >> 8; r[17] = shelf & 0xff; r[18] = slotno;
  int len = ZLEN;
  if (r[19] == 1) {
    if (n < 32) return 0;
    r[24] = bufcnt >> 8; r[25] = bufcnt & 0xff;
    r[26] = r[27] = 0;
    r[28] = maxsect;
    r[29] = 0x10; /* AoE version 1, ccmd read */
    r[30] = r[31] = 0;
    memset(r + 32, 0, ZLEN - 32);
  } else if (r[19] == 0) {
    if (n < ATA_HLEN) return 0;
    int cmd = r[27], nsect = r[26];
    r[25] = 0; r[27] = 0x40; /* DRDY */
    if (cmd == 0xec) {
      memcpy(r + ATA_HLEN, ident, SECTOR);
      len = ATA_HLEN + SECTOR;
    } else if (cmd == 0x20 || cmd == 0x24) {
      if (nsect > maxsect) { r[14] |= 0x04; r[15] = 2; return ZLEN; }
      len = ATA_HLEN + nsect * SECTOR; /* the data: whatever the buffer holds */
    } else if (cmd == 0x30 || cmd == 0x34) {
      memset(r + ATA_HLEN, 0, ZLEN - ATA_HLEN);
    }
    r[26] = 0;
    if (len < ZLEN) len = ZLEN;
  } else {
    return 0;
  }
  return len;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 6) {
    fprintf(stderr, "usage: aoenull IFACE SHELF SLOT [SECTORS [BUFCNT]]\n");
    return 2;
  }
  shelf = atoi(argv[2]);
  slotno = atoi(argv[3]);
  uint64_t sectors = argc > 4 ? strtoull(argv[4], NULL, 0) : 2097152;
  bufcnt = argc > 5 ? atoi(argv[5]) : 16;
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_AOE));
  if (fd < 0) die("socket");
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) die(argv[1]);
  ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR");
  memcpy(mymac, ifr.ifr_hwaddr.sa_data, 6);
  if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) die("SIOCGIFMTU");
  maxsect = (ifr.ifr_mtu - ATA_HLEN) / SECTOR;
  if (maxsect > 255) maxsect = 255;
  struct sockaddr_ll b = {0};
  b.sll_family = AF_PACKET; b.sll_protocol = htons(ETH_P_AOE); b.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&b, sizeof b) < 0) die("bind");
  int one = 1, big = 32 << 20;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  make_identify(sectors);
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = buf[i]; riov[i].iov_len = MAXFRAME;
    rmsg[i].msg_hdr.msg_iov = &riov[i]; rmsg[i].msg_hdr.msg_iovlen = 1;
    saddr[i].sll_family = AF_PACKET; saddr[i].sll_ifindex = ifindex; saddr[i].sll_halen = 6;
    smsg[i].msg_hdr.msg_iov = &siov[i]; smsg[i].msg_hdr.msg_iovlen = 1;
    smsg[i].msg_hdr.msg_name = &saddr[i]; smsg[i].msg_hdr.msg_namelen = sizeof saddr[i];
  }
  printf("aoenull: e%d.%d on %s, %llu sectors, %d sectors a frame\n", shelf, slotno, argv[1],
         (unsigned long long)sectors, maxsect);
  fflush(stdout);
  for (;;) {
    int k = recvmmsg(fd, rmsg, BATCH, MSG_WAITFORONE, NULL);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("recvmmsg");
    }
    int ns = 0;
    for (int j = 0; j < k; j++) {
      int len = answer(buf[j], rmsg[j].msg_len);
      if (!len) continue;
      siov[ns].iov_base = buf[j];
      siov[ns].iov_len = len;
      memcpy(saddr[ns].sll_addr, buf[j], 6);
      ns++;
    }
    for (int off = 0; off < ns;) {
      int s = sendmmsg(fd, smsg + off, ns - off, 0);
      if (s < 0) {
        if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
        die("sendmmsg");
      }
      off += s;
    }
  }
}
