package sockets;

import java.nio.ByteBuffer;
import jnr.constants.platform.SocketMessage;
import sockets.impl.Batch;
import sockets.impl.Fd;
import sockets.impl.MsgLib;
import sockets.impl.Native;
import sockets.impl.SockAddrCodec;
import sockets.impl.Waiting;

/**
 * Beyond the egg: many datagrams in one call. On Linux one recvmmsg(2) / sendmmsg(2) per call;
 * elsewhere (or where the kernel lacks them) one recvmsg(2) / sendmsg(2) per datagram, with the
 * same results. The socket must be a datagram socket ({@code SOCK_DGRAM}: UDP or unix).
 *
 * <p>Blocking as in {@link Socket} (its one waiting path, {@link sockets.impl.Waiting}): the first
 * datagram is waited for up to the timeout (ms, negative or longer than
 * {@link sockets.impl.Waiting#FOREVER_MS} forever), with poll on EAGAIN, EINTR retried,
 * {@code :closed} when the socket is closed meanwhile, {@code :interrupted} on an interrupt;
 * with MSG_DONTWAIT in the flags nothing waits: a call that would block fails at once with
 * {@code :would-block} (errno EAGAIN); after the first, a call takes only
 * what is queued (or what fits in the send buffer) without waiting. A socket in blocking mode
 * ({@link Socket#setBlocking}) waits for its first datagram inside recvmmsg (MSG_WAITFORONE)
 * in the socket's slices, one system call per wait; sends never wait in the kernel. Every argument is checked
 * before anything native runs ({@code :invalid}, nothing changed). Buffer positions are never
 * changed. Heap buffers are copied through this thread's native memory; direct buffers are
 * passed by address. Nothing is allocated per call once a thread has done a call of the size.
 *
 * <p>Errors: when the first datagram fails, the call throws; when a later one fails the call
 * returns the count before it, and (with recvmmsg/sendmmsg) the kernel reports the error to
 * the next call. The one-by-one path cannot hand an asynchronous error (an ICMP refusal) back
 * to the kernel, so there such an error met after the first datagram is lost with the call.
 */
public final class Datagrams {
    private Datagrams() {}

    /** Most datagrams in one call (Linux's UIO_MAXIOV, the kernel's own cap). */
    public static final int MAX = Batch.MAX;

    /**
     * The most bytes of heap buffers one call may pass, 64 MiB: their bytes go through native
     * memory of that size, so more is {@code :invalid} before anything is allocated (direct
     * buffers are passed by address and not counted). Clojure's count * size cap of
     * {@code socket-receive-many} should be this too.
     */
    public static final int MAX_BYTES = 64 << 20;

    /**
     * MSG_DONTWAIT (0 where absent: every fd is non-blocking there): calls that must not wait in
     * the kernel pass it. Native.NO_WAIT's value, read from jnr-constants here so that loading
     * this class (for {@link #MAX}) binds no library.
     */
    private static final int DONTWAIT = defined(SocketMessage.MSG_DONTWAIT);
    private static int defined(SocketMessage m) { return m.defined() ? m.intValue() : 0; }

    /** Flags a receive accepts: MSG_TRUNC (counts are then the datagrams' real lengths) and MSG_DONTWAIT (do not wait: {@code :would-block}). */
    public static final int RECEIVE_FLAGS = defined(SocketMessage.MSG_TRUNC) | DONTWAIT;
    /** Flags a send accepts: MSG_DONTWAIT, MSG_DONTROUTE, MSG_CONFIRM (Linux), MSG_NOSIGNAL (always added). */
    public static final int SEND_FLAGS = DONTWAIT | defined(SocketMessage.MSG_DONTROUTE)
        | defined(SocketMessage.MSG_CONFIRM) | defined(SocketMessage.MSG_NOSIGNAL);

    /**
     * Receives up to {@code bufs.length} datagrams, datagram {@code i} into the remaining bytes
     * of {@code bufs[i]} (from its position, which is not changed). Blocks up to
     * {@code timeoutMs} for the first; then takes those already queued without waiting. Returns
     * how many arrived ({@code k >= 1}); for {@code i < k}, {@code counts[i]} is the bytes
     * stored in {@code bufs[i]} (with MSG_TRUNC in {@code flags}: the datagram's real length,
     * which may exceed the buffer), {@code froms[i]} the sender (null when the kernel gave
     * none, e.g. an unbound unix socket), {@code msgFlags[i]} msg_flags as returned (MSG_TRUNC
     * set when the datagram was longer than the buffer and its tail was lost). Entries from
     * {@code k} on are left as they were.
     *
     * @param bufs 1 to {@link #MAX} writable buffers, heap or direct
     * @param counts at least {@code bufs.length} long
     * @param froms null, or at least {@code bufs.length} long
     * @param msgFlags null, or at least {@code bufs.length} long
     * @param flags {@link #RECEIVE_FLAGS} only
     * @throws SocketException {@code :timeout}, {@code :closed}, {@code :interrupted},
     *         {@code :invalid} (before any native call), or the errno's kind
     */
    public static int receiveMany(Socket s, ByteBuffer[] bufs, int[] counts, SockAddr[] froms, int[] msgFlags,
                                  int flags, long timeoutMs) throws SocketException {
        String op = "socket-receive-many!";
        int n = check(op, s, bufs, true);
        if (n == 0) throw SocketException.invalid(op, "at least one buffer is required");
        if (counts == null || counts.length < n) throw SocketException.invalid(op, "counts must have room for " + n + " entries");
        if (froms != null && froms.length < n) throw SocketException.invalid(op, "froms must have room for " + n + " entries");
        if (msgFlags != null && msgFlags.length < n) throw SocketException.invalid(op, "msgFlags must have room for " + n + " entries");
        checkFlags(op, flags, RECEIVE_FLAGS);
        Batch b = Batch.get();
        ByteBuffer data = prepare(op, b, bufs);
        boolean named = froms != null;
        if (named) for (int i = 0; i < n; i++) b.name(i, Batch.NAME_SIZE);
        Fd owner = s.fd();
        int fdn = owner.acquire(op);
        try {
            // a socket in blocking mode waits inside recvmmsg for the first datagram (one system
            // call per wait instead of three), in the slices of its waiting path (MSG_WAITFORONE)
            int k = (int) s.waiting().run(fdn, Waiting.RECV_MANY, op, timeoutMs, (flags & DONTWAIT) != 0, null, null, (f, nw) -> {
                for (int i = 0; i < n; i++) b.reset(i, named);
                int fl = nw == 0 && Waiting.RECV_MANY.kernelWait ? flags | Batch.MSG_WAITFORONE : flags | DONTWAIT;
                return Batch.useMmsg() ? Native.LIBC.recvmmsg(f, b.vec(), n, fl, null) : oneByOne(f, b, n, fl, true);
            });
            collect(b, bufs, data, k, counts, froms, msgFlags);
            return k;
        } finally { owner.release(); }
    }

    /**
     * Sends {@code bufs.length} datagrams, datagram {@code i} being the remaining bytes of
     * {@code bufs[i]} (position not changed), to {@code tos[i]} (or, when {@code tos} or the
     * entry is null, to the connected peer). MSG_NOSIGNAL is always added. Blocks up to
     * {@code timeoutMs} until the first can be sent; then sends what fits without waiting.
     * Returns how many were sent, in order (0 only for no buffers; fewer than given when the
     * send buffer filled or a later datagram failed: send the rest again).
     *
     * @param bufs 0 to {@link #MAX} buffers, heap or direct, read-only allowed
     * @param tos null, or at least {@code bufs.length} long
     * @param flags {@link #SEND_FLAGS} only
     * @throws SocketException {@code :timeout}, {@code :closed}, {@code :interrupted},
     *         {@code :invalid} (before any native call), or the errno's kind
     */
    public static int sendMany(Socket s, ByteBuffer[] bufs, SockAddr[] tos, int flags, long timeoutMs) throws SocketException {
        String op = "socket-send-many";
        int n = check(op, s, bufs, false);
        if (tos != null && tos.length < n) throw SocketException.invalid(op, "tos must have room for " + n + " entries");
        checkFlags(op, flags, SEND_FLAGS);
        if (n == 0) return 0;
        Batch b = Batch.get();
        ByteBuffer data = prepare(op, b, bufs);
        if (data != null) {
            int off = 0;
            for (ByteBuffer x : bufs) {
                if (x.isDirect()) continue;
                data.put(off, x, x.position(), x.remaining());
                off += x.remaining();
            }
        }
        if (tos != null) {
            for (int i = 0; i < n; i++) {
                if (tos[i] != null) b.name(i, tos[i].encode(b.name(i)));
            }
        }
        Fd owner = s.fd();
        int fdn = owner.acquire(op);
        try {
            int fl = flags | DONTWAIT | Native.MSG_NOSIGNAL;
            return (int) s.waiting().run(fdn, Waiting.SEND_MANY, op, timeoutMs, (flags & DONTWAIT) != 0,
                                         tos == null ? null : tos[0], null,
                                         (f, nw) -> Batch.useMmsg() ? Native.LIBC.sendmmsg(f, b.vec(), n, fl) : oneByOne(f, b, n, fl, false));
        } finally { owner.release(); }
    }

    // ---------------------------------------------------------------- checks

    /** Checks the socket and buffers; returns the number of buffers. */
    private static int check(String op, Socket s, ByteBuffer[] bufs, boolean receiving) throws SocketException {
        if (s == null) throw SocketException.invalid(op, "socket is required");
        if (s.type() != Native.SOCK_DGRAM) throw SocketException.invalid(op, op + " needs a datagram socket (sock/dgram)");
        if (bufs == null) throw SocketException.invalid(op, "buffers are required");
        if (bufs.length > MAX) throw SocketException.invalid(op, "at most " + MAX + " datagrams per call, not " + bufs.length);
        for (ByteBuffer x : bufs) {
            if (x == null) throw SocketException.invalid(op, "buffer is required");
            if (receiving && x.isReadOnly()) throw SocketException.invalid(op, "cannot receive into a read-only buffer");
        }
        return bufs.length;
    }

    private static void checkFlags(String op, int flags, int allowed) throws SocketException {
        if ((flags & ~allowed) != 0)
            throw SocketException.invalid(op, "flags 0x" + Integer.toHexString(flags & ~allowed) + " are not accepted by " + op);
    }

    /**
     * Makes room for {@code bufs.length} messages and points them at the buffers; returns the
     * region the heap buffers' bytes go through (null when all are direct).
     */
    private static ByteBuffer prepare(String op, Batch b, ByteBuffer[] bufs) throws SocketException {
        long heap = 0;
        for (ByteBuffer x : bufs) if (!x.isDirect()) heap += x.remaining();
        if (heap > MAX_BYTES) throw SocketException.invalid(op, "at most " + MAX_BYTES + " bytes of heap buffers per call (Datagrams.MAX_BYTES), not " + heap);
        b.ensure(bufs.length);
        ByteBuffer data = heap > 0 ? b.data(heap) : null;
        point(b, bufs, data);
        return data;
    }

    /** Points each message's iovec at its buffer: direct ones by address, heap ones at consecutive slices of {@code data}. */
    private static void point(Batch b, ByteBuffer[] bufs, ByteBuffer data) {
        long dataAddr = data == null ? 0 : b.dataAddress(data);
        long off = 0;
        for (int i = 0; i < bufs.length; i++) {
            ByteBuffer x = bufs[i];
            int r = x.remaining();
            if (x.isDirect()) b.set(i, Batch.address(x) + x.position(), r);
            else { b.set(i, dataAddr + off, r); off += r; }
        }
    }

    /** Fills the results of the first {@code k} messages, copying heap data back. */
    private static void collect(Batch b, ByteBuffer[] bufs, ByteBuffer data, int k,
                                int[] counts, SockAddr[] froms, int[] msgFlags) {
        int off = 0;
        for (int i = 0; i < k; i++) {
            ByteBuffer x = bufs[i];
            int r = x.remaining();
            long len = b.len(i);
            counts[i] = (int) Math.min(len, Integer.MAX_VALUE);
            if (!x.isDirect()) {
                int got = (int) Math.min(len, r);
                if (got > 0) x.put(x.position(), data, off, got);
                off += r;
            }
            if (msgFlags != null) msgFlags[i] = b.flags(i);
            if (froms != null) froms[i] = i > 0 && b.sameName(i, i - 1) ? froms[i - 1] : SockAddrCodec.decode(b.name(i), b.namelen(i));
        }
    }

    // ---------------------------------------------------------------- one by one

    /**
     * recvmmsg's (or sendmmsg's) work with one recvmsg (sendmsg) per message, flags including
     * MSG_DONTWAIT: -1 with errno when the first fails, else how many went before one would
     * block or failed; each one's length goes in its msg_len, as the kernel's batch calls do.
     */
    private static int oneByOne(int fdn, Batch b, int n, int fl, boolean receiving) {
        for (int i = 0; i < n; i++) {
            long r = receiving ? MsgLib.LIB.recvmsg(fdn, b.msg(i), fl) : MsgLib.LIB.sendmsg(fdn, b.msg(i), fl);
            if (r < 0) {
                if (Native.errno() == Native.EINTR) { i--; continue; }
                return i == 0 ? -1 : i;
            }
            b.len(i, r);
        }
        return n;
    }
}
