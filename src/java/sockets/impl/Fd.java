package sockets.impl;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import jnr.ffi.Platform;
import sockets.SocketException;

/**
 * The owner of one file descriptor. Every operation {@link #acquire acquires} the fd before
 * it touches the number and {@link #release releases} it after; {@link #close} marks the fd
 * closed at once (new acquires fail with {@code :closed}) but the number is only given back
 * to the kernel when the last call inside it leaves, so no call can ever act on a number the
 * kernel has handed to someone else. Closing twice is harmless. {@link #detach} ends the
 * ownership like a close but hands the open number to the caller instead of closing it.
 */
public final class Fd {
    private static final long CLOSED = 1L << 62;
    /** Set with CLOSED by {@link #detach}: the last call out does not close the number. */
    private static final long DETACHED = 1L << 61;
    private static final long COUNT = DETACHED - 1;

    private final int fd;
    private final AtomicLong state = new AtomicLong();
    /** The thread waiting in {@link #detach} for the calls inside to leave, or null. */
    private volatile Thread detacher;

    /** Takes ownership of an open fd. */
    public Fd(int fd) { this.fd = fd; }

    /** The fd number, for display; operations must {@link #acquire} it. */
    public int number() { return fd; }

    /** True once {@link #close} has been called. */
    public boolean isClosed() { return (state.get() & CLOSED) != 0; }

    /**
     * Returns the fd number, reserved until the matching {@link #release}.
     * @throws SocketException {@code :closed} when the fd is closed
     */
    public int acquire(String op) throws SocketException {
        for (;;) {
            long s = state.get();
            if ((s & CLOSED) != 0) throw closed(op);
            if (state.compareAndSet(s, s + 1)) return fd;
        }
    }

    /**
     * Ends a call begun with {@link #acquire}; the last one out of a closed fd closes it (out
     * of a detached one, it wakes the thread waiting in {@link #detach}).
     */
    public void release() {
        long s = state.decrementAndGet();
        if (s == CLOSED) closeNow();
        else if (s == (CLOSED | DETACHED)) {
            Thread t = detacher;
            if (t != null) LockSupport.unpark(t);
        }
    }

    /**
     * Marks the fd closed. If no call is inside it, it is closed now and the return value is
     * close(2)'s errno (0 on success). Otherwise its read side is shut down so that threads
     * blocked on it wake at once (SHUT_RD sends nothing to the peer, so a close with SO_LINGER 0
     * still resets the connection; a thread blocked in a send wakes at its next poll slice), and the last call to leave closes the number;
     * this returns 0. Returns 0 as well when it was already closed.
     */
    public int close() {
        for (;;) {
            long s = state.get();
            if ((s & CLOSED) != 0) return 0;
            if ((s & COUNT) == 0) {
                if (state.compareAndSet(s, s | CLOSED)) return closeNow();
            } else if (state.compareAndSet(s, (s | CLOSED) + 1)) {
                // Holding a count of our own keeps the number reserved while we shut it down.
                Native.LIBC.shutdown(fd, Native.SHUT_RD);
                release();
                return 0;
            }
        }
    }

    /** True once {@link #detach} has been called (then {@link #isClosed} is true as well). */
    public boolean isDetached() { return (state.get() & DETACHED) != 0; }

    /**
     * Gives the fd up without closing it: marks it closed at once (new acquires fail with
     * {@code :closed}, and calls waiting inside see the close within {@link Waiting#WAKE_MS}
     * ms, as after {@link #close}), but changes nothing in the kernel (no shutdown(2), no
     * close(2)), then blocks until every call inside has {@link #release released} it and
     * returns the number, open, now the caller's. A later {@link #close} does nothing.
     * <p>With {@code mustNotWait} it never blocks: when a call is inside (an event loop holds
     * every fd it watches acquired) it changes nothing and throws {@code :invalid}; an event
     * loop's own thread passes it, since it cannot wait for itself.
     * <p>The wait cannot be interrupted (the fd is already given up, and only this thread may
     * take the number): an interrupt is kept for the caller to see.
     * @throws SocketException {@code :closed} when the fd is already closed or detached
     *         (nothing changes), {@code :invalid} as said above
     */
    public int detach(String op, boolean mustNotWait) throws SocketException {
        for (;;) {
            long s = state.get();
            if ((s & CLOSED) != 0) throw closed(op);
            if (mustNotWait && (s & COUNT) != 0)
                throw SocketException.invalid(op, "fd " + fd + " is in use (by an event loop or another thread's call): "
                                              + "detach it from a thread that is not an event loop's, which waits for them to let go");
            if (state.compareAndSet(s, s | CLOSED | DETACHED)) break;
        }
        // Only this thread got here (the CAS above succeeds once), so only it writes detacher.
        detacher = Thread.currentThread();
        boolean interrupted = false;
        try {
            while ((state.get() & COUNT) != 0) {
                LockSupport.parkNanos(this, Waiting.WAKE_MS * 1_000_000L);
                if (Thread.interrupted()) interrupted = true;
            }
        } finally {
            detacher = null;
            if (interrupted) Thread.currentThread().interrupt();
        }
        return fd;
    }

    /**
     * fcntl's F_DUPFD_CLOEXEC: one small table, as jnr-constants has no such entry (values from
     * each system's {@code <fcntl.h>}: Linux F_LINUX_SPECIFIC_BASE + 6, macOS 67, FreeBSD and
     * DragonFly 17, OpenBSD 10, NetBSD 12); -1 elsewhere.
     */
    static final int F_DUPFD_CLOEXEC;
    static {
        switch (Platform.getNativePlatform().getOS()) {
            case LINUX: F_DUPFD_CLOEXEC = 1024 + 6; break;
            case DARWIN: F_DUPFD_CLOEXEC = 67; break;
            case FREEBSD: case DRAGONFLY: F_DUPFD_CLOEXEC = 17; break;
            case OPENBSD: F_DUPFD_CLOEXEC = 10; break;
            case NETBSD: F_DUPFD_CLOEXEC = 12; break;
            default: F_DUPFD_CLOEXEC = -1;
        }
    }

    /**
     * Returns a new fd number on the same open file description (its file status flags, such as
     * O_NONBLOCK, are shared), close-on-exec from the start (F_DUPFD_CLOEXEC: there is no moment
     * at which an exec could inherit it). The number is the caller's to close. Does not block.
     * @throws SocketException {@code :closed} when this fd is closed; {@code :unsupported} where
     *         the platform has no F_DUPFD_CLOEXEC; the errno's kind (EMFILE: no free fd number)
     */
    public int dup(String op) throws SocketException {
        int n = acquire(op);
        try {
            if (F_DUPFD_CLOEXEC < 0)
                throw SocketException.unsupported(op, "this platform has no F_DUPFD_CLOEXEC, so a dup could leak into a child process");
            for (;;) {
                int r = Native.LIBC.fcntl(n, F_DUPFD_CLOEXEC, 0);
                if (r >= 0) return r;
                int e = Native.errno();
                if (e != Native.EINTR) {
                    String why = "EMFILE".equals(Native.errnoName(e)) ? " (no free fd number: close some, or raise the process's fd limit)" : "";
                    throw SocketException.errno(op, e, "cannot duplicate fd " + n + why, null);
                }
            }
        } finally { release(); }
    }

    private int closeNow() {
        // close(2) is never retried: on Linux the number is released even when it fails with EINTR.
        int rc = Native.LIBC.close(fd);
        return rc == 0 ? 0 : Native.errno();
    }

    /** The {@code :closed} error for this fd (saying so when it was detached). */
    public SocketException closed(String op) {
        if (isDetached())
            return new SocketException(op, SocketException.Kind.CLOSED, Native.EBADF, null,
                                       "socket is closed: its fd " + fd + " was detached (handed over); use the new owner", null);
        return SocketException.closed(op);
    }

    @Override
    public String toString() { return "fd:" + fd + (isDetached() ? " (detached)" : isClosed() ? " (closed)" : ""); }
}
