package sockets.impl;

import java.util.Arrays;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import sockets.SocketException;

/**
 * The portable poller: poll(2) over an array rebuilt from the registered fds, woken by a pipe.
 * O(n) per wait, which is fine for the modest socket counts of platforms without epoll; it is
 * also selectable on Linux (for tests) with {@code sockets.EventLoop.create(name, true)}.
 */
public final class LoopPoll implements LoopPoller {
    private static final int PFD = 8; // struct pollfd { int fd; short events; short revents; }

    private final LoopWaker waker;
    private int[] fds = new int[16];
    private int[] interest = new int[16];
    private int count;
    private Pointer pfds = Memory.allocateDirect(Native.RUNTIME, 17L * PFD, true);
    private int capacity = 17;
    private int[] readyFd = new int[17];
    private int[] readyOps = new int[17];
    private int[] slotFd = new int[17];

    /** Creates the wake-up pipe. */
    public LoopPoll() throws SocketException { waker = new LoopWaker(LoopNative.SYS, false); }

    private int find(int fd) {
        for (int i = 0; i < count; i++) if (fds[i] == fd) return i;
        return -1;
    }

    @Override
    public void add(int fd, int in) {
        if (count == fds.length) { fds = Arrays.copyOf(fds, count * 2); interest = Arrays.copyOf(interest, count * 2); }
        fds[count] = fd; interest[count] = in; count++;
    }

    @Override public void modify(int fd, int in) { int i = find(fd); if (i >= 0) interest[i] = in; }

    @Override
    public void remove(int fd) {
        int i = find(fd);
        if (i < 0) return;
        count--;
        fds[i] = fds[count]; interest[i] = interest[count];
    }

    @Override
    public int await(int timeoutMs) throws SocketException {
        int n = count + 1;
        if (n > capacity) {
            capacity = Math.max(n, capacity * 2);
            pfds = Memory.allocateDirect(Native.RUNTIME, (long) capacity * PFD, true);
            slotFd = new int[capacity];
            readyFd = new int[capacity];
            readyOps = new int[capacity];
        }
        pfds.putInt(0, waker.readFd); pfds.putShort(4, Native.POLLIN); pfds.putShort(6, (short) 0);
        for (int i = 0; i < count; i++) {
            long b = (long) (i + 1) * PFD;
            short ev = (short) (((interest[i] & READ) != 0 ? Native.POLLIN : 0) | ((interest[i] & WRITE) != 0 ? Native.POLLOUT : 0));
            pfds.putInt(b, fds[i]); pfds.putShort(b + 4, ev); pfds.putShort(b + 6, (short) 0);
            slotFd[i + 1] = fds[i];
        }
        int rc = Native.LIBC.poll(pfds, n, timeoutMs);
        if (rc < 0) {
            int e = Native.errno();
            if (e == Native.EINTR) return 0;
            throw SocketException.errno("event-loop", e, "poll failed", null);
        }
        if (rc == 0) return 0;
        if (pfds.getShort(6) != 0) waker.drain();
        int k = 0;
        for (int i = 1; i < n; i++) {
            int re = pfds.getShort((long) i * PFD + 6);
            if (re == 0) continue;
            readyFd[k] = slotFd[i];
            readyOps[k] = ((re & Native.POLLIN) != 0 ? READ : 0) | ((re & Native.POLLOUT) != 0 ? WRITE : 0)
                | ((re & (Native.POLLERR | Native.POLLHUP | Native.POLLNVAL)) != 0 ? ERROR : 0);
            k++;
        }
        return k;
    }

    @Override public int readyFd(int i) { return readyFd[i]; }
    @Override public int readyOps(int i) { return readyOps[i]; }
    @Override public void wake() { waker.wake(); }
    @Override public void close() { waker.close(); }
}
