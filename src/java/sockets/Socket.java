package sockets;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import jnr.ffi.Pointer;
import sockets.impl.Buffers;
import sockets.impl.Fd;
import sockets.impl.Native;
import sockets.impl.OptionValues;
import sockets.impl.Scratch;
import sockets.impl.SockAddrCodec;

/**
 * A BSD socket (the egg's {@code socket} record): an owned file descriptor with its family,
 * type and protocol (platform integers). Every socket is non-blocking and close-on-exec;
 * blocking methods try the call first and wait with poll(2) only when it would block,
 * retrying on EINTR, up to a deadline for the whole call.
 *
 * <p>Timeouts are in milliseconds; a negative timeout waits forever. Closing a socket that
 * other threads are blocked on wakes them (within {@link #WAKE_MS} ms) with a
 * {@link SocketException} of kind {@code :closed}; the fd number is only released once no call
 * is inside it. Interrupting a blocked thread makes it throw {@code :interrupted} (within
 * {@link #WAKE_MS} ms) with the thread's interrupt status still set; a receive, send or accept
 * leaves the socket open and usable, while an interrupted connect fails like any failed
 * connect and closes the socket.
 *
 * <p>Use it with try-with-resources: {@code try (Socket s = Socket.open(...)) { ... }}.
 */
public final class Socket implements Closeable {
    /** How often a blocked call looks for a close or an interrupt, in milliseconds. */
    public static final int WAKE_MS = 50;

    private final Fd fd;
    private final int family, type, protocol;
    /**
     * A hint: the last receive on this socket had to wait. The next one then waits for data
     * first (poll, then recv: two syscalls) instead of trying first (recv, poll, recv: three),
     * which is what a request/response exchange does every time. Racy by design; a wrong guess
     * costs one poll that returns at once.
     */
    private boolean recvWaited;
    /** Blocking mode (see {@link #setBlocking}): the fd lacks O_NONBLOCK and calls wait in the kernel. */
    private volatile boolean blocking;
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

    /** Adopts an already-open fd (it must be non-blocking and close-on-exec). */
    Socket(int fdNumber, int family, int type, int protocol) {
        this.fd = new Fd(fdNumber);
        this.family = family; this.type = type; this.protocol = protocol;
    }

    // ---------------------------------------------------------------- creation

    /**
     * Creates a socket: socket(family, type, protocol), non-blocking and close-on-exec
     * atomically where the platform allows, else with fcntl before it is returned.
     * @throws SocketException {@code :unsupported} for a family/type/protocol the system lacks
     */
    public static Socket open(int family, int type, int protocol) throws SocketException {
        int fdn = Native.LIBC.socket(family, type | Native.SOCK_ATOMIC_FLAGS, protocol);
        if (fdn < 0) {
            int e = Native.errno();
            throw SocketException.errno("socket", e, "cannot create socket", null);
        }
        try {
            prepareFd("socket", fdn, Native.SOCK_ATOMIC_FLAGS != 0);
        } catch (SocketException e) {
            Native.LIBC.close(fdn);
            throw e;
        }
        return new Socket(fdn, family, type, protocol);
    }

    /**
     * Makes an fd fit to be a Socket: close-on-exec and non-blocking (unless the kernel set both
     * atomically), and SO_NOSIGPIPE where sends cannot say MSG_NOSIGNAL. Closes nothing: the
     * caller decides what happens to the fd on failure.
     */
    static void prepareFd(String op, int fdn, boolean flagsSetAtomically) throws SocketException {
        if (!flagsSetAtomically) setNonblockCloexec(op, fdn);
        if (Native.MSG_NOSIGNAL == 0 && Native.SO_NOSIGPIPE >= 0) setIntOption(op, fdn, Native.SOL_SOCKET, Native.SO_NOSIGPIPE, 1);
    }

    private static void setNonblockCloexec(String op, int fdn) throws SocketException {
        int fl = Native.LIBC.fcntl(fdn, Native.F_GETFD, 0);
        if (fl < 0 || Native.LIBC.fcntl(fdn, Native.F_SETFD, fl | Native.FD_CLOEXEC) < 0)
            throw SocketException.errno(op, Native.errno(), "unable to set close-on-exec", null);
        fl = Native.LIBC.fcntl(fdn, Native.F_GETFL, 0);
        if (fl < 0 || Native.LIBC.fcntl(fdn, Native.F_SETFL, fl | Native.O_NONBLOCK) < 0)
            throw SocketException.errno(op, Native.errno(), "unable to set socket to non-blocking", null);
    }

    private static void setIntOption(String op, int fdn, int level, int name, int value) throws SocketException {
        Scratch sc = Scratch.get();
        sc.opt.putInt(0, value);
        if (Native.LIBC.setsockopt(fdn, level, name, sc.opt, 4) < 0)
            throw SocketException.errno(op, Native.errno(), "cannot set socket option", null);
    }

    // ---------------------------------------------------------------- accessors

    /** The fd number (the egg's {@code socket-fileno}); it stays reserved while calls are inside. */
    public int fileno() { return fd.number(); }
    /** The address family (platform integer). */
    public int family() { return family; }
    /** The socket type (platform integer). */
    public int type() { return type; }
    /** The protocol (platform integer, usually 0). */
    public int protocol() { return protocol; }
    /** True once {@link #close} has been called. */
    public boolean isClosed() { return fd.isClosed(); }
    /** The fd owner (internal use: option and event-loop code acquire through it). */
    public Fd fd() { return fd; }

    /** Prints as the egg does: {@code #<socket fd:19 af/inet sock/stream>} (numbers here; Clojure prints keywords). */
    @Override
    public String toString() {
        return "#<socket fd:" + fd.number() + " " + family + " " + type + (isClosed() ? " closed" : "") + ">";
    }

    // ---------------------------------------------------------------- waiting

    /** A deadline in System.nanoTime terms for a timeout in ms (negative: none). */
    public static long deadline(long timeoutMs) {
        return timeoutMs < 0 ? Long.MAX_VALUE : deadline(timeoutMs, System.nanoTime());
    }

    /** {@link #deadline(long)} counted from {@code now}, a System.nanoTime the caller already read. */
    static long deadline(long timeoutMs, long now) {
        return timeoutMs < 0 ? Long.MAX_VALUE : now + timeoutMs * 1_000_000L;
    }

    /**
     * Waits until the fd (already acquired) is ready for {@code events}, or the deadline passes,
     * or the socket is closed, or the thread is interrupted. Returns revents.
     */
    static int await(Fd owner, int fdn, short events, long deadline, String op, String what) throws SocketException {
        return await(owner, fdn, events, deadline, op, what, 0);
    }

    /** Spurious wakeups (poll ready, call still would block) tolerated before {@link #await} backs off. */
    static final int SPURIOUS_FREE = 2;

    /**
     * {@link #await(Fd, int, short, long, String, String)} for the {@code spurious}-th time in one
     * call: every earlier wait of this call said ready, yet the call would still block. Linux
     * does that, for example, on a datagram socket after shutdown(SHUT_RD): POLLIN forever while
     * recv says EAGAIN. After {@link #SPURIOUS_FREE} such wakeups this sleeps first, 1, 2, 4 ...
     * ms up to {@link #WAKE_MS} (never past the deadline; a close or an interrupt still ends the
     * wait), so the thread does not spin on the CPU until its deadline.
     */
    static int await(Fd owner, int fdn, short events, long deadline, String op, String what, int spurious) throws SocketException {
        if (spurious >= SPURIOUS_FREE) backOff(owner, deadline, op, what, spurious - SPURIOUS_FREE);
        if (EventLoop.onVirtualThread()) {
            // park on the shared event loop instead of pinning the carrier in a native poll
            int r = EventLoop.shared().awaitFd(owner, fdn, events, deadline, op, what);
            if (r >= 0) return r;
        }
        Scratch sc = Scratch.get();
        Pointer pfd = sc.pollfd;
        for (;;) {
            if (owner.isClosed()) throw owner.closed(op);
            if (Thread.currentThread().isInterrupted())
                throw new SocketException(op, SocketException.Kind.INTERRUPTED, 0, null, what + " interrupted", null);
            long slice;
            if (deadline == Long.MAX_VALUE) slice = WAKE_MS;
            else {
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, what + " operation timed out", null);
                slice = Math.min(WAKE_MS, (left + 999_999) / 1_000_000);
            }
            pfd.putInt(0, fdn);
            pfd.putShort(4, events);
            pfd.putShort(6, (short) 0);
            int rc = Native.LIBC.poll(pfd, 1, (int) slice);
            if (rc > 0) return pfd.getShort(6);
            if (rc < 0) {
                int e = Native.errno();
                if (e != Native.EINTR) throw SocketException.errno(op, e, "poll failed", null);
            }
        }
    }

    /** Sleeps 2^n ms (at most WAKE_MS, never past the deadline), ending early on a close or an interrupt. */
    private static void backOff(Fd owner, long deadline, String op, String what, int n) throws SocketException {
        long ms = n >= 6 ? WAKE_MS : Math.min(WAKE_MS, 1L << n);
        if (deadline != Long.MAX_VALUE) ms = Math.min(ms, Math.max(0, (deadline - System.nanoTime()) / 1_000_000L));
        check(owner, deadline, op, what);
        if (ms > 0) {
            try { Thread.sleep(ms); }
            catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new SocketException(op, SocketException.Kind.INTERRUPTED, 0, null, what + " interrupted", null);
            }
        }
        check(owner, deadline, op, what);
    }

    /** Throws when the fd is closed, the thread interrupted or the deadline passed. */
    private static void check(Fd owner, long deadline, String op, String what) throws SocketException {
        if (owner.isClosed()) throw owner.closed(op);
        if (Thread.currentThread().isInterrupted())
            throw new SocketException(op, SocketException.Kind.INTERRUPTED, 0, null, what + " interrupted", null);
        if (deadline != Long.MAX_VALUE && deadline - System.nanoTime() <= 0)
            throw new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, what + " operation timed out", null);
    }

    // ---------------------------------------------------------------- blocking mode

    /**
     * True when this socket is in blocking mode (see {@link #setBlocking}). Sockets are created
     * non-blocking, as in the egg.
     */
    public boolean isBlocking() { return blocking; }

    /**
     * Puts the fd in blocking mode (O_NONBLOCK cleared) or back in non-blocking mode; returns
     * the mode now in force. Nothing a caller can see changes except speed: every call still
     * honours its timeout, a close from another thread still wakes it, an interrupt is still
     * seen within {@link #WAKE_MS}. What changes is where a thread waits: in non-blocking mode
     * it waits in poll(2) and then makes the call (two or three syscalls per wait); in blocking
     * mode it waits inside the call itself, the kernel bounding each wait to a slice of at most
     * {@link #WAKE_MS} with SO_RCVTIMEO / SO_SNDTIMEO (one syscall), as a blocking java.nio
     * channel does. That is what request/response traffic on platform threads wants. One
     * answer differs, the kernel's: a datagram socket shut down for reading receives 0 bytes at
     * once in blocking mode, where in non-blocking mode the receive waits until its timeout.
     * <p>In blocking mode this library owns SO_RCVTIMEO and SO_SNDTIMEO (set them and they are
     * overwritten); sockets accepted from a listener in blocking mode are in blocking mode too;
     * on a virtual thread calls do not wait in the kernel (they park on the event loop as in
     * non-blocking mode, except for an accept or connect, which may hold the carrier for one
     * slice); registering the socket with an {@link EventLoop} channel puts it back in
     * non-blocking mode for good (later calls with {@code true} return false). Linux only: elsewhere (where accept and connect may ignore the kernel
     * timeouts) this leaves the socket non-blocking and returns false.
     */
    public boolean setBlocking(boolean on) throws SocketException {
        if (on && (onLoop || !(Native.LINUX && Native.SOCK_CLOEXEC != 0 && Native.MSG_DONTWAIT > 0
                               && Native.SO_RCVTIMEO >= 0 && Native.SO_SNDTIMEO >= 0))) on = false;
        int fdn = fd.acquire("set-socket-blocking!");
        try {
            synchronized (this) {
                if (on == blocking) return on;
                int fl = Native.LIBC.fcntl(fdn, Native.F_GETFL, 0);
                if (fl < 0 || Native.LIBC.fcntl(fdn, Native.F_SETFL, on ? fl & ~Native.O_NONBLOCK : fl | Native.O_NONBLOCK) < 0)
                    throw SocketException.errno("set-socket-blocking!", Native.errno(), "unable to change the socket's blocking mode", null);
                blocking = on;
                return on;
            }
        } finally { fd.release(); }
    }

    /** Set once an {@link EventLoop} channel flow has used this socket: it then stays non-blocking. */
    private volatile boolean onLoop;

    /** For {@link EventLoop}: puts the socket in non-blocking mode for good. */
    void leaveBlockingForLoop() throws SocketException {
        onLoop = true;
        if (blocking) setBlocking(false);
    }

    /**
     * In blocking mode, before a call that may wait in the kernel: makes SO_RCVTIMEO (for
     * {@code rcv}) or SO_SNDTIMEO hold the wait this call may spend there, the smaller of
     * {@link #WAKE_MS} and what is left before the deadline, rounded up to a millisecond (so
     * the option is only rewritten when that changes). Returns the slice in nanoseconds when
     * the call may wait, 0 when it must not (no time left, or a virtual thread): then send and
     * receive pass MSG_DONTWAIT and wait as in non-blocking mode.
     */
    long armSlice(int fdn, boolean rcv, long deadline, long now, String op) throws SocketException {
        if (EventLoop.onVirtualThread()) return 0;
        long ms = WAKE_MS;
        if (deadline != Long.MAX_VALUE) {
            long left = deadline - now;
            if (left <= 0) return 0;
            ms = Math.min(ms, (left + 999_999) / 1_000_000);
        }
        setSlice(fdn, rcv, ms * 1000, op);
        return ms * 1_000_000L;
    }

    /**
     * After a call in blocking mode said EAGAIN: the kernel waited (up to) one slice. Throws on
     * a close, an interrupt or the deadline. A call that gave up in less than half its slice did
     * not really wait (a datagram socket shut down for reading does that): after
     * {@link #SPURIOUS_FREE} of those in a row this backs off as {@link #await} does, so the
     * thread does not spin. Returns the new count of such early returns.
     */
    int sliceSpent(long t0, long sliceNs, int early, long deadline, String op, String what) throws SocketException {
        early = System.nanoTime() - t0 < sliceNs / 2 ? early + 1 : 0;
        if (early > SPURIOUS_FREE) backOff(fd, deadline, op, what, early - 1 - SPURIOUS_FREE);
        check(fd, deadline, op, what);
        return early;
    }

    /** Sets SO_RCVTIMEO or SO_SNDTIMEO to {@code us} microseconds unless it holds that already. */
    private void setSlice(int fdn, boolean rcv, long us, String op) throws SocketException {
        int epoch = timeoutWrites;
        if (epoch != sliceEpoch) { rcvSliceUs = sndSliceUs = -1; sliceEpoch = epoch; }
        if ((rcv ? rcvSliceUs : sndSliceUs) == us) return;
        byte[] tv = OptionValues.timeval(us);
        Scratch sc = Scratch.get();
        sc.opt.put(0, tv, 0, tv.length);
        if (Native.LIBC.setsockopt(fdn, Native.SOL_SOCKET, rcv ? Native.SO_RCVTIMEO : Native.SO_SNDTIMEO, sc.opt, tv.length) < 0)
            throw SocketException.errno(op, Native.errno(), "cannot set the socket's wait slice", null);
        if (rcv) rcvSliceUs = us; else sndSliceUs = us;
    }

    /**
     * Waits for {@code events} before the first try of a call that is expected to block (see
     * {@link #recvWaited}). A timeout here is not final: the caller still tries once, so a
     * call with data already queued never times out.
     */
    private void preWait(int fdn, short events, long deadline, String op, String what) throws SocketException {
        try { await(fd, fdn, events, deadline, op, what, 0); }
        catch (SocketException ex) { if (ex.kind() != SocketException.Kind.TIMEOUT) throw ex; }
    }

    /** True when a poll with no wait reports {@code events} (or an error/hangup). */
    private boolean ready(String op, short events) throws SocketException {
        int fdn = fd.acquire(op);
        try {
            Pointer pfd = Scratch.get().pollfd;
            for (;;) {
                pfd.putInt(0, fdn);
                pfd.putShort(4, events);
                pfd.putShort(6, (short) 0);
                int rc = Native.LIBC.poll(pfd, 1, 0);
                if (rc >= 0) return rc > 0;
                int e = Native.errno();
                if (e != Native.EINTR) throw SocketException.errno(op, e, "poll failed", null);
            }
        } finally { fd.release(); }
    }

    // ---------------------------------------------------------------- connection

    /**
     * bind(2) to {@code addr}.
     */
    public void bind(SockAddr addr) throws SocketException {
        if (addr == null) throw SocketException.invalid("socket-bind", "address is required");
        int fdn = fd.acquire("socket-bind");
        try {
            Scratch sc = Scratch.get();
            int len = addr.encode(sc.addr);
            if (Native.LIBC.bind(fdn, sc.addr, len) < 0)
                throw SocketException.errno("socket-bind", Native.errno(), "cannot bind to socket", addr);
        } finally { fd.release(); }
    }

    /** listen(2) with a connection queue of {@code backlog}. */
    public void listen(int backlog) throws SocketException {
        int fdn = fd.acquire("socket-listen");
        try {
            if (Native.LIBC.listen(fdn, backlog) < 0)
                throw SocketException.errno("socket-listen", Native.errno(), "cannot listen on socket", null);
        } finally { fd.release(); }
    }

    /**
     * Connects to {@code addr}, waiting up to {@code timeoutMs} (negative: forever). On failure
     * the socket is closed, as in the egg, and the error is {@code :transient} (refused,
     * unreachable, network down, system timeout), {@code :timeout}, {@code :interrupted} (the
     * thread was interrupted), {@code :closed}, or {@code :fatal}.
     */
    public void connect(SockAddr addr, long timeoutMs) throws SocketException {
        if (addr == null) throw SocketException.invalid("socket-connect", "address is required");
        long deadline = deadline(timeoutMs);
        int fdn = fd.acquire("socket-connect");
        boolean ok = false;
        try {
            Scratch sc = Scratch.get();
            int len = addr.encode(sc.addr);
            // blocking mode: the kernel waits one slice, then says EINPROGRESS and goes on connecting
            if (blocking && armSlice(fdn, false, deadline, System.nanoTime(), "socket-connect") == 0) setSlice(fdn, false, 1, "socket-connect");
            int rc = Native.LIBC.connect(fdn, sc.addr, len);
            int e = rc < 0 ? Native.errno() : 0;
            if (fd.isClosed()) throw fd.closed("socket-connect");
            if (rc == 0) { ok = true; return; }
            if (e == Native.EINPROGRESS || e == Native.EINTR) {
                int rev = await(fd, fdn, Native.POLLOUT, deadline, "socket-connect", "connect");
                // writable with no error or hangup is connected; otherwise SO_ERROR says why not
                int err = (rev & (Native.POLLERR | Native.POLLHUP)) == 0 && (rev & Native.POLLOUT) != 0 ? 0 : soError(fdn);
                if (fd.isClosed()) throw fd.closed("socket-connect");
                if (err == 0) { ok = true; return; }
                throw SocketException.errno("socket-connect", err, "cannot initiate connection", addr);
            }
            if (Native.wouldBlock(e)) {
                // unix stream sockets: the listener's backlog is full; retry until the deadline
                for (int waits = 0;; waits++) {
                    if (waits >= SPURIOUS_FREE) backOff(fd, deadline, "socket-connect", "connect", waits - SPURIOUS_FREE);
                    await(fd, fdn, Native.POLLOUT, Math.min(deadline, System.nanoTime() + 10_000_000L), "socket-connect", "connect");
                    if (Native.LIBC.connect(fdn, sc.addr, len) == 0) { ok = true; return; }
                    e = Native.errno();
                    if (!Native.wouldBlock(e) && e != Native.EINTR) break;
                    if (System.nanoTime() - deadline > 0)
                        throw new SocketException("socket-connect", SocketException.Kind.TIMEOUT, 0, addr.toString(), "connect operation timed out", null);
                }
            }
            throw SocketException.errno("socket-connect", e, "cannot initiate connection", addr);
        } catch (SocketException ex) {
            if (ex.kind() == SocketException.Kind.TIMEOUT && ex.address() == null)
                ex = new SocketException(ex.op(), ex.kind(), 0, addr.toString(), ex.getMessage(), null);
            throw ex;
        } finally {
            if (!ok) fd.close(); // as in the egg, a failed connect closes the socket
            fd.release();
        }
    }

    private static int soError(int fdn) throws SocketException {
        Scratch sc = Scratch.get();
        sc.opt.putInt(0, 0);
        sc.len.putInt(0, 4);
        if (Native.LIBC.getsockopt(fdn, Native.SOL_SOCKET, Native.SO_ERROR, sc.opt, sc.len) < 0)
            throw SocketException.errno("socket-connect", Native.errno(), "unable to obtain socket error code", null);
        return sc.opt.getInt(0);
    }

    /**
     * The egg's {@code socket-connect/ai}: tries each addrinfo in order with a fresh socket;
     * a fatal error aborts at once, a transient or timeout error tries the next; when all
     * fail, the last error is thrown. Every socket it opened and abandoned is closed.
     */
    public static Socket connectAny(List<AddrInfo> ais, long timeoutMs) throws SocketException {
        // order, moving on and the final error are sockets.impl.LoopAddresses', shared with the event loop
        List<AddrInfo> list = sockets.impl.LoopAddresses.order("socket-connect/ai", ais, false);
        List<SocketException> errors = new java.util.ArrayList<>();
        for (AddrInfo ai : list) {
            try {
                Socket s = open(ai.family(), ai.socktype(), 0);
                try {
                    s.connect(ai.address(), timeoutMs);
                    return s;
                } catch (SocketException e) {
                    s.closeQuietly();
                    throw e;
                }
            } catch (SocketException e) {
                errors.add(e);
                if (!sockets.impl.LoopAddresses.moveOn(e, false)) break;
            }
        }
        throw sockets.impl.LoopAddresses.allFailed(list, errors);
    }

    /**
     * Accepts a connection (accept4 with non-blocking and close-on-exec), waiting up to
     * {@code timeoutMs}. The new socket has this socket's family, type and protocol.
     */
    public Socket accept(long timeoutMs) throws SocketException {
        long deadline = deadline(timeoutMs);
        int fdn = fd.acquire("socket-accept");
        try {
            int waits = 0;
            boolean blk = blocking; // accepted sockets take the listener's mode
            int flags = blk ? Native.SOCK_CLOEXEC : Native.SOCK_ATOMIC_FLAGS;
            for (;;) {
                long slice = 0, t0 = 0;
                if (blk) {
                    t0 = System.nanoTime();
                    slice = armSlice(fdn, true, deadline, t0, "socket-accept");
                    if (slice == 0) setSlice(fdn, true, 1, "socket-accept"); // must not wait: the kernel waits 1 us
                }
                int n = Native.SOCK_ATOMIC_FLAGS != 0
                    ? Native.LIBC.accept4(fdn, null, null, flags)
                    : Native.LIBC.accept(fdn, null, null);
                int e = n < 0 ? Native.errno() : 0;
                if (fd.isClosed()) {
                    if (n >= 0) Native.LIBC.close(n);
                    throw fd.closed("socket-accept");
                }
                if (n >= 0) {
                    try {
                        prepareFd("socket-accept", n, Native.SOCK_ATOMIC_FLAGS != 0);
                    } catch (SocketException ex) { Native.LIBC.close(n); throw ex; }
                    Socket s = new Socket(n, family, type, protocol);
                    s.blocking = blk;
                    return s;
                }
                if (e == Native.EINTR || e == Native.ECONNABORTED || e == Native.EPROTO) continue;
                if (!Native.wouldBlock(e)) throw SocketException.errno("socket-accept", e, "could not accept from listener", null);
                if (slice > 0) { waits = sliceSpent(t0, slice, waits, deadline, "socket-accept", "accept"); continue; }
                await(fd, fdn, Native.POLLIN, deadline, "socket-accept", "accept", waits++);
            }
        } finally { fd.release(); }
    }

    /** True when a connection is waiting to be accepted. */
    public boolean acceptReady() throws SocketException { return ready("socket-accept-ready?", Native.POLLIN); }

    /** True when data (or EOF, or an error) is waiting to be received. */
    public boolean receiveReady() throws SocketException { return ready("socket-receive-ready?", Native.POLLIN); }

    /** shutdown(2); ENOTCONN is ignored, as in the egg. */
    public void shutdown(int how) throws SocketException {
        int fdn = fd.acquire("socket-shutdown");
        try {
            if (Native.LIBC.shutdown(fdn, how) < 0) {
                int e = Native.errno();
                if (e != Native.ENOTCONN) throw SocketException.errno("socket-shutdown", e, "unable to shutdown socket", null);
            }
        } finally { fd.release(); }
    }

    /**
     * Closes the socket (the egg's {@code socket-close}); throws if close(2) fails. Threads
     * blocked on it wake with {@code :closed}; closing again does nothing.
     */
    @Override
    public void close() throws SocketException {
        int e = fd.close();
        if (e != 0) throw SocketException.errno("socket-close", e, "could not close socket", null);
    }

    /** Closes the socket, ignoring any error (the egg's {@code socket-close*}). */
    public void closeQuietly() { fd.close(); }

    /** getsockname(2); null when the socket is not bound. */
    public SockAddr localAddress() throws SocketException { return name(true); }

    /** getpeername(2); null when there is no peer. */
    public SockAddr peerAddress() throws SocketException { return name(false); }

    private SockAddr name(boolean local) throws SocketException {
        String op = local ? "socket-name" : "socket-peer-name";
        int fdn = fd.acquire(op);
        try {
            Scratch sc = Scratch.get();
            sc.len.putInt(0, Scratch.ADDR_SIZE);
            int rc = local ? Native.LIBC.getsockname(fdn, sc.addr, sc.len) : Native.LIBC.getpeername(fdn, sc.addr, sc.len);
            if (rc < 0) {
                int e = Native.errno();
                if (e == Native.ENOTCONN || e == Native.EINVAL) return null;
                throw SocketException.errno(op, e, local ? "unable to get socket name" : "unable to get peer name", null);
            }
            SockAddr a = SockAddrCodec.decode(sc.addr, sc.len.getInt(0));
            if (a == null) return null;
            if (local && isUnbound(a)) return null;
            return a;
        } finally { fd.release(); }
    }

    /** An unbound socket's getsockname: the unspecified address with port 0, or an unnamed unix address. */
    private static boolean isUnbound(SockAddr a) {
        if (a.isUnix()) return a.path().isEmpty();
        if (!a.isInet() || a.port() != 0) return false;
        for (byte b : a.addressBytes()) if (b != 0) return false;
        return true;
    }

    // ---------------------------------------------------------------- data

    private static ByteBuffer view(String op, byte[] buf, long start, long end) throws SocketException {
        return Buffers.view(op, buf, start, end);
    }

    /**
     * Receives into {@code buf[start, end)}; returns the count (0 at end of stream). Waits up to
     * {@code timeoutMs} for data.
     */
    public int receive(byte[] buf, int start, int end, int flags, long timeoutMs) throws SocketException {
        return receive(view("socket-receive!", buf, start, end), flags, timeoutMs);
    }

    /**
     * Receives into the remaining bytes of {@code buf} (heap or direct) from its position; the
     * buffer's position is not changed. Returns the count (0 at end of stream).
     */
    public int receive(ByteBuffer buf, int flags, long timeoutMs) throws SocketException {
        return (int) recv("socket-receive!", buf, flags, timeoutMs, null);
    }

    /**
     * Receives a datagram (or stream data) into {@code buf[start, end)}, returning the count and
     * the sender's address (null on connected stream sockets).
     */
    public Received receiveFrom(byte[] buf, int start, int end, int flags, long timeoutMs) throws SocketException {
        return receiveFrom(view("socket-receive-from!", buf, start, end), flags, timeoutMs);
    }

    /** Like {@link #receiveFrom(byte[], int, int, int, long)} for a ByteBuffer's remaining bytes. */
    public Received receiveFrom(ByteBuffer buf, int flags, long timeoutMs) throws SocketException {
        SockAddr[] from = new SockAddr[1];
        int n = (int) recv("socket-receive-from!", buf, flags, timeoutMs, from);
        return new Received(n, from[0]);
    }

    /** The result of a receive-from: a count and the source address. */
    public static final class Received {
        /** Bytes received. */ public final int count;
        /** The source, or null when the kernel reported none. */ public final SockAddr from;
        /** Creates a result. */
        public Received(int count, SockAddr from) { this.count = count; this.from = from; }
    }

    private long recv(String op, ByteBuffer buf, int flags, long timeoutMs, SockAddr[] from) throws SocketException {
        Buffers.forReceive(op, buf);
        // the clock is read when first needed (System.nanoTime costs ~45 ns under gVisor)
        long deadline = timeoutMs < 0 ? Long.MAX_VALUE : 0;
        boolean dl = timeoutMs < 0;
        int fdn = fd.acquire(op);
        try {
            Scratch sc = from == null ? null : Scratch.get();
            int waits = 0;
            long slice = 0, t0 = 0;
            if (!blocking && recvWaited) {
                deadline = deadline(timeoutMs); dl = true;
                preWait(fdn, Native.POLLIN, deadline, op, "recv");
            }
            for (;;) {
                int fl = flags;
                if (blocking && (flags & Native.NO_WAIT) == 0) { // a caller's MSG_DONTWAIT: wait in poll as usual
                    t0 = System.nanoTime();
                    if (!dl) { deadline = deadline(timeoutMs, t0); dl = true; }
                    slice = armSlice(fdn, true, deadline, t0, op);
                    if (slice == 0) fl |= Native.MSG_DONTWAIT;
                }
                long n;
                if (from == null) n = Native.LIBC.recv(fdn, buf, buf.remaining(), fl);
                else {
                    sc.len.putInt(0, Scratch.ADDR_SIZE);
                    n = Native.LIBC.recvfrom(fdn, buf, buf.remaining(), fl, sc.addr, sc.len);
                }
                int e = n < 0 ? Native.errno() : 0;
                if (fd.isClosed()) throw fd.closed(op); // a close overlapped this call (it shut the socket down to wake us)
                if (n >= 0) {
                    recvWaited = waits > 0;
                    if (from != null) from[0] = SockAddrCodec.decode(sc.addr, sc.len.getInt(0));
                    return n;
                }
                if (e == Native.EINTR) continue;
                if (!Native.wouldBlock(e)) throw SocketException.errno(op, e, "cannot read from socket", null);
                if (slice > 0) { waits = sliceSpent(t0, slice, waits, deadline, op, "recv"); continue; }
                if (!dl) { deadline = deadline(timeoutMs); dl = true; }
                await(fd, fdn, Native.POLLIN, deadline, op, "recv", waits++);
            }
        } finally { fd.release(); }
    }

    /** Sends {@code buf[start, end)}; blocks until at least some is sent; returns the count. */
    public int send(byte[] buf, int start, int end, int flags, long timeoutMs) throws SocketException {
        return send(view("socket-send", buf, start, end), flags, timeoutMs);
    }

    /** Sends the remaining bytes of {@code buf} from its position (not changed); returns the count. */
    public int send(ByteBuffer buf, int flags, long timeoutMs) throws SocketException {
        return (int) snd("socket-send", buf, flags, timeoutMs, null);
    }

    /** Sends {@code buf[start, end)} to {@code to} (sendto); returns the count. */
    public int sendTo(byte[] buf, int start, int end, SockAddr to, int flags, long timeoutMs) throws SocketException {
        return sendTo(view("socket-send-to", buf, start, end), to, flags, timeoutMs);
    }

    /** Sends a ByteBuffer's remaining bytes to {@code to}; returns the count. */
    public int sendTo(ByteBuffer buf, SockAddr to, int flags, long timeoutMs) throws SocketException {
        if (to == null) throw SocketException.invalid("socket-send-to", "destination address is required");
        return (int) snd("socket-send-to", buf, flags, timeoutMs, to);
    }

    /**
     * Sends all of {@code buf[start, end)} in chunks of {@code chunk} bytes (0 or negative:
     * all that remains each call), each chunk with its own timeout, as the egg's
     * {@code socket-send-all}.
     */
    public void sendAll(byte[] buf, int start, int end, int flags, int chunk, long timeoutMs) throws SocketException {
        sendAll(view("socket-send-all", buf, start, end), flags, chunk, timeoutMs);
    }

    /** {@link #sendAll(byte[], int, int, int, int, long)} for a ByteBuffer's remaining bytes. */
    public void sendAll(ByteBuffer buf, int flags, int chunk, long timeoutMs) throws SocketException {
        if (buf == null) throw SocketException.invalid("socket-send-all", "buffer is required");
        ByteBuffer b = buf.duplicate();
        int end = b.limit();
        while (b.position() < end) {
            int n = chunk > 0 ? Math.min(chunk, end - b.position()) : end - b.position();
            b.limit(b.position() + n);
            int sent = (int) snd("socket-send-all", b, flags, timeoutMs, null);
            b.limit(end);
            b.position(b.position() + sent);
        }
    }

    /** Sends a string's UTF-8 bytes (all of them). */
    public void sendAll(String s, int flags, int chunk, long timeoutMs) throws SocketException {
        sendAll(ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)), flags, chunk, timeoutMs);
    }

    private long snd(String op, ByteBuffer buf, int flags, long timeoutMs, SockAddr to) throws SocketException {
        buf = Buffers.forSendNow(op, buf); // a read-only heap buffer exposes no array: copied
        long deadline = timeoutMs < 0 ? Long.MAX_VALUE : 0; // read the clock when first needed, as recv does
        boolean dl = timeoutMs < 0;
        int fdn = fd.acquire(op);
        try {
            Scratch sc = to == null ? null : Scratch.get();
            int len = to == null ? 0 : to.encode(sc.addr);
            int waits = 0;
            long slice = 0, t0 = 0;
            for (;;) {
                int fl = flags | Native.MSG_NOSIGNAL;
                if (blocking && (flags & Native.NO_WAIT) == 0) { // a caller's MSG_DONTWAIT: wait in poll as usual
                    t0 = System.nanoTime();
                    if (!dl) { deadline = deadline(timeoutMs, t0); dl = true; }
                    slice = armSlice(fdn, false, deadline, t0, op);
                    if (slice == 0) fl |= Native.MSG_DONTWAIT;
                }
                long n = to == null ? Native.LIBC.send(fdn, buf, buf.remaining(), fl)
                                    : Native.LIBC.sendto(fdn, buf, buf.remaining(), fl, sc.addr, len);
                int e = n < 0 ? Native.errno() : 0;
                if (fd.isClosed()) throw fd.closed(op);
                if (n >= 0) return n;
                if (e == Native.EINTR) continue;
                if (!Native.wouldBlock(e)) throw SocketException.errno(op, e, "cannot send to socket", to);
                if (slice > 0) { waits = sliceSpent(t0, slice, waits, deadline, op, "send"); continue; }
                if (!dl) { deadline = deadline(timeoutMs); dl = true; }
                await(fd, fdn, Native.POLLOUT, deadline, op, "send", waits++);
            }
        } finally { fd.release(); }
    }

    /**
     * Receives up to {@code bufs.length} datagrams in one call (recvmmsg(2) on Linux): blocks up
     * to {@code timeoutMs} for the first, then takes those already queued. Returns how many
     * arrived (at least 1), with {@code counts}, {@code froms} and {@code msgFlags} filled for
     * each; buffer positions are not changed. See {@link Datagrams#receiveMany}.
     */
    public int receiveMany(ByteBuffer[] bufs, int[] counts, SockAddr[] froms, int[] msgFlags, int flags, long timeoutMs) throws SocketException {
        return Datagrams.receiveMany(this, bufs, counts, froms, msgFlags, flags, timeoutMs);
    }

    /**
     * Sends each buffer's remaining bytes as one datagram, in one call (sendmmsg(2) on Linux), to
     * {@code tos[i]} or the connected peer: blocks up to {@code timeoutMs} until the first can
     * go, then sends what fits. Returns how many were sent. See {@link Datagrams#sendMany}.
     */
    public int sendMany(ByteBuffer[] bufs, SockAddr[] tos, int flags, long timeoutMs) throws SocketException {
        return Datagrams.sendMany(this, bufs, tos, flags, timeoutMs);
    }

    /**
     * Returns a new pair of i/o ports over this connected socket (the egg's socket-i/o-ports),
     * with the parameters in {@code config} ({@link SocketPorts.Config#DEFAULTS}: the egg's).
     */
    public SocketPorts ioPorts(SocketPorts.Config config) throws SocketException { return SocketPorts.open(this, config); }

    // ---------------------------------------------------------------- options

    /** getsockopt as an int (the egg's {@code get-socket-option} without len). */
    public int getOption(int level, int name) throws SocketException {
        int fdn = fd.acquire("get-socket-option");
        try { return getOptionInt(fdn, level, name); } finally { fd.release(); }
    }

    /** getsockopt on a raw fd number, as an int. */
    public static int getOptionInt(int fdn, int level, int name) throws SocketException {
        Scratch sc = Scratch.get();
        sc.opt.putLong(0, 0);
        sc.len.putInt(0, 4);
        if (Native.LIBC.getsockopt(fdn, level, name, sc.opt, sc.len) < 0)
            throw SocketException.errno("get-socket-option", Native.errno(), "unable to get socket option", null);
        int n = sc.len.getInt(0);
        return n == 1 ? sc.opt.getByte(0) & 0xff : sc.opt.getInt(0);
    }

    /** getsockopt into a buffer of {@code len} bytes; returns the bytes the kernel wrote. */
    public static byte[] getOptionBytes(int fdn, int level, int name, int len) throws SocketException {
        if (len < 0 || len > Scratch.OPT_SIZE)
            throw SocketException.invalid("get-socket-option", "option length " + len + " is out of range 0-" + Scratch.OPT_SIZE);
        Scratch sc = Scratch.get();
        sc.opt.setMemory(0, Scratch.OPT_SIZE, (byte) 0);
        sc.len.putInt(0, len);
        if (Native.LIBC.getsockopt(fdn, level, name, sc.opt, sc.len) < 0)
            throw SocketException.errno("get-socket-option", Native.errno(), "unable to get socket option", null);
        int n = Math.min(len, sc.len.getInt(0));
        byte[] out = new byte[n];
        sc.opt.get(0, out, 0, n);
        return out;
    }

    /** setsockopt with an int value, on a raw fd number. */
    public static void setOptionInt(int fdn, int level, int name, int value) throws SocketException {
        Scratch sc = Scratch.get();
        sc.opt.putInt(0, value);
        noteTimeoutWrite(level, name);
        if (Native.LIBC.setsockopt(fdn, level, name, sc.opt, 4) < 0)
            throw SocketException.errno("set-socket-option", Native.errno(), "unable to set socket option", null);
    }

    private static void noteTimeoutWrite(int level, int name) {
        if (level == Native.SOL_SOCKET && (name == Native.SO_RCVTIMEO || name == Native.SO_SNDTIMEO)) timeoutWrites++;
    }

    /** setsockopt with raw bytes, on a raw fd number. */
    public static void setOptionBytes(int fdn, int level, int name, byte[] value) throws SocketException {
        if (value == null || value.length > Scratch.OPT_SIZE)
            throw SocketException.invalid("set-socket-option", "option value must be at most " + Scratch.OPT_SIZE + " bytes");
        Scratch sc = Scratch.get();
        sc.opt.put(0, value, 0, value.length);
        noteTimeoutWrite(level, name);
        if (Native.LIBC.setsockopt(fdn, level, name, sc.opt, value.length) < 0)
            throw SocketException.errno("set-socket-option", Native.errno(), "unable to set socket option", null);
    }

    /** setsockopt with an int value. */
    public void setOption(int level, int name, int value) throws SocketException {
        int fdn = fd.acquire("set-socket-option");
        try { setOptionInt(fdn, level, name, value); } finally { fd.release(); }
    }

    /** setsockopt with raw bytes. */
    public void setOption(int level, int name, byte[] value) throws SocketException {
        int fdn = fd.acquire("set-socket-option");
        try { setOptionBytes(fdn, level, name, value); } finally { fd.release(); }
    }

    /** getsockopt into {@code len} bytes. */
    public byte[] getOption(int level, int name, int len) throws SocketException {
        int fdn = fd.acquire("get-socket-option");
        try { return getOptionBytes(fdn, level, name, len); } finally { fd.release(); }
    }
}
