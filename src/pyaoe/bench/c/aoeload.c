/* aoeload: the load generator of `pyaoe bench`, an AoE initiator in C that does nothing but I/O.
 *
 * Keeps QD I/Os in flight against one target (shelf.slot) on one interface. Each I/O of IO_BYTES
 * is split into frames of the largest sector count both the target (Query Config scnt) and the
 * interface MTU allow, as the Linux aoe driver splits a bio: random 4 KiB at MTU 1500 is 4 frames
 * of 2 sectors, at MTU 9000 one frame of 8. A frame not answered within RTO is sent again (same
 * tag; the tag's generation bits tell a late answer to a finished request from a current one).
 * Per-I/O latency goes into a 1 us histogram (p50/p99). The process's own CPU time
 * (/proc/self/stat utime+stime) and peak RSS (VmHWM) are read around the measured window.
 *
 * usage: aoeload -i IFACE -e SHELF.SLOT [-m read|write] [-p seq|rand] [-b IO_BYTES] [-q QD]
 *                [-t SECONDS] [-w WARMUP] [-s MAXSECT] [-r RTO_MS] [-S SEED]
 *   -b 0 (the default) makes each I/O one frame of the largest sector count (sequential runs);
 *   -t 0 only discovers and identifies the target (a readiness probe).
 * prints one line of JSON on stdout; exit 0 when I/Os completed, 1 on failure (with "error").
 * Build: gcc -O2 -o aoeload aoeload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETH_P_AOE 0x88A2
#define AOE_HLEN 24
#define ATA_HLEN 36
#define ZLEN 60
#define SECTOR 512
#define MAXFRAME 9216
#define BATCH 64
#define MAXSLOTS 65536 /* frame slots: the tag's low 16 bits */
#define HIST_US 65536  /* 1 us buckets below 65.536 ms, then 1 ms buckets up to 10 s */
#define HIST_MS 10001
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct io { uint64_t lba; uint32_t sectors; uint32_t pending; double start; };
struct slot { uint64_t lba; double sent; uint32_t io; uint16_t gen; uint8_t nsect; uint8_t live; };

static int sfd, ifindex, mtu, shelf, slotno, wr, rnd, qd;
static unsigned char mymac[6], tmac[6];
static uint64_t devsect, seqnext, rng = 88172645463325252ULL;
static unsigned maxsect, fpi, iosect, bufcnt, scnt, fwver;
static struct io *ios;
static struct slot *slots;
static uint32_t hist[HIST_US + HIST_MS];
static unsigned char wdata[255 * SECTOR];

/* send batch */
static unsigned char sbuf[BATCH][MAXFRAME];
static struct mmsghdr smsg[BATCH];
static struct iovec siov[BATCH];
static struct sockaddr_ll saddr[BATCH];
static int nsend;
/* receive batch */
static unsigned char rbuf[BATCH][MAXFRAME];
static struct mmsghdr rmsg[BATCH];
static struct iovec riov[BATCH];

/* counters (reset when the measured window opens) */
static uint64_t n_ios, n_frames, n_rexmit, n_errors, n_late, total_ios, total_bytes;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t xorshift(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return rng;
}

/* utime+stime of this process in seconds, from /proc/self/stat fields 14 and 15 */
static double cpu_seconds(void) {
  char b[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  if (!f) return -1;
  size_t n = fread(b, 1, sizeof b - 1, f);
  fclose(f);
  b[n] = 0;
  char *p = strrchr(b, ')'); /* the command name may hold spaces */
  if (!p) return -1;
  unsigned long ut = 0, st = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static long vmhwm_kib(void) {
  char line[256];
  long kb = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
  fclose(f);
  return kb;
}

/* failures are JSON too, so the harness has one thing to parse; failx: no errno to tell */
static void failx(const char *what) {
  printf("{\"ok\": false, \"error\": \"%s\"}\n", what);
  exit(1);
}

static void fail(const char *what) {
  printf("{\"ok\": false, \"error\": \"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

static void header(unsigned char *f, const unsigned char *dst, int cmd, uint32_t tag) {
  memcpy(f, dst, 6);
  memcpy(f + 6, mymac, 6);
  f[12] = 0x88; f[13] = 0xa2;
  f[14] = 0x10; f[15] = 0; /* version 1, no flags */
  f[16] = shelf >> 8; f[17] = shelf & 0xff; f[18] = slotno;
  f[19] = cmd;
  uint32_t t = htonl(tag);
  memcpy(f + 20, &t, 4);
}

/* an ATA READ/WRITE SECTORS EXT (or IDENTIFY) request; returns the frame length */
static int ata(unsigned char *f, uint32_t tag, uint64_t lba, int nsect, int write, int ident) {
  header(f, tmac, 0, tag);
  f[24] = ident ? 0 : 0x40 | (write ? 1 : 0); /* aflags: E (LBA48), W */
  f[25] = 0;
  f[26] = nsect;
  f[27] = ident ? 0xec : write ? 0x34 : 0x24;
  for (int i = 0; i < 6; i++) f[28 + i] = (lba >> (8 * i)) & 0xff;
  if (ident) f[31] = 0xa0;
  f[34] = f[35] = 0;
  int n = ATA_HLEN;
  if (write) { memcpy(f + n, wdata, nsect * SECTOR); n += nsect * SECTOR; }
  if (n < ZLEN) { memset(f + n, 0, ZLEN - n); n = ZLEN; }
  return n;
}

static void flush_sends(void) {
  int off = 0;
  while (off < nsend) {
    int k = sendmmsg(sfd, smsg + off, nsend - off, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS || errno == EAGAIN) { struct pollfd p = {sfd, POLLOUT, 0}; poll(&p, 1, 1); continue; }
      fail("sendmmsg");
    }
    off += k;
  }
  nsend = 0;
}

static unsigned char *next_send(int len) {
  if (nsend == BATCH) flush_sends();
  siov[nsend].iov_len = len;
  return sbuf[nsend];
}

static void queue_frame(uint32_t s) {
  struct slot *sl = &slots[s];
  unsigned char *f = next_send(0);
  siov[nsend].iov_len = ata(f, (uint32_t)sl->gen << 16 | s, sl->lba, sl->nsect, wr, 0);
  nsend++;
}

static void start_io(uint32_t i, double t) {
  struct io *io = &ios[i];
  if (rnd) {
    io->lba = xorshift() % (devsect / iosect) * iosect;
  } else {
    if (seqnext + iosect > devsect) seqnext = 0;
    io->lba = seqnext;
    seqnext += iosect;
  }
  io->start = t;
  io->pending = 0;
  uint32_t done = 0;
  for (uint32_t k = 0; done < iosect; k++) {
    uint32_t s = i * fpi + k;
    struct slot *sl = &slots[s];
    sl->nsect = iosect - done < maxsect ? iosect - done : maxsect;
    sl->lba = io->lba + done;
    sl->gen = (sl->gen + 1) & 0x7fff;
    sl->io = i;
    sl->sent = t;
    sl->live = 1;
    done += sl->nsect;
    io->pending++;
    queue_frame(s);
  }
}

static void add_latency(double seconds) {
  uint64_t us = (uint64_t)(seconds * 1e6);
  if (us < HIST_US) hist[us]++;
  else hist[HIST_US + (us / 1000 < HIST_MS - 1 ? us / 1000 : HIST_MS - 1)]++;
}

static double percentile(double q) {
  uint64_t total = 0, seen = 0;
  for (int i = 0; i < HIST_US + HIST_MS; i++) total += hist[i];
  if (!total) return 0;
  uint64_t want = (uint64_t)(q * total);
  if (want >= total) want = total - 1;
  for (int i = 0; i < HIST_US + HIST_MS; i++) {
    seen += hist[i];
    if (seen > want) return i < HIST_US ? i + 0.5 : (i - HIST_US) * 1000.0 + 500;
  }
  return 0;
}

/* one exchange during discovery: send f until a reply passes accept(), for at most 5 s */
static int exchange(unsigned char *f, int len, const unsigned char *dst, int (*accept)(unsigned char *, int)) {
  struct sockaddr_ll a = {0};
  a.sll_family = AF_PACKET; a.sll_ifindex = ifindex; a.sll_halen = 6;
  memcpy(a.sll_addr, dst, 6);
  double t0 = now();
  while (now() - t0 < 5) {
    if (sendto(sfd, f, len, 0, (struct sockaddr *)&a, sizeof a) < 0) fail("sendto");
    double t1 = now();
    struct pollfd p = {sfd, POLLIN, 0};
    while (now() - t1 < 0.2 && poll(&p, 1, 50) >= 0) {
      if (!(p.revents & POLLIN)) continue;
      int n = recv(sfd, rbuf[0], MAXFRAME, MSG_DONTWAIT);
      if (n >= AOE_HLEN && (rbuf[0][14] & 0x08) && ((rbuf[0][16] << 8) | rbuf[0][17]) == shelf &&
          rbuf[0][18] == slotno && accept(rbuf[0], n))
        return n;
    }
  }
  return -1;
}

static int accept_config(unsigned char *r, int n) {
  if (n < 32 || r[19] != 1 || (r[14] & 0x04)) return 0;
  memcpy(tmac, r + 6, 6);
  bufcnt = (r[24] << 8) | r[25];
  fwver = (r[26] << 8) | r[27];
  scnt = r[28] ? r[28] : 2; /* 0 means 2 (AoEr11) */
  return 1;
}

static int accept_identify(unsigned char *r, int n) {
  uint32_t tg;
  memcpy(&tg, r + 20, 4);
  if (n < ATA_HLEN + SECTOR || r[19] != 0 || ntohl(tg) != 0x7fff0001) return 0;
  unsigned char *d = r + ATA_HLEN;
  int lba48 = d[167] & 0x04; /* word 83 bit 10 */
  devsect = 0;
  if (lba48)
    for (int i = 3; i >= 0; i--) devsect = devsect << 16 | (d[200 + 2 * i] | d[201 + 2 * i] << 8);
  else
    devsect = d[120] | d[121] << 8 | (uint64_t)(d[122] | d[123] << 8) << 16;
  return 1;
}

static void setup(const char *ifn) {
  sfd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_AOE));
  if (sfd < 0) fail("socket");
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, ifn, IFNAMSIZ - 1);
  if (ioctl(sfd, SIOCGIFINDEX, &ifr) < 0) fail("no such interface");
  ifindex = ifr.ifr_ifindex;
  if (ioctl(sfd, SIOCGIFHWADDR, &ifr) < 0) fail("SIOCGIFHWADDR");
  memcpy(mymac, ifr.ifr_hwaddr.sa_data, 6);
  if (ioctl(sfd, SIOCGIFMTU, &ifr) < 0) fail("SIOCGIFMTU");
  mtu = ifr.ifr_mtu;
  struct sockaddr_ll b = {0};
  b.sll_family = AF_PACKET; b.sll_protocol = htons(ETH_P_AOE); b.sll_ifindex = ifindex;
  if (bind(sfd, (struct sockaddr *)&b, sizeof b) < 0) fail("bind");
  int one = 1, big = 32 << 20;
  setsockopt(sfd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  setsockopt(sfd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  setsockopt(sfd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(sfd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  for (int i = 0; i < BATCH; i++) {
    siov[i].iov_base = sbuf[i];
    saddr[i].sll_family = AF_PACKET; saddr[i].sll_ifindex = ifindex; saddr[i].sll_halen = 6;
    smsg[i].msg_hdr.msg_iov = &siov[i]; smsg[i].msg_hdr.msg_iovlen = 1;
    smsg[i].msg_hdr.msg_name = &saddr[i]; smsg[i].msg_hdr.msg_namelen = sizeof saddr[i];
    riov[i].iov_base = rbuf[i]; riov[i].iov_len = MAXFRAME;
    rmsg[i].msg_hdr.msg_iov = &riov[i]; rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  for (size_t i = 0; i < sizeof wdata; i++) wdata[i] = (unsigned char)(i * 131 + 7);
}

/* handle one received frame; returns 1 when it finished an I/O */
static int on_reply(unsigned char *r, int n, double t, int measuring, int issuing) {
  if (n < ATA_HLEN || !(r[14] & 0x08) || r[19] != 0 || memcmp(r + 6, tmac, 6)) return 0;
  uint32_t tag;
  memcpy(&tag, r + 20, 4);
  tag = ntohl(tag);
  uint32_t s = tag & 0xffff;
  if (s >= (uint32_t)qd * fpi || !slots[s].live || slots[s].gen != (tag >> 16 & 0x7fff)) { n_late++; return 0; }
  struct slot *sl = &slots[s];
  if ((r[14] & 0x04) || (r[27] & 0xa9) || (!wr && n < ATA_HLEN + sl->nsect * SECTOR)) n_errors++;
  sl->live = 0;
  if (measuring) n_frames++;
  struct io *io = &ios[sl->io];
  if (--io->pending) return 0;
  total_ios++;
  total_bytes += (uint64_t)iosect * SECTOR;
  if (measuring) { n_ios++; add_latency(t - io->start); }
  if (issuing) start_io(sl->io, t);
  return 1;
}

int main(int argc, char **argv) {
  const char *ifn = NULL;
  double secs = 5, warm = 0, rto = 0.2;
  long iobytes = 0;
  int c, maxsect_opt = 0;
  qd = 1;
  while ((c = getopt(argc, argv, "i:e:m:p:b:q:t:w:s:r:S:")) != -1) {
    switch (c) {
      case 'i': ifn = optarg; break;
      case 'e': if (sscanf(optarg, "%d.%d", &shelf, &slotno) != 2) failx("-e wants SHELF.SLOT"); break;
      case 'm': wr = !strcmp(optarg, "write"); if (!wr && strcmp(optarg, "read")) failx("-m wants read or write"); break;
      case 'p': rnd = !strcmp(optarg, "rand"); if (!rnd && strcmp(optarg, "seq")) failx("-p wants seq or rand"); break;
      case 'b': iobytes = atol(optarg); break;
      case 'q': qd = atoi(optarg); break;
      case 't': secs = atof(optarg); break;
      case 'w': warm = atof(optarg); break;
      case 's': maxsect_opt = atoi(optarg); break;
      case 'r': rto = atof(optarg) / 1000; break;
      case 'S': rng = strtoull(optarg, NULL, 0) | 1; break;
      default: failx("usage: aoeload -i IFACE -e SHELF.SLOT [-m read|write] [-p seq|rand] [-b BYTES] [-q QD] [-t S] [-w S] [-s MAXSECT] [-r RTO_MS]");
    }
  }
  if (!ifn || iobytes < 0 || iobytes % SECTOR || qd < 1 || secs < 0) failx("bad arguments");
  setup(ifn);

  static const unsigned char bcast[6] = {255, 255, 255, 255, 255, 255};
  unsigned char *f = sbuf[0];
  header(f, bcast, 1, 0x7fff0000);
  memset(f + AOE_HLEN, 0, ZLEN - AOE_HLEN);
  if (exchange(f, ZLEN, bcast, accept_config) < 0) failx("no answer to Query Config");
  int n = ata(f, 0x7fff0001, 0, 1, 0, 1);
  if (exchange(f, n, tmac, accept_identify) < 0 || !devsect) failx("no answer to IDENTIFY");

  unsigned mtusect = (mtu - ATA_HLEN) / SECTOR; /* the Linux driver's rule */
  maxsect = scnt < mtusect ? scnt : mtusect;
  if (maxsect_opt > 0 && (unsigned)maxsect_opt < maxsect) maxsect = maxsect_opt;
  if (maxsect < 1) failx("MTU too small for one sector");
  iosect = iobytes ? iobytes / SECTOR : maxsect;
  fpi = (iosect + maxsect - 1) / maxsect;
  if ((uint64_t)qd * fpi > MAXSLOTS || iosect > devsect) failx("too many frames in flight, or I/O larger than the device");

#define PRINT_TARGET(ok) \
  printf("{\"ok\": %s, \"mtu\": %d, \"bufcnt\": %u, \"scnt\": %u, \"firmware\": %u, \"device_sectors\": %llu, " \
         "\"sectors_per_frame\": %u, \"frames_per_io\": %u, \"io_bytes\": %u, \"queue_depth\": %d, ", \
         (ok) ? "true" : "false", mtu, bufcnt, scnt, fwver, (unsigned long long)devsect, maxsect, fpi, iosect * SECTOR, qd)
  if (secs == 0) {
    PRINT_TARGET(1);
    printf("\"probe\": true}\n");
    return 0;
  }

  ios = calloc(qd, sizeof *ios);
  slots = calloc((size_t)qd * fpi, sizeof *slots);
  if (!ios || !slots) failx("calloc");

  double t0 = now(), tmeasure = t0 + warm, tend = tmeasure + secs, cpu0 = 0, cpu1 = 0, tlast = t0;
  int measuring = warm <= 0, issuing = 1;
  if (measuring) cpu0 = cpu_seconds();
  for (int i = 0; i < qd; i++) start_io(i, t0);
  flush_sends();
  double nextscan = t0 + rto / 4;
  for (;;) {
    int k = recvmmsg(sfd, rmsg, BATCH, MSG_DONTWAIT, NULL);
    double t = now();
    if (k > 0) {
      for (int j = 0; j < k; j++) on_reply(rbuf[j], rmsg[j].msg_len, t, measuring && t < tend, issuing);
      flush_sends();
    } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
      fail("recvmmsg");
    }
    if (!measuring && t >= tmeasure) {
      measuring = 1;
      n_ios = n_frames = n_rexmit = n_errors = n_late = 0;
      memset(hist, 0, sizeof hist);
      cpu0 = cpu_seconds();
      tmeasure = t;
      tend = t + secs;
    }
    if (issuing && t >= tend) {
      cpu1 = cpu_seconds();
      tlast = t;
      issuing = 0;
    }
    if (!issuing) {
      /* drain: let the target finish what it has before the next run measures it */
      int outstanding = 0;
      for (int i = 0; i < qd; i++) outstanding += ios[i].pending > 0;
      if (!outstanding || t - tlast > 1.0) break;
    }
    if (t >= nextscan) {
      for (uint32_t s = 0; s < (uint32_t)qd * fpi; s++)
        if (slots[s].live && t - slots[s].sent > rto) {
          slots[s].sent = t;
          n_rexmit++;
          queue_frame(s);
        }
      flush_sends();
      nextscan = t + rto / 4;
    }
    if (k <= 0) {
      double until = nextscan < tend || !issuing ? nextscan : tend;
      int ms = (int)((until - t) * 1000) + 1;
      struct pollfd p = {sfd, POLLIN, 0};
      poll(&p, 1, ms > 0 ? ms : 0);
    }
  }
  double el = tend - tmeasure;
  double cpu = cpu1 - cpu0;
  PRINT_TARGET(n_ios > 0);
  if (!n_ios) printf("\"error\": \"no I/O completed (%llu frames resent): the target does not answer\", ",
                     (unsigned long long)n_rexmit);
  printf("\"mode\": \"%s\", \"pattern\": \"%s\", \"seconds\": %.6f, \"ios\": %llu, \"frames\": %llu, "
         "\"bytes\": %llu, \"iops\": %.1f, \"mbps\": %.3f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
         "\"retransmits\": %llu, \"errors\": %llu, \"late\": %llu, \"total_ios\": %llu, \"total_bytes\": %llu, "
         "\"cpu_s\": %.3f, \"vmhwm_kib\": %ld}\n",
         wr ? "write" : "read", rnd ? "rand" : "seq", el, (unsigned long long)n_ios, (unsigned long long)n_frames,
         (unsigned long long)n_ios * iosect * SECTOR, n_ios / el, n_ios * (double)iosect * SECTOR / el / 1e6,
         percentile(0.50), percentile(0.99), (unsigned long long)n_rexmit, (unsigned long long)n_errors,
         (unsigned long long)n_late, (unsigned long long)total_ios, (unsigned long long)total_bytes, cpu,
         vmhwm_kib());
  return n_ios ? 0 : 1;
}
