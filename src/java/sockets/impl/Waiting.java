package sockets.impl;

import java.util.function.LongConsumer;
import jnr.ffi.Pointer;
import sockets.SocketException;

/**
 * The one waiting path of the blocking calls, one per socket. {@link #run} owns what every
 * blocking operation does around its system call: the attempt ({@link Io}: EINTR retried, a
 * close seen, errno turned into a {@link SocketException}), and when the call would block the
 * wait, until the deadline, a close (wakes within {@link #WAKE_MS} ms, {@code :closed}) or an
 * interrupt ({@code :interrupted}, the status stays set). Three ways to wait, chosen per call:
 * <ul>
 * <li>non-blocking mode (the egg's, the default): poll(2) in slices of at most {@link #WAKE_MS}
 * ms, then the call again; a receive that had to wait last time waits first (poll, recv: two
 * system calls instead of three), see {@link Op#pollFirst};</li>
 * <li>blocking mode ({@link #setBlocking}): the call itself waits in the kernel, bounded by a
 * slice of SO_RCVTIMEO / SO_SNDTIMEO (one system call per wait);</li>
 * <li>a virtual thread: it parks on the {@link Parker}, leaving its carrier free.</li>
 * </ul>
 * A caller's MSG_DONTWAIT means no wait at all: a call that would block fails at once with
 * {@code :would-block} (errno EAGAIN). Deadlines are {@link System#nanoTime} values with
 * {@link Long#MAX_VALUE} for none; any timeout in milliseconds, up to {@link Long#MAX_VALUE},
 * gives one without overflow ({@link #deadline(long, long)}).
 */
public final class Waiting {
    /** How often a waiting call looks for a close or an interrupt, in milliseconds. */
    public static final int WAKE_MS = 50;

    /** Spurious wakeups (ready, yet the call would still block) a call takes before it backs off. */
    public static final int SPURIOUS_FREE = 2;

    /**
     * The longest timeout counted, in ms (about 146 years): any longer one means no deadline
     * (practically never), so {@code timeoutMs * 1_000_000} never overflows.
     */
    public static final long FOREVER_MS = (Long.MAX_VALUE >> 1) / 1_000_000L;

    static {
        // The parker's classes are loaded with this one, not at the first wait: loading a class
        // from a directory takes a free fd, which a call waiting at EMFILE would not get (and the
        // JVM remembers such a failure for good).
        Parker.preload();
    }

    /** One kind of blocking call: what it waits for and how. Immutable. */
    public static final class Op {
        /** The system call's name for messages ("recv"). */ public final String what;
        /** The text of a failure ("cannot read from socket"). */ public final String failure;
        /** POLLIN or POLLOUT. */ public final short events;
        /** Which kernel timeout bounds it in blocking mode: SO_RCVTIMEO (true) or SO_SNDTIMEO. */ public final boolean receiving;
        /** In blocking mode it may wait inside the call (else it always waits in poll or parks). */ public final boolean kernelWait;
        /** It takes MSG_DONTWAIT (else a 1 us kernel timeout stands for it when it must not wait). */ public final boolean takesFlags;
        /** Egg mode: when the last such call had to wait, wait before the next one's first try. */ public final boolean pollFirst;
        /** Longest single wait in ns before trying again (0: until ready), for readiness poll does not report. */ public final long maxWaitNs;

        /** A kind of call; see the fields. */
        public Op(String what, String failure, short events, boolean receiving, boolean kernelWait,
                  boolean takesFlags, boolean pollFirst, long maxWaitNs) {
            this.what = what; this.failure = failure; this.events = events; this.receiving = receiving;
            this.kernelWait = kernelWait; this.takesFlags = takesFlags; this.pollFirst = pollFirst; this.maxWaitNs = maxWaitNs;
        }
    }

    /** recv / recvfrom. */
    public static final Op RECV = new Op("recv", "cannot read from socket", Native.POLLIN, true, true, true, true, 0);
    /** send / sendto. */
    public static final Op SEND = new Op("send", "cannot send to socket", Native.POLLOUT, false, true, true, false, 0);
    /** accept. */
    public static final Op ACCEPT = new Op("accept", "could not accept from listener", Native.POLLIN, true, true, false, false, 0);
    /** connect retried while a unix listener's backlog is full (poll does not report room: try every 10 ms). */
    public static final Op CONNECT_RETRY = new Op("connect", "cannot initiate connection", Native.POLLOUT, false, false, false, false, 10_000_000L);
    /** recvmsg. */
    public static final Op RECVMSG = new Op("recvmsg", "cannot receive message", Native.POLLIN, true, false, true, false, 0);
    /** sendmsg. */
    public static final Op SENDMSG = new Op("sendmsg", "cannot send message", Native.POLLOUT, false, false, true, false, 0);
    /** recvmmsg (its blocking-mode kernel wait is MSG_WAITFORONE, see Datagrams). */
    public static final Op RECV_MANY = new Op("recv", "cannot read from socket", Native.POLLIN, true,
                                              Batch.useMmsg() && Batch.MSG_WAITFORONE != 0, true, false, 0);
    /** sendmmsg (never waits in the kernel). */
    public static final Op SEND_MANY = new Op("send", "cannot send to socket", Native.POLLOUT, false, false, true, false, 0);

    private final Fd fd;
    /** Blocking mode: the fd lacks O_NONBLOCK and calls wait in the kernel. */
    private volatile boolean blocking;
    /** A hint: the last receive had to wait (racy by design; a wrong guess costs one poll that returns at once). */
    private boolean recvWaited;
    /** What SO_RCVTIMEO / SO_SNDTIMEO hold on the fd, in microseconds (-1: not known). */
    private volatile long rcvSliceUs = -1, sndSliceUs = -1;
    /** {@link #timeoutWrites} when the slices above were set. */
    private volatile int sliceEpoch;
    /**
     * Counts setsockopt calls of SO_RCVTIMEO/SO_SNDTIMEO made through the option setters, on
     * any fd: when it moves, every socket in blocking mode sets its slice again before its next
     * wait, so a user's value never stands in for the slice.
     */
    private static volatile int timeoutWrites;

    /** The waiting path of the socket owning {@code fd}. */
    public Waiting(Fd fd) { this.fd = fd; }

    /** True in blocking mode. Never blocks. */
    public boolean isBlocking() { return blocking; }

    /** Records the fd's mode after the caller changed O_NONBLOCK. */
    public void setBlocking(boolean on) { blocking = on; }

    /** For option setters: notes a write of SO_RCVTIMEO/SO_SNDTIMEO (see {@link #timeoutWrites}). */
    public static void noteTimeoutWrite(int level, int name) {
        if (level == Native.SOL_SOCKET && (name == Native.SO_RCVTIMEO || name == Native.SO_SNDTIMEO)) timeoutWrites++;
    }

    // ---------------------------------------------------------------- deadlines

    /** The deadline for {@code timeoutMs} from now: {@link Long#MAX_VALUE} (none) when negative or beyond {@link #FOREVER_MS}. */
    public static long deadline(long timeoutMs) {
        return timeoutMs < 0 || timeoutMs > FOREVER_MS ? Long.MAX_VALUE : deadline(timeoutMs, System.nanoTime());
    }

    /** {@link #deadline(long)} counted from {@code now}, a System.nanoTime the caller read; saturates, never overflows. */
    public static long deadline(long timeoutMs, long now) {
        if (timeoutMs < 0 || timeoutMs > FOREVER_MS) return Long.MAX_VALUE;
        long ns = timeoutMs * 1_000_000L;
        return now > Long.MAX_VALUE - ns ? Long.MAX_VALUE : now + ns;
    }

    /** Nanoseconds left before {@code deadline} ({@link Long#MAX_VALUE} for none; 0 or less: passed). */
    public static long left(long deadline) {
        return deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
    }

    /** {@code ns} in milliseconds, rounded up; saturating (no overflow near {@link Long#MAX_VALUE}). */
    static long ceilMs(long ns) { return ns / 1_000_000L + (ns % 1_000_000L > 0 ? 1 : 0); }

    /** The error ending a wait now (close, interrupt, passed deadline), or null to go on waiting. */
    static SocketException stop(Fd owner, long deadline, long timeoutMs, String op, String what, Object address) {
        if (owner.isClosed()) return owner.closed(op);
        if (Thread.currentThread().isInterrupted()) return SocketException.interrupted(op, what);
        if (left(deadline) <= 0) return SocketException.timeout(op, what, timeoutMs, address);
        return null;
    }

    // ---------------------------------------------------------------- the path

    /**
     * Makes the call {@code call} on {@code fdn} (acquired by the caller from this socket's fd)
     * until it does not would-block, waiting between attempts as the class comment says.
     * Returns its result (>= 0). Blocks up to {@code timeoutMs} (negative: forever).
     * @param k the kind of call
     * @param op the operation for errors ("socket-receive!")
     * @param dontWait the caller passed MSG_DONTWAIT: never wait, {@code :would-block} instead
     * @param address the address involved for errors, or null
     * @param discard given a result thrown away on a close (accept's fd), or null
     * @param call the call; it adds the flags it is given (0 or MSG_DONTWAIT) to its own
     * @throws SocketException {@code :timeout}, {@code :closed}, {@code :interrupted},
     *         {@code :would-block}, or the errno's kind
     */
    public long run(int fdn, Op k, String op, long timeoutMs, boolean dontWait, Object address,
                    LongConsumer discard, Io.FlagSyscall call) throws SocketException {
        // the clock is read when first needed (System.nanoTime costs ~45 ns under gVisor)
        boolean dl = timeoutMs < 0;
        long deadline = dl ? Long.MAX_VALUE : 0;
        boolean kernel = blocking && k.kernelWait && !dontWait;
        if (k.pollFirst && recvWaited && !blocking && !dontWait) {
            deadline = deadline(timeoutMs); dl = true;
            // a timeout here is not final: the call still tries once, so queued data never times out
            try { await(fdn, k.events, deadline, timeoutMs, op, k.what, address, 0); }
            catch (SocketException ex) { if (ex.kind() != SocketException.Kind.TIMEOUT) throw ex; }
        }
        int waits = 0;
        for (;;) {
            long slice = 0, t0 = 0;
            int noWait = Native.NO_WAIT;
            if (kernel) {
                t0 = System.nanoTime();
                if (!dl) { deadline = deadline(timeoutMs, t0); dl = true; }
                slice = armSlice(fdn, k.receiving, deadline, t0, op);
                if (slice > 0) noWait = 0;
                else if (!k.takesFlags) setSlice(fdn, k.receiving, 1, op); // must not wait: the kernel waits 1 us
            }
            long r = Io.attemptAcquired(fd, fdn, op, k.failure, address, discard, call, noWait);
            if (r >= 0) {
                if (k.pollFirst) recvWaited = waits > 0;
                return r;
            }
            if (dontWait) throw SocketException.wouldBlock(op, k.what);
            if (slice > 0) { waits = sliceSpent(t0, slice, waits, deadline, timeoutMs, op, k.what, address); continue; }
            if (!dl) { deadline = deadline(timeoutMs); dl = true; }
            long until = k.maxWaitNs == 0 ? deadline : Math.min(deadline, System.nanoTime() + k.maxWaitNs);
            if (until != deadline && waits >= SPURIOUS_FREE) backOff(deadline, timeoutMs, op, k.what, address, waits - SPURIOUS_FREE);
            try { await(fdn, k.events, until, timeoutMs, op, k.what, address, until != deadline ? 0 : waits); }
            catch (SocketException ex) { if (ex.kind() != SocketException.Kind.TIMEOUT || until == deadline) throw ex; }
            waits++;
        }
    }

    /**
     * Waits until {@code fdn} (acquired by the caller) is ready for {@code events}, the
     * deadline passes, the socket is closed or the thread interrupted; returns poll's revents.
     * A virtual thread parks on the {@link Parker}; any other thread polls in slices of
     * {@link #WAKE_MS} ms. {@code spurious} counts this call's earlier waits that said ready
     * while the call still would block (Linux does that on a datagram socket shut down for
     * reading): after {@link #SPURIOUS_FREE} of them this sleeps first, 1, 2, 4 ... ms up to
     * {@link #WAKE_MS}, so the thread does not spin.
     * @throws SocketException {@code :timeout} (naming {@code timeoutMs} and {@code address}),
     *         {@code :closed}, {@code :interrupted}
     */
    public int await(int fdn, short events, long deadline, long timeoutMs, String op, String what, Object address, int spurious)
            throws SocketException {
        if (spurious >= SPURIOUS_FREE) backOff(deadline, timeoutMs, op, what, address, spurious - SPURIOUS_FREE);
        if (Parker.onVirtualThread()) {
            try {
                int r = Parker.await(fd, fdn, events, deadline, timeoutMs, op, what);
                if (r >= 0) return r;
            } catch (SocketException e) {
                throw address != null && e.kind() == SocketException.Kind.TIMEOUT ? e.withAddress(address) : e;
            }
        }
        Pointer pfd = Scratch.get().pollfd;
        for (;;) {
            SocketException e = stop(fd, deadline, timeoutMs, op, what, address);
            if (e != null) throw e;
            long slice = Math.min(WAKE_MS, ceilMs(left(deadline)));
            int rc = poll(pfd, fdn, events, (int) slice);
            if (rc > 0) return pfd.getShort(6);
            if (rc < 0) {
                int err = Native.errno();
                if (err != Native.EINTR) throw SocketException.fromErrno(op, err, "poll failed", null);
            }
        }
    }

    /** One poll(2) of one fd; rc as poll returns it, revents in the pollfd. */
    private static int poll(Pointer pfd, int fdn, short events, int timeoutMs) {
        pfd.putInt(0, fdn);
        pfd.putShort(4, events);
        pfd.putShort(6, (short) 0);
        return Native.LIBC.poll(pfd, 1, timeoutMs);
    }

    /** True when a poll with no wait reports {@code events} (or an error/hangup) on {@code fdn} (acquired). */
    public static boolean ready(int fdn, short events, String op) throws SocketException {
        Pointer pfd = Scratch.get().pollfd;
        for (;;) {
            int rc = poll(pfd, fdn, events, 0);
            if (rc >= 0) return rc > 0;
            int e = Native.errno();
            if (e != Native.EINTR) throw SocketException.fromErrno(op, e, "poll failed", null);
        }
    }

    /** Sleeps 2^n ms (at most WAKE_MS, never past the deadline), ending early on a close or an interrupt. */
    private void backOff(long deadline, long timeoutMs, String op, String what, Object address, int n) throws SocketException {
        long ms = Math.min(WAKE_MS, 1L << Math.min(n, 6));
        ms = Math.min(ms, Math.max(0, left(deadline) / 1_000_000L));
        SocketException e = stop(fd, deadline, timeoutMs, op, what, address);
        if (e != null) throw e;
        if (ms > 0) {
            try { Thread.sleep(ms); }
            catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw SocketException.interrupted(op, what);
            }
        }
        e = stop(fd, deadline, timeoutMs, op, what, address);
        if (e != null) throw e;
    }

    // ---------------------------------------------------------------- blocking mode

    /**
     * In blocking mode, before a call that may wait in the kernel: makes SO_RCVTIMEO (for
     * {@code rcv}) or SO_SNDTIMEO hold the wait this call may spend there, the smaller of
     * {@link #WAKE_MS} and what is left before the deadline, rounded up to a millisecond (so
     * the option is only rewritten when that changes). Returns the slice in nanoseconds when
     * the call may wait, 0 when it must not (no time left, or a virtual thread).
     */
    public long armSlice(int fdn, boolean rcv, long deadline, long now, String op) throws SocketException {
        if (Parker.onVirtualThread()) return 0;
        long ms = WAKE_MS;
        if (deadline != Long.MAX_VALUE) {
            long left = deadline - now;
            if (left <= 0) return 0;
            ms = Math.min(ms, ceilMs(left));
        }
        setSlice(fdn, rcv, ms * 1000, op);
        return ms * 1_000_000L;
    }

    /**
     * After a call in blocking mode said EAGAIN: the kernel waited (up to) one slice. Throws on
     * a close, an interrupt or the deadline. A call that gave up in less than half its slice did
     * not really wait (a datagram socket shut down for reading does that): after
     * {@link #SPURIOUS_FREE} of those in a row this backs off, so the thread does not spin.
     * Returns the new count of such early returns.
     */
    private int sliceSpent(long t0, long sliceNs, int early, long deadline, long timeoutMs, String op, String what, Object address)
            throws SocketException {
        early = System.nanoTime() - t0 < sliceNs / 2 ? early + 1 : 0;
        if (early > SPURIOUS_FREE) backOff(deadline, timeoutMs, op, what, address, early - 1 - SPURIOUS_FREE);
        SocketException e = stop(fd, deadline, timeoutMs, op, what, address);
        if (e != null) throw e;
        return early;
    }

    /** Sets SO_RCVTIMEO or SO_SNDTIMEO to {@code us} microseconds unless it holds that already. */
    public void setSlice(int fdn, boolean rcv, long us, String op) throws SocketException {
        int epoch = timeoutWrites;
        if (epoch != sliceEpoch) { rcvSliceUs = sndSliceUs = -1; sliceEpoch = epoch; }
        if ((rcv ? rcvSliceUs : sndSliceUs) == us) return;
        byte[] tv = OptionValues.timeval(us);
        Scratch sc = Scratch.get();
        sc.opt.put(0, tv, 0, tv.length);
        if (Native.LIBC.setsockopt(fdn, Native.SOL_SOCKET, rcv ? Native.SO_RCVTIMEO : Native.SO_SNDTIMEO, sc.opt, tv.length) < 0)
            throw SocketException.fromErrno(op, Native.errno(), "cannot set the socket's wait slice", null);
        if (rcv) rcvSliceUs = us; else sndSliceUs = us;
    }
}
