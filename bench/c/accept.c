/* connect + accept + close over loopback, one thread (blocking calls).
   usage: accept MILLIS CPU
   prints: connections_per_second connections */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: accept MILLIS CPU\n"); return 2; }
  int64_t millis = atoll(argv[1]);
  pin(atoi(argv[2]));
  struct sockaddr_in addr;
  int l = tcp_listener(&addr);
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
