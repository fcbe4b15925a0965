package sockets.impl;

import java.nio.ByteBuffer;
import sockets.SocketException;

/**
 * The one buffer preparation of the library: turns what a caller passes (a byte array region,
 * a heap or direct ByteBuffer, read-only, sliced, at any offset) into a ByteBuffer a native
 * call takes, shared by the blocking calls and the event loop. None of these changes the
 * caller's position or limit; every check fails with {@code :invalid} before anything native
 * runs.
 *
 * <p>What a native call takes: a direct buffer (passed by address) or a heap buffer with an
 * accessible array (passed through its array, or copied through the thread's
 * {@link Scratch#io} buffer, see {@link Native#LIBC}). A read-only heap buffer exposes no
 * array, so a send copies it ({@link #forSend}); a receive into a read-only buffer is refused
 * ({@link #forReceive}).
 */
public final class Buffers {
    private Buffers() {}

    /**
     * Checks {@code [start, end)} within a buffer of {@code length} bytes; returns
     * {@code end - start}.
     * @throws SocketException {@code :invalid} for a negative index, start after end, or end
     *         beyond the length
     */
    public static int checkRange(String op, long length, long start, long end) throws SocketException {
        if (start < 0 || end < 0) throw SocketException.invalid(op, "start and end must not be negative (start " + start + ", end " + end + ")");
        if (start > end) throw SocketException.invalid(op, "start " + start + " is after end " + end);
        if (end > length) throw SocketException.invalid(op, "end " + end + " is beyond the buffer's length " + length);
        return (int) (end - start);
    }

    /**
     * A heap ByteBuffer over {@code buf[start, end)} (position 0, limit {@code end - start});
     * writes through it land in {@code buf}.
     * @throws SocketException {@code :invalid} for a null array or a bad range
     */
    public static ByteBuffer view(String op, byte[] buf, long start, long end) throws SocketException {
        if (buf == null) throw SocketException.invalid(op, "buffer is required");
        int n = checkRange(op, buf.length, start, end);
        return ByteBuffer.wrap(buf, (int) start, n).slice();
    }

    /**
     * A view of the absolute range {@code [start, end)} of {@code buf} (within its limit),
     * sharing its content; {@code buf}'s position and limit are not changed.
     * @throws SocketException {@code :invalid} for a null buffer or a bad range
     */
    public static ByteBuffer view(String op, ByteBuffer buf, long start, long end) throws SocketException {
        if (buf == null) throw SocketException.invalid(op, "buffer is required");
        checkRange(op, buf.limit(), start, end);
        return buf.duplicate().position((int) start).limit((int) end).slice();
    }

    /** True when a native call can take {@code buf} as it is (direct, or a heap buffer with an accessible array). */
    public static boolean takesAsIs(ByteBuffer buf) { return buf.isDirect() || buf.hasArray(); }

    /**
     * The bytes to send, for a caller that may keep them (a write queued on the event loop):
     * {@code buf} itself (its remaining bytes) when a native call can take it, else (a
     * read-only heap buffer, or any other buffer without an array) a new direct buffer holding
     * a copy of its remaining bytes, position 0, owned by the caller. {@code buf} is not changed.
     * @throws SocketException {@code :invalid} for a null buffer
     */
    public static ByteBuffer forSend(String op, ByteBuffer buf) throws SocketException {
        if (buf == null) throw SocketException.invalid(op, "buffer is required");
        if (takesAsIs(buf)) return buf;
        int n = buf.remaining();
        return ByteBuffer.allocateDirect(n).put(0, buf, buf.position(), n);
    }

    /**
     * {@link #forSend} for a send made at once on this thread: a copy of at most
     * {@link Scratch#IO_MAX} bytes is this thread's {@link Scratch#io} buffer (no allocation),
     * valid only until this thread's next library call; a larger one is a new direct buffer.
     * @throws SocketException {@code :invalid} for a null buffer
     */
    public static ByteBuffer forSendNow(String op, ByteBuffer buf) throws SocketException {
        if (buf == null) throw SocketException.invalid(op, "buffer is required");
        if (takesAsIs(buf)) return buf;
        int n = buf.remaining();
        if (n > Scratch.IO_MAX) return forSend(op, buf);
        return Scratch.get().io(n).put(0, buf, buf.position(), n);
    }

    /**
     * The buffer to receive into: {@code buf} itself, whose remaining bytes the call fills from
     * its position.
     * @throws SocketException {@code :invalid} for a null or read-only buffer
     */
    public static ByteBuffer forReceive(String op, ByteBuffer buf) throws SocketException {
        if (buf == null) throw SocketException.invalid(op, "buffer is required");
        if (buf.isReadOnly()) throw SocketException.invalid(op, "cannot receive into a read-only buffer");
        return buf;
    }
}
