package sockets.impl;

import sockets.EventLoop;
import sockets.Socket;
import sockets.SocketException;

/**
 * A listener's accepting flow: each readiness accepts up to {@link #PER_PASS} connections
 * (accept4, non-blocking and close-on-exec) and hands each on as a Socket. Out of fds or
 * memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) it stops accepting for a while instead of spinning
 * on a listener that stays ready; the flow goes on once fds are free.
 */
public final class FlowAccept extends FlowReader<Socket> {
    static final int PER_PASS = 16;
    private static final int EMFILE = Native.value(jnr.constants.platform.Errno.EMFILE),
        ENFILE = Native.value(jnr.constants.platform.Errno.ENFILE),
        ENOBUFS = Native.value(jnr.constants.platform.Errno.ENOBUFS),
        ENOMEM = Native.value(jnr.constants.platform.Errno.ENOMEM);

    /** A flow for {@link EventLoop#accept}; registered by {@link LoopCore#submit}. */
    public FlowAccept(LoopCore loop, Socket listener, EventLoop.Options o, EventLoop.ReadHandler<Socket> h) {
        super(loop, listener, "socket-accept", o, h);
    }

    @Override
    public long call(int fdn) {
        return Native.SOCK_ATOMIC_FLAGS != 0 ? Native.LIBC.accept4(fdn, null, null, Native.SOCK_ATOMIC_FLAGS)
                                             : Native.LIBC.accept(fdn, null, null);
    }

    private static final java.util.function.LongConsumer CLOSE = fdn -> Native.LIBC.close((int) fdn);
    @Override java.util.function.LongConsumer discarder() { return CLOSE; }

    @Override
    void ready(int ops) {
        for (int i = 0; i < PER_PASS && !done && !paused; i++) {
            long n;
            try {
                n = attempt(reg.fdn, "could not accept from listener");
            } catch (SocketException e) {
                int err = e.errno();
                if (err == Native.ECONNABORTED || err == Native.EPROTO) continue;
                if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) { backOff(); return; }
                fail(e);
                return;
            }
            if (n == WOULD_BLOCK) return;
            Socket s;
            try { s = loop.sockets.adopt((int) n, socket); } catch (SocketException e) { continue; }
            try {
                deliver(s);
            } catch (Throwable t) {
                s.closeQuietly();
                throw t;
            }
        }
    }

    @Override
    SocketException timeout() {
        return new SocketException(op, SocketException.Kind.TIMEOUT, 0, null, "accept operation timed out", null);
    }
}
