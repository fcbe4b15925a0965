package sockets.impl;

import jnr.constants.platform.OpenFlags;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import sockets.SocketException;

/**
 * The loop's wake-up descriptor: an eventfd on Linux, a non-blocking close-on-exec pipe
 * elsewhere. {@link #wake} may be called from any thread; {@link #drain} by the loop thread.
 */
final class LoopWaker {
    static final int O_CLOEXEC = Native.value(OpenFlags.O_CLOEXEC);

    /** The fd to watch for READ. */
    final int readFd;
    private final int writeFd;
    private final Pointer wbuf = Memory.allocateDirect(Native.RUNTIME, 8, true);
    private final Pointer rbuf = Memory.allocateDirect(Native.RUNTIME, 64, true);

    LoopWaker(Epoll sys, boolean eventfd) throws SocketException {
        this.sys = sys;
        if (eventfd) {
            int fd = sys.eventfd(0, O_CLOEXEC | Native.O_NONBLOCK);
            if (fd < 0) throw SocketException.errno("event-loop", Native.errno(), "cannot create eventfd", null);
            readFd = writeFd = fd;
        } else {
            int[] fds = new int[2];
            if (sys.pipe(fds) < 0) throw SocketException.errno("event-loop", Native.errno(), "cannot create pipe", null);
            readFd = fds[0]; writeFd = fds[1];
            for (int fd : fds) {
                if (!Native.setCloexec(fd) || !Native.setNonblock(fd)) {
                    int e = Native.errno();
                    Native.LIBC.close(fds[0]); Native.LIBC.close(fds[1]);
                    throw SocketException.errno("event-loop", e, "cannot configure pipe", null);
                }
            }
        }
        wbuf.putLong(0, 1L); // eventfd adds this 8-byte counter; a pipe takes any bytes
    }
    private final Epoll sys;

    /** Wakes the loop: a full pipe or a saturated counter (EAGAIN) is already a pending wake-up. */
    void wake() {
        sys.write(writeFd, wbuf, 8);
    }

    /** Consumes pending wake-ups. */
    void drain() {
        while (sys.read(readFd, rbuf, 64) > 0) {
            if (readFd == writeFd) return; // an eventfd read resets the counter in one go
        }
    }

    void close() {
        Native.LIBC.close(readFd);
        if (writeFd != readFd) Native.LIBC.close(writeFd);
    }
}
