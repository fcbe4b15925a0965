package sockets.impl;

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
import jnr.ffi.Runtime;

/**
 * The one place libc is loaded, with the platform numbers the core needs (all from
 * jnr-constants, except poll's event bits, which jnr-constants lacks: see {@link #POLLIN}).
 */
public final class Native {
    private Native() {}

    /** The bound libc. */
    public static final LibC LIBC = LibraryLoader.create(LibC.class).load(Platform.getNativePlatform().getStandardCLibraryName());
    /** The jnr runtime the binding lives in. */
    public static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
    /** True on Linux. */
    public static final boolean LINUX = Platform.getNativePlatform().getOS() == Platform.OS.LINUX;
    /** True where struct sockaddr starts with a length byte (the BSDs, macOS). */
    public static final boolean BSD_SOCKADDR = !LINUX && Platform.getNativePlatform().isBSD();

    /** Platform integer of a jnr-constants constant, or -1 where this platform lacks it. */
    public static int value(Constant c) { return c.defined() ? c.intValue() : -1; }

    public static final int AF_UNSPEC = value(AddressFamily.AF_UNSPEC);
    public static final int AF_INET = value(AddressFamily.AF_INET);
    public static final int AF_INET6 = value(AddressFamily.AF_INET6);
    public static final int AF_UNIX = value(AddressFamily.AF_UNIX);
    public static final int SOCK_STREAM = value(Sock.SOCK_STREAM);
    public static final int SOCK_DGRAM = value(Sock.SOCK_DGRAM);
    public static final int SOCK_SEQPACKET = value(Sock.SOCK_SEQPACKET);
    /** SOCK_NONBLOCK|SOCK_CLOEXEC where socket() and accept4() take them, else 0. */
    public static final int SOCK_ATOMIC_FLAGS =
        Sock.SOCK_NONBLOCK.defined() && Sock.SOCK_CLOEXEC.defined() ? Sock.SOCK_NONBLOCK.intValue() | Sock.SOCK_CLOEXEC.intValue() : 0;
    /** MSG_NOSIGNAL where the platform has it (else 0, and SO_NOSIGPIPE is set on each socket). */
    public static final int MSG_NOSIGNAL = SocketMessage.MSG_NOSIGNAL.defined() ? SocketMessage.MSG_NOSIGNAL.intValue() : 0;
    public static final int SHUT_RDWR = value(Shutdown.SHUT_RDWR);
    public static final int SOL_SOCKET = value(SocketLevel.SOL_SOCKET);
    public static final int SO_ERROR = value(SocketOption.SO_ERROR);
    public static final int SO_NOSIGPIPE = value(SocketOption.SO_NOSIGPIPE);
    public static final int SO_TYPE = value(SocketOption.SO_TYPE);
    public static final int F_GETFL = value(Fcntl.F_GETFL);
    public static final int F_SETFL = value(Fcntl.F_SETFL);
    public static final int F_GETFD = value(Fcntl.F_GETFD);
    public static final int F_SETFD = value(Fcntl.F_SETFD);
    public static final int FD_CLOEXEC = 1; // <fcntl.h>: 1 on every POSIX platform; jnr-constants has no FD_ flags
    public static final int O_NONBLOCK = value(OpenFlags.O_NONBLOCK);

    // poll(2) event bits: jnr-constants has no table for them. These values are the same
    // on Linux, macOS and the BSDs (<poll.h>, <sys/poll.h>).
    /** POLLIN. */  public static final short POLLIN = 0x0001;
    /** POLLPRI. */ public static final short POLLPRI = 0x0002;
    /** POLLOUT. */ public static final short POLLOUT = 0x0004;
    /** POLLERR. */ public static final short POLLERR = 0x0008;
    /** POLLHUP. */ public static final short POLLHUP = 0x0010;
    /** POLLNVAL. */ public static final short POLLNVAL = 0x0020;

    public static final int EAGAIN = value(Errno.EAGAIN);
    public static final int EWOULDBLOCK = value(Errno.EWOULDBLOCK);
    public static final int EINTR = value(Errno.EINTR);
    public static final int EINPROGRESS = value(Errno.EINPROGRESS);
    public static final int ENOTCONN = value(Errno.ENOTCONN);
    public static final int EBADF = value(Errno.EBADF);
    public static final int EINVAL = value(Errno.EINVAL);
    public static final int ECONNABORTED = value(Errno.ECONNABORTED);
    public static final int EPROTO = value(Errno.EPROTO);
    public static final int ETIMEDOUT = value(Errno.ETIMEDOUT);

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
}
