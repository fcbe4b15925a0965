package sockets.impl;

import sockets.EventLoop;
import sockets.Socket;
import sockets.SocketException;

/**
 * What the reading flows share (stream read, datagram read, accept): items go to a
 * {@link EventLoop.ReadHandler}; a handler that says "no more" pauses the flow (the fd loses
 * its read interest) until {@link #resume}; the idle deadline runs only while not paused; a
 * flow may back off (no read interest) for a while when reading cannot make progress.
 * @param <T> the item type
 */
abstract class FlowReader<T> extends LoopFlow {
    static final long BACKOFF_NS = 100_000_000L;
    final EventLoop.ReadHandler<T> handler;
    boolean paused;
    long backoffUntil;
    private volatile boolean resumeRequested;

    FlowReader(LoopCore loop, Socket s, String op, EventLoop.Options o, EventLoop.ReadHandler<T> h) {
        super(loop, s, op, o);
        this.handler = h;
    }

    @Override final boolean reads() { return true; }
    @Override final int interest() { return paused || backoffUntil != 0 ? 0 : LoopPoller.READ; }
    @Override final void ended() { handler.onEnd(this); }
    @Override final void failed(SocketException e) { handler.onError(this, e); }
    @Override final boolean timing() { return !paused; }

    /** Gives {@code item} to the handler; pauses the flow when it says so. */
    final void deliver(T item) {
        boolean more = handler.onItem(this, item);
        if (!more && !done) { paused = true; loop.updateInterest(reg); }
    }

    /** Stops reading for {@link #BACKOFF_NS} (the sweep resumes it). */
    final void backOff() {
        backoffUntil = System.nanoTime() + BACKOFF_NS;
        loop.updateInterest(reg);
    }

    @Override
    final void sweep(long now) {
        if (!handler.wanted()) { loop.end(this, null, true); return; }
        if (backoffUntil != 0 && now - backoffUntil >= 0) { backoffUntil = 0; loop.updateInterest(reg); }
        super.sweep(now);
    }

    @Override public final void resume() { resumeRequested = true; schedule(); }

    @Override
    final void commands() {
        if (!resumeRequested) return;
        resumeRequested = false;
        if (!paused) return;
        paused = false;
        deadline = Waiting.deadline(timeoutMs, System.nanoTime());
        loop.updateInterest(reg);
    }
}
