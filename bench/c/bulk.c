/* TCP bulk transfer over loopback, 64 KiB writes (or, with "unix", over a unix stream socketpair).
   usage: bulk TOTAL_BYTES MAX_MILLIS CPU_RECEIVER CPU_SENDER [unix]
   prints: bytes_per_second bytes */
#include "common.h"

static int recv_cpu, recv_fd;
static long long received;
static int64_t t_end;

static void *receiver(void *arg) {
  (void)arg;
  pin(recv_cpu);
  static char buf[65536];
  for (;;) {
    ssize_t r = recv(recv_fd, buf, sizeof buf, 0);
    if (r == 0) break;
    if (r < 0) { if (errno == EINTR) continue; die("recv"); }
    received += r;
  }
  t_end = now_ns();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) { fprintf(stderr, "usage: bulk TOTAL_BYTES MAX_MILLIS CPU_RECEIVER CPU_SENDER [unix]\n"); return 2; }
  long long total = atoll(argv[1]);
  int64_t millis = atoll(argv[2]);
  recv_cpu = atoi(argv[3]);
  pin(atoi(argv[4]));
  int c;
  stream_pair(argc == 6, 0, &c, &recv_fd);
  static char buf[65536];
  memset(buf, 'x', sizeof buf);
  pthread_t t;
  pthread_create(&t, NULL, receiver, NULL);
  int64_t t0 = now_ns(), deadline = t0 + millis * 1000000LL;
  long long sent = 0;
  while (sent < total && now_ns() < deadline) {
    write_fully(c, buf, sizeof buf);
    sent += (long long)sizeof buf;
  }
  shutdown(c, SHUT_WR);
  pthread_join(t, NULL);
  printf("%.0f %lld\n", received * 1e9 / (double)(t_end - t0), received);
  return 0;
}
