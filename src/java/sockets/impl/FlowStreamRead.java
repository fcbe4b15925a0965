package sockets.impl;

import java.nio.ByteBuffer;
import sockets.EventLoop;
import sockets.Socket;
import sockets.SocketException;

/**
 * A stream socket's reading flow: each readiness reads one chunk (at most maxChunk bytes) into
 * the loop's direct buffer and hands it on as an exactly-sized array; EOF ends the flow.
 * Level-triggered polling reports the socket again while data remains.
 */
public final class FlowStreamRead extends FlowReader<byte[]> {
    private final int maxChunk;
    private ByteBuffer buf;

    /** A flow for {@link EventLoop#receive}; registered by {@link LoopCore#submit}. */
    public FlowStreamRead(LoopCore loop, Socket s, EventLoop.Options o, EventLoop.ReadHandler<byte[]> h) {
        super(loop, s, "socket-receive!", o, h);
        this.maxChunk = o.maxChunk();
    }

    @Override public long call(int fdn) { return Native.LIBC.recv(fdn, buf, maxChunk, 0); }

    @Override
    void ready(int ops) {
        buf = loop.readBuffer(maxChunk);
        long n;
        try { n = attempt(reg.fdn, "cannot read from socket"); } catch (SocketException e) { fail(e); return; }
        if (n == WOULD_BLOCK) return;
        if (n == 0) { loop.end(this, null, false); return; }
        byte[] data = new byte[(int) n];
        buf.get(0, data);
        bytesRead += n;
        loop.totalRead += n;
        deadline = Waiting.deadline(timeoutMs, System.nanoTime());
        deliver(data);
    }

    @Override
    SocketException timeout() {
        return new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, "receive operation timed out", null);
    }
}
