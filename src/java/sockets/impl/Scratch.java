package sockets.impl;

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

    private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);

    /** This thread's scratch region. */
    public static Scratch get() { return LOCAL.get(); }
}
