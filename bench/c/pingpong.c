/* TCP ping-pong over loopback with TCP_NODELAY (or, with "unix", over a unix stream socketpair).
   usage: pingpong SIZE MILLIS CPU_SERVER CPU_CLIENT [unix]   (cpu -1: not pinned)
   prints: median_rtt_ns round_trips */
#include "common.h"

static int size, server_cpu;
static int server_fd;

static void *server(void *arg) {
  (void)arg;
  pin(server_cpu);
  char buf[65536];
  while (read_fully(server_fd, buf, (size_t)size)) write_fully(server_fd, buf, (size_t)size);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) { fprintf(stderr, "usage: pingpong SIZE MILLIS CPU_SERVER CPU_CLIENT [unix]\n"); return 2; }
  size = atoi(argv[1]);
  int64_t millis = atoll(argv[2]);
  server_cpu = atoi(argv[3]);
  pin(atoi(argv[4]));
  int c;
  stream_pair(argc == 6, 1, &c, &server_fd);
  pthread_t t;
  pthread_create(&t, NULL, server, NULL);
  size_t cap = 4000000, n = 0;
  int64_t *rtt = malloc(cap * sizeof *rtt);
  char buf[65536];
  memset(buf, 'x', sizeof buf);
  int64_t end = now_ns() + millis * 1000000LL;
  for (;;) {
    int64_t t0 = now_ns();
    if (t0 > end || n == cap) break;
    write_fully(c, buf, (size_t)size);
    if (!read_fully(c, buf, (size_t)size)) die("eof");
    rtt[n++] = now_ns() - t0;
  }
  shutdown(c, SHUT_WR);
  pthread_join(t, NULL);
  qsort(rtt, n, sizeof *rtt, cmp);
  printf("%lld %zu\n", (long long)rtt[n / 2], n);
  return 0;
}
