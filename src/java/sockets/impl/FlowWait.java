package sockets.impl;

import java.util.concurrent.locks.LockSupport;
import sockets.SocketException;

/**
 * A blocked thread's wait for readiness of an fd it holds acquired (see
 * {@link sockets.EventLoop#awaitFd}): the loop unparks the thread with the readiness or an
 * error. It takes the socket's reading slot (or the writing slot for a write wait); when a
 * channel flow already holds it, the thread is told to poll by itself.
 */
public final class FlowWait extends LoopFlow {
    private final boolean forRead;
    /** The thread's side. */
    public final Waiter waiter;

    /** A wait for {@code fd}'s readiness for reading ({@code forRead}) or writing, by the calling thread. */
    public FlowWait(LoopCore loop, Fd fd, boolean forRead, String op) {
        super(loop, fd, op);
        this.forRead = forRead;
        this.waiter = new Waiter(Thread.currentThread());
    }

    /** Where the loop leaves the outcome for the parked thread. */
    public static final class Waiter {
        final Thread thread;
        /** True once the loop has answered. */
        public volatile boolean finished;
        /** The readiness ({@link LoopPoller} bits), or -1: poll by yourself. */
        public volatile int ops;
        /** The error, or null. */
        public volatile SocketException error;
        Waiter(Thread thread) { this.thread = thread; }
        void finish(int ops, SocketException error) {
            this.ops = ops; this.error = error; this.finished = true;
            LockSupport.unpark(thread);
        }
    }

    @Override boolean reads() { return forRead; }
    @Override int interest() { return forRead ? LoopPoller.READ : LoopPoller.WRITE; }
    @Override void start() { loop.attach(this); }
    @Override void conflict() { markEnded(); waiter.finish(-1, null); }
    @Override void ended() {}
    @Override void failed(SocketException e) { waiter.finish(0, e); }
    @Override void sweep(long now) {}

    @Override
    void ready(int ops) {
        loop.end(this, null, true);
        waiter.finish(ops, null);
    }
}
