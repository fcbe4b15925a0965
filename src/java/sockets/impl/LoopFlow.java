package sockets.impl;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongConsumer;
import sockets.EventLoop;
import sockets.Socket;
import sockets.SocketException;

/**
 * What every flow shares: its socket and loop, its registration, its deadline, the commands
 * other threads give it (each flow is its own {@link LoopTask}, queued at most once), and the
 * one place where the loop makes a system call on a socket ({@link #attempt}). Each kind of
 * flow is a subclass that owns its readiness handling ({@link #ready}), its timers
 * ({@link #sweep}) and its callbacks ({@link #ended}, {@link #failed}).
 */
public abstract class LoopFlow extends LoopTask implements EventLoop.Flow, Syscall {
    final LoopCore loop;
    final String op;
    final long timeoutMs;
    final boolean closeSocket;
    Socket socket;
    Fd fd;
    // loop thread only:
    LoopReg reg;
    boolean done, started;
    long deadline = Long.MAX_VALUE;
    // commands from any thread:
    private final AtomicBoolean queued = new AtomicBoolean();
    private volatile boolean cancelRequested;
    // written by the loop thread (bytesWritten: by whoever holds the write), readable anywhere:
    volatile boolean ended;
    volatile long bytesRead, bytesWritten;

    LoopFlow(LoopCore loop, Socket socket, String op, EventLoop.Options o) {
        this.loop = loop; this.socket = socket; this.fd = socket == null ? null : socket.fd(); this.op = op;
        this.timeoutMs = o.timeoutMs(); this.closeSocket = o.closeSocket();
    }


    // ---------------------------------------------------------------- what each kind says

    /** True for the reading slot (read, accept), false for the writing slot. */
    abstract boolean reads();
    /** {@link LoopPoller#READ} / {@link LoopPoller#WRITE} when the flow wants readiness now, else 0. */
    abstract int interest();
    /** The socket is ready ({@link LoopPoller} bits). */
    abstract void ready(int ops);
    /** The flow ended without error: its last callback. */
    abstract void ended();
    /** The flow failed: its last callback. */
    abstract void failed(SocketException e);
    /** Every sweep: timers and the like (default: the idle deadline while {@link #timing}). */
    void sweep(long now) {
        if (deadline != Long.MAX_VALUE && timing() && now - deadline >= 0) loop.end(this, timeout(), false);
    }
    /** True while the deadline runs. */
    boolean timing() { return false; }
    /** The error for a passed deadline. */
    SocketException timeout() {
        return new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, "operation timed out", null);
    }
    /** Whether ending this flow closes its socket. */
    boolean closesSocket() { return closeSocket; }
    /** The first run on the loop thread: register. */
    void start() {
        try { loop.sockets.leaveBlocking(socket); } catch (SocketException e) { endUnattached(e); return; }
        loop.attach(this);
    }
    /** The socket already has a flow in this direction. */
    void conflict() {
        endUnattached(SocketException.invalid(op, "the socket already has a " + (reads() ? "reading" : "writing") + " flow"));
    }
    /** Commands given by other threads since the last run (beyond cancel). */
    void commands() {}
    /** Marks the flow ended (loop thread). */
    void markEnded() { done = true; ended = true; }

    // ---------------------------------------------------------------- the task

    @Override
    final void run() {
        queued.set(false);
        try {
            if (!started) { started = true; start(); }
            if (done) return;
            if (cancelRequested) { loop.end(this, null, true); return; }
            commands();
        } catch (Throwable t) {
            if (reg != null) loop.failReg(reg, LoopCore.handlerFailed(op, t)); else loop.noteHandlerError(t);
        }
    }

    @Override
    final void reject(SocketException stopped) {
        if (started) return; // the stopping loop has ended it already
        started = true;
        endUnattached(stopped);
    }

    /** Queues this flow's run on the loop (at most once at a time). Any thread. */
    final void schedule() {
        if (queued.compareAndSet(false, true)) loop.submit(this);
    }

    /** Ends a flow that never registered. */
    final void endUnattached(SocketException e) {
        if (done) return;
        markEnded();
        if (closesSocket() && socket != null) socket.closeQuietly();
        try { failed(e); } catch (Throwable t) { loop.noteHandlerError(t); }
    }

    /** Ends the flow with {@code e}. Loop thread. */
    final void fail(SocketException e) { loop.end(this, e, false); }

    // ---------------------------------------------------------------- the one syscall path

    /** What {@link #attempt} returns when the call would block. */
    static final long WOULD_BLOCK = Io.WOULD_BLOCK;

    /** This flow's system call on {@code fdn} (see {@link Syscall}): its result, or -1 with errno set. */
    @Override public long call(int fdn) { throw new UnsupportedOperationException(); }

    /** What to do with a result nobody will use because the fd closed meanwhile (accept's new fd), or null. */
    LongConsumer discarder() { return null; }

    /**
     * The loop's one way to make a system call on a socket: {@link Io#attemptAcquired} of this
     * flow's {@link #call} on {@code fdn} (held acquired by the caller): EINTR retried, the
     * result (>= 0) or {@link #WOULD_BLOCK}; {@code :closed} when the socket was closed before
     * or during the call, else the errno's error.
     */
    final long attempt(int fdn, String what) throws SocketException {
        return Io.attemptAcquired(fd, fdn, op, what, null, discarder(), this);
    }

    // ---------------------------------------------------------------- EventLoop.Flow

    @Override public Socket socket() { return socket; }
    @Override public EventLoop loop() { return loop.owner; }
    @Override public boolean isDone() { return ended; }
    @Override public long bytesRead() { return bytesRead; }
    @Override public long bytesWritten() { return bytesWritten; }
    @Override public void resume() {}
    @Override public void cancel() { cancelRequested = true; schedule(); }
    @Override public void write(ByteBuffer buf) { throw new IllegalStateException("not a writing flow"); }
    @Override public boolean tryWrite(ByteBuffer buf) { throw new IllegalStateException("not a writing flow"); }
    @Override public void finish() { throw new IllegalStateException("not a writing flow"); }
    @Override public String toString() { return "#<" + getClass().getSimpleName() + " " + fd + (ended ? " done" : "") + ">"; }
}
