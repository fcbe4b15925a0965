package sockets;

import clojure.lang.Keyword;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import jnr.constants.platform.Errno;
import jnr.constants.platform.Shutdown;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.locks.LockSupport;
import sockets.impl.Fd;
import sockets.impl.LoopEpoll;
import sockets.impl.LoopPoll;
import sockets.impl.LoopPoller;
import sockets.impl.Native;
import sockets.impl.Scratch;
import sockets.impl.SockAddrCodec;

/**
 * One thread that serves many non-blocking sockets: epoll (level-triggered, see
 * {@link LoopEpoll}) on Linux, poll(2) elsewhere.
 *
 * <h2>Threading</h2>
 * The loop owns one daemon thread, started lazily by the first registration and ended by
 * {@link #stop}. Other threads never touch its state: every public method hands the loop a
 * task through a concurrent queue and wakes it (an eventfd on Linux, a pipe elsewhere); the
 * loop drains the queue at the top of each pass; a loop that is awake (not in its wait) is not
 * woken, it sees the task before it next waits. The one shortcut: {@link Flow#tryWrite} sends
 * on the calling thread while the loop sleeps (an attached writing flow with nothing pending),
 * and involves the loop only for what the kernel did not take. <b>Every handler
 * callback runs on the loop thread</b> and must not block (hand work to another thread, or use non-blocking puts);
 * the one exception: when a registration reaches a loop that is already stopped, its
 * {@code onError} runs on the thread that registered (or that stopped the loop).
 *
 * <h2>Flows and fds</h2>
 * Each registration ({@link #receive}, {@link #receiveFrom}, {@link #accept}, {@link #send}) is a
 * {@link Flow}. A socket can have one reading flow (receive, receiveFrom or accept) and one
 * writing flow (send) at a time. While a socket has a flow, the loop holds an
 * {@link sockets.impl.Fd#acquire acquisition} of its fd, so closing the socket never frees the
 * number under the loop: the loop notices the close (at the next event on it, or within
 * {@link #SWEEP_MS} ms), fails its flows with {@code :closed}, unregisters the fd, and only
 * then releases it; the kernel fd is closed exactly once, by whoever leaves last.
 *
 * <h2>Backpressure</h2>
 * A read handler returns false from {@code onItem} to pause its flow: the loop stops reading
 * (the fd loses its read interest) until {@link Flow#resume}, so the kernel's receive buffer
 * fills and TCP closes the sender's window. A writing flow holds one buffer at a time; the
 * next is given only after {@code onWritten}, which comes when the kernel has taken all of
 * it. Per socket the loop keeps a few small objects and no buffers of its own: reads go
 * through one loop-wide direct buffer and come out as exactly-sized arrays.
 *
 * <h2>Blocked threads</h2>
 * {@link #awaitFd} parks a thread that would otherwise block in poll(2) until the loop sees
 * its fd ready: a virtual thread then leaves its carrier free ({@link #onVirtualThread}).
 *
 * <h2>Errors</h2>
 * Every failure reaches a handler's {@code onError} as a {@link SocketException}, then the
 * flow ends. A handler that throws fails every flow of its socket (as {@code :fatal}, the
 * throwable as cause); the loop goes on. Exceptions thrown by {@code onError}/{@code onEnd}
 * themselves are counted ({@link #handlerErrors}) and kept ({@link #lastHandlerError}).
 */
public final class EventLoop {
    /** How often the loop looks for closed sockets, timeouts and closed consumers, in ms. */
    public static final int SWEEP_MS = Socket.WAKE_MS;
    /** The largest {@link Options#maxChunk}. */
    public static final int MAX_CHUNK = 16 << 20;
    private static final int WRITE_CHUNK = 256 << 10;
    private static final int ACCEPTS_PER_PASS = 16;
    private static final int WRITES_PER_PASS = 16;
    private static final int TASKS_PER_PASS = 4096;
    private static final long BACKOFF_NS = 100_000_000L;
    private static final int SHUT_WR = Native.value(Shutdown.SHUT_WR);
    private static final int EMFILE = Native.value(Errno.EMFILE), ENFILE = Native.value(Errno.ENFILE),
        ENOBUFS = Native.value(Errno.ENOBUFS), ENOMEM = Native.value(Errno.ENOMEM);

    /** The life of a loop. */
    public enum State {
        /** Created, thread not started yet. */ NEW,
        /** The thread is serving. */ RUNNING,
        /** {@link #stop} was called; flows are being failed. */ STOPPING,
        /** The thread has ended; registrations fail at once with {@code :closed}. */ STOPPED;

        /** The keyword for Clojure ({@code :running}, ...). */
        public Keyword keyword() { return Keyword.intern(null, name().toLowerCase()); }
    }

    /**
     * Callbacks of a reading flow. All run on the loop thread and must not block.
     * @param <T> {@code byte[]} for {@link #receive}, {@link Datagram} for {@link #receiveFrom},
     *            {@link Socket} for {@link #accept}
     */
    public interface ReadHandler<T> {
        /**
         * An item arrived. Returns true to keep reading, false to pause the flow until
         * {@link Flow#resume}. An accepted socket belongs to the handler from here on (if this
         * throws, the loop closes it).
         */
        boolean onItem(Flow flow, T item);
        /** The peer closed its side (stream EOF); the flow has ended. */
        void onEnd(Flow flow);
        /** The flow failed and has ended. */
        void onError(Flow flow, SocketException e);
        /**
         * Polled every {@link #SWEEP_MS} ms, paused or not: false ends the flow quietly (no
         * callback), e.g. because its consumer went away. Must be cheap and must not block.
         */
        default boolean wanted() { return true; }
    }

    /** Callbacks of a writing flow. All run on the loop thread and must not block. */
    public interface WriteHandler {
        /** The buffer given to {@link Flow#write} was sent entirely; the next may be given. */
        void onWritten(Flow flow);
        /** {@link Flow#finish} completed (after the write side was shut down, if asked); the flow has ended. */
        void onEnd(Flow flow);
        /** The flow failed and has ended; a pending buffer may be partly sent. */
        void onError(Flow flow, SocketException e);
    }

    /** Callbacks of a connect. They run on the loop thread and must not block. */
    public interface ConnectHandler {
        /** Connected; the socket belongs to the handler (if this throws, the loop closes it). */
        void onConnected(Socket socket);
        /** Failed; every socket the attempt opened is already closed. */
        void onError(SocketException e);
    }

    /** One received datagram. */
    public static final class Datagram {
        /** The payload (exactly the bytes received). */ public final byte[] data;
        /** The sender, or null when the kernel reported none. */ public final SockAddr from;
        /** Creates a datagram. */
        public Datagram(byte[] data, SockAddr from) { this.data = data; this.from = from; }
    }

    /** Settings of one flow (one object instead of long parameter lists). Not thread-safe; copy per flow. */
    public static final class Options {
        int maxChunk = 65536;
        long timeoutMs = -1;
        boolean closeSocket;
        boolean shutdownOutput;

        /** Defaults: 64 KiB chunks, no timeout, socket left open, no shutdown. */
        public Options() {}

        /**
         * Largest byte count per read (stream: per item; datagram: longer ones are truncated),
         * 1 to {@link #MAX_CHUNK}. Default 65536.
         */
        public Options maxChunk(int n) throws SocketException {
            if (n < 1 || n > MAX_CHUNK) throw SocketException.invalid("event-loop", "max chunk must be 1-" + MAX_CHUNK + ", not " + n);
            maxChunk = n; return this;
        }

        /**
         * Idle timeout in ms (negative: none, the default): a reading flow that is not paused
         * and gets nothing for this long, a write that makes no progress for this long, or a
         * connect that takes longer fails with {@code :timeout}.
         */
        public Options timeoutMs(long ms) { timeoutMs = ms; return this; }

        /** When the flow ends, for any reason, close the socket (its other flow then fails with {@code :closed}). */
        public Options closeSocket(boolean b) { closeSocket = b; return this; }

        /** Writing flows: {@link Flow#finish} shuts down the write side (SHUT_WR) before {@code onEnd}. */
        public Options shutdownOutput(boolean b) { shutdownOutput = b; return this; }

        Options copy() {
            Options o = new Options();
            o.maxChunk = maxChunk; o.timeoutMs = timeoutMs; o.closeSocket = closeSocket; o.shutdownOutput = shutdownOutput;
            return o;
        }
    }

    enum Kind { STREAM_IN, DGRAM_IN, ACCEPT, SEND, CONNECT, WAIT_READ, WAIT_WRITE;
        /** Takes the socket's reading slot (else the writing slot). */
        boolean reads() { return this == STREAM_IN || this == DGRAM_IN || this == ACCEPT || this == WAIT_READ; }
        boolean isWait() { return this == WAIT_READ || this == WAIT_WRITE; } }

    /**
     * A registration of one socket with the loop. Its methods may be called from any thread;
     * they take effect on the loop thread, in order.
     */
    public static final class Flow {
        final EventLoop loop;
        final Socket socket; // null for a parked thread's wait
        final Fd fd;
        final Kind kind;
        final Options opts;
        final Object handler;
        final String op;
        final AtomicBoolean writing = new AtomicBoolean();
        // loop thread only:
        Reg reg;
        boolean done, paused, finishing, connected;
        long deadline = Long.MAX_VALUE, backoffUntil;
        ByteBuffer pending;
        SockAddr target;
        // written by the loop thread only, readable anywhere:
        private volatile boolean ended;
        private volatile boolean finishRequested;
        // set by the loop once the flow holds its socket's writing slot: direct writes wait for it
        private volatile boolean attached;
        private volatile long bytesRead, bytesWritten;

        Flow(EventLoop loop, Socket socket, Kind kind, Options opts, Object handler, String op) {
            this(loop, socket, socket.fd(), kind, opts, handler, op);
        }

        Flow(EventLoop loop, Socket socket, Fd fd, Kind kind, Options opts, Object handler, String op) {
            this.loop = loop; this.socket = socket; this.fd = fd; this.kind = kind; this.opts = opts.copy();
            this.handler = handler; this.op = op;
        }

        /** The socket (null for the wait of a parked thread, see {@link EventLoop#awaitFd}). */
        public Socket socket() { return socket; }
        /** The loop serving it. */
        public EventLoop loop() { return loop; }
        /** True once the flow has ended (its last callback has been or is being made). */
        public boolean isDone() { return ended; }
        /** Bytes this flow has taken off the socket so far. */
        public long bytesRead() { return bytesRead; }
        /** Bytes this flow has handed to the kernel so far. */
        public long bytesWritten() { return bytesWritten; }

        /** Reading flows: resumes reading after {@code onItem} returned false. Any thread. */
        public void resume() {
            onLoop(() -> loop.resumeFlow(Flow.this));
        }

        /** Runs {@code body} on the loop thread, a throw failing this flow (see {@link EventLoop#guard}). */
        private void onLoop(Runnable body) {
            loop.submit(new Task() { void run() { loop.guard(Flow.this, body); } });
        }

        /** Ends the flow quietly (no further callbacks). Any thread; idempotent. */
        public void cancel() {
            loop.submit(new Task() { void run() { loop.end(Flow.this, null, true); } });
        }

        /**
         * Writing flows: sends the remaining bytes of {@code buf} (its position and limit are not
         * changed; do not change its content until {@code onWritten}). One buffer at a time.
         * Any thread.
         * @throws IllegalStateException when the previous buffer is not written yet
         */
        public void write(ByteBuffer buf) {
            if (buf == null) throw new IllegalArgumentException("buffer is required");
            if (kind != Kind.SEND) throw new IllegalStateException("not a writing flow");
            if (!writing.compareAndSet(false, true)) throw new IllegalStateException("a write is already pending");
            final ByteBuffer b = buf.duplicate();
            onLoop(() -> loop.startWrite(Flow.this, b));
        }

        /**
         * Writing flows: while the loop thread is asleep in its wait, sends the remaining bytes
         * of {@code buf} from the calling thread, so that the kernel takes them without waking
         * the loop (no task, no wake-up). Returns true when the kernel took all of it: no
         * {@code onWritten} follows, the next buffer may be given at once. Returns false when
         * the loop finishes the job, as after {@link #write}: the rest (or all of it, when the
         * loop is awake serving other sockets: it then sends it in its next pass with the
         * others, no wake-up needed) is sent when the socket is writable, then
         * {@code onWritten} (or {@code onError}) on the loop thread; a send error is likewise
         * reported by the loop through {@code onError}. Never blocks (non-blocking sends only).
         * Position and limit of {@code buf} are not changed. Any thread.
         * @throws IllegalStateException when the previous buffer is not written yet
         */
        public boolean tryWrite(ByteBuffer buf) {
            if (buf == null) throw new IllegalArgumentException("buffer is required");
            if (kind != Kind.SEND) throw new IllegalStateException("not a writing flow");
            if (!writing.compareAndSet(false, true)) throw new IllegalStateException("a write is already pending");
            final ByteBuffer b = buf.duplicate();
            if (ended) { writing.set(false); return false; } // the flow's last callback has been made
            if (!attached || !loop.sleeping) {
                // not registered yet (or refused): the loop decides, in order; or the loop is awake,
                // serving other sockets: it sends this in its next pass with the rest (no wake-up)
                onLoop(() -> loop.startWrite(Flow.this, b));
                return false;
            }
            int fdn;
            try {
                fdn = fd.acquire(op);
            } catch (SocketException e) {
                onLoop(() -> loop.failDirect(Flow.this, e));
                return false;
            }
            SocketException err = null;
            boolean done;
            try {
                done = loop.sendDirect(this, fdn, b);
            } catch (SocketException e) {
                err = e;
                done = false;
            } finally {
                fd.release();
            }
            if (done) {
                loop.directWrites.increment();
                writing.set(false);
                if (finishRequested) onLoop(() -> loop.finishFlow(Flow.this));
                return true;
            }
            final SocketException failure = err;
            onLoop(() -> { if (failure != null) loop.failDirect(Flow.this, failure); else loop.startWrite(Flow.this, b); });
            return false;
        }

        /**
         * Writing flows: ends the flow after the pending buffer (if any) is sent, shutting down
         * the write side when the flow's options say so; then {@code onEnd}. Any thread.
         */
        public void finish() {
            if (kind != Kind.SEND) throw new IllegalStateException("not a writing flow");
            finishRequested = true;
            onLoop(() -> loop.finishFlow(Flow.this));
        }

        @Override public String toString() { return "#<flow " + kind + " " + fd + (ended ? " done" : "") + ">"; }
    }

    /** A socket's registration: its acquired fd number and its (at most two) flows. Loop thread only. */
    static final class Reg {
        final Fd fd;
        final int fdn;
        Flow reader, writer;
        int interest; // what the poller has; 0: not in the poller
        Reg(Fd fd, int fdn) { this.fd = fd; this.fdn = fdn; }
    }

    /** Work handed to the loop; {@link #reject} runs instead of {@link #run} when the loop is stopped. */
    abstract static class Task {
        abstract void run();
        void reject(SocketException stopped) {}
    }

    // ---------------------------------------------------------------- the loop's own state

    private final String name;
    private final boolean usePoll;
    private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
    private final ConcurrentLinkedQueue<Task> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean wakePending = new AtomicBoolean();
    /**
     * True from just before the loop looks at its task queue for the last time in a pass until
     * its wait returns. A submitter adds its task, then reads this: false means the loop has
     * not looked yet (it will see the task and not wait) or is serving events (it runs the
     * queue at the top of its next pass), so no wake-up is needed.
     */
    private volatile boolean sleeping;
    private final Object wakeLock = new Object();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile Thread thread;
    private volatile SocketException startError;
    private LoopPoller poller;          // guarded by wakeLock for wake/close; else loop thread
    private boolean pollerClosed;       // guarded by wakeLock
    private final HashMap<Integer, Reg> regs = new HashMap<>(); // loop thread only
    private ByteBuffer readBuf = ByteBuffer.allocateDirect(65536);
    private ByteBuffer writeBuf = ByteBuffer.allocateDirect(WRITE_CHUNK);
    private volatile int registered;
    private volatile long totalRead;
    private final java.util.concurrent.atomic.LongAdder totalWritten = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder directWrites = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.AtomicLong handlerErrors = new java.util.concurrent.atomic.AtomicLong();
    private volatile Throwable lastHandlerError;

    private EventLoop(String name, boolean usePoll) { this.name = name; this.usePoll = usePoll; }

    /**
     * Returns a new loop (not started: its thread starts with the first registration).
     * @param name the thread's name
     * @param usePoll true to use poll(2) even where epoll exists (testing the fallback)
     */
    public static EventLoop create(String name, boolean usePoll) { return new EventLoop(name, usePoll || !Native.LINUX); }

    /** Returns a new loop with the platform's poller (epoll on Linux). */
    public static EventLoop create(String name) { return create(name, false); }

    private static EventLoop shared;

    /**
     * Returns the process-wide loop, creating it if there is none or the last one was
     * stopped. Its thread starts with its first registration.
     */
    public static synchronized EventLoop shared() {
        if (shared == null || shared.state.get().compareTo(State.STOPPING) >= 0) shared = create("sockets-event-loop");
        return shared;
    }

    /** The loop's state. */
    public State state() { return state.get(); }
    /** True when called on this loop's thread. */
    public boolean inLoop() { return Thread.currentThread() == thread; }
    /** The count of sockets currently registered (updated by the loop thread). */
    public int registrations() { return registered; }
    /** Bytes read from all sockets by this loop. */
    public long bytesRead() { return totalRead; }
    /** Bytes written to all sockets by this loop. */
    public long bytesWritten() { return totalWritten.sum(); }
    /** How many buffers {@link Flow#tryWrite} sent entirely on the calling thread (the loop thread not involved). */
    public long directWrites() { return directWrites.sum(); }
    /** How many handler callbacks threw where nothing else could report it (onEnd, onError, tasks). */
    public long handlerErrors() { return handlerErrors.get(); }
    /** The last such throwable, or null. */
    public Throwable lastHandlerError() { return lastHandlerError; }
    /** The poller in use: "epoll" or "poll". */
    public String pollerName() { return usePoll ? "poll" : "epoll"; }

    /**
     * Stops the loop: every registered flow fails with {@code :closed} (sockets are closed only
     * where their flow's options say so), the poller is freed, the thread ends. Returns at once;
     * see {@link #awaitStopped}. Idempotent.
     */
    public void stop() {
        for (;;) {
            State s = state.get();
            if (s == State.NEW) {
                synchronized (this) {
                    if (state.compareAndSet(State.NEW, State.STOPPED)) { stopped.countDown(); rejectAll(); return; }
                }
                continue;
            }
            if (s != State.RUNNING) return;
            if (state.compareAndSet(State.RUNNING, State.STOPPING)) { wake(); return; }
        }
    }

    /** Waits up to {@code timeoutMs} for the thread to end; returns true when it has. */
    public boolean awaitStopped(long timeoutMs) throws InterruptedException {
        return stopped.await(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /** Runs {@code r} on the loop thread (it must not block); dropped if the loop is stopped. */
    public void execute(Runnable r) {
        submit(new Task() { void run() { r.run(); } });
    }

    // ---------------------------------------------------------------- registration API

    /**
     * Registers a reading flow on a stream socket: items are byte arrays of 1 to
     * {@code maxChunk} bytes, in order; {@code onEnd} at EOF. Returns at once.
     */
    public Flow receive(Socket s, Options o, ReadHandler<byte[]> h) { return register(s, Kind.STREAM_IN, o, h, "socket-receive!"); }

    /** Registers a reading flow on a datagram socket: one {@link Datagram} per item. Returns at once. */
    public Flow receiveFrom(Socket s, Options o, ReadHandler<Datagram> h) { return register(s, Kind.DGRAM_IN, o, h, "socket-receive-from!"); }

    /**
     * Registers an accepting flow on a listening socket: items are accepted sockets
     * (non-blocking, close-on-exec, owned by the handler). Returns at once.
     */
    public Flow accept(Socket listener, Options o, ReadHandler<Socket> h) { return register(listener, Kind.ACCEPT, o, h, "socket-accept"); }

    /** Registers a writing flow; give it buffers with {@link Flow#write}. Returns at once. */
    public Flow send(Socket s, Options o, WriteHandler h) { return register(s, Kind.SEND, o, h, "socket-send"); }

    private Flow register(Socket s, Kind kind, Options o, Object h, String op) {
        if (s == null || h == null) throw new IllegalArgumentException("socket and handler are required");
        Flow f = new Flow(this, s, kind, o == null ? new Options() : o, h, op);
        submit(new Task() {
            void run() { attach(f); }
            void reject(SocketException e) { f.done = true; f.ended = true; callError(f, e); }
        });
        return f;
    }

    /**
     * Opens a socket of {@code addr}'s family and {@code type} and connects it without blocking
     * (timeout: the options' {@code timeoutMs}). The handler gets the connected socket, or the
     * error (the socket then closed, as the egg does). Returns at once.
     */
    public void connect(SockAddr addr, int type, Options o, ConnectHandler h) {
        if (addr == null || h == null) throw new IllegalArgumentException("address and handler are required");
        Options opts = o == null ? new Options() : o;
        submit(new Task() {
            void run() { startConnect(addr, type, opts, h); }
            void reject(SocketException e) { safe(() -> h.onError(e)); }
        });
    }

    /**
     * The egg's {@code socket-connect/ai} without blocking: tries each addrinfo in turn; a
     * transient or timeout error tries the next, any other error ends at once; when all fail
     * the handler gets the last error. Returns at once.
     */
    public void connectAny(List<AddrInfo> ais, Options o, ConnectHandler h) {
        if (h == null) throw new IllegalArgumentException("handler is required");
        final List<AddrInfo> list = ais == null ? List.of() : List.copyOf(ais);
        final Options opts = o == null ? new Options() : o;
        if (list.isEmpty()) {
            SocketException e = new SocketException("socket-connect/ai", SocketException.Kind.INVALID, 0, null, "no addresses to connect to", null);
            execute(() -> h.onError(e));
            return;
        }
        new ConnectHandler() {
            int i = 0;
            { next(); }
            void next() { AddrInfo ai = list.get(i); connect(ai.address(), ai.socktype(), opts, this); }
            public void onConnected(Socket s) { h.onConnected(s); }
            public void onError(SocketException e) {
                boolean retry = e.kind() == SocketException.Kind.TRANSIENT || e.kind() == SocketException.Kind.TIMEOUT;
                if (retry && ++i < list.size()) next(); else h.onError(e);
            }
        };
    }

    // ---------------------------------------------------------------- submission and start

    void submit(Task t) {
        State s = state.get();
        if (s == State.NEW) { start(); s = state.get(); }
        tasks.add(t);
        if (state.get() == State.STOPPED) { rejectAll(); return; }
        // an awake loop runs the queue before it next waits (see `sleeping`): no wake-up needed
        if (Thread.currentThread() != thread && sleeping && wakePending.compareAndSet(false, true)) wake();
    }

    private void wake() {
        synchronized (wakeLock) {
            if (poller != null && !pollerClosed) poller.wake();
        }
    }

    private synchronized void start() {
        if (state.get() != State.NEW) return;
        try {
            LoopPoller p = usePoll ? new LoopPoll() : new LoopEpoll();
            synchronized (wakeLock) { poller = p; }
        } catch (SocketException | RuntimeException | LinkageError e) {
            startError = e instanceof SocketException ? (SocketException) e
                : new SocketException("event-loop", SocketException.Kind.FATAL, 0, null, "cannot start event loop: " + e, null);
            state.set(State.STOPPED);
            stopped.countDown();
            return;
        }
        Thread t = new Thread(this::run, name);
        t.setDaemon(true);
        thread = t;
        state.set(State.RUNNING);
        t.start();
    }

    private void rejectAll() {
        SocketException e = startError != null ? startError
            : new SocketException("event-loop", SocketException.Kind.CLOSED, 0, null, "event loop is stopped", null);
        Task t;
        while ((t = tasks.poll()) != null) {
            try { t.reject(e); } catch (Throwable x) { noteHandlerError(x); }
        }
    }

    // ---------------------------------------------------------------- the loop

    private void run() {
        long nextSweep = System.nanoTime() + SWEEP_MS * 1_000_000L;
        try {
            while (state.get() == State.RUNNING) {
                wakePending.set(false);
                runTasks();
                if (state.get() != State.RUNNING) break;
                int timeout;
                long now = System.nanoTime();
                sleeping = true; // before looking at the queue: a submitter that then sees false knows we will look
                if (!tasks.isEmpty()) timeout = 0;
                else if (regs.isEmpty()) timeout = -1;
                else timeout = (int) Math.max(0, (nextSweep - now + 999_999) / 1_000_000);
                int n = poller.await(timeout);
                sleeping = false;
                for (int i = 0; i < n; i++) {
                    Reg r = regs.get(poller.readyFd(i));
                    if (r != null) dispatch(r, poller.readyOps(i));
                }
                now = System.nanoTime();
                if (now - nextSweep >= 0) {
                    sweep(now);
                    nextSweep = now + SWEEP_MS * 1_000_000L;
                }
            }
        } catch (Throwable t) {
            // the poller itself failed (or an Error): nothing can be served any more
            noteHandlerError(t);
            state.set(State.STOPPING);
        }
        try {
            runTasks();
            SocketException e = new SocketException("event-loop", SocketException.Kind.CLOSED, 0, null, "event loop stopped", null);
            for (Reg r : new ArrayList<>(regs.values())) failReg(r, e);
        } finally {
            synchronized (wakeLock) { pollerClosed = true; }
            poller.close();
            state.set(State.STOPPED);
            thread = null;
            rejectAll();
            stopped.countDown();
        }
    }

    /** Runs queued tasks, at most {@link #TASKS_PER_PASS} so that sockets get their turn too. */
    private void runTasks() {
        for (int i = 0; i < TASKS_PER_PASS; i++) {
            Task t = tasks.poll();
            if (t == null) return;
            try { t.run(); } catch (Throwable x) { noteHandlerError(x); }
        }
    }

    private void noteHandlerError(Throwable t) {
        handlerErrors.incrementAndGet();
        lastHandlerError = t;
    }

    /** Runs a flow's task; a handler throwing inside it fails the flow's socket, as in {@link #dispatch}. */
    void guard(Flow f, Runnable body) {
        try {
            body.run();
        } catch (Throwable t) {
            Reg r = f.reg;
            if (r != null) failReg(r, handlerFailed(f.op, t)); else noteHandlerError(t);
        }
    }

    private void safe(Runnable r) {
        try { r.run(); } catch (Throwable t) { noteHandlerError(t); }
    }

    private static SocketException closedError(String op) {
        return new SocketException(op, SocketException.Kind.CLOSED, Native.EBADF, null, "socket is closed", null);
    }

    private static SocketException handlerFailed(String op, Throwable t) {
        SocketException e = new SocketException(op, SocketException.Kind.FATAL, 0, null, "handler failed: " + t, null);
        e.initCause(t);
        return e;
    }

    // ---------------------------------------------------------------- registrations

    private void attach(Flow f) {
        if (!f.kind.isWait() && f.socket != null) {
            // the loop's calls (and direct writes) must never wait in the kernel: a socket in
            // blocking mode goes back to non-blocking, and stays so (Socket.setBlocking)
            try { f.socket.leaveBlockingForLoop(); } catch (SocketException e) { finishUnattached(f, e); return; }
        }
        Fd fd = f.fd;
        Reg r = fd.isClosed() ? null : regs.get(fd.number());
        if (r != null && r.fd != fd) r = null; // cannot happen while the number is held; be safe
        boolean fresh = r == null;
        if (fresh) {
            int fdn;
            try { fdn = fd.acquire(f.op); } catch (SocketException e) { finishUnattached(f, e); return; }
            r = new Reg(fd, fdn);
            regs.put(fdn, r);
            registered = regs.size();
        }
        if (f.kind.reads() ? r.reader != null : r.writer != null) {
            if (f.kind.isWait()) {
                // the socket has a channel flow in that direction: the thread polls by itself instead
                f.done = true;
                f.ended = true;
                if (fresh) unregister(r);
                ((Waiter) f.handler).finish(-1, null);
                return;
            }
            finishUnattached(f, SocketException.invalid(f.op, "the socket already has a " + (f.kind.reads() ? "reading" : "writing") + " flow"));
            return;
        }
        if (f.kind.reads()) r.reader = f; else r.writer = f;
        f.reg = r;
        f.deadline = deadlineFrom(System.nanoTime(), f);
        updateInterest(r);
        if (f.kind == Kind.SEND && !f.done) f.attached = true;
    }

    private void finishUnattached(Flow f, SocketException e) {
        f.done = true;
        f.ended = true;
        if (f.kind == Kind.CONNECT || f.opts.closeSocket) f.socket.closeQuietly();
        callError(f, e);
    }

    private static long deadlineFrom(long now, Flow f) {
        return Socket.deadline(f.opts.timeoutMs, now);
    }

    private int wantedInterest(Reg r) {
        int want = 0;
        Flow rd = r.reader;
        if (rd != null && !rd.paused && rd.backoffUntil == 0) want |= LoopPoller.READ;
        Flow w = r.writer;
        if (w != null && (w.pending != null || w.kind == Kind.WAIT_WRITE || (w.kind == Kind.CONNECT && !w.connected)))
            want |= LoopPoller.WRITE;
        return want;
    }

    private void updateInterest(Reg r) {
        if (regs.get(r.fdn) != r) return;
        int want = wantedInterest(r);
        if (want == r.interest) return;
        try {
            if (r.interest == 0) poller.add(r.fdn, want);
            else if (want == 0) poller.remove(r.fdn);
            else poller.modify(r.fdn, want);
            r.interest = want;
        } catch (SocketException e) {
            failReg(r, e);
        }
    }

    private void unregister(Reg r) {
        if (regs.get(r.fdn) != r) return;
        if (r.interest != 0) poller.remove(r.fdn);
        r.interest = 0;
        regs.remove(r.fdn);
        registered = regs.size();
        r.fd.release(); // last: the number may be closed now, and only now
    }

    /** Ends a flow: detach it, close the socket if asked, make its last callback. Idempotent. */
    void end(Flow f, SocketException err, boolean quiet) {
        if (f.done) return;
        f.done = true;
        f.ended = true;
        f.pending = null;
        Reg r = f.reg;
        f.reg = null;
        if (r != null) {
            if (r.reader == f) r.reader = null;
            if (r.writer == f) r.writer = null;
            if (r.reader == null && r.writer == null) unregister(r); else updateInterest(r);
        }
        boolean close = f.opts.closeSocket || (f.kind == Kind.CONNECT && !f.connected);
        if (close) f.socket.closeQuietly();
        if (err != null) callError(f, err);
        else if (!quiet) callEnd(f);
        if (close && r != null && (r.reader != null || r.writer != null)) failClosed(r);
    }

    private void failClosed(Reg r) {
        Flow a = r.reader, b = r.writer;
        if (a != null) end(a, closedError(a.op), false);
        if (b != null) end(b, closedError(b.op), false);
        unregister(r);
    }

    private void failReg(Reg r, SocketException e) {
        Flow a = r.reader, b = r.writer;
        if (a != null) end(a, e, false);
        if (b != null) end(b, e, false);
        unregister(r); // no-op when ending the flows already did it
    }

    @SuppressWarnings("unchecked")
    private void callError(Flow f, SocketException e) {
        safe(() -> {
            switch (f.kind) {
                case SEND: ((WriteHandler) f.handler).onError(f, e); break;
                case CONNECT: ((ConnectHandler) f.handler).onError(e); break;
                case WAIT_READ: case WAIT_WRITE: ((Waiter) f.handler).finish(0, e); break;
                default: ((ReadHandler<Object>) f.handler).onError(f, e);
            }
        });
    }

    @SuppressWarnings("unchecked")
    private void callEnd(Flow f) {
        safe(() -> {
            switch (f.kind) {
                case SEND: ((WriteHandler) f.handler).onEnd(f); break;
                case CONNECT: case WAIT_READ: case WAIT_WRITE: break;
                default: ((ReadHandler<Object>) f.handler).onEnd(f);
            }
        });
    }

    void resumeFlow(Flow f) {
        if (f.done || !f.paused) return;
        f.paused = false;
        f.deadline = deadlineFrom(System.nanoTime(), f);
        updateInterest(f.reg);
    }

    // ---------------------------------------------------------------- readiness

    private void dispatch(Reg r, int ops) {
        try {
            if (r.fd.isClosed()) { failClosed(r); return; }
            Flow w = r.writer;
            if (w != null && (ops & (LoopPoller.WRITE | LoopPoller.ERROR)) != 0) {
                if (w.kind == Kind.CONNECT) connectReady(w);
                else if (w.kind == Kind.WAIT_WRITE) wakeWaiter(w, ops);
                else if (w.pending != null) doWrite(w);
            }
            Flow rd = r.reader;
            if (rd != null && !rd.done && !rd.paused && (ops & (LoopPoller.READ | LoopPoller.ERROR)) != 0) {
                switch (rd.kind) {
                    case STREAM_IN: readStream(rd, false); break;
                    case DGRAM_IN: readStream(rd, true); break;
                    case WAIT_READ: wakeWaiter(rd, ops); break;
                    default: acceptSome(rd);
                }
            }
        } catch (Throwable t) {
            failReg(r, handlerFailed("event-loop", t));
        }
    }

    private ByteBuffer readBuffer(int n) {
        if (readBuf.capacity() < n) readBuf = ByteBuffer.allocateDirect(Math.max(n, readBuf.capacity() * 2 > MAX_CHUNK ? n : readBuf.capacity() * 2));
        readBuf.clear().limit(n);
        return readBuf;
    }

    @SuppressWarnings("unchecked")
    private void readStream(Flow f, boolean datagram) {
        int fdn = f.reg.fdn;
        int cap = f.opts.maxChunk;
        ByteBuffer buf = readBuffer(cap);
        Scratch sc = datagram ? Scratch.get() : null;
        long n;
        for (;;) {
            if (datagram) {
                sc.len.putInt(0, Scratch.ADDR_SIZE);
                n = Native.LIBC.recvfrom(fdn, buf, cap, 0, sc.addr, sc.len);
            } else {
                n = Native.LIBC.recv(fdn, buf, cap, 0);
            }
            if (n >= 0) break;
            int e = Native.errno();
            if (e == Native.EINTR) continue;
            if (Native.wouldBlock(e)) return;
            end(f, SocketException.errno(f.op, e, "cannot read from socket", null), false);
            return;
        }
        if (n == 0 && !datagram) { end(f, null, false); return; }
        byte[] data = new byte[(int) n];
        buf.get(0, data);
        f.bytesRead += n;
        totalRead += n;
        f.deadline = deadlineFrom(System.nanoTime(), f);
        boolean more;
        if (datagram) {
            SockAddr from = SockAddrCodec.decode(sc.addr, sc.len.getInt(0));
            more = ((ReadHandler<Datagram>) f.handler).onItem(f, new Datagram(data, from));
        } else {
            more = ((ReadHandler<byte[]>) f.handler).onItem(f, data);
        }
        if (!more && !f.done) { f.paused = true; if (f.reg != null) updateInterest(f.reg); }
    }

    @SuppressWarnings("unchecked")
    private void acceptSome(Flow f) {
        Socket l = f.socket;
        for (int i = 0; i < ACCEPTS_PER_PASS && !f.done && !f.paused; i++) {
            int fdn = f.reg.fdn;
            int n = Native.SOCK_ATOMIC_FLAGS != 0 ? Native.LIBC.accept4(fdn, null, null, Native.SOCK_ATOMIC_FLAGS)
                                                  : Native.LIBC.accept(fdn, null, null);
            if (n < 0) {
                int e = Native.errno();
                if (e == Native.EINTR || e == Native.ECONNABORTED || e == Native.EPROTO) continue;
                if (Native.wouldBlock(e)) return;
                if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                    // out of fds or memory: stop accepting for a while instead of spinning on a ready listener
                    f.backoffUntil = System.nanoTime() + BACKOFF_NS;
                    updateInterest(f.reg);
                    return;
                }
                end(f, SocketException.errno(f.op, e, "could not accept from listener", null), false);
                return;
            }
            if (Native.SOCK_ATOMIC_FLAGS == 0 && !configureAccepted(n)) continue;
            Socket s = new Socket(n, l.family(), l.type(), l.protocol());
            boolean more;
            try {
                more = ((ReadHandler<Socket>) f.handler).onItem(f, s);
            } catch (Throwable t) {
                s.closeQuietly();
                throw t;
            }
            if (!more && !f.done) { f.paused = true; if (f.reg != null) updateInterest(f.reg); }
        }
    }

    /** Non-blocking and close-on-exec where accept4 is missing; closes the fd and returns false on failure. */
    private static boolean configureAccepted(int n) {
        int fl = Native.LIBC.fcntl(n, Native.F_GETFD, 0);
        boolean ok = fl >= 0 && Native.LIBC.fcntl(n, Native.F_SETFD, fl | Native.FD_CLOEXEC) >= 0;
        int fl2 = ok ? Native.LIBC.fcntl(n, Native.F_GETFL, 0) : -1;
        ok = ok && fl2 >= 0 && Native.LIBC.fcntl(n, Native.F_SETFL, fl2 | Native.O_NONBLOCK) >= 0;
        if (ok && Native.MSG_NOSIGNAL == 0 && Native.SO_NOSIGPIPE >= 0) {
            try { Socket.setOptionInt(n, Native.SOL_SOCKET, Native.SO_NOSIGPIPE, 1); } catch (SocketException e) { ok = false; }
        }
        if (!ok) Native.LIBC.close(n);
        return ok;
    }

    // ---------------------------------------------------------------- writing

    void startWrite(Flow f, ByteBuffer b) {
        if (f.done || f.reg == null) return;
        f.pending = b;
        f.deadline = deadlineFrom(System.nanoTime(), f);
        doWrite(f);
        if (!f.done && f.reg != null) updateInterest(f.reg);
    }

    private void doWrite(Flow f) {
        int fdn = f.reg.fdn;
        boolean datagram = f.socket.type() != Native.SOCK_STREAM;
        for (int i = 0; i < WRITES_PER_PASS && f.pending != null && !f.done; i++) {
            ByteBuffer src = f.pending;
            long n;
            if (src.hasRemaining()) {
                int len = datagram ? src.remaining() : Math.min(src.remaining(), WRITE_CHUNK);
                ByteBuffer out;
                if (src.isDirect()) out = src;
                else {
                    if (writeBuf.capacity() < len) writeBuf = ByteBuffer.allocateDirect(len);
                    writeBuf.clear();
                    writeBuf.put(0, src, src.position(), len);
                    out = writeBuf;
                }
                n = Native.LIBC.send(fdn, out, len, Native.MSG_NOSIGNAL);
                if (n < 0) {
                    int e = Native.errno();
                    if (e == Native.EINTR) { i--; continue; }
                    if (Native.wouldBlock(e)) break;
                    end(f, SocketException.errno(f.op, e, "cannot send to socket", null), false);
                    return;
                }
                src.position(src.position() + (int) n);
                f.bytesWritten += n;
                totalWritten.add(n);
                f.deadline = deadlineFrom(System.nanoTime(), f);
            }
            if (!src.hasRemaining()) {
                f.pending = null;
                f.writing.set(false);
                updateInterest(f.reg);
                ((WriteHandler) f.handler).onWritten(f); // may hand the next buffer (queued as a task)
                if (!f.done && f.finishing && f.pending == null && !f.writing.get()) completeFinish(f);
                return;
            }
        }
    }

    /**
     * The direct part of {@link Flow#tryWrite}, on the caller's thread with {@code fdn} acquired:
     * sends until {@code b} is empty (true) or the kernel would block (false, {@code b}'s
     * position at the first unsent byte).
     * @throws SocketException when a send fails (the loop then fails the flow)
     */
    boolean sendDirect(Flow f, int fdn, ByteBuffer b) throws SocketException {
        boolean datagram = f.socket.type() != Native.SOCK_STREAM;
        while (b.hasRemaining()) {
            int len = datagram ? b.remaining() : Math.min(b.remaining(), WRITE_CHUNK);
            long n = Native.LIBC.send(fdn, b, len, Native.MSG_NOSIGNAL);
            if (n < 0) {
                int e = Native.errno();
                if (e == Native.EINTR) continue;
                if (Native.wouldBlock(e)) return false;
                throw SocketException.errno(f.op, e, "cannot send to socket", null);
            }
            b.position(b.position() + (int) n);
            f.bytesWritten += n;
            totalWritten.add(n);
        }
        return true;
    }

    /** A direct write failed (or found the socket closed): end the flow as the loop's own write would. */
    void failDirect(Flow f, SocketException e) {
        if (f.done) return;
        Reg r = f.reg;
        if (e.kind() == SocketException.Kind.CLOSED && r != null) failClosed(r);
        else end(f, e, false);
    }

    void finishFlow(Flow f) {
        if (f.done || f.reg == null) return;
        f.finishing = true;
        if (f.pending == null && !f.writing.get()) completeFinish(f);
    }

    private void completeFinish(Flow f) {
        if (f.opts.shutdownOutput) {
            if (Native.LIBC.shutdown(f.reg.fdn, SHUT_WR) < 0) {
                int e = Native.errno();
                if (e != Native.ENOTCONN) {
                    end(f, SocketException.errno("socket-shutdown", e, "unable to shutdown socket", null), false);
                    return;
                }
            }
        }
        end(f, null, false);
    }

    // ---------------------------------------------------------------- connecting

    private void startConnect(SockAddr addr, int type, Options o, ConnectHandler h) {
        Socket s;
        try { s = Socket.open(addr.family(), type, 0); } catch (SocketException e) { safe(() -> h.onError(e)); return; }
        Flow f = new Flow(this, s, Kind.CONNECT, o, h, "socket-connect");
        f.target = addr;
        attach(f);
        if (f.done) return;
        Scratch sc = Scratch.get();
        int rc;
        try {
            int len = addr.encode(sc.addr);
            rc = Native.LIBC.connect(f.reg.fdn, sc.addr, len);
        } catch (SocketException e) {
            end(f, e, false);
            return;
        }
        if (rc == 0) { connected(f); return; }
        int e = Native.errno();
        if (e == Native.EINPROGRESS || e == Native.EINTR) { updateInterest(f.reg); return; }
        end(f, SocketException.errno("socket-connect", e, "cannot initiate connection", addr), false);
    }

    private void connectReady(Flow f) {
        int err;
        try { err = Socket.getOptionInt(f.reg.fdn, Native.SOL_SOCKET, Native.SO_ERROR); }
        catch (SocketException e) { end(f, e, false); return; }
        if (err == 0) connected(f);
        else end(f, SocketException.errno("socket-connect", err, "cannot initiate connection", f.target), false);
    }

    private void connected(Flow f) {
        f.connected = true;
        end(f, null, true);
        Socket s = f.socket;
        ConnectHandler h = (ConnectHandler) f.handler;
        try { h.onConnected(s); } catch (Throwable t) { s.closeQuietly(); noteHandlerError(t); }
    }

    // ---------------------------------------------------------------- parked threads (virtual threads)

    private static final MethodHandle IS_VIRTUAL = findIsVirtual();

    private static MethodHandle findIsVirtual() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class));
        } catch (ReflectiveOperationException e) {
            return null; // JDK 17-20: no virtual threads
        }
    }

    /** True when the calling thread is a virtual thread (JDK 21+; always false before). */
    public static boolean onVirtualThread() {
        if (IS_VIRTUAL == null) return false;
        try { return (boolean) IS_VIRTUAL.invokeExact(Thread.currentThread()); } catch (Throwable t) { return false; }
    }

    /** A thread parked in {@link #awaitFd}: the loop hands it the readiness or the error, then unparks it. */
    static final class Waiter {
        final Thread thread;
        volatile boolean finished;
        volatile int ops;
        volatile SocketException error;
        Waiter(Thread thread) { this.thread = thread; }
        void finish(int ops, SocketException error) {
            this.ops = ops; this.error = error; this.finished = true;
            LockSupport.unpark(thread);
        }
    }

    private void wakeWaiter(Flow f, int ops) {
        end(f, null, true);
        ((Waiter) f.handler).finish(ops, null);
    }

    /**
     * Parks the calling thread until fd {@code fdn} (acquired by the caller from {@code owner})
     * is ready for {@code events} (poll's POLLIN and/or POLLOUT), the deadline passes
     * ({@link System#nanoTime} terms; {@code Long.MAX_VALUE}: none), the fd is closed, or the
     * thread is interrupted. Parking unmounts a virtual thread from its carrier, where a native
     * poll(2) would pin it: so many virtual threads blocked in socket calls need no carriers.
     * Returns poll-style revents (POLLIN, POLLOUT, POLLERR), or -1 when the loop cannot take the
     * wait (the fd already has a flow in that direction, or the loop is stopped): the caller
     * then polls by itself. Blocks the calling thread.
     * @throws SocketException {@code :timeout} ("WHAT operation timed out"), {@code :closed},
     *         {@code :interrupted} (the interrupt status stays set), as Socket's blocking calls
     */
    public int awaitFd(Fd owner, int fdn, short events, long deadline, String op, String what) throws SocketException {
        Kind kind = (events & Native.POLLOUT) != 0 && (events & Native.POLLIN) == 0 ? Kind.WAIT_WRITE : Kind.WAIT_READ;
        Waiter w = new Waiter(Thread.currentThread());
        Flow f = new Flow(this, null, owner, kind, new Options(), w, op);
        submit(new Task() {
            void run() { attach(f); }
            void reject(SocketException e) { w.finish(-1, null); }
        });
        for (;;) {
            if (w.finished) {
                if (w.error != null) {
                    if (owner.isClosed()) throw owner.closed(op);
                    return -1; // e.g. the loop stopped: poll instead
                }
                int ops = w.ops;
                if (ops < 0) return -1;
                return ((ops & LoopPoller.READ) != 0 ? Native.POLLIN : 0) | ((ops & LoopPoller.WRITE) != 0 ? Native.POLLOUT : 0)
                    | ((ops & LoopPoller.ERROR) != 0 ? Native.POLLERR : 0);
            }
            if (owner.isClosed()) { f.cancel(); throw owner.closed(op); }
            if (Thread.currentThread().isInterrupted()) {
                f.cancel();
                throw new SocketException(op, SocketException.Kind.INTERRUPTED, 0, null, what + " interrupted", null);
            }
            long slice = SWEEP_MS * 1_000_000L;
            if (deadline != Long.MAX_VALUE) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    f.cancel();
                    throw new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, what + " operation timed out", null);
                }
                slice = Math.min(slice, left);
            }
            LockSupport.parkNanos(this, slice);
        }
    }

    // ---------------------------------------------------------------- the sweep

    private void sweep(long now) {
        if (regs.isEmpty()) return;
        for (Reg r : new ArrayList<>(regs.values())) {
            try {
                if (r.fd.isClosed()) { failClosed(r); continue; }
                Flow rd = r.reader;
                if (rd != null && !rd.kind.isWait()) {
                    if (!((ReadHandler<?>) rd.handler).wanted()) end(rd, null, true);
                    else if (!rd.paused) {
                        if (rd.backoffUntil != 0 && now - rd.backoffUntil >= 0) { rd.backoffUntil = 0; updateInterest(r); }
                        if (rd.deadline != Long.MAX_VALUE && now - rd.deadline >= 0)
                            end(rd, timeout(rd, rd.kind == Kind.ACCEPT ? "accept" : "receive"), false);
                    }
                }
                Flow w = r.writer;
                if (w != null && !w.done && (w.pending != null || w.kind == Kind.CONNECT) && w.deadline != Long.MAX_VALUE && now - w.deadline >= 0)
                    end(w, timeout(w, w.kind == Kind.CONNECT ? "connect" : "send"), false);
            } catch (Throwable t) {
                failReg(r, handlerFailed("event-loop", t));
            }
        }
    }

    private static SocketException timeout(Flow f, String what) {
        return new SocketException(f.op, SocketException.Kind.TIMEOUT, 0, f.target == null ? null : f.target.toString(),
                                   what + " operation timed out", null);
    }
}
