package sockets.impl;

import java.util.function.LongConsumer;
import sockets.SocketException;

/**
 * One attempt of one system call, never waiting: the part of every socket operation that the
 * blocking calls and the event loop share. It retries EINTR, turns EAGAIN /
 * EWOULDBLOCK into {@link #WOULD_BLOCK}, a close that happened before or during the call into
 * {@code :closed} (a close shuts the socket's read side down to wake callers, so a receive
 * that returns 0 meanwhile is reported as the close it is, not as end of stream), and any
 * other errno into a {@link SocketException} of that errno's kind.
 */
public final class Io {
    private Io() {}

    /** What attempt returns when the call would block (EAGAIN/EWOULDBLOCK). */
    public static final long WOULD_BLOCK = -1;   // never a valid result

    /**
     * Acquires {@code fd}, runs {@code call}, retries EINTR, releases. Returns the result
     * (>= 0) or {@link #WOULD_BLOCK}. Never waits.
     * @param op the operation for errors ("socket-receive!")
     * @param what the error text for a failed call ("cannot read from socket")
     * @throws SocketException {@code fd.closed(op)} when the fd was or became closed, else the
     *         errno's kind ({@link SocketException#fromErrno}) for any other errno
     */
    public static long attempt(Fd fd, String op, String what, Syscall call) throws SocketException {
        int fdn = fd.acquire(op);
        try { return attemptAcquired(fd, fdn, op, what, null, null, call); } finally { fd.release(); }
    }

    /**
     * {@link #attempt} for callers that already hold {@code fd} acquired as {@code fdn}: no
     * acquire/release.
     */
    public static long attemptAcquired(Fd fd, int fdn, String op, String what, Syscall call) throws SocketException {
        return attemptAcquired(fd, fdn, op, what, null, null, call);
    }

    /**
     * {@link #attemptAcquired(Fd, int, String, String, Syscall)} with an address for error
     * messages and ex-data ({@code address}, may be null), and {@code discard} (may be null):
     * called with a successful result that is thrown away because the fd was closed meanwhile,
     * for calls whose result is a resource (accept's new fd, which it must close).
     */
    public static long attemptAcquired(Fd fd, int fdn, String op, String what, Object address,
                                       LongConsumer discard, Syscall call) throws SocketException {
        for (;;) {
            long r = call.call(fdn);
            int e = r < 0 ? Native.errno() : 0;
            if (fd.isClosed()) {
                if (r >= 0 && discard != null) discard.accept(r);
                throw fd.closed(op);
            }
            if (r >= 0) return r;
            if (e == Native.EINTR) continue;
            if (Native.wouldBlock(e)) return WOULD_BLOCK;
            throw SocketException.fromErrno(op, e, what, address);
        }
    }
}
