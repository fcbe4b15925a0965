package sockets.impl;

import com.kenai.jffi.MemoryIO;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;

/**
 * Native memory for batched datagram calls ({@code sockets.Datagrams}): per thread, an array of
 * struct mmsghdr, one struct iovec and one sockaddr slot per message, and a data region that
 * heap buffers are copied through (direct buffers are passed by address). Allocated on first
 * use and grown by powers of two up to {@link #MAX} messages, so the hot path allocates
 * nothing. Also decides once whether recvmmsg/sendmmsg can be used ({@link #MMSG}).
 *
 * <p>The msghdr inside each mmsghdr is laid out by {@link MsgLib.MsgHdr} (its field offsets,
 * padded to its alignment); msg_len follows it, and the whole is padded to the same alignment,
 * as struct mmsghdr is in C (Linux 64-bit: 64 bytes, msg_len at 56; 32-bit: 32, at 28).
 */
public final class Batch {
    /** Most messages in one batched call (Linux's UIO_MAXIOV, the kernel's own cap on vlen). */
    public static final int MAX = 1024;
    /** Bytes per sockaddr slot. */
    public static final int NAME_SIZE = Scratch.ADDR_SIZE;
    /** Data-region bytes a thread keeps between calls; a call that needs more gets a region of its own. */
    public static final int DATA_RETAIN = 1 << 20;

    private static final int PTR = Native.RUNTIME.addressSize();
    /** struct msghdr field offsets (from {@link MsgLib.MsgHdr}). */
    public static final int NAME, NAMELEN, FLAGS;
    /**
     * MSG_WAITFORONE (recvmmsg: wait for the first datagram only), Linux's 0x10000: jnr-constants
     * lacks it, and only Linux has recvmmsg.
     */
    public static final int MSG_WAITFORONE = Native.LINUX ? 0x10000 : 0;
    /** Offset of msg_len in struct mmsghdr, and the struct's size. */
    public static final int LEN, MM_SIZE;
    /** struct iovec: size and offsets. */
    public static final int IOV_SIZE, IOV_BASE, IOV_LEN;

    static {
        MsgLib.MsgHdr h = new MsgLib.MsgHdr(Native.RUNTIME);
        int align = Struct.alignment(h);
        NAME = (int) h.name.offset();
        NAMELEN = (int) h.namelen.offset();
        FLAGS = (int) h.flags.offset();
        LEN = MsgLib.MSGHDR_SIZE;
        MM_SIZE = alignUp(LEN + 4, align);
        MsgLib.IoVec v = new MsgLib.IoVec(Native.RUNTIME);
        IOV_SIZE = alignUp(Struct.size(v), Struct.alignment(v));
        IOV_BASE = (int) v.base.offset();
        IOV_LEN = (int) v.len.offset();
    }

    private static int alignUp(int n, int a) { return (n + a - 1) / a * a; }

    /**
     * True when recvmmsg/sendmmsg are used: Linux (whose struct mmsghdr this lays out), both
     * symbols in libc, and the kernel does not answer ENOSYS. Probed once with fd -1.
     */
    public static final boolean MMSG = probe();

    private static boolean probe() {
        if (!Native.LINUX) return false;
        try {
            int ENOSYS = Native.value(jnr.constants.platform.Errno.ENOSYS);
            if (Native.LIBC.recvmmsg(-1, null, 0, 0, null) < 0 && Native.errno() == ENOSYS) return false;
            if (Native.LIBC.sendmmsg(-1, null, 0, 0) < 0 && Native.errno() == ENOSYS) return false;
            return true;
        } catch (UnsatisfiedLinkError e) {
            return false;
        }
    }

    private static volatile boolean loopOnly;

    /** True when this call should use recvmmsg/sendmmsg (else one recvmsg/sendmsg per message). */
    public static boolean useMmsg() { return MMSG && !loopOnly; }

    /**
     * Forces the portable path (one recvmsg/sendmsg per message, as where recvmmsg is absent)
     * for every thread, or returns to the default. For tests; returns the previous setting.
     */
    public static boolean forceLoop(boolean on) {
        boolean was = loopOnly;
        loopOnly = on;
        return was;
    }

    // ---------------------------------------------------------------- per-thread memory

    private static final ThreadLocal<Batch> LOCAL = ThreadLocal.withInitial(Batch::new);

    /** This thread's batch memory. */
    public static Batch get() { return LOCAL.get(); }

    private int cap;
    private ByteBuffer block;       // [mmsghdr * cap][iovec * cap][sockaddr * cap]
    private long blockAddr;
    private Pointer vec;            // the mmsghdr array
    private Pointer[] msgs;         // &vec[i].msg_hdr, for the one-by-one path
    private Pointer[] names;        // sockaddr slot i
    private ByteBuffer data;
    private long dataAddr;

    private Batch() {}

    /** The address of a direct buffer's memory (its index 0). */
    public static long address(ByteBuffer direct) {
        return MemoryIO.getInstance().getDirectBufferAddress(direct);
    }

    /** Makes room for {@code n} messages ({@code 1 <= n <= MAX}). */
    public void ensure(int n) {
        if (n <= cap) return;
        int c = Math.max(8, Integer.highestOneBit(n - 1) << 1);
        c = Math.min(MAX, Math.max(c, n));
        ByteBuffer b = ByteBuffer.allocateDirect(c * (MM_SIZE + IOV_SIZE + NAME_SIZE)).order(ByteOrder.nativeOrder());
        long a = address(b);
        Pointer[] ms = new Pointer[c], ns = new Pointer[c];
        MsgLib.MsgHdr h = new MsgLib.MsgHdr(Native.RUNTIME);
        for (int i = 0; i < c; i++) {
            ms[i] = Pointer.wrap(Native.RUNTIME, a + (long) i * MM_SIZE);
            ns[i] = Pointer.wrap(Native.RUNTIME, a + nameOff(c, i));
            // the fields that never change: one iovec per message, no control data
            h.useMemory(ms[i]);
            h.iov.set(Pointer.wrap(Native.RUNTIME, a + iovOff(c, i)));
            h.iovlen.set(1);
        }
        block = b; blockAddr = a; cap = c; msgs = ms; names = ns;
        vec = Pointer.wrap(Native.RUNTIME, a);
    }

    private static int iovOff(int c, int i) { return c * MM_SIZE + i * IOV_SIZE; }
    private static int nameOff(int c, int i) { return c * (MM_SIZE + IOV_SIZE) + i * NAME_SIZE; }

    /** A pointer or a size_t (the same size on every platform jnr-ffi runs on). */
    private static void putPtr(ByteBuffer b, int off, long v) {
        if (PTR == 8) b.putLong(off, v); else b.putInt(off, (int) v);
    }

    /** The mmsghdr array, for recvmmsg/sendmmsg. */
    public Pointer vec() { return vec; }
    /** Message {@code i}'s struct msghdr, for recvmsg/sendmsg. */
    public Pointer msg(int i) { return msgs[i]; }
    /** Sockaddr slot {@code i} ({@link #NAME_SIZE} bytes). */
    public Pointer name(int i) { return names[i]; }

    /** Points message {@code i} at {@code len} bytes at {@code base}, with no address (namelen 0). */
    public void set(int i, long base, int len) {
        ByteBuffer b = block;
        int io = iovOff(cap, i);
        putPtr(b, io + IOV_BASE, base);
        putPtr(b, io + IOV_LEN, len);
        putPtr(b, i * MM_SIZE + NAME, 0);
        b.putInt(i * MM_SIZE + NAMELEN, 0);
    }

    /** Gives message {@code i} its sockaddr slot as msg_name, {@code namelen} bytes long. */
    public void name(int i, int namelen) {
        putPtr(block, i * MM_SIZE + NAME, blockAddr + nameOff(cap, i));
        block.putInt(i * MM_SIZE + NAMELEN, namelen);
    }

    /** Resets the kernel-written fields of message {@code i} before a receive: namelen (when it has a name), msg_flags, msg_len. */
    public void reset(int i, boolean named) {
        int mm = i * MM_SIZE;
        if (named) block.putInt(mm + NAMELEN, NAME_SIZE);
        block.putInt(mm + FLAGS, 0);
        block.putInt(mm + LEN, 0);
    }

    /** msg_len of message {@code i} (unsigned). */
    public long len(int i) { return block.getInt(i * MM_SIZE + LEN) & 0xffffffffL; }
    /** Sets msg_len of message {@code i} (the one-by-one path does what recvmmsg/sendmmsg would). */
    public void len(int i, long n) { block.putInt(i * MM_SIZE + LEN, (int) n); }
    /** msg_flags of message {@code i}. */
    public int flags(int i) { return block.getInt(i * MM_SIZE + FLAGS); }
    /** msg_namelen of message {@code i}. */
    public int namelen(int i) { return block.getInt(i * MM_SIZE + NAMELEN); }

    /** True when messages {@code i} and {@code j} came with the same address bytes (a sender's datagrams usually come in runs). */
    public boolean sameName(int i, int j) {
        int n = namelen(i);
        if (n != namelen(j) || n > NAME_SIZE) return false;
        ByteBuffer b = block;
        int a = nameOff(cap, i), c = nameOff(cap, j), k = 0;
        for (; k + 8 <= n; k += 8) if (b.getLong(a + k) != b.getLong(c + k)) return false;
        for (; k < n; k++) if (b.get(a + k) != b.get(c + k)) return false;
        return true;
    }

    /**
     * A direct region of at least {@code n} bytes for heap data (native byte order, position 0):
     * this thread's, grown on demand up to {@link #DATA_RETAIN}, or one of its own beyond that.
     */
    public ByteBuffer data(long n) {
        if (n > DATA_RETAIN) return ByteBuffer.allocateDirect((int) n);
        if (data == null || data.capacity() < n) {
            data = ByteBuffer.allocateDirect(Math.max(4096, Integer.highestOneBit((int) Math.max(1, n - 1)) << 1));
            dataAddr = address(data);
        }
        return data;
    }

    /** The address of a region from {@link #data}. */
    public long dataAddress(ByteBuffer region) { return region == data ? dataAddr : address(region); }
}
