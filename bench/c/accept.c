/* connect + accept + close over loopback, one thread (blocking calls).
   usage: accept MILLIS CPU [LISTEN-IPV4]   (default 127.0.0.1; the bench gives each run its
   own 127.0.0.x so no run meets the TIME_WAIT connections of the one before)
   prints: connections_per_second connections */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) { fprintf(stderr, "usage: accept MILLIS CPU [LISTEN-IPV4]\n"); return 2; }
  int64_t millis = atoll(argv[1]);
  pin(atoi(argv[2]));
  struct sockaddr_in addr;
  int l = tcp_listener(&addr);
  if (argc == 4) {
    close(l);
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) die("socket");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[3], &addr.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[3]); return 2; }
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(l, 1024) < 0) die("listen");
    socklen_t len = sizeof addr;
    if (getsockname(l, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
  }
  long long n = 0;
  int64_t t0 = now_ns(), end = t0 + millis * 1000000LL, t1;
  while ((t1 = now_ns()) < end) {
    int c = tcp_connect(&addr);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0) die("accept4");
    close(c);
    close(s);
    n++;
  }
  printf("%.0f %lld\n", n * 1e9 / (double)(t1 - t0), n);
  return 0;
}
