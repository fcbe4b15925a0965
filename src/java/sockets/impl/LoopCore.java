package sockets.impl;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import sockets.EventLoop;
import sockets.SocketException;

/**
 * The event loop itself: one thread, a task queue, a waker, a poller, a timer sweep. Read
 * {@link #run} first; everything else serves it.
 *
 * <p>Other threads hand work to the loop with {@link #submit} (a {@link LoopTask}; a flow is
 * its own task) and wake it only when it sleeps in its wait. Each pass: run the queued tasks,
 * wait for readiness (up to the next sweep or timer), hand each ready fd to its flows
 * ({@link LoopFlow#ready}), run due timers, and every {@link #SWEEP_MS} ms sweep every
 * registration (closed sockets, timeouts, consumers gone). What a socket does when it is
 * ready, and how it fails, is its flow's business: one class per kind of flow
 * ({@link FlowStreamRead}, {@link FlowDatagramRead}, {@link FlowAccept}, {@link FlowWrite},
 * {@link FlowConnect}).
 *
 * <p>Failures. A flow's own failure ends that flow; a handler that throws fails both flows of
 * its socket; a failure of the loop itself (the poller, an Error) ends every registered flow
 * with a {@code :fatal} error carrying the cause, then the thread. Every class the loop uses is
 * loaded and initialised when this class is (see the static block), so that running out of
 * file descriptors (EMFILE) can never make a class load fail in the middle of an event.
 */
public final class LoopCore {
    /** How often the loop sweeps its registrations (closed sockets, timeouts, consumers), in ms. */
    public static final int SWEEP_MS = 50;
    private static final long SWEEP_NS = SWEEP_MS * 1_000_000L;
    private static final int TASKS_PER_PASS = 4096;

    static {
        // Load and initialise everything the loop thread can need before it ever runs: a class
        // loaded from a directory needs a free fd, which at EMFILE it would not get (and the JVM
        // remembers such a failure for good).
        Class<?>[] classes = {LoopTask.class, LoopReg.class, LoopTimer.class, LoopFlow.class, FlowReader.class,
            FlowStreamRead.class, FlowDatagramRead.class, FlowAccept.class, FlowWrite.class, FlowConnect.class,
            LoopConnectAny.class, LoopConnectAny.Attempt.class,
            LoopConnectAny.Next.class, LoopAddresses.class, Run.class, LoopPoller.class, LoopEpoll.class, LoopPoll.class,
            LoopWaker.class, LoopNative.class, Scratch.class, SockAddrCodec.class, Fd.class, Native.class,
            SocketException.class, SocketException.Kind.class, EventLoop.State.class, EventLoop.Datagram.class, EventLoop.Attempt.class,
            Io.class, Buffers.class, Syscall.class, Waiting.class, sockets.SockAddr.class, sockets.Socket.class};
        for (Class<?> c : classes) {
            try { Class.forName(c.getName(), true, c.getClassLoader()); }
            catch (ClassNotFoundException e) { throw new ExceptionInInitializerError(e); }
        }
    }

    /** The public face of this loop (what {@link EventLoop.Flow#loop} returns). */
    final EventLoop owner;
    final LoopSockets sockets;
    private final String name;
    private final boolean usePoll;
    private final AtomicReference<EventLoop.State> state = new AtomicReference<>(EventLoop.State.NEW);
    private final ConcurrentLinkedQueue<LoopTask> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean wakePending = new AtomicBoolean();
    /**
     * True from just before the loop looks at its task queue for the last time in a pass until
     * its wait returns. A submitter adds its task, then reads this: false means the loop will
     * see the task before it next waits, so no wake-up is needed.
     */
    volatile boolean sleeping;
    private final Object wakeLock = new Object();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile Thread thread;
    private volatile SocketException startError;
    private LoopPoller poller;          // guarded by wakeLock for wake/close; else loop thread
    private boolean pollerClosed;       // guarded by wakeLock
    private final HashMap<Integer, LoopReg> regs = new HashMap<>(); // loop thread only
    private final PriorityQueue<LoopTimer> timers = new PriorityQueue<>(); // loop thread only
    private ByteBuffer readBuf = ByteBuffer.allocateDirect(65536);
    private volatile int registered;
    volatile long totalRead;
    final LongAdder totalWritten = new LongAdder();
    final LongAdder directWrites = new LongAdder();
    private final AtomicLong handlerErrors = new AtomicLong();
    private volatile Throwable lastHandlerError;

    /**
     * Creates a loop (not started: its thread starts with the first {@link #submit}).
     * @param owner the public loop object this core serves
     * @param name the thread's name
     * @param usePoll true for poll(2) (the only choice where there is no epoll)
     * @param sockets what the loop needs from Socket beyond its public API
     */
    public LoopCore(EventLoop owner, String name, boolean usePoll, LoopSockets sockets) {
        this.owner = owner; this.name = name; this.usePoll = usePoll || !Native.LINUX; this.sockets = sockets;
    }

    /** The loop's state. */
    public EventLoop.State state() { return state.get(); }
    /** True when called on the loop thread. */
    public boolean inLoop() { return Thread.currentThread() == thread; }
    /** The count of registered sockets (updated by the loop thread). */
    public int registrations() { return registered; }
    /** Bytes read by the loop's flows. */
    public long bytesRead() { return totalRead; }
    /** Bytes written by the loop's flows (including direct writes). */
    public long bytesWritten() { return totalWritten.sum(); }
    /** Buffers sent entirely by the thread that gave them (see {@link FlowWrite#tryWrite}). */
    public long directWrites() { return directWrites.sum(); }
    /** How many callbacks threw where nothing else could report it. */
    public long handlerErrors() { return handlerErrors.get(); }
    /** The last such throwable, or null. */
    public Throwable lastHandlerError() { return lastHandlerError; }
    /** "epoll" or "poll". */
    public String pollerName() { return usePoll ? "poll" : "epoll"; }

    // ---------------------------------------------------------------- life

    /**
     * Stops the loop: every registered flow fails with {@code :closed}, the poller is freed,
     * the thread ends. Returns at once; idempotent.
     */
    public void stop() {
        for (;;) {
            EventLoop.State s = state.get();
            if (s == EventLoop.State.NEW) {
                synchronized (this) {
                    if (state.compareAndSet(EventLoop.State.NEW, EventLoop.State.STOPPED)) { stopped.countDown(); rejectAll(); return; }
                }
                continue;
            }
            if (s != EventLoop.State.RUNNING) return;
            if (state.compareAndSet(EventLoop.State.RUNNING, EventLoop.State.STOPPING)) { wake(); return; }
        }
    }

    /** Waits up to {@code timeoutMs} for the thread to end; returns true when it has. */
    public boolean awaitStopped(long timeoutMs) throws InterruptedException {
        return stopped.await(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /** Runs {@code r} on the loop thread (it must not block); dropped when the loop is stopped. */
    public void execute(Runnable r) { submit(new Run(r)); }

    /** A Runnable as a task. */
    static final class Run extends LoopTask {
        private final Runnable r;
        Run(Runnable r) { this.r = r; }
        @Override void run() { r.run(); }
    }

    /**
     * Queues {@code t} for the loop thread (starting the loop if new) and wakes the loop if it
     * sleeps; a stopped loop rejects it at once.
     */
    public void submit(LoopTask t) {
        if (state.get() == EventLoop.State.NEW) start();
        tasks.add(t);
        if (state.get() == EventLoop.State.STOPPED) { rejectAll(); return; }
        if (Thread.currentThread() != thread && sleeping && wakePending.compareAndSet(false, true)) wake();
    }

    private void wake() {
        synchronized (wakeLock) { if (poller != null && !pollerClosed) poller.wake(); }
    }

    private synchronized void start() {
        if (state.get() != EventLoop.State.NEW) return;
        try {
            LoopPoller p = usePoll ? new LoopPoll() : new LoopEpoll();
            synchronized (wakeLock) { poller = p; }
        } catch (SocketException | RuntimeException | LinkageError e) {
            startError = e instanceof SocketException ? (SocketException) e : fatal("cannot start event loop", e);
            state.set(EventLoop.State.STOPPED);
            stopped.countDown();
            return;
        }
        Thread t = new Thread(this::run, name);
        t.setDaemon(true);
        thread = t;
        state.set(EventLoop.State.RUNNING);
        t.start();
    }

    private void rejectAll() {
        SocketException e = startError != null ? startError
            : new SocketException("event-loop", SocketException.Kind.CLOSED, 0, null, "event loop is stopped", null);
        LoopTask t;
        while ((t = tasks.poll()) != null) {
            try { t.reject(e); } catch (Throwable x) { noteHandlerError(x); }
        }
    }

    // ---------------------------------------------------------------- the loop

    /** Marks the loops' threads (see {@link #onLoopThread}). */
    private static final ThreadLocal<Boolean> LOOP_THREAD = new ThreadLocal<>();

    /**
     * True when called on the thread of any event loop (in a handler). Such a thread must not
     * wait for a loop to let go of a socket (Socket.detach): it would wait for itself. Never blocks.
     */
    public static boolean onLoopThread() { return LOOP_THREAD.get() != null; }

    private void run() {
        LOOP_THREAD.set(Boolean.TRUE);
        long nextSweep = System.nanoTime() + SWEEP_NS;
        SocketException ending = new SocketException("event-loop", SocketException.Kind.CLOSED, 0, null, "event loop stopped", null);
        try {
            while (state.get() == EventLoop.State.RUNNING) {
                wakePending.set(false);
                runTasks();
                if (state.get() != EventLoop.State.RUNNING) break;
                long now = System.nanoTime();
                sleeping = true; // before looking at the queue: a submitter that then sees false knows we will look
                int timeout = !tasks.isEmpty() ? 0 : regs.isEmpty() && timers.isEmpty() ? -1 : waitMs(now, nextSweep);
                int n = poller.await(timeout);
                sleeping = false;
                for (int i = 0; i < n; i++) {
                    LoopReg r = regs.get(poller.readyFd(i));
                    if (r != null) dispatch(r, poller.readyOps(i));
                }
                now = System.nanoTime();
                runTimers(now);
                if (now - nextSweep >= 0) {
                    sweep(now);
                    nextSweep = now + SWEEP_NS;
                }
            }
        } catch (Throwable t) {
            // the poller itself failed (or an Error): nothing can be served any more
            noteHandlerError(t);
            ending = fatal("event loop failed", t);
            state.set(EventLoop.State.STOPPING);
        }
        try {
            runTasks();
            for (LoopReg r : new ArrayList<>(regs.values())) failReg(r, ending);
            timers.clear();
        } finally {
            synchronized (wakeLock) { pollerClosed = true; }
            poller.close();
            state.set(EventLoop.State.STOPPED);
            thread = null;
            rejectAll();
            stopped.countDown();
        }
    }

    private int waitMs(long now, long nextSweep) {
        long until = timers.isEmpty() || nextSweep - timers.peek().at < 0 ? nextSweep : timers.peek().at;
        return (int) Math.max(0, Math.min(SWEEP_MS, (until - now + 999_999) / 1_000_000));
    }

    private void runTasks() {
        for (int i = 0; i < TASKS_PER_PASS; i++) {
            LoopTask t = tasks.poll();
            if (t == null) return;
            try { t.run(); } catch (Throwable x) { noteHandlerError(x); }
        }
    }

    private void runTimers(long now) {
        while (!timers.isEmpty() && now - timers.peek().at >= 0) {
            LoopTask t = timers.poll().task;
            try { t.run(); } catch (Throwable x) { noteHandlerError(x); }
        }
    }

    /** Runs {@code t} on the loop thread at {@code at} (System.nanoTime terms). Loop thread only. */
    void at(long at, LoopTask t) { timers.add(new LoopTimer(at, t)); }

    /** Hands a ready fd to its flows: the writer first (a connect, a pending write), then the reader. */
    private void dispatch(LoopReg r, int ops) {
        try {
            if (r.fd.isClosed()) { failClosed(r); return; }
            LoopFlow w = r.writer;
            if (w != null && w.interest() != 0 && (ops & (LoopPoller.WRITE | LoopPoller.ERROR)) != 0) w.ready(ops);
            LoopFlow rd = r.reader;
            if (rd != null && !rd.done && rd.interest() != 0 && (ops & (LoopPoller.READ | LoopPoller.ERROR | LoopPoller.HUP)) != 0) rd.ready(ops);
        } catch (Throwable t) {
            failReg(r, handlerFailed("event-loop", t));
        }
    }

    /** Every {@link #SWEEP_MS}: closed sockets fail their flows; each flow checks its timers. */
    private void sweep(long now) {
        if (regs.isEmpty()) return;
        for (LoopReg r : new ArrayList<>(regs.values())) {
            try {
                if (r.fd.isClosed()) { failClosed(r); continue; }
                if (r.reader != null) r.reader.sweep(now);
                if (r.writer != null) r.writer.sweep(now);
            } catch (Throwable t) {
                failReg(r, handlerFailed("event-loop", t));
            }
        }
    }

    // ---------------------------------------------------------------- registrations

    /** Registers {@code f} for its socket; on failure the flow ends with the error. Loop thread. */
    void attach(LoopFlow f) {
        Fd fd = f.fd;
        LoopReg r = fd.isClosed() ? null : regs.get(fd.number());
        if (r != null && r.fd != fd) r = null;
        boolean fresh = r == null;
        if (fresh) {
            int fdn;
            try { fdn = fd.acquire(f.op); } catch (SocketException e) { f.endUnattached(e); return; }
            r = new LoopReg(fd, fdn);
            regs.put(fdn, r);
            registered = regs.size();
        }
        if (f.reads() ? r.reader != null : r.writer != null) {
            if (fresh) unregister(r);
            f.conflict();
            return;
        }
        if (f.reads()) r.reader = f; else r.writer = f;
        f.reg = r;
        f.deadline = Waiting.deadline(f.timeoutMs, System.nanoTime());
        updateInterest(r);
    }

    /** Makes the poller's interest in {@code r} match what its flows want. */
    void updateInterest(LoopReg r) {
        if (r == null || regs.get(r.fdn) != r) return;
        int want = r.wanted();
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

    private void unregister(LoopReg r) {
        if (regs.get(r.fdn) != r) return;
        if (r.interest != 0) poller.remove(r.fdn);
        r.interest = 0;
        regs.remove(r.fdn);
        registered = regs.size();
        r.fd.release(); // last: the number may be closed now, and only now
    }

    /**
     * Ends a flow: detaches it, closes the socket if the flow says so, makes its last callback
     * ({@code err} non-null: the error; else, unless {@code quiet}, its end). Idempotent.
     */
    void end(LoopFlow f, SocketException err, boolean quiet) {
        if (f.done) return;
        f.markEnded();
        LoopReg r = f.reg;
        f.reg = null;
        if (r != null) {
            if (r.reader == f) r.reader = null;
            if (r.writer == f) r.writer = null;
            if (r.reader == null && r.writer == null) unregister(r); else updateInterest(r);
        }
        boolean close = f.closesSocket();
        if (close && f.socket != null) f.socket.closeQuietly();
        try {
            if (err != null) f.failed(err); else if (!quiet) f.ended();
        } catch (Throwable t) {
            noteHandlerError(t);
        }
        if (close && r != null && (r.reader != null || r.writer != null)) failClosed(r);
    }

    /** The socket was closed: both flows fail with {@code :closed}. */
    void failClosed(LoopReg r) {
        LoopFlow a = r.reader, b = r.writer;
        if (a != null) end(a, a.fd.closed(a.op), false);
        if (b != null) end(b, b.fd.closed(b.op), false);
        unregister(r);
    }

    /** Both flows of {@code r} fail with {@code e}. */
    void failReg(LoopReg r, SocketException e) {
        LoopFlow a = r.reader, b = r.writer;
        if (a != null) end(a, e, false);
        if (b != null) end(b, e, false);
        unregister(r);
    }

    // ---------------------------------------------------------------- helpers for flows

    /** The loop-wide direct read buffer, cleared, limited to {@code n} bytes. Loop thread only. */
    ByteBuffer readBuffer(int n) {
        if (readBuf.capacity() < n) readBuf = ByteBuffer.allocateDirect(Math.max(n, Math.min(EventLoop.MAX_CHUNK, readBuf.capacity() * 2)));
        readBuf.clear().limit(n);
        return readBuf;
    }

    void noteHandlerError(Throwable t) {
        handlerErrors.incrementAndGet();
        lastHandlerError = t;
    }

    static SocketException handlerFailed(String op, Throwable t) {
        SocketException e = new SocketException(op, SocketException.Kind.FATAL, 0, null, "handler failed: " + t, null);
        e.initCause(t);
        return e;
    }

    private static SocketException fatal(String what, Throwable t) {
        SocketException e = new SocketException("event-loop", SocketException.Kind.FATAL, 0, null, what + ": " + t, null);
        e.initCause(t);
        return e;
    }
}
