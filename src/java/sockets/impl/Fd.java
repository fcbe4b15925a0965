package sockets.impl;

import java.util.concurrent.atomic.AtomicLong;
import sockets.SocketException;

/**
 * The owner of one file descriptor. Every operation {@link #acquire acquires} the fd before
 * it touches the number and {@link #release releases} it after; {@link #close} marks the fd
 * closed at once (new acquires fail with {@code :closed}) but the number is only given back
 * to the kernel when the last call inside it leaves, so no call can ever act on a number the
 * kernel has handed to someone else. Closing twice is harmless.
 */
public final class Fd {
    private static final long CLOSED = 1L << 62;
    private static final long COUNT = CLOSED - 1;

    private final int fd;
    private final AtomicLong state = new AtomicLong();

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

    /** Ends a call begun with {@link #acquire}; the last one out of a closed fd closes it. */
    public void release() {
        long s = state.decrementAndGet();
        if (s == CLOSED) closeNow();
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

    private int closeNow() {
        // close(2) is never retried: on Linux the number is released even when it fails with EINTR.
        int rc = Native.LIBC.close(fd);
        return rc == 0 ? 0 : Native.errno();
    }

    /** The {@code :closed} error for this fd. */
    public SocketException closed(String op) {
        return SocketException.closed(op);
    }

    @Override
    public String toString() { return "fd:" + fd + (isClosed() ? " (closed)" : ""); }
}
