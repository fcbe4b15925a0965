/* UDP 64-byte datagrams over loopback, connected sockets; counts datagrams received.
   usage: udp MILLIS CPU_RECEIVER CPU_SENDER [BATCH [unix]]
   BATCH > 1: recvmmsg/sendmmsg with BATCH datagrams per call.
   unix: a unix datagram socketpair instead of two UDP sockets (no drops: a full queue blocks the sender).
   prints: received_per_second received */
#include "common.h"
#include <stdatomic.h>

static int recv_cpu, rfd, batch = 1;
#define MAXB 64
static long long received;
static atomic_int done;
static int64_t t_last;

static void *receiver(void *arg) {
  (void)arg;
  pin(recv_cpu);
  if (batch > 1) {
    static char bufs[MAXB][2048];
    struct mmsghdr msgs[MAXB];
    struct iovec iov[MAXB];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < batch; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof bufs[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    for (int end = 0; !end;) {
      int n = recvmmsg(rfd, msgs, (unsigned)batch, MSG_WAITFORONE, NULL);
      if (n < 0) { if (errno == EINTR) continue; die("recvmmsg"); }
      for (int i = 0; i < n; i++) {
        if (msgs[i].msg_len == 1) end = 1; else received++;
      }
    }
    t_last = now_ns();
    atomic_store(&done, 1);
    return NULL;
  }
  char buf[2048];
  for (;;) {
    ssize_t r = recv(rfd, buf, sizeof buf, 0);
    if (r < 0) { if (errno == EINTR) continue; die("recv"); }
    if (r == 1) break; /* the end marker */
    received++;
  }
  t_last = now_ns();
  atomic_store(&done, 1);
  return NULL;
}

static int udp_socket(struct sockaddr_in *addr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)addr, sizeof *addr) < 0) die("bind");
  socklen_t len = sizeof *addr;
  getsockname(s, (struct sockaddr *)addr, &len);
  return s;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 6) { fprintf(stderr, "usage: udp MILLIS CPU_RECEIVER CPU_SENDER [BATCH [unix]]\n"); return 2; }
  if (argc >= 5) batch = atoi(argv[4]);
  if (batch < 1 || batch > MAXB) { fprintf(stderr, "BATCH must be 1-%d\n", MAXB); return 2; }
  int64_t millis = atoll(argv[1]);
  recv_cpu = atoi(argv[2]);
  pin(atoi(argv[3]));
  int sfd;
  if (argc == 6) {
    int fds[2];
    unix_pair(SOCK_DGRAM, fds);
    rfd = fds[0];
    sfd = fds[1];
  } else {
    struct sockaddr_in ra, sa;
    rfd = udp_socket(&ra);
    sfd = udp_socket(&sa);
    if (connect(rfd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    if (connect(sfd, (struct sockaddr *)&ra, sizeof ra) < 0) die("connect");
  }
  pthread_t t;
  pthread_create(&t, NULL, receiver, NULL);
  char buf[64];
  memset(buf, 'x', sizeof buf);
  int64_t t0 = now_ns(), end = t0 + millis * 1000000LL;
  if (batch > 1) {
    struct mmsghdr msgs[MAXB];
    struct iovec iov = { buf, sizeof buf };
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < batch; i++) { msgs[i].msg_hdr.msg_iov = &iov; msgs[i].msg_hdr.msg_iovlen = 1; }
    while (now_ns() < end) sendmmsg(sfd, msgs, (unsigned)batch, 0);
  } else {
    while (now_ns() < end) send(sfd, buf, sizeof buf, 0);
  }
  while (!atomic_load(&done)) { send(sfd, buf, 1, 0); usleep(1000); }
  pthread_join(t, NULL);
  printf("%.0f %lld\n", received * 1e9 / (double)(t_last - t0), received);
  return 0;
}
