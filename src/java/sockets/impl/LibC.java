package sockets.impl;

import java.nio.ByteBuffer;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.IgnoreError;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.Pinned;
import jnr.ffi.byref.PointerByReference;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The libc functions this library calls, bound once by jnr-ffi ({@link Native#LIBC}).
 * Every fd passed here has been acquired from its {@link Fd} owner first, and every
 * length has been checked against its buffer by the caller.
 */
public interface LibC {
    /** socket(2). */
    int socket(int domain, int type, int protocol);
    /** close(2); never retried (on Linux the fd is gone even on EINTR). */
    int close(int fd);
    /** bind(2). */
    int bind(int fd, Pointer addr, int addrlen);
    /** connect(2). */
    int connect(int fd, Pointer addr, int addrlen);
    /** listen(2). */
    int listen(int fd, int backlog);
    /** accept(2), for platforms without accept4. */
    int accept(int fd, Pointer addr, Pointer addrlen);
    /** accept4(2) (Linux, BSDs). */
    int accept4(int fd, Pointer addr, Pointer addrlen, int flags);
    /** getsockname(2). */
    int getsockname(int fd, Pointer addr, Pointer addrlen);
    /** getpeername(2). */
    int getpeername(int fd, Pointer addr, Pointer addrlen);
    /** getsockopt(2). */
    int getsockopt(int fd, int level, int name, Pointer value, Pointer len);
    /** setsockopt(2). */
    int setsockopt(int fd, int level, int name, Pointer value, int len);
    /** shutdown(2). */
    int shutdown(int fd, int how);
    /**
     * recv(2) into a heap or direct buffer, from its position, {@code len} bytes. Heap buffers
     * are pinned, not copied: a copy-out would also write back the bytes the kernel did not fill.
     */
    @ssize_t long recv(int fd, @Pinned @Out ByteBuffer buf, @size_t long len, int flags);
    /** recvfrom(2); the buffer is pinned as for recv. */
    @ssize_t long recvfrom(int fd, @Pinned @Out ByteBuffer buf, @size_t long len, int flags, Pointer addr, Pointer addrlen);
    /** send(2) from a heap or direct buffer, from its position, {@code len} bytes. */
    @ssize_t long send(int fd, @Pinned @In ByteBuffer buf, @size_t long len, int flags);
    /** sendto(2). */
    @ssize_t long sendto(int fd, @Pinned @In ByteBuffer buf, @size_t long len, int flags, Pointer addr, int addrlen);
    /**
     * recvmmsg(2) (Linux): up to {@code vlen} datagrams into an array of struct mmsghdr; returns
     * how many arrived. {@code timeout} (a struct timespec) may be null.
     */
    int recvmmsg(int fd, Pointer msgvec, int vlen, int flags, Pointer timeout);
    /** sendmmsg(2) (Linux): up to {@code vlen} datagrams from an array of struct mmsghdr; returns how many were sent. */
    int sendmmsg(int fd, Pointer msgvec, int vlen, int flags);
    /** poll(2); nfds_t is passed as a machine word, which is right for both its 32- and 64-bit forms. */
    int poll(Pointer fds, @size_t long nfds, int timeout);
    /** fcntl(2) with an int argument. */
    int fcntl(int fd, int cmd, int arg);
    /** getaddrinfo(3). */
    int getaddrinfo(String node, String service, Pointer hints, PointerByReference res);
    /** freeaddrinfo(3). */
    @IgnoreError void freeaddrinfo(Pointer res);
    /** gai_strerror(3). */
    @IgnoreError String gai_strerror(int code);
    /** getnameinfo(3). */
    int getnameinfo(Pointer sa, int salen, Pointer host, int hostlen, Pointer serv, int servlen, int flags);
    /** strerror(3), only for errno values that are known (the result is then a constant string). */
    @IgnoreError String strerror(int errnum);
    /** inet_pton(3). */
    @IgnoreError int inet_pton(int af, String src, Pointer dst);
    /** inet_ntop(3). */
    @IgnoreError Pointer inet_ntop(int af, Pointer src, Pointer dst, int size);
    /** if_nametoindex(3). */
    @IgnoreError int if_nametoindex(String name);
    /** if_indextoname(3). */
    @IgnoreError Pointer if_indextoname(int index, Pointer buf);
    /**
     * if_nametoindex(3) on the name's bytes, NUL-terminated by the caller: interface names
     * are bytes, so they are not passed through the JVM's default charset.
     */
    @IgnoreError int if_nametoindex(@In byte[] name);
    /** getifaddrs(3): the list's head goes into {@code res}; always freed with {@link #freeifaddrs}. */
    int getifaddrs(PointerByReference res);
    /** freeifaddrs(3). */
    @IgnoreError void freeifaddrs(Pointer ifa);
}
