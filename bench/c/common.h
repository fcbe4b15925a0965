/* Shared helpers for the C limit programs (loopback, both ends in one process, threads pinned). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline void die(const char *what) { perror(what); exit(1); }

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Pins the calling thread to cpu (negative: leave it alone). */
static inline void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) die("pthread_setaffinity_np");
}

/* A TCP listener on 127.0.0.1, port chosen by the kernel; *addr gets its address. */
static inline int tcp_listener(struct sockaddr_in *addr) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) die("socket");
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr *)addr, sizeof *addr) < 0) die("bind");
  if (listen(l, 1024) < 0) die("listen");
  socklen_t len = sizeof *addr;
  if (getsockname(l, (struct sockaddr *)addr, &len) < 0) die("getsockname");
  return l;
}

static inline int tcp_connect(const struct sockaddr_in *addr) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0) die("socket");
  if (connect(c, (const struct sockaddr *)addr, sizeof *addr) < 0) die("connect");
  return c;
}

/* A connected unix socket pair of type (SOCK_STREAM or SOCK_DGRAM): the "unix" variant of a program. */
static inline void unix_pair(int type, int fds[2]) {
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0) die("socketpair");
}

/* A connected stream pair: a unix socketpair when unix_stream, else a TCP loopback connection
   (TCP_NODELAY on both ends when nodelay). */
static inline void stream_pair(int unix_stream, int nodelay, int *client, int *server) {
  if (unix_stream) {
    int fds[2];
    unix_pair(SOCK_STREAM, fds);
    *client = fds[0];
    *server = fds[1];
    return;
  }
  struct sockaddr_in addr;
  int l = tcp_listener(&addr);
  *client = tcp_connect(&addr);
  *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (*server < 0) die("accept4");
  close(l);
  if (nodelay) {
    int one = 1;
    setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

static inline int read_fully(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r == 0) return 0;
    if (r < 0) { if (errno == EINTR) continue; die("recv"); }
    got += (size_t)r;
  }
  return 1;
}

static inline void write_fully(int fd, const char *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = send(fd, buf + put, n - put, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; die("send"); }
    put += (size_t)w;
  }
}
