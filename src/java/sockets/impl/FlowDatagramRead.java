package sockets.impl;

import java.nio.ByteBuffer;
import sockets.EventLoop;
import sockets.Socket;
import sockets.SocketException;

/**
 * A datagram socket's reading flow: each readiness receives one datagram (truncated to
 * maxChunk) with its sender. A datagram socket shut down for reading stays readable for the
 * poller while recv says EAGAIN: when the poller reports the read side hung up (EPOLLRDHUP)
 * and nothing is queued, the flow ends as at EOF; where the poller cannot tell, repeated
 * readiness with nothing to read makes the flow back off. Either way the loop never spins.
 */
public final class FlowDatagramRead extends FlowReader<EventLoop.Datagram> {
    private static final int SPURIOUS_MAX = 3;
    private final int maxChunk;
    private ByteBuffer buf;
    private Scratch sc;
    private int spurious;

    /** A flow for {@link EventLoop#receiveFrom}; registered by {@link LoopCore#submit}. */
    public FlowDatagramRead(LoopCore loop, Socket s, EventLoop.Options o, EventLoop.ReadHandler<EventLoop.Datagram> h) {
        super(loop, s, "socket-receive-from!", o, h);
        this.maxChunk = o.maxChunk();
    }

    @Override
    public long call(int fdn) {
        sc.len.putInt(0, Scratch.ADDR_SIZE);
        return Native.LIBC.recvfrom(fdn, buf, maxChunk, 0, sc.addr, sc.len);
    }

    @Override
    void ready(int ops) {
        buf = loop.readBuffer(maxChunk);
        sc = Scratch.get();
        long n;
        try { n = attempt(reg.fdn, "cannot read from socket"); } catch (SocketException e) { fail(e); return; }
        if (n == WOULD_BLOCK) {
            if ((ops & LoopPoller.HUP) != 0) loop.end(this, null, false); // shut down for reading, nothing queued
            else if (++spurious >= SPURIOUS_MAX) { spurious = 0; backOff(); }
            return;
        }
        spurious = 0;
        byte[] data = new byte[(int) n];
        buf.get(0, data);
        bytesRead += n;
        loop.totalRead += n;
        deadline = Waiting.deadline(timeoutMs, System.nanoTime());
        deliver(new EventLoop.Datagram(data, SockAddrCodec.decode(sc.addr, sc.len.getInt(0))));
    }

    @Override
    SocketException timeout() {
        return new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, "receive operation timed out", null);
    }
}
