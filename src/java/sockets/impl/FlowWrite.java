package sockets.impl;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;
import sockets.EventLoop;
import sockets.Socket;
import sockets.SocketException;

/**
 * A writing flow: one buffer at a time, sent when the socket is writable, then
 * {@code onWritten}; {@link #tryWrite} lets the giving thread send while the loop sleeps.
 * {@link #finish} ends the flow once the pending buffer is out (shutting the write side down
 * when asked). Every buffer, whatever its kind (heap, direct, read-only, sliced), is prepared
 * once when it is given ({@link #prepare}), so both senders (the loop and a direct writer) send
 * the same way.
 */
public final class FlowWrite extends LoopFlow {
    private static final int CHUNK = 256 << 10;
    private static final int PER_PASS = 16;

    private final EventLoop.WriteHandler handler;
    private final boolean shutdownOutput;
    private final boolean datagram;
    /** Held by the giver of a buffer until it is sent (by it or by the loop). */
    private final AtomicBoolean writing = new AtomicBoolean();
    /** Set once the flow holds its socket's writing slot: direct writes wait for it. */
    private volatile boolean attached;
    private volatile ByteBuffer given;
    private volatile boolean finishRequested;
    private volatile SocketException directError;
    // loop thread, or the direct writer while it holds `writing` with the loop asleep:
    private ByteBuffer pending, cur;
    private boolean finishing;

    /** A flow for {@link EventLoop#send}; registered by {@link LoopCore#submit}. */
    public FlowWrite(LoopCore loop, Socket s, EventLoop.Options o, EventLoop.WriteHandler h) {
        super(loop, s, "socket-send", o);
        this.handler = h;
        this.shutdownOutput = o.shutdownOutput();
        this.datagram = s.type() != Native.SOCK_STREAM;
    }

    @Override boolean reads() { return false; }
    @Override int interest() { return pending != null ? LoopPoller.WRITE : 0; }
    @Override boolean timing() { return pending != null; }
    @Override void ended() { handler.onEnd(this); }
    @Override void failed(SocketException e) { handler.onError(this, e); }
    @Override void markEnded() { super.markEnded(); pending = null; }

    @Override
    SocketException timeout() {
        return new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, "send operation timed out", null);
    }

    @Override
    void start() {
        super.start();
        if (!done && reg != null) attached = true;
    }

    /**
     * The buffer as it will be sent ({@link Buffers#forSend}, the blocking API's preparation):
     * a duplicate (the caller's position and limit stay), or, for a heap buffer that exposes no
     * array (read-only), a copy, since native calls only take arrays and direct memory.
     */
    static ByteBuffer prepare(ByteBuffer buf) {
        if (buf == null) throw new IllegalArgumentException("buffer is required");
        try {
            ByteBuffer b = Buffers.forSend("socket-send", buf);
            return b == buf ? b.duplicate() : b;
        } catch (SocketException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    @Override
    public long call(int fdn) {
        int len = datagram ? cur.remaining() : Math.min(cur.remaining(), CHUNK);
        return Native.LIBC.send(fdn, cur, len, Native.MSG_NOSIGNAL);
    }

    /** Sends from {@link #cur} until it is empty (true) or the kernel would block (false). */
    private boolean sendSome(int fdn, int maxCalls) throws SocketException {
        for (int i = 0; cur.hasRemaining() && i < maxCalls; i++) {
            long n = attempt(fdn, "cannot send to socket");
            if (n == WOULD_BLOCK) return false;
            cur.position(cur.position() + (int) n);
            bytesWritten += n;
            loop.totalWritten.add(n);
        }
        return !cur.hasRemaining();
    }

    @Override
    void ready(int ops) {
        if (pending == null) return;
        cur = pending;
        boolean all;
        try { all = sendSome(reg.fdn, PER_PASS); } catch (SocketException e) { fail(e); return; }
        deadline = Waiting.deadline(timeoutMs, System.nanoTime());
        if (!all) return;
        pending = null;
        writing.set(false);
        loop.updateInterest(reg);
        handler.onWritten(this); // may give the next buffer
        if (!done && finishing && pending == null && !writing.get()) completeFinish();
    }

    @Override
    void commands() {
        SocketException e = directError;
        if (e != null) {
            directError = null;
            if (e.kind() == SocketException.Kind.CLOSED && reg != null) loop.failClosed(reg); else fail(e);
            return;
        }
        ByteBuffer b = given;
        if (b != null) {
            given = null;
            pending = b;
            deadline = Waiting.deadline(timeoutMs, System.nanoTime());
            ready(LoopPoller.WRITE);
            if (!done) loop.updateInterest(reg);
        }
        if (!done && finishRequested && !finishing) {
            finishing = true;
            if (pending == null && !writing.get()) completeFinish();
        }
    }

    private void completeFinish() {
        // a detached fd belongs to its new owner: its kernel socket is not ours to shut down
        if (reg.fd.isDetached()) { loop.failClosed(reg); return; }
        if (shutdownOutput && Native.LIBC.shutdown(reg.fdn, Native.value(jnr.constants.platform.Shutdown.SHUT_WR)) < 0) {
            int e = Native.errno();
            if (e != Native.ENOTCONN) { fail(SocketException.errno("socket-shutdown", e, "unable to shutdown socket", null)); return; }
        }
        loop.end(this, null, false);
    }

    private void take() {
        if (!writing.compareAndSet(false, true)) throw new IllegalStateException("a write is already pending");
    }

    @Override
    public void write(ByteBuffer buf) {
        ByteBuffer b = prepare(buf);
        take();
        given = b;
        schedule();
    }

    @Override
    public boolean tryWrite(ByteBuffer buf) {
        ByteBuffer b = prepare(buf);
        take();
        if (ended) { writing.set(false); return false; } // the flow's last callback has been made
        if (!attached || !loop.sleeping) {
            // not registered yet, or the loop is awake: it sends this in its next pass (no wake-up)
            given = b;
            schedule();
            return false;
        }
        int fdn;
        try {
            fdn = fd.acquire(op);
        } catch (SocketException e) {
            directError = e;
            schedule();
            return false;
        }
        boolean all = false;
        try {
            cur = b;
            all = sendSome(fdn, Integer.MAX_VALUE);
        } catch (SocketException e) {
            directError = e;
        } finally {
            fd.release();
        }
        if (all) {
            loop.directWrites.increment();
            writing.set(false);
            if (finishRequested) schedule();
            return true;
        }
        if (directError == null) given = b;
        schedule();
        return false;
    }

    @Override
    public void finish() {
        finishRequested = true;
        schedule();
    }
}
