/* UDP 64-byte datagrams over loopback, connected sockets; counts datagrams received.
   usage: udp MILLIS CPU_RECEIVER CPU_SENDER
   prints: received_per_second received */
#include "common.h"
#include <stdatomic.h>

static int recv_cpu, rfd;
static long long received;
static atomic_int done;
static int64_t t_last;

static void *receiver(void *arg) {
  (void)arg;
  pin(recv_cpu);
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
  if (argc != 4) { fprintf(stderr, "usage: udp MILLIS CPU_RECEIVER CPU_SENDER\n"); return 2; }
  int64_t millis = atoll(argv[1]);
  recv_cpu = atoi(argv[2]);
  pin(atoi(argv[3]));
  struct sockaddr_in ra, sa;
  rfd = udp_socket(&ra);
  int sfd = udp_socket(&sa);
  if (connect(rfd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
  if (connect(sfd, (struct sockaddr *)&ra, sizeof ra) < 0) die("connect");
  pthread_t t;
  pthread_create(&t, NULL, receiver, NULL);
  char buf[64];
  memset(buf, 'x', sizeof buf);
  int64_t t0 = now_ns(), end = t0 + millis * 1000000LL;
  while (now_ns() < end) send(sfd, buf, sizeof buf, 0);
  while (!atomic_load(&done)) { send(sfd, buf, 1, 0); usleep(1000); }
  pthread_join(t, NULL);
  printf("%.0f %lld\n", received * 1e9 / (double)(t_last - t0), received);
  return 0;
}
