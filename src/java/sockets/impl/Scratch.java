package sockets.impl;

import java.nio.ByteBuffer;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * Per-thread native scratch memory for the small structures a call passes to the kernel
 * (a sockaddr, its length, a pollfd, an option value), so no call allocates native memory.
 * A region is only used between entering and leaving one library call, never across user code.
 */
public final class Scratch {
    /** Bytes for a sockaddr (at least sizeof(struct sockaddr_storage)). */
    public static final int ADDR_SIZE = 128;
    /** Bytes for an option value (getsockopt/setsockopt). */
    public static final int OPT_SIZE = 256;

    /** Largest heap transfer copied through {@link #io}; larger ones are pinned instead. */
    public static final int IO_MAX = 64 * 1024;

    /** The sockaddr region. */
    public final Pointer addr;
    /** A socklen_t. */
    public final Pointer len;
    /** One struct pollfd (int fd; short events; short revents). */
    public final Pointer pollfd;
    /** An option value region. */
    public final Pointer opt;

    private Scratch() {
        // Separate allocations, not slices of one: jnr-ffi's bounded slices reject bulk
        // operations (setMemory) that are within their bounds.
        addr = Memory.allocateDirect(Native.RUNTIME, ADDR_SIZE, true);
        len = Memory.allocateDirect(Native.RUNTIME, 8, true);
        pollfd = Memory.allocateDirect(Native.RUNTIME, 8, true);
        opt = Memory.allocateDirect(Native.RUNTIME, OPT_SIZE, true);
    }

    private ByteBuffer io;

    /**
     * This thread's direct transfer buffer, at least {@code n} bytes ({@code n <= IO_MAX}),
     * position 0 and limit {@code n}. Allocated on first use and grown by powers of two (at
     * least 4 KiB), so a thread that only moves small messages holds little native memory.
     */
    public ByteBuffer io(int n) {
        ByteBuffer b = io;
        if (b == null || b.capacity() < n) {
            int cap = Math.max(4096, Integer.highestOneBit(Math.max(1, n - 1)) << 1);
            io = b = ByteBuffer.allocateDirect(Math.min(cap, IO_MAX));
        }
        b.clear().limit(n);
        return b;
    }

    private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);

    /** This thread's scratch region. */
    public static Scratch get() { return LOCAL.get(); }
}
