package sockets.impl;

import sockets.EventLoop;
import sockets.SockAddr;
import sockets.Socket;
import sockets.SocketException;

/**
 * A non-blocking connect: opens a socket of the address's family, connects it, waits for
 * writability, reads SO_ERROR. The handler gets the connected socket (its own from then on)
 * or the error, the socket then closed, as the egg does. The deadline is the whole attempt.
 */
public final class FlowConnect extends LoopFlow {
    private final SockAddr target;
    private final int type;
    private final EventLoop.ConnectHandler handler;
    private boolean connected;

    /** A connect to {@code addr} with a socket of {@code type}; started by {@link LoopCore#submit}. */
    public FlowConnect(LoopCore loop, SockAddr addr, int type, EventLoop.Options o, EventLoop.ConnectHandler h) {
        super(loop, null, "socket-connect", o);
        this.target = addr; this.type = type; this.handler = h;
    }

    @Override boolean reads() { return false; }
    @Override int interest() { return connected ? 0 : LoopPoller.WRITE; }
    @Override boolean timing() { return true; }
    @Override boolean closesSocket() { return !connected || closeSocket; }
    @Override void ended() {}
    @Override void failed(SocketException e) { handler.onError(e); }

    @Override
    SocketException timeout() {
        return new SocketException(op, SocketException.Kind.TIMEOUT, 0, target.toString(), "connect operation timed out", null);
    }

    @Override
    void start() {
        try { socket = Socket.open(target.family(), type, 0); } catch (SocketException e) { endUnattached(e); return; }
        fd = socket.fd();
        loop.attach(this);
        if (done) return;
        Scratch sc = Scratch.get();
        int rc;
        try {
            int len = target.encode(sc.addr);
            rc = Native.LIBC.connect(reg.fdn, sc.addr, len);
        } catch (SocketException e) {
            fail(e);
            return;
        }
        if (rc == 0) { connected(); return; }
        int e = Native.errno();
        if (e != Native.EINPROGRESS && e != Native.EINTR) fail(SocketException.errno(op, e, "cannot initiate connection", target));
    }

    @Override
    void ready(int ops) {
        int err;
        try { err = Socket.getOptionInt(reg.fdn, Native.SOL_SOCKET, Native.SO_ERROR); }
        catch (SocketException e) { fail(e); return; }
        if (err == 0) connected();
        else fail(SocketException.errno(op, err, "cannot initiate connection", target));
    }

    private void connected() {
        connected = true;
        loop.end(this, null, true);
        try { handler.onConnected(socket); } catch (Throwable t) { socket.closeQuietly(); loop.noteHandlerError(t); }
    }
}
