package sockets;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import sockets.impl.Buffers;
import sockets.impl.Fd;
import sockets.impl.Native;
import sockets.impl.Scratch;
import sockets.impl.Waiting;
import sockets.impl.SockAddrCodec;

/**
 * A BSD socket (the egg's {@code socket} record): an owned file descriptor with its family,
 * type and protocol (platform integers). Every socket is non-blocking and close-on-exec;
 * blocking methods try the call first and wait with poll(2) only when it would block,
 * retrying on EINTR, up to a deadline for the whole call (all of it in one place,
 * {@link Waiting}). A caller's MSG_DONTWAIT means "do not wait": a call that would block then
 * fails at once with {@code :would-block} (errno EAGAIN). A virtual thread that waits parks
 * ({@link sockets.impl.Parker}) and leaves its carrier free.
 *
 * <p>Timeouts are in milliseconds; a negative timeout waits forever, and so does any timeout
 * longer than {@link Waiting#FOREVER_MS} (about 146 years), up to {@link Long#MAX_VALUE}. Closing a socket that
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
    /** How often a blocked call looks for a close or an interrupt, in milliseconds ({@link Waiting#WAKE_MS}). */
    public static final int WAKE_MS = Waiting.WAKE_MS;

    private final Fd fd;
    private final int family, type, protocol;
    /** The waiting path of this socket's blocking calls (and its blocking-mode state). */
    private final Waiting waiting;

    /** Adopts an already-open fd (it must be non-blocking and close-on-exec). */
    Socket(int fdNumber, int family, int type, int protocol) {
        this.fd = new Fd(fdNumber);
        this.waiting = new Waiting(fd);
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
        if (!Native.setCloexec(fdn))
            throw SocketException.errno(op, Native.errno(), "unable to set close-on-exec", null);
        if (!Native.setNonblock(fdn))
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

    /**
     * A deadline in System.nanoTime terms for a timeout in ms: {@link Long#MAX_VALUE} (none)
     * when negative or longer than {@link Waiting#FOREVER_MS}; never overflows.
     */
    public static long deadline(long timeoutMs) { return Waiting.deadline(timeoutMs); }

    /** {@link #deadline(long)} counted from {@code now}, a System.nanoTime the caller already read. */
    static long deadline(long timeoutMs, long now) { return Waiting.deadline(timeoutMs, now); }

    /** The waiting path of this socket's blocking calls (for Messages and Datagrams). */
    Waiting waiting() { return waiting; }

    // ---------------------------------------------------------------- blocking mode

    /**
     * True when this socket is in blocking mode (see {@link #setBlocking}). Sockets are created
     * non-blocking, as in the egg.
     */
    public boolean isBlocking() { return waiting.isBlocking(); }

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
     * on a virtual thread calls do not wait in the kernel (they park on
     * {@link sockets.impl.Parker} as in non-blocking mode, except for an accept or connect, which may hold the carrier for one
     * slice); registering the socket with an {@code EventLoop} channel puts it back in
     * non-blocking mode for good (later calls with {@code true} return false). Linux only: elsewhere (where accept and connect may ignore the kernel
     * timeouts) this leaves the socket non-blocking and returns false.
     */
    public boolean setBlocking(boolean on) throws SocketException {
        if (on && (onLoop || !(Native.LINUX && Native.SOCK_CLOEXEC != 0 && Native.MSG_DONTWAIT > 0
                               && Native.SO_RCVTIMEO >= 0 && Native.SO_SNDTIMEO >= 0))) on = false;
        int fdn = fd.acquire("set-socket-blocking!");
        try {
            synchronized (this) {
                if (on == waiting.isBlocking()) return on;
                int fl = Native.LIBC.fcntl(fdn, Native.F_GETFL, 0);
                if (fl < 0 || Native.LIBC.fcntl(fdn, Native.F_SETFL, on ? fl & ~Native.O_NONBLOCK : fl | Native.O_NONBLOCK) < 0)
                    throw SocketException.errno("set-socket-blocking!", Native.errno(), "unable to change the socket's blocking mode", null);
                waiting.setBlocking(on);
                return on;
            }
        } finally { fd.release(); }
    }

    /** Set once an {@code EventLoop} channel flow has used this socket: it then stays non-blocking. */
    private volatile boolean onLoop;

    /** For {@code EventLoop}: puts the socket in non-blocking mode for good. */
    void leaveBlockingForLoop() throws SocketException {
        onLoop = true;
        if (waiting.isBlocking()) setBlocking(false);
    }

    /** True when a poll with no wait reports {@code events} (or an error/hangup). */
    private boolean ready(String op, short events) throws SocketException {
        int fdn = fd.acquire(op);
        try { return Waiting.ready(fdn, events, op); } finally { fd.release(); }
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
        String op = "socket-connect";
        if (addr == null) throw SocketException.invalid(op, "address is required");
        long deadline = deadline(timeoutMs);
        int fdn = fd.acquire(op);
        boolean ok = false;
        try {
            Scratch sc = Scratch.get();
            int len = addr.encode(sc.addr);
            // blocking mode: the kernel waits one slice, then says EINPROGRESS and goes on connecting
            if (waiting.isBlocking() && waiting.armSlice(fdn, false, deadline, System.nanoTime(), op) == 0) waiting.setSlice(fdn, false, 1, op);
            int rc = Native.LIBC.connect(fdn, sc.addr, len);
            int e = rc < 0 ? Native.errno() : 0;
            if (fd.isClosed()) throw fd.closed(op);
            if (rc == 0) { ok = true; return; }
            if (e == Native.EINPROGRESS || e == Native.EINTR) {
                int rev = waiting.await(fdn, Native.POLLOUT, deadline, timeoutMs, op, "connect", addr, 0);
                // writable with no error or hangup is connected; otherwise SO_ERROR says why not
                int err = (rev & (Native.POLLERR | Native.POLLHUP)) == 0 && (rev & Native.POLLOUT) != 0 ? 0 : soError(fdn);
                if (fd.isClosed()) throw fd.closed(op);
                if (err == 0) { ok = true; return; }
                throw SocketException.fromErrno(op, err, "cannot initiate connection", addr);
            }
            if (!Native.wouldBlock(e)) throw SocketException.fromErrno(op, e, "cannot initiate connection", addr);
            // unix stream sockets: the listener's backlog is full; try again until the deadline
            long left = Waiting.left(deadline);
            long ms = left == Long.MAX_VALUE ? -1 : Math.max(0, left / 1_000_000L);
            waiting.run(fdn, Waiting.CONNECT_RETRY, op, ms, false, addr, null, (n, nw) -> Native.LIBC.connect(n, sc.addr, len));
            ok = true;
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
        String op = "socket-accept";
        int fdn = fd.acquire(op);
        try {
            boolean blk = waiting.isBlocking(); // accepted sockets take the listener's mode
            int flags = blk ? Native.SOCK_CLOEXEC : Native.SOCK_ATOMIC_FLAGS;
            int n = (int) waiting.run(fdn, Waiting.ACCEPT, op, timeoutMs, false, null, Socket::closeFd, (l, nw) -> {
                for (;;) { // a connection that went away before it was accepted: take the next
                    int r = Native.SOCK_ATOMIC_FLAGS != 0 ? Native.LIBC.accept4(l, null, null, flags) : Native.LIBC.accept(l, null, null);
                    if (r >= 0) return r;
                    int e = Native.errno();
                    if (e != Native.ECONNABORTED && e != Native.EPROTO) return r;
                }
            });
            try {
                prepareFd(op, n, Native.SOCK_ATOMIC_FLAGS != 0);
            } catch (SocketException ex) { Native.LIBC.close(n); throw ex; }
            Socket s = new Socket(n, family, type, protocol);
            s.waiting.setBlocking(blk);
            return s;
        } finally { fd.release(); }
    }

    private static void closeFd(long n) { Native.LIBC.close((int) n); }

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

    // ---------------------------------------------------------------- ownership hand-offs

    /**
     * Returns a new socket on a duplicate of this socket's fd (CPython's {@code socket.dup}):
     * the same kernel socket, with the same family, type and protocol, on a new fd number that
     * is close-on-exec from the start (F_DUPFD_CLOEXEC, never a moment without). Closing either
     * socket leaves the other working; the kernel socket (and a connection's FIN) goes when the
     * last of them is closed. Does not block.
     * <p>Blocking mode: the two fds share one open file description, hence one O_NONBLOCK flag,
     * so they cannot be in different modes. The new socket is non-blocking, as every new socket
     * is, and so is this one from now on: this call puts it back in non-blocking mode if
     * {@link #setBlocking} had put it in blocking mode, and for both sockets a later
     * {@code setBlocking(true)} returns false (as after an {@code EventLoop} flow; otherwise
     * one socket's mode would change under the other, or under an event loop watching it).
     * <p>On close: when this socket is closed (or detached) the call throws {@code :closed} and
     * makes nothing. The new socket is the caller's to close.
     * @throws SocketException {@code :closed}; the errno's kind when the kernel refuses, e.g.
     *         EMFILE (no free fd number; the message says so); {@code :unsupported} where the
     *         platform has no F_DUPFD_CLOEXEC
     */
    public Socket dup() throws SocketException {
        Socket d = new Socket(fd.dup("socket-dup"), family, type, protocol);
        d.onLoop = true;
        try {
            leaveBlockingForLoop(); // the shared O_NONBLOCK: both non-blocking for good
        } catch (SocketException | RuntimeException e) {
            d.closeQuietly();
            throw e;
        }
        return d;
    }

    /**
     * Gives up this socket's fd and returns its number, still open (CPython's
     * {@code socket.detach}): the fd is the caller's from then on, to use (e.g. with
     * {@code fd->socket}, {@code Messages.adopt}) or hand on, and to close. This socket behaves
     * as closed: {@link #isClosed} is true, every later call throws {@code :closed} (its message
     * says the fd was detached), and {@link #close} does nothing (it never closes the number).
     * <p>Blocks until no other thread is inside a call on this socket. Calls waiting inside
     * (a receive, send, accept, connect, an i/o port's read) wake within {@link #WAKE_MS} ms and
     * fail with {@code :closed}, as after a close, but nothing is done to the kernel socket (no
     * shutdown(2)), since the new owner goes on using it; an {@code EventLoop} (and so a
     * {@code sockets.async} channel) ends the socket's flows with {@code :closed} at its next
     * sweep (within {@code LoopCore.SWEEP_MS}, 50 ms), taking the fd out of its epoll set first,
     * and the number is returned only after all of them have let go. A call whose system call
     * completed just as the detach came fails with {@code :closed} all the same and its result
     * is lost (data received, an accepted connection, which is closed; a send's bytes may have
     * gone out): stop the other threads' calls first when every byte matters. The wait cannot be
     * interrupted (the thread's interrupt status is kept).
     * <p>The fd keeps its file status flags: non-blocking (O_NONBLOCK), as every socket here,
     * unless {@link #setBlocking} put it in blocking mode; then the wait slices this library
     * kept in SO_RCVTIMEO and SO_SNDTIMEO are reset to none first. Other options are untouched.
     * <p>On an event loop's own thread (in a handler) it does not wait: it throws
     * {@code :invalid} and changes nothing when any call or loop holds the fd.
     * @throws SocketException {@code :closed} when the socket is already closed or detached
     *         (nothing changes), {@code :invalid} as said above
     */
    public int detach() throws SocketException {
        int n = fd.detach("socket-detach", sockets.impl.LoopCore.onLoopThread());
        if (waiting.isBlocking()) {
            // the number is the caller's now: a failure here must not lose it
            try { waiting.setSlice(n, true, 0, "socket-detach"); waiting.setSlice(n, false, 0, "socket-detach"); }
            catch (SocketException e) { /* the slice stays; the caller owns the options now */ }
        }
        return n;
    }

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
     * Receives into {@code buf[start, end)}; returns the count of bytes stored (0 at end of
     * stream), never more than {@code end - start}: with MSG_TRUNC a longer datagram's real
     * length is only told by {@link #receiveCounted}. Waits up to {@code timeoutMs} for data
     * (negative: forever); with MSG_DONTWAIT in {@code flags} it does not wait but fails with
     * {@code :would-block}. A close from another thread wakes it with {@code :closed}.
     */
    public int receive(byte[] buf, int start, int end, int flags, long timeoutMs) throws SocketException {
        return receive(view("socket-receive!", buf, start, end), flags, timeoutMs);
    }

    /**
     * Receives into the remaining bytes of {@code buf} (heap or direct) from its position; the
     * buffer's position is not changed. Returns the count stored (0 at end of stream), at most
     * {@code buf.remaining()}. Blocks as {@link #receive(byte[], int, int, int, long)}.
     */
    public int receive(ByteBuffer buf, int flags, long timeoutMs) throws SocketException {
        return recv("socket-receive!", buf, flags, timeoutMs, false).count;
    }

    /**
     * {@link #receive(ByteBuffer, int, long)} telling both counts: {@link Received#count} the
     * bytes stored, {@link Received#length} what the kernel reported (with MSG_TRUNC in
     * {@code flags}, a datagram's real length, which may exceed the buffer);
     * {@link Received#from} is null. Blocks as {@link #receive(byte[], int, int, int, long)}.
     */
    public Received receiveCounted(ByteBuffer buf, int flags, long timeoutMs) throws SocketException {
        return recv("socket-receive!", buf, flags, timeoutMs, false);
    }

    /**
     * Receives a datagram (or stream data) into {@code buf[start, end)}, returning the count and
     * the sender's address (null on connected stream sockets). Blocks as
     * {@link #receive(byte[], int, int, int, long)}.
     */
    public Received receiveFrom(byte[] buf, int start, int end, int flags, long timeoutMs) throws SocketException {
        return receiveFrom(view("socket-receive-from!", buf, start, end), flags, timeoutMs);
    }

    /** Like {@link #receiveFrom(byte[], int, int, int, long)} for a ByteBuffer's remaining bytes (position not changed). */
    public Received receiveFrom(ByteBuffer buf, int flags, long timeoutMs) throws SocketException {
        return recv("socket-receive-from!", buf, flags, timeoutMs, true);
    }

    /** The result of a receive: the bytes stored, the length the kernel reported, and the source address. */
    public static final class Received {
        /** Bytes stored in the buffer (never more than its space). */ public final int count;
        /**
         * The length the kernel reported: {@link #count}, except with MSG_TRUNC, where it is a
         * datagram's real length (larger than count when the datagram did not fit).
         */
        public final long length;
        /** The source, or null when the kernel reported none (or it was not asked for). */ public final SockAddr from;
        /** Creates a result whose length is its count. */
        public Received(int count, SockAddr from) { this(count, count, from); }
        /** Creates a result. */
        public Received(int count, long length, SockAddr from) { this.count = count; this.length = length; this.from = from; }
        /** True when the datagram was longer than the space (known only with MSG_TRUNC in the flags). */
        public boolean truncated() { return length > count; }
    }

    private Received recv(String op, ByteBuffer buf, int flags, long timeoutMs, boolean from) throws SocketException {
        ByteBuffer b = Buffers.forReceive(op, buf);
        int space = b.remaining();
        int fdn = fd.acquire(op);
        try {
            Scratch sc = from ? Scratch.get() : null;
            long n = waiting.run(fdn, Waiting.RECV, op, timeoutMs, (flags & Native.NO_WAIT) != 0, null, null, from
                ? (f, nw) -> { sc.len.putInt(0, Scratch.ADDR_SIZE); return Native.LIBC.recvfrom(f, b, space, flags | nw, sc.addr, sc.len); }
                : (f, nw) -> Native.LIBC.recv(f, b, space, flags | nw));
            return new Received((int) Math.min(n, space), n, from ? SockAddrCodec.decode(sc.addr, sc.len.getInt(0)) : null);
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

    /**
     * Sends {@code count} bytes (negative: all up to the file's end) of the file at {@code file},
     * from byte {@code offset}, over this connected stream socket (CPython's
     * {@code socket.sendfile}): with sendfile(2) on Linux, and by reads sent with send(2) where
     * sendfile refuses the file (a pipe, a FIFO, some /proc files: EINVAL, ENOSYS, EOPNOTSUPP)
     * and on other platforms. The file is opened read-only and close-on-exec and always closed.
     * Returns the bytes sent: {@code count}, or fewer when the file ends first (0 when
     * {@code offset} is at or past its end). Blocks until all is sent: each wait for buffer space
     * lasts up to {@code timeoutMs} (negative: forever), then {@code :timeout} (the bytes sent by
     * then are gone). A close from another thread wakes it with {@code :closed}; an interrupt
     * with {@code :interrupted}. A peer gone is {@code :errno :EPIPE} or {@code :ECONNRESET},
     * never SIGPIPE. Opening a FIFO waits for its writer, and reads wait as reading the file does.
     * @throws SocketException {@code :invalid} (a negative offset, a file that cannot be opened
     *         for reading or is a directory, a socket that is not {@code SOCK_STREAM}: a datagram
     *         socket would cut the file at arbitrary boundaries), {@code :closed},
     *         {@code :timeout}, {@code :interrupted}, or the errno's kind
     */
    public long sendFile(java.nio.file.Path file, long offset, long count, long timeoutMs) throws SocketException {
        return sockets.impl.FileSend.send(fd, waiting, type, file, null, offset, count, timeoutMs);
    }

    /**
     * {@link #sendFile(java.nio.file.Path, long, long, long)} from a FileChannel open for
     * reading, with positional reads sent with send(2) (the JDK gives no access to its fd):
     * the channel's position is not changed and it is not closed, as with
     * {@code FileChannel.transferTo}. Returns the bytes sent; blocks and fails as that method;
     * a closed or write-only channel is {@code :invalid}.
     */
    public long sendFile(java.nio.channels.FileChannel file, long offset, long count, long timeoutMs) throws SocketException {
        return sockets.impl.FileSend.send(fd, waiting, type, null, file, offset, count, timeoutMs);
    }

    private long snd(String op, ByteBuffer buf, int flags, long timeoutMs, SockAddr to) throws SocketException {
        ByteBuffer b = Buffers.forSendNow(op, buf); // a read-only heap buffer exposes no array: copied
        int len = b.remaining();
        int fdn = fd.acquire(op);
        try {
            Scratch sc = to == null ? null : Scratch.get();
            int alen = to == null ? 0 : to.encode(sc.addr);
            int fl = flags | Native.MSG_NOSIGNAL;
            return waiting.run(fdn, Waiting.SEND, op, timeoutMs, (flags & Native.NO_WAIT) != 0, to, null, to == null
                ? (f, nw) -> Native.LIBC.send(f, b, len, fl | nw)
                : (f, nw) -> Native.LIBC.sendto(f, b, len, fl | nw, sc.addr, alen));
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
        Waiting.noteTimeoutWrite(level, name);
        if (Native.LIBC.setsockopt(fdn, level, name, sc.opt, 4) < 0)
            throw SocketException.errno("set-socket-option", Native.errno(), "unable to set socket option", null);
    }

    /** setsockopt with raw bytes, on a raw fd number. */
    public static void setOptionBytes(int fdn, int level, int name, byte[] value) throws SocketException {
        if (value == null || value.length > Scratch.OPT_SIZE)
            throw SocketException.invalid("set-socket-option", "option value must be at most " + Scratch.OPT_SIZE + " bytes");
        Scratch sc = Scratch.get();
        sc.opt.put(0, value, 0, value.length);
        Waiting.noteTimeoutWrite(level, name);
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
