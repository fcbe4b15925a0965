package sockets.impl;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.NonReadableChannelException;
import java.nio.file.Path;
import jnr.constants.platform.Errno;
import jnr.constants.platform.OpenFlags;
import jnr.constants.platform.Signal;
import jnr.ffi.Memory;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import sockets.SocketException;

/**
 * Sending a file over a connected stream socket ({@code Socket.sendFile}): sendfile(2) where
 * Linux has it, else (and where sendfile refuses the file or the socket: EINVAL, ENOSYS,
 * EOPNOTSUPP, or ESPIPE for a source that cannot seek, such as a FIFO) reads of at most
 * {@link Scratch#IO_MAX} bytes, each sent with send(2). Every
 * wait for buffer space goes through the socket's {@link Waiting} path, so the timeout (per
 * wait), a close from another thread ({@code :closed}), an interrupt and blocking mode behave
 * as for a send. A file named by a path is opened read-only and close-on-exec and always
 * closed; a FileChannel is read with positional reads (its position is not changed, and it is
 * not closed). sendfile cannot take MSG_NOSIGNAL, so the calling thread blocks SIGPIPE around
 * it and takes a SIGPIPE it raised before unblocking: a peer gone is {@code :errno :EPIPE}
 * (or {@code :ECONNRESET}), never a signal. A virtual thread, which may move to another
 * carrier thread while it waits, sends the read+send way.
 */
public final class FileSend {
    private FileSend() {}

    /** The operation name in errors. */
    public static final String OP = "socket-send-file";

    /** sendfile(2): waits for POLLOUT; in blocking mode it waits in the kernel (SO_SNDTIMEO), it takes no flags. */
    private static final Waiting.Op SENDFILE =
        new Waiting.Op("sendfile", "cannot send file to socket", Native.POLLOUT, false, true, false, false, 0);

    /** Linux caps one sendfile at 0x7ffff000 bytes (MAX_RW_COUNT); asking for more is harmless but pointless. */
    private static final long MAX_CHUNK = 0x7ffff000L;

    private static final int O_RDONLY = Native.value(OpenFlags.O_RDONLY);
    private static final int O_CLOEXEC = Math.max(0, Native.value(OpenFlags.O_CLOEXEC));
    private static final int SIGPIPE = Native.value(Signal.SIGPIPE);
    private static final int ESPIPE = Native.value(Errno.ESPIPE);
    private static final int EISDIR = Native.value(Errno.EISDIR);
    private static final int ENOSYS = Native.value(Errno.ENOSYS);
    private static final int EOPNOTSUPP = Native.value(Errno.EOPNOTSUPP);
    private static final int ENOTSUP = Native.value(Errno.ENOTSUP);

    // pthread_sigmask's "how": jnr-constants has no table for it. These are Linux's generic
    // values (asm-generic/signal-defs.h: SIG_BLOCK 0, SIG_UNBLOCK 1, SIG_SETMASK 2), which the
    // CPUs below use (MIPS, SPARC and Alpha differ); sendfile is only used on those CPUs.
    private static final int SIG_BLOCK = 0;
    private static final int SIG_SETMASK = 2;

    /** sendfile(2) is used: 64-bit Linux on a CPU with the generic signal numbers above (off_t is 64-bit there). */
    private static final boolean SENDFILE_HERE = Native.LINUX && Native.RUNTIME.addressSize() == 8 && SIGPIPE > 0
        && switch (Platform.getNativePlatform().getCPU()) {
            case X86_64, AARCH64, RISCV64, PPC64, PPC64LE, S390X, LOONGARCH64 -> true;
            default -> false;
        };

    private static volatile boolean sendfileOn = SENDFILE_HERE;

    /**
     * For tests: false makes every file go the read+send way; true uses sendfile(2) again
     * where this platform has it. Returns whether sendfile is used now. Never blocks.
     */
    public static boolean useSendfile(boolean on) {
        sendfileOn = on && SENDFILE_HERE;
        return sendfileOn;
    }

    /** Native memory of one thread's file sends: two sigset_t, a timespec, an off_t. */
    private static final class Mem {
        static final int SIGSET = 128; // sizeof(sigset_t) in glibc (1024 bits), more than the kernel's
        final Pointer set = Memory.allocateDirect(Native.RUNTIME, SIGSET, true);
        final Pointer old = Memory.allocateDirect(Native.RUNTIME, SIGSET, true);
        final Pointer zero = Memory.allocateDirect(Native.RUNTIME, 16, true);
        final Pointer off = Memory.allocateDirect(Native.RUNTIME, 8, true);
    }

    private static final ThreadLocal<Mem> MEM = ThreadLocal.withInitial(Mem::new);

    /**
     * Sends up to {@code count} bytes (negative: to the file's end) of {@code path} or
     * {@code channel} (exactly one non-null) from byte {@code offset} over {@code fd}, a socket of
     * type {@code sockType}; returns the bytes sent, fewer only when the file ends first (0 when
     * {@code offset} is at or past its end). Each wait for buffer space lasts up to
     * {@code timeoutMs} (negative: forever).
     * @throws SocketException {@code :invalid} (no file, a negative offset, not a stream socket,
     *         a closed or write-only channel, a file that cannot be opened or is a directory),
     *         {@code :closed}, {@code :timeout}, {@code :interrupted}, or the errno's kind
     */
    public static long send(Fd fd, Waiting w, int sockType, Path path, FileChannel channel, long offset, long count, long timeoutMs)
            throws SocketException {
        if ((path == null) == (channel == null)) throw SocketException.invalid(OP, OP + ": a file (a path or a FileChannel) is required");
        if (offset < 0) throw SocketException.invalid(OP, OP + ": the offset must not be negative, not " + offset);
        if (sockType != Native.SOCK_STREAM)
            throw SocketException.invalid(OP, OP + ": a file is sent over a stream socket (:sock/stream) only, not one of type " + sockType
                                              + "; send a datagram's bytes with socket-send");
        if (channel != null && !channel.isOpen()) throw SocketException.invalid(OP, OP + ": the FileChannel is closed");
        long left = count < 0 ? Long.MAX_VALUE : count;
        if (fd.isClosed()) throw fd.closed(OP);
        if (channel != null) return withSocket(fd, fdn -> copy(w, fdn, new ChannelSource(channel), offset, left, timeoutMs));
        int file = open(path);
        try {
            FdSource src = new FdSource(file, path);
            // a virtual thread may wait on another carrier than the one whose signal mask it set: read+send there
            boolean viaSendfile = sendfileOn && !Parker.onVirtualThread();
            return withSocket(fd, fdn -> viaSendfile ? sendfile(w, fdn, src, offset, left, timeoutMs) : copy(w, fdn, src, offset, left, timeoutMs));
        } finally { FileLib.LIB.close(file); }
    }

    /** A transfer on the acquired socket fd. */
    @FunctionalInterface
    private interface Transfer { long run(int fdn) throws SocketException; }

    private static long withSocket(Fd fd, Transfer t) throws SocketException {
        int fdn = fd.acquire(OP);
        try { return t.run(fdn); } finally { fd.release(); }
    }

    /** Opens {@code path} read-only and close-on-exec; a path that cannot be opened is {@code :invalid}. */
    private static int open(Path path) throws SocketException {
        for (;;) {
            int file = FileLib.LIB.open(path.toString(), O_RDONLY | O_CLOEXEC);
            if (file >= 0) return file;
            int e = Native.errno();
            if (e != Native.EINTR)
                throw new SocketException(OP, SocketException.Kind.INVALID, e, null,
                                          OP + ": cannot open " + path + " for reading - " + Native.message(e), null);
        }
    }

    // ---------------------------------------------------------------- sendfile(2)

    private static long sendfile(Waiting w, int fdn, FdSource src, long offset, long left, long timeoutMs) throws SocketException {
        Mem m = MEM.get();
        FileLib lib = FileLib.LIB;
        lib.sigemptyset(m.set);
        lib.sigaddset(m.set, SIGPIPE);
        if (lib.pthread_sigmask(SIG_BLOCK, m.set, m.old) != 0) return copy(w, fdn, src, offset, left, timeoutMs);
        long sent = 0;
        boolean failed = true;
        try {
            while (sent < left) {
                long at = offset + sent;
                long n = Math.min(Math.min(left - sent, MAX_CHUNK), Long.MAX_VALUE - at);
                if (n == 0) break;
                long r;
                try {
                    r = w.run(fdn, SENDFILE, OP, timeoutMs, false, null, null, (f, nw) -> {
                        m.off.putLong(0, at);
                        return lib.sendfile(f, src.fd, m.off, n);
                    });
                } catch (SocketException e) {
                    if (!refused(e)) throw e;
                    sent += copy(w, fdn, src, at, left - sent, timeoutMs); // the file or socket sendfile will not take
                    break;
                }
                if (r == 0) break; // the file's end
                sent += r;
            }
            failed = false;
            return sent;
        } finally {
            // a SIGPIPE raised by sendfile is pending on this thread: take it before unblocking
            if (failed) { while (lib.sigtimedwait(m.set, null, zeroTimespec(m)) < 0 && Native.errno() == Native.EINTR) { } }
            lib.pthread_sigmask(SIG_SETMASK, m.old, null);
        }
    }

    private static Pointer zeroTimespec(Mem m) {
        m.zero.putLong(0, 0);
        m.zero.putLong(8, 0);
        return m.zero;
    }

    /** True when sendfile said it does not take this file or socket (the read+send way does). */
    private static boolean refused(SocketException e) {
        int n = e.errno();
        return e.kind() != SocketException.Kind.CLOSED && n != 0
            && (n == Native.EINVAL || n == ESPIPE || n == ENOSYS || n == EOPNOTSUPP || n == ENOTSUP);
    }

    // ---------------------------------------------------------------- read + send

    /** Where the read+send way reads: {@link #read} fills {@code buf} (position 0) with up to {@code want} bytes from {@code at}; -1 at the end. */
    private abstract static class Source {
        abstract int read(ByteBuffer buf, int want, long at) throws SocketException;
    }

    /** A file this library opened: pread(2), or read(2) for one that cannot seek (a FIFO), skipping to the offset. */
    private static final class FdSource extends Source {
        final int fd;
        final Path path;
        boolean sequential;
        long readSoFar;
        FdSource(int fd, Path path) { this.fd = fd; this.path = path; }

        @Override int read(ByteBuffer buf, int want, long at) throws SocketException {
            if (!sequential) {
                long r = retry(() -> FileLib.LIB.pread(fd, buf, want, at));
                if (r != -2) return (int) r;
                sequential = true; // ESPIPE: nothing was read yet
            }
            while (readSoFar < at) { // skip to the offset
                long r = retry(() -> FileLib.LIB.read(fd, buf, (int) Math.min(want, at - readSoFar)));
                if (r < 0) return -1;
                readSoFar += r;
            }
            long r = retry(() -> FileLib.LIB.read(fd, buf, want));
            if (r > 0) readSoFar += r;
            return (int) r;
        }

        /** The call's count, -1 at the end (0 bytes), -2 for ESPIPE; retries EINTR. */
        private long retry(java.util.function.LongSupplier call) throws SocketException {
            for (;;) {
                long r = call.getAsLong();
                if (r > 0) return r;
                if (r == 0) return -1;
                int e = Native.errno();
                if (e == Native.EINTR) continue;
                if (e == ESPIPE && !sequential) return -2;
                if (e == EISDIR) throw SocketException.invalid(OP, OP + ": " + path + " is a directory, not a file");
                throw SocketException.fromErrno(OP, e, "cannot read file " + path, null);
            }
        }
    }

    /** A caller's FileChannel: positional reads (its position is not changed; it is not closed). */
    private static final class ChannelSource extends Source {
        final FileChannel ch;
        ChannelSource(FileChannel ch) { this.ch = ch; }

        @Override int read(ByteBuffer buf, int want, long at) throws SocketException {
            try {
                return ch.read(buf.limit(want), at);
            } catch (NonReadableChannelException e) {
                throw SocketException.invalid(OP, OP + ": the FileChannel is not open for reading");
            } catch (ClosedByInterruptException e) {
                throw SocketException.interrupted(OP, "reading the file"); // NIO closed the channel and set the interrupt status
            } catch (IOException e) {
                SocketException se = SocketException.fatal(OP, "cannot read the file channel - " + e.getMessage());
                se.initCause(e);
                throw se;
            }
        }
    }

    /**
     * Reads {@code source} from {@code offset} up to {@code left} bytes or its end, chunk by
     * chunk, sending all of each chunk before the next read; returns the bytes sent.
     */
    private static long copy(Waiting w, int fdn, Source source, long offset, long left, long timeoutMs) throws SocketException {
        ByteBuffer buf = Scratch.get().io(Scratch.IO_MAX);
        long sent = 0;
        while (sent < left) {
            int want = (int) Math.min(Scratch.IO_MAX, left - sent);
            if (offset > Long.MAX_VALUE - sent) break;
            buf.clear();
            int r = source.read(buf, want, offset + sent);
            if (r <= 0) break;
            int done = 0;
            while (done < r) {
                ByteBuffer b = buf.duplicate().position(done).limit(r);
                int len = r - done;
                done += (int) w.run(fdn, Waiting.SEND, OP, timeoutMs, false, null, null,
                                    (f, nw) -> Native.LIBC.send(f, b, len, Native.MSG_NOSIGNAL | nw));
            }
            sent += r;
        }
        return sent;
    }
}
