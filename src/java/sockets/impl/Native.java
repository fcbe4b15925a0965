package sockets.impl;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import jnr.constants.Constant;
import jnr.constants.platform.AddressFamily;
import jnr.constants.platform.Errno;
import jnr.constants.platform.Fcntl;
import jnr.constants.platform.OpenFlags;
import jnr.constants.platform.Shutdown;
import jnr.constants.platform.Sock;
import jnr.constants.platform.SocketLevel;
import jnr.constants.platform.SocketMessage;
import jnr.constants.platform.SocketOption;
import jnr.ffi.LibraryLoader;
import jnr.ffi.LastError;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.byref.PointerByReference;
import jnr.ffi.Runtime;

/**
 * The one place libc is loaded, with the platform numbers the core needs (all from
 * jnr-constants, except poll's event bits, which jnr-constants lacks: see {@link #POLLIN}).
 */
public final class Native {
    private Native() {}

    /** The jnr-ffi binding itself. */
    private static final LibC RAW = LibraryLoader.create(LibC.class).load(Platform.getNativePlatform().getStandardCLibraryName());
    /**
     * The bound libc: the jnr-ffi binding, except that recv/recvfrom/send/sendto on a heap
     * buffer of at most {@link Scratch#IO_MAX} bytes go through the thread's direct
     * {@link Scratch#io} buffer (see {@link HeapCopying}).
     */
    public static final LibC LIBC = new HeapCopying(RAW);
    /** The jnr runtime the binding lives in. */
    public static final Runtime RUNTIME = Runtime.getRuntime(RAW);
    /** True on Linux. */
    public static final boolean LINUX = Os.LINUX;
    /** True where struct sockaddr starts with a length byte (the BSDs, macOS). */
    public static final boolean BSD_SOCKADDR = Os.BSD_SOCKADDR;

    /** Platform integer of a jnr-constants constant, or -1 where this platform lacks it. */
    public static int value(Constant c) { return c.defined() ? c.intValue() : -1; }

    /** AF_UNSPEC (AddressFamily in jnr-constants), or -1 where this platform lacks it. */
    public static final int AF_UNSPEC = value(AddressFamily.AF_UNSPEC);
    /** AF_INET (AddressFamily in jnr-constants), or -1 where this platform lacks it. */
    public static final int AF_INET = value(AddressFamily.AF_INET);
    /** AF_INET6 (AddressFamily in jnr-constants), or -1 where this platform lacks it. */
    public static final int AF_INET6 = value(AddressFamily.AF_INET6);
    /** AF_UNIX (AddressFamily in jnr-constants), or -1 where this platform lacks it. */
    public static final int AF_UNIX = value(AddressFamily.AF_UNIX);
    /** SOCK_STREAM (Sock in jnr-constants), or -1 where this platform lacks it. */
    public static final int SOCK_STREAM = value(Sock.SOCK_STREAM);
    /** SOCK_DGRAM (Sock in jnr-constants), or -1 where this platform lacks it. */
    public static final int SOCK_DGRAM = value(Sock.SOCK_DGRAM);
    /** SOCK_SEQPACKET (Sock in jnr-constants), or -1 where this platform lacks it. */
    public static final int SOCK_SEQPACKET = value(Sock.SOCK_SEQPACKET);
    /** SOCK_NONBLOCK|SOCK_CLOEXEC where socket() and accept4() take them, else 0. */
    public static final int SOCK_ATOMIC_FLAGS =
        Sock.SOCK_NONBLOCK.defined() && Sock.SOCK_CLOEXEC.defined() ? Sock.SOCK_NONBLOCK.intValue() | Sock.SOCK_CLOEXEC.intValue() : 0;
    /** MSG_NOSIGNAL where the platform has it (else 0, and SO_NOSIGPIPE is set on each socket). */
    public static final int MSG_NOSIGNAL = SocketMessage.MSG_NOSIGNAL.defined() ? SocketMessage.MSG_NOSIGNAL.intValue() : 0;
    /** SOCK_CLOEXEC alone, for accept4 on a socket in blocking mode (0 where accept4 lacks it). */
    public static final int SOCK_CLOEXEC = SOCK_ATOMIC_FLAGS != 0 ? Sock.SOCK_CLOEXEC.intValue() : 0;
    /** MSG_DONTWAIT: one call that does not wait, whatever the fd's mode (-1 where absent). */
    public static final int MSG_DONTWAIT = value(SocketMessage.MSG_DONTWAIT);
    /** MSG_DONTWAIT, or 0 where the platform lacks it (there every fd is non-blocking). */
    public static final int NO_WAIT = Math.max(0, MSG_DONTWAIT);
    /** SHUT_RD (Shutdown in jnr-constants), or -1 where this platform lacks it. */
    public static final int SHUT_RD = value(Shutdown.SHUT_RD);
    /** SOL_SOCKET (SocketLevel in jnr-constants), or -1 where this platform lacks it. */
    public static final int SOL_SOCKET = value(SocketLevel.SOL_SOCKET);
    /** SO_ERROR (SocketOption in jnr-constants), or -1 where this platform lacks it. */
    public static final int SO_ERROR = value(SocketOption.SO_ERROR);
    /** SO_NOSIGPIPE (SocketOption in jnr-constants), or -1 where this platform lacks it. */
    public static final int SO_NOSIGPIPE = value(SocketOption.SO_NOSIGPIPE);
    /** SO_TYPE (SocketOption in jnr-constants), or -1 where this platform lacks it. */
    public static final int SO_TYPE = value(SocketOption.SO_TYPE);
    /** SO_RCVTIMEO (SocketOption in jnr-constants), or -1 where this platform lacks it. */
    public static final int SO_RCVTIMEO = value(SocketOption.SO_RCVTIMEO);
    /** SO_SNDTIMEO (SocketOption in jnr-constants), or -1 where this platform lacks it. */
    public static final int SO_SNDTIMEO = value(SocketOption.SO_SNDTIMEO);
    /** F_GETFL (Fcntl in jnr-constants), or -1 where this platform lacks it. */
    public static final int F_GETFL = value(Fcntl.F_GETFL);
    /** F_SETFL (Fcntl in jnr-constants), or -1 where this platform lacks it. */
    public static final int F_SETFL = value(Fcntl.F_SETFL);
    /** F_GETFD (Fcntl in jnr-constants), or -1 where this platform lacks it. */
    public static final int F_GETFD = value(Fcntl.F_GETFD);
    /** F_SETFD (Fcntl in jnr-constants), or -1 where this platform lacks it. */
    public static final int F_SETFD = value(Fcntl.F_SETFD);
    /** FD_CLOEXEC, the close-on-exec bit of F_GETFD/F_SETFD. */
    public static final int FD_CLOEXEC = 1; // <fcntl.h>: 1 on every POSIX platform; jnr-constants has no FD_ flags

    /**
     * Sets FD_CLOEXEC on {@code fd} (F_GETFD, then F_SETFD with the bit added). Returns false
     * when fcntl fails (then {@link #errno} says why). Does not block.
     */
    public static boolean setCloexec(int fd) {
        int fl = LIBC.fcntl(fd, F_GETFD, 0);
        return fl >= 0 && LIBC.fcntl(fd, F_SETFD, fl | FD_CLOEXEC) >= 0;
    }

    /**
     * Sets O_NONBLOCK on {@code fd} (F_GETFL, then F_SETFL with the flag added). Returns false
     * when fcntl fails (then {@link #errno} says why). Does not block.
     */
    public static boolean setNonblock(int fd) {
        int fl = LIBC.fcntl(fd, F_GETFL, 0);
        return fl >= 0 && LIBC.fcntl(fd, F_SETFL, fl | O_NONBLOCK) >= 0;
    }
    /** O_NONBLOCK (OpenFlags in jnr-constants), or -1 where this platform lacks it. */
    public static final int O_NONBLOCK = value(OpenFlags.O_NONBLOCK);

    // poll(2) event bits: jnr-constants has no table for them. These values are the same
    // on Linux, macOS and the BSDs (<poll.h>, <sys/poll.h>).
    /** POLLIN. */  public static final short POLLIN = 0x0001;
    /** POLLPRI. */ public static final short POLLPRI = 0x0002;
    /** POLLOUT. */ public static final short POLLOUT = 0x0004;
    /** POLLERR. */ public static final short POLLERR = 0x0008;
    /** POLLHUP. */ public static final short POLLHUP = 0x0010;
    /** POLLNVAL. */ public static final short POLLNVAL = 0x0020;

    /** EAGAIN (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int EAGAIN = value(Errno.EAGAIN);
    /** EWOULDBLOCK (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int EWOULDBLOCK = value(Errno.EWOULDBLOCK);
    /** EINTR (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int EINTR = value(Errno.EINTR);
    /** EINPROGRESS (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int EINPROGRESS = value(Errno.EINPROGRESS);
    /** ENOTCONN (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int ENOTCONN = value(Errno.ENOTCONN);
    /** EBADF (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int EBADF = value(Errno.EBADF);
    /** EINVAL (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int EINVAL = value(Errno.EINVAL);
    /** ECONNABORTED (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int ECONNABORTED = value(Errno.ECONNABORTED);
    /** EPROTO (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int EPROTO = value(Errno.EPROTO);
    /** ETIMEDOUT (Errno in jnr-constants), or -1 where this platform lacks it. */
    public static final int ETIMEDOUT = value(Errno.ETIMEDOUT);
    /** EPIPE (Errno in jnr-constants): a send on a stream whose peer is gone, or that was never connected. */
    public static final int EPIPE = value(Errno.EPIPE);

    /** errno of the last call on this thread that saved it. */
    public static int errno() { return LastError.getLastError(RUNTIME); }

    /** True for EAGAIN / EWOULDBLOCK. */
    public static boolean wouldBlock(int errno) { return errno == EAGAIN || errno == EWOULDBLOCK; }

    private static final ConcurrentHashMap<Integer, String> MESSAGES = new ConcurrentHashMap<>();

    /** strerror text, first letter lower-cased as the egg prints it ("connection refused"). */
    public static String message(int errno) {
        return MESSAGES.computeIfAbsent(errno, e -> {
            String name = errnoName(e);
            String s = name == null ? null : LIBC.strerror(e); // only known errnos: constant strings
            if (s == null || s.isEmpty()) return "error " + e;
            return Character.toLowerCase(s.charAt(0)) + s.substring(1);
        });
    }

    /** The errno's symbolic name ("ECONNREFUSED") from jnr-constants, or null when unknown. */
    public static String errnoName(int errno) {
        Errno e = Errno.valueOf(errno);
        return e == null || e == Errno.__UNKNOWN_CONSTANT__ ? null : e.name();
    }

    /**
     * {@link LibC} over the jnr-ffi binding. jnr-ffi passes a heap ByteBuffer (pinned) through
     * its generic invocation path, which costs about 2 us more per call than a direct buffer
     * (measured: 1 B send+recv pair 13.6-18 us with byte arrays, 9.5 us direct). So a heap
     * buffer of at most {@link Scratch#IO_MAX} bytes is copied into or out of this thread's
     * direct {@link Scratch#io} buffer instead, as NIO does with its temporary buffers; only
     * the bytes the kernel filled are copied back. Larger or read-only heap buffers stay pinned.
     * Every other function is the binding's.
     */
    static final class HeapCopying implements LibC {
        private final LibC raw;
        HeapCopying(LibC raw) { this.raw = raw; }

        private static boolean copies(ByteBuffer buf, long len) {
            return !buf.isDirect() && buf.hasArray() && len <= Scratch.IO_MAX && len >= 0;
        }

        private static void copyBack(ByteBuffer d, ByteBuffer buf, long n, long len) {
            if (n > 0) d.get(0, buf.array(), buf.arrayOffset() + buf.position(), (int) Math.min(n, len));
        }

        private static ByteBuffer copyIn(ByteBuffer buf, long len) {
            ByteBuffer d = Scratch.get().io((int) len);
            d.put(0, buf.array(), buf.arrayOffset() + buf.position(), (int) len);
            return d;
        }

        @Override public long recv(int fd, ByteBuffer buf, long len, int flags) {
            if (!copies(buf, len)) return raw.recv(fd, buf, len, flags);
            ByteBuffer d = Scratch.get().io((int) len);
            long n = raw.recv(fd, d, len, flags);
            copyBack(d, buf, n, len);
            return n;
        }
        @Override public long recvfrom(int fd, ByteBuffer buf, long len, int flags, Pointer addr, Pointer addrlen) {
            if (!copies(buf, len)) return raw.recvfrom(fd, buf, len, flags, addr, addrlen);
            ByteBuffer d = Scratch.get().io((int) len);
            long n = raw.recvfrom(fd, d, len, flags, addr, addrlen);
            copyBack(d, buf, n, len);
            return n;
        }
        @Override public long send(int fd, ByteBuffer buf, long len, int flags) {
            return copies(buf, len) ? raw.send(fd, copyIn(buf, len), len, flags) : raw.send(fd, buf, len, flags);
        }
        @Override public long sendto(int fd, ByteBuffer buf, long len, int flags, Pointer addr, int addrlen) {
            return copies(buf, len) ? raw.sendto(fd, copyIn(buf, len), len, flags, addr, addrlen)
                                    : raw.sendto(fd, buf, len, flags, addr, addrlen);
        }

        @Override public int socket(int domain, int type, int protocol) { return raw.socket(domain, type, protocol); }
        @Override public int close(int fd) { return raw.close(fd); }
        @Override public int bind(int fd, Pointer addr, int addrlen) { return raw.bind(fd, addr, addrlen); }
        @Override public int connect(int fd, Pointer addr, int addrlen) { return raw.connect(fd, addr, addrlen); }
        @Override public int listen(int fd, int backlog) { return raw.listen(fd, backlog); }
        @Override public int accept(int fd, Pointer addr, Pointer addrlen) { return raw.accept(fd, addr, addrlen); }
        @Override public int accept4(int fd, Pointer addr, Pointer addrlen, int flags) { return raw.accept4(fd, addr, addrlen, flags); }
        @Override public int getsockname(int fd, Pointer addr, Pointer addrlen) { return raw.getsockname(fd, addr, addrlen); }
        @Override public int getpeername(int fd, Pointer addr, Pointer addrlen) { return raw.getpeername(fd, addr, addrlen); }
        @Override public int getsockopt(int fd, int level, int name, Pointer value, Pointer len) { return raw.getsockopt(fd, level, name, value, len); }
        @Override public int setsockopt(int fd, int level, int name, Pointer value, int len) { return raw.setsockopt(fd, level, name, value, len); }
        @Override public int shutdown(int fd, int how) { return raw.shutdown(fd, how); }
        @Override public int recvmmsg(int fd, Pointer msgvec, int vlen, int flags, Pointer timeout) { return raw.recvmmsg(fd, msgvec, vlen, flags, timeout); }
        @Override public int sendmmsg(int fd, Pointer msgvec, int vlen, int flags) { return raw.sendmmsg(fd, msgvec, vlen, flags); }
        @Override public int poll(Pointer fds, long nfds, int timeout) { return raw.poll(fds, nfds, timeout); }
        @Override public int fcntl(int fd, int cmd, int arg) { return raw.fcntl(fd, cmd, arg); }
        @Override public int getaddrinfo(String node, String service, Pointer hints, PointerByReference res) { return raw.getaddrinfo(node, service, hints, res); }
        @Override public void freeaddrinfo(Pointer res) { raw.freeaddrinfo(res); }
        @Override public String gai_strerror(int code) { return raw.gai_strerror(code); }
        @Override public int getnameinfo(Pointer sa, int salen, Pointer host, int hostlen, Pointer serv, int servlen, int flags) { return raw.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags); }
        @Override public String strerror(int errnum) { return raw.strerror(errnum); }
        @Override public int inet_pton(int af, String src, Pointer dst) { return raw.inet_pton(af, src, dst); }
        @Override public Pointer inet_ntop(int af, Pointer src, Pointer dst, int size) { return raw.inet_ntop(af, src, dst, size); }
        @Override public int if_nametoindex(String name) { return raw.if_nametoindex(name); }
        @Override public Pointer if_indextoname(int index, Pointer buf) { return raw.if_indextoname(index, buf); }
        @Override public int if_nametoindex(byte[] name) { return raw.if_nametoindex(name); }
        @Override public int getifaddrs(PointerByReference res) { return raw.getifaddrs(res); }
        @Override public void freeifaddrs(Pointer ifa) { raw.freeifaddrs(ifa); }
    }
}
