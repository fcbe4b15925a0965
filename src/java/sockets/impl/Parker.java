package sockets.impl;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import sockets.SocketException;

/**
 * Where virtual threads wait for a socket: a blocking call on a virtual thread that would
 * block parks here (unmounting from its carrier) instead of pinning the carrier in a native
 * poll(2). One daemon thread, {@code sockets-parker}, started on first use, watches the
 * waited-for fds with its own poller (epoll on Linux, poll(2) elsewhere) and unparks each
 * waiting thread when its fd is ready; after {@link #IDLE_MS} ms with nothing to watch it ends
 * and closes its fds (the next wait starts it again). The waiting thread itself sees a close, an interrupt and
 * its deadline (it wakes every {@link Waiting#WAKE_MS} ms to look); it leaves the watched set
 * before it returns, so the fd it holds acquired is never watched after its release.
 */
public final class Parker {
    private Parker() {}

    /**
     * Thread.isVirtual (JDK 21+), or null before. (EventLoop has its own copy until the loop's
     * rewrite drops its awaitFd; then this is the one.)
     */
    private static final MethodHandle IS_VIRTUAL;
    static {
        MethodHandle h = null;
        try { h = MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class)); }
        catch (ReflectiveOperationException e) { /* JDK 17-20: no virtual threads */ }
        IS_VIRTUAL = h;
    }

    /** True when the calling thread is a virtual thread (JDK 21+; always false before). Never blocks. */
    public static boolean onVirtualThread() {
        try { return IS_VIRTUAL != null && (boolean) IS_VIRTUAL.invokeExact(Thread.currentThread()); }
        catch (Throwable t) { return false; }
    }

    /** Loads this class and the classes it uses when a thread parks (see {@link Waiting}). Never blocks. */
    static void preload() {
        onVirtualThread();
        // loaded, not initialised: LoopEpoll's initialiser is for Linux only
        Class<?>[] used = {Waiter.class, LoopPoller.class, LoopWaker.class, LoopEpoll.class, LoopPoll.class};
        for (Class<?> c : used) {
            try { Class.forName(c.getName(), false, c.getClassLoader()); }
            catch (ClassNotFoundException e) { throw new IllegalStateException(e); }
        }
    }

    /** One parked thread's wait. */
    private static final class Waiter {
        final Thread thread;
        final int fd;
        final int interest;
        /** Set by the parker thread: LoopPoller readiness bits, or -1 when it cannot watch the fd. */
        volatile int ready;
        volatile boolean finished;
        /** A cancel request and its acknowledgement (the parker no longer watches for this waiter). */
        volatile boolean cancel, cancelled;
        Waiter(Thread thread, int fd, int interest) { this.thread = thread; this.fd = fd; this.interest = interest; }
        void finish(int ready) { this.ready = ready; this.finished = true; LockSupport.unpark(thread); }
    }

    private static final Object LOCK = new Object();
    private static volatile LoopPoller poller;
    private static final ConcurrentLinkedQueue<Waiter> QUEUE = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger PARKED = new AtomicInteger();

    /** How many threads are parked here now (for tests and monitoring). Never blocks. */
    public static int parked() { return PARKED.get(); }

    /** How long the parker thread stays with nothing to watch before it ends (closing its fds), in ms. */
    static final int IDLE_MS = 500;

    /**
     * Counts one more user of the poller and returns it, starting the parker thread when there
     * is none; null (nothing counted) when it cannot start (e.g. at EMFILE).
     */
    private static LoopPoller enter() {
        synchronized (LOCK) {
            LoopPoller p = poller;
            if (p == null) {
                try {
                    p = Native.LINUX ? new LoopEpoll() : new LoopPoll();
                } catch (SocketException | RuntimeException | LinkageError e) {
                    return null;
                }
                final LoopPoller started = p;
                Thread t = new Thread(() -> run(started), "sockets-parker");
                t.setDaemon(true);
                t.start();
                poller = p;
            }
            PARKED.incrementAndGet();
            return p;
        }
    }

    /** The parker thread, idle: ends (true) unless a user came meanwhile. */
    private static boolean retire(LoopPoller p) {
        synchronized (LOCK) {
            if (PARKED.get() != 0 || !QUEUE.isEmpty()) return false;
            poller = null;
        }
        p.close();
        return true;
    }

    /**
     * Parks the calling thread until fd {@code fdn} (acquired by the caller from {@code owner})
     * is ready for {@code events} (POLLIN and/or POLLOUT), the deadline passes
     * ({@link System#nanoTime} terms, {@link Long#MAX_VALUE}: none), the fd is closed or the
     * thread is interrupted. Returns poll-style revents (POLLIN, POLLOUT, POLLERR), or -1 when
     * the parker cannot take the wait (it could not start, or could not watch this fd): the
     * caller then waits in poll(2) by itself. Blocks (parks) the calling thread.
     * @throws SocketException {@code :timeout} (naming {@code timeoutMs}), {@code :closed},
     *         {@code :interrupted} (the interrupt status stays set)
     */
    public static int await(Fd owner, int fdn, short events, long deadline, long timeoutMs, String op, String what) throws SocketException {
        LoopPoller p = enter();
        if (p == null) return -1;
        int interest = ((events & Native.POLLIN) != 0 ? LoopPoller.READ : 0) | ((events & Native.POLLOUT) != 0 ? LoopPoller.WRITE : 0);
        Waiter w = new Waiter(Thread.currentThread(), fdn, interest);
        try {
            QUEUE.add(w);
            p.wake();
            for (;;) {
                if (w.finished) {
                    int ops = w.ready;
                    if (ops < 0) return -1;
                    return ((ops & LoopPoller.READ) != 0 ? Native.POLLIN : 0) | ((ops & LoopPoller.WRITE) != 0 ? Native.POLLOUT : 0)
                        | ((ops & LoopPoller.ERROR) != 0 ? Native.POLLERR : 0);
                }
                long left = Waiting.left(deadline);
                SocketException e = owner.isClosed() ? owner.closed(op)
                    : Thread.currentThread().isInterrupted() ? SocketException.interrupted(op, what)
                    : left <= 0 ? SocketException.timeout(op, what, timeoutMs, null) : null;
                if (e != null) { cancel(p, w); throw e; }
                LockSupport.parkNanos(Parker.class, Math.min(left, Waiting.WAKE_MS * 1_000_000L));
            }
        } finally { PARKED.decrementAndGet(); }
    }

    /** Takes {@code w} out of the watched set and waits (parked) until the parker thread says so. */
    private static void cancel(LoopPoller p, Waiter w) {
        w.cancel = true;
        QUEUE.add(w);
        p.wake();
        while (!w.cancelled && !w.finished) LockSupport.parkNanos(Parker.class, 1_000_000L);
    }

    // ---------------------------------------------------------------- the parker thread

    private static void run(LoopPoller p) {
        Map<Integer, List<Waiter>> byFd = new HashMap<>();
        for (;;) {
            try {
                Waiter w;
                while ((w = QUEUE.poll()) != null) {
                    if (w.cancel) {
                        List<Waiter> l = byFd.get(w.fd);
                        if (l != null && l.remove(w)) update(p, byFd, w.fd, l);
                        w.cancelled = true;
                        LockSupport.unpark(w.thread);
                    } else {
                        List<Waiter> l = byFd.get(w.fd);
                        boolean added = l == null;
                        if (added) { l = new ArrayList<>(2); byFd.put(w.fd, l); }
                        int before = interest(l);
                        l.add(w);
                        try {
                            if (added) p.add(w.fd, w.interest);
                            else if (interest(l) != before) p.modify(w.fd, interest(l));
                        } catch (SocketException e) {
                            l.remove(w);
                            if (l.isEmpty()) byFd.remove(w.fd);
                            w.finish(-1);
                        }
                    }
                }
                int n = p.await(byFd.isEmpty() ? IDLE_MS : -1);
                if (n == 0 && byFd.isEmpty() && QUEUE.isEmpty() && retire(p)) return;
                for (int i = 0; i < n; i++) {
                    int fd = p.readyFd(i), ops = p.readyOps(i);
                    List<Waiter> l = byFd.get(fd);
                    if (l == null) continue;
                    boolean changed = false;
                    for (int j = l.size() - 1; j >= 0; j--) {
                        Waiter x = l.get(j);
                        if ((ops & (x.interest | LoopPoller.ERROR)) != 0) { l.remove(j); x.finish(ops); changed = true; }
                    }
                    if (changed) update(p, byFd, fd, l);
                }
            } catch (Throwable t) {
                // never expected: hand every wait back to its thread (it polls by itself) and go on
                for (List<Waiter> l : byFd.values()) {
                    for (Waiter x : l) { p.remove(x.fd); x.finish(-1); }
                }
                byFd.clear();
                LockSupport.parkNanos(Parker.class, Waiting.WAKE_MS * 1_000_000L);
            }
        }
    }

    private static int interest(List<Waiter> l) {
        int i = 0;
        for (Waiter w : l) i |= w.interest;
        return i;
    }

    /** After waiters left {@code fd}: watch it for what the rest want, or not at all. */
    private static void update(LoopPoller p, Map<Integer, List<Waiter>> byFd, int fd, List<Waiter> l) throws SocketException {
        if (l.isEmpty()) { byFd.remove(fd); p.remove(fd); }
        else p.modify(fd, interest(l));
    }
}
