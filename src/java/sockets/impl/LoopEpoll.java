package sockets.impl;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;
import sockets.SocketException;

/**
 * The Linux poller: one epoll instance, <b>level-triggered</b>. Level-triggering fits the loop's
 * backpressure: a reader paused because its channel is full simply loses its interest (the fd
 * leaves the set) and gets it back on resume, with no readiness edge to lose in between; a
 * ready socket is served one chunk per pass (fair to the others) and reported again on the
 * next pass while data remains, so nothing has to drain a socket to EAGAIN. The cost is one
 * epoll_ctl per pause/resume and per write-interest change.
 */
public final class LoopEpoll implements LoopPoller {
    /** Entries fetched per epoll_wait. */
    static final int MAX_EVENTS = 256;
    /** The epoll_data value marking the wake-up fd. */
    private static final long WAKE = -1L;

    private static final Epoll SYS = LoopNative.SYS;
    private static final Epoll.Event LAYOUT = new Epoll.Event(Native.RUNTIME);
    /** sizeof(struct epoll_event) for this architecture. */
    public static final int SIZE = Struct.size(LAYOUT);
    /** offsetof(struct epoll_event, events). */
    public static final int EVENTS_OFFSET = (int) LAYOUT.events.offset();
    /** offsetof(struct epoll_event, data). */
    public static final int DATA_OFFSET = (int) LAYOUT.data.offset();
    static {
        int want = Epoll.Event.PACKED ? 12 : 16;
        if (SIZE != want || EVENTS_OFFSET != 0 || DATA_OFFSET != want - 8)
            throw new ExceptionInInitializerError("struct epoll_event laid out as " + SIZE + " bytes, data at " + DATA_OFFSET);
    }

    private final int epfd;
    private final LoopWaker waker;
    private final Pointer one = Memory.allocateDirect(Native.RUNTIME, SIZE, true);
    private final Pointer events = Memory.allocateDirect(Native.RUNTIME, (long) SIZE * MAX_EVENTS, true);
    private final int[] readyFd = new int[MAX_EVENTS];
    private final int[] readyOps = new int[MAX_EVENTS];

    /** Creates the epoll instance and its eventfd. */
    public LoopEpoll() throws SocketException {
        int ep = SYS.epoll_create1(LoopWaker.O_CLOEXEC);
        if (ep < 0) throw SocketException.errno("event-loop", Native.errno(), "cannot create epoll instance", null);
        epfd = ep;
        LoopWaker w = null;
        try {
            w = new LoopWaker(SYS, true);
            ctl(Epoll.EPOLL_CTL_ADD, w.readFd, Epoll.EPOLLIN, WAKE);
        } catch (SocketException e) {
            if (w != null) w.close();
            Native.LIBC.close(ep);
            throw e;
        }
        waker = w;
    }

    private static int bits(int interest) {
        return ((interest & READ) != 0 ? Epoll.EPOLLIN | Epoll.EPOLLRDHUP : 0) | ((interest & WRITE) != 0 ? Epoll.EPOLLOUT : 0);
    }

    private void ctl(int op, int fd, int ev, long data) throws SocketException {
        one.putInt(EVENTS_OFFSET, ev);
        one.putLong(DATA_OFFSET, data);
        if (SYS.epoll_ctl(epfd, op, fd, one) < 0)
            throw SocketException.errno("event-loop", Native.errno(), "epoll_ctl failed", null);
    }

    @Override public void add(int fd, int interest) throws SocketException { ctl(Epoll.EPOLL_CTL_ADD, fd, bits(interest), fd); }
    @Override public void modify(int fd, int interest) throws SocketException { ctl(Epoll.EPOLL_CTL_MOD, fd, bits(interest), fd); }
    @Override public void remove(int fd) { SYS.epoll_ctl(epfd, Epoll.EPOLL_CTL_DEL, fd, one); }

    @Override
    public int await(int timeoutMs) throws SocketException {
        int n = SYS.epoll_wait(epfd, events, MAX_EVENTS, timeoutMs);
        if (n < 0) {
            int e = Native.errno();
            if (e == Native.EINTR) return 0;
            throw SocketException.errno("event-loop", e, "epoll_wait failed", null);
        }
        int k = 0;
        for (int i = 0; i < n; i++) {
            long base = (long) i * SIZE;
            int ev = events.getInt(base + EVENTS_OFFSET);
            long data = events.getLong(base + DATA_OFFSET);
            if (data == WAKE) { waker.drain(); continue; }
            readyFd[k] = (int) data;
            readyOps[k] = ((ev & Epoll.EPOLLIN) != 0 ? READ : 0) | ((ev & Epoll.EPOLLOUT) != 0 ? WRITE : 0)
                | ((ev & (Epoll.EPOLLERR | Epoll.EPOLLHUP)) != 0 ? ERROR : 0) | ((ev & Epoll.EPOLLRDHUP) != 0 ? HUP : 0);
            k++;
        }
        return k;
    }

    @Override public int readyFd(int i) { return readyFd[i]; }
    @Override public int readyOps(int i) { return readyOps[i]; }
    @Override public void wake() { waker.wake(); }

    @Override
    public void close() {
        waker.close();
        Native.LIBC.close(epfd);
    }
}
