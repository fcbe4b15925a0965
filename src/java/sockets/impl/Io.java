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
        try { return attempt(fd, fdn, op, what, null, null, call, null, 0); } finally { fd.release(); }
    }

    /**
     * {@link #attempt} for callers that already hold {@code fd} acquired as {@code fdn}: no
     * acquire/release.
     */
    public static long attemptAcquired(Fd fd, int fdn, String op, String what, Syscall call) throws SocketException {
        return attempt(fd, fdn, op, what, null, null, call, null, 0);
    }

    /**
     * One system call that takes flags: the caller's flags plus {@code flags} (0, or
     * MSG_DONTWAIT when the call must not wait in the kernel), see {@link Waiting}. Returns its
     * result (>= 0) or -1 with errno set.
     */
    @FunctionalInterface
    public interface FlagSyscall {
        /** Makes the call on {@code fdn} with {@code flags} added to its own. */
        long call(int fdn, int flags);
    }

    /**
     * {@link #attemptAcquired(Fd, int, String, String, Syscall)} with an address for error
     * messages and ex-data ({@code address}, may be null), and {@code discard} (may be null):
     * called with a successful result that is thrown away because the fd was closed meanwhile,
     * for calls whose result is a resource (accept's new fd, which it must close).
     */
    public static long attemptAcquired(Fd fd, int fdn, String op, String what, Object address,
                                       LongConsumer discard, Syscall call) throws SocketException {
        return attempt(fd, fdn, op, what, address, discard, call, null, 0);
    }

    /** {@link #attemptAcquired(Fd, int, String, String, Object, LongConsumer, Syscall)} for a call given {@code flags}. */
    public static long attemptAcquired(Fd fd, int fdn, String op, String what, Object address,
                                       LongConsumer discard, FlagSyscall call, int flags) throws SocketException {
        return attempt(fd, fdn, op, what, address, discard, null, call, flags);
    }

    /** The one attempt loop: {@code plain} or {@code flagged} (the other null). */
    private static long attempt(Fd fd, int fdn, String op, String what, Object address, LongConsumer discard,
                                Syscall plain, FlagSyscall flagged, int flags) throws SocketException {
        for (;;) {
            long r = plain != null ? plain.call(fdn) : flagged.call(fdn, flags);
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
