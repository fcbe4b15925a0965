package sockets;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Writer;
import java.lang.ref.WeakReference;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.Charset;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;
import jnr.constants.platform.Shutdown;
import sockets.impl.Native;

/**
 * The egg's socket i/o ports: an {@link Input} ({@link InputStream}) and an {@link Output}
 * ({@link OutputStream}) over one connected stream or datagram {@link Socket}, made by
 * {@link #open}. The parameters (buffer sizes, chunk size, timeouts) are captured in a
 * {@link Config} when the ports are created.
 *
 * <ul>
 * <li>Input is always buffered in a buffer of {@code receiveBufferSize} bytes; whenever it is
 * empty, one receive of up to that many bytes refills it (on a datagram socket: one datagram,
 * truncated to the buffer; the rest of that datagram is lost). A read of at least that many
 * bytes into an empty buffer receives straight into the caller's array, on a stream socket
 * as many bytes as it asked for.</li>
 * <li>Output is unbuffered when {@code sendBufferSize} is 0: each write goes out at once with
 * {@link Socket#sendAll}. Otherwise bytes collect in a buffer of {@code sendBufferSize} and only
 * whole multiples of that size are sent, in one {@code sendAll} per write, the rest kept (500
 * buffered + 526 written with a 512-byte buffer: 1024 sent, 2 kept); {@link Output#flush}
 * sends what is buffered. {@code sendAll} divides what it sends into chunks of
 * {@code sendSize} bytes (0: no limit), one send(2) per chunk, one datagram per chunk on a
 * datagram socket.</li>
 * <li>Closing the input shuts down the read side (SHUT_RD; stream sockets only, see
 * {@link Input#close}), closing the output flushes and shuts down the write side (SHUT_WR); a
 * port marked {@link Port#abandon abandoned} skips its shutdown. The socket is closed once both
 * ports are closed.</li>
 * </ul>
 *
 * <p>Each port is meant for one thread at a time; {@link Input#close} may be called from
 * another thread to wake a reader blocked on a stream socket (it sees end of stream).
 */
public final class SocketPorts {
    /** The operation named in this class's errors. */
    static final String OP = "socket-io-ports";

    private static final int SHUT_RD = Shutdown.SHUT_RD.intValue();
    private static final int SHUT_WR = Shutdown.SHUT_WR.intValue();

    /** Pairs handed out by {@link #shared}, by socket; the pairs are held weakly. */
    private static final Map<Socket, WeakReference<SocketPorts>> SHARED = new WeakHashMap<>();

    private final Socket socket;
    private final Config config;
    private final Input input;
    private final Output output;
    private int open = 2; // guarded by this

    private SocketPorts(Socket socket, Config config) {
        this.socket = socket;
        this.config = config;
        this.input = new Input(this);
        this.output = new Output(this);
    }

    /**
     * Returns a new pair of ports over {@code socket} (the egg's {@code socket-i/o-ports}),
     * with the parameters in {@code config}. Does not block.
     * @throws SocketException {@code :invalid} when an argument is null, {@code :closed} when
     *         the socket is closed
     */
    public static SocketPorts open(Socket socket, Config config) throws SocketException {
        if (socket == null) throw SocketException.invalid(OP, "socket is required");
        if (config == null) throw SocketException.invalid(OP, "config is required");
        if (socket.isClosed()) throw socket.fd().closed(OP);
        return new SocketPorts(socket, config);
    }

    /**
     * Returns the socket's shared pair of ports, creating it with {@code config} when the socket
     * has none that is still open (clojure.java.io's {@code input-stream} and
     * {@code output-stream} on a socket use this, so that a reader and a writer made separately
     * are the two halves of one pair). {@code config} is ignored when the pair already exists.
     * The pair is forgotten once both its ports are closed, or when nothing else refers to it.
     * @throws SocketException as {@link #open}
     */
    public static SocketPorts shared(Socket socket, Config config) throws SocketException {
        synchronized (SHARED) {
            WeakReference<SocketPorts> ref = SHARED.get(socket);
            SocketPorts p = ref == null ? null : ref.get();
            if (p != null && !p.isClosed()) return p;
            p = open(socket, config);
            SHARED.put(socket, new WeakReference<>(p));
            return p;
        }
    }

    /** The input port. */
    public Input input() { return input; }
    /** The output port. */
    public Output output() { return output; }
    /** The socket both ports are over. */
    public Socket socket() { return socket; }
    /** The parameters captured when the ports were created. */
    public Config config() { return config; }

    /** True once both ports are closed. */
    public synchronized boolean isClosed() { return open == 0; }

    /** One port closed: when it was the second, forget the pair and close the socket. */
    private void portClosed() throws SocketException {
        boolean last;
        synchronized (this) { last = --open == 0; }
        if (!last) return;
        synchronized (SHARED) {
            WeakReference<SocketPorts> ref = SHARED.get(socket);
            if (ref != null && ref.get() == this) SHARED.remove(socket);
        }
        socket.close();
    }

    /** shutdown(2) unless the socket is already closed (then there is nothing to shut down). */
    private void shutdown(int how) throws SocketException {
        try {
            socket.shutdown(how);
        } catch (SocketException e) {
            if (e.kind() != SocketException.Kind.CLOSED) throw e;
        }
    }

    /** Closes a port's side: shutdown unless abandoned, then count it closed, even if shutdown failed. */
    private void closeSide(int how, boolean abandoned) throws SocketException {
        try {
            if (!abandoned) shutdown(how);
        } finally {
            portClosed();
        }
    }

    // ---------------------------------------------------------------- config

    /**
     * The egg's port parameters, captured when ports are created. Immutable; start from
     * {@link #DEFAULTS} (the egg's defaults) and change fields with the {@code with} methods.
     */
    public static final class Config {
        /** receive buffer 4096, unbuffered output, send size 16384, timeouts 60000 ms. */
        public static final Config DEFAULTS = new Config(4096, 0, 16384, 60_000, 60_000);

        /**
         * The largest receive or send buffer size, 64 MiB (each pair of ports allocates its
         * buffers up front, so a size is capped before anything is allocated).
         */
        public static final int MAX_BUFFER_SIZE = 64 << 20;

        private final int receiveBufferSize, sendBufferSize, sendSize;
        private final long receiveTimeoutMs, sendTimeoutMs;

        private Config(int receiveBufferSize, int sendBufferSize, int sendSize, long receiveTimeoutMs, long sendTimeoutMs) {
            this.receiveBufferSize = receiveBufferSize;
            this.sendBufferSize = sendBufferSize;
            this.sendSize = sendSize;
            this.receiveTimeoutMs = receiveTimeoutMs;
            this.sendTimeoutMs = sendTimeoutMs;
        }

        /**
         * Returns a config whose input buffer holds {@code n} bytes (the egg's
         * {@code socket-receive-buffer-size}); input buffering cannot be disabled.
         * @throws SocketException {@code :invalid} unless n is 1 to {@link #MAX_BUFFER_SIZE}
         */
        public Config withReceiveBufferSize(int n) throws SocketException {
            if (n <= 0 || n > MAX_BUFFER_SIZE)
                throw SocketException.invalid(OP, "receive buffer size must be 1 to " + MAX_BUFFER_SIZE + ", not " + n);
            return new Config(n, sendBufferSize, sendSize, receiveTimeoutMs, sendTimeoutMs);
        }

        /**
         * Returns a config whose output buffer holds {@code n} bytes (the egg's
         * {@code socket-send-buffer-size}); 0 means unbuffered (the egg's #f).
         * @throws SocketException {@code :invalid} unless n is 0 to {@link #MAX_BUFFER_SIZE}
         */
        public Config withSendBufferSize(int n) throws SocketException {
            if (n < 0 || n > MAX_BUFFER_SIZE)
                throw SocketException.invalid(OP, "send buffer size must be 0 to " + MAX_BUFFER_SIZE + ", not " + n);
            return new Config(receiveBufferSize, n, sendSize, receiveTimeoutMs, sendTimeoutMs);
        }

        /**
         * Returns a config whose output is sent in chunks of at most {@code n} bytes (the egg's
         * {@code socket-send-size}); 0 means no limit (the egg's #f).
         * @throws SocketException {@code :invalid} when n is negative
         */
        public Config withSendSize(int n) throws SocketException {
            if (n < 0) throw SocketException.invalid(OP, "send size must not be negative, not " + n);
            return new Config(receiveBufferSize, sendBufferSize, n, receiveTimeoutMs, sendTimeoutMs);
        }

        /** Returns a config with the receive timeout {@code ms} (negative: never time out). */
        public Config withReceiveTimeout(long ms) {
            return new Config(receiveBufferSize, sendBufferSize, sendSize, ms, sendTimeoutMs);
        }

        /** Returns a config with the send timeout {@code ms} (negative: never time out). */
        public Config withSendTimeout(long ms) {
            return new Config(receiveBufferSize, sendBufferSize, sendSize, receiveTimeoutMs, ms);
        }

        /** The input buffer's size in bytes. */
        public int receiveBufferSize() { return receiveBufferSize; }
        /** The output buffer's size in bytes; 0 when output is unbuffered. */
        public int sendBufferSize() { return sendBufferSize; }
        /** The largest chunk given to one send(2); 0 when unlimited. */
        public int sendSize() { return sendSize; }
        /** The receive timeout in ms; negative: none. */
        public long receiveTimeoutMs() { return receiveTimeoutMs; }
        /** The send timeout in ms (per chunk); negative: none. */
        public long sendTimeoutMs() { return sendTimeoutMs; }

        /** The five values, for display. */
        @Override
        public String toString() {
            return "Config{receiveBufferSize=" + receiveBufferSize + ", sendBufferSize=" + sendBufferSize
                + ", sendSize=" + sendSize + ", receiveTimeoutMs=" + receiveTimeoutMs
                + ", sendTimeoutMs=" + sendTimeoutMs + "}";
        }
    }

    // ---------------------------------------------------------------- ports

    /** What every socket port (streams, readers and writers made over them) offers. */
    public interface Port {
        /** The socket this port is over (the egg's {@code socket-i/o-port->socket}). */
        Socket socket();

        /**
         * Marks the port abandoned (the egg's {@code socket-abandon-port}): closing it will not
         * shut down its side of the connection. The socket is still closed once both ports are.
         */
        void abandon();

        /** True once {@link #abandon} has been called. */
        boolean isAbandoned();
    }

    /**
     * The input port. {@link #read(byte[], int, int)} returns bytes from the buffer when it has
     * any (never waiting for more); when the buffer is empty it makes one receive of up to
     * {@code receiveBufferSize} bytes, waiting up to the receive timeout ({@code :timeout}).
     *
     * <p>End of stream (-1) is a receive of 0 bytes on a stream or seqpacket socket; it is not
     * remembered, so a later read receives again. On a datagram socket a zero-length datagram
     * is not end of stream: read skips it and waits for the next datagram, within the same
     * timeout; a datagram socket's input never ends (close the port or the socket to stop).
     */
    public static final class Input extends InputStream implements Port {
        private final SocketPorts ports;
        private final byte[] buf;
        private final boolean eofOnEmpty;
        private int pos, lim;
        private volatile boolean closed, abandoned;

        Input(SocketPorts ports) {
            this.ports = ports;
            this.buf = new byte[ports.config.receiveBufferSize];
            int type = ports.socket.type();
            this.eofOnEmpty = type == Native.SOCK_STREAM || type == Native.SOCK_SEQPACKET;
        }

        @Override public Socket socket() { return ports.socket; }
        @Override public void abandon() { abandoned = true; }
        @Override public boolean isAbandoned() { return abandoned; }
        /** The pair this port belongs to. */
        public SocketPorts ports() { return ports; }

        private void ensureOpen() throws SocketException {
            if (closed) throw SocketException.closed(OP, "input port is closed");
        }

        /**
         * One receive into {@code dst[off, off+n)} following the rules above; returns the count,
         * or 0 at end of stream.
         */
        private int receive(byte[] dst, int off, int n) throws SocketException {
            long timeout = ports.config.receiveTimeoutMs;
            if (eofOnEmpty) return ports.socket.receive(dst, off, off + n, 0, timeout);
            long deadline = Socket.deadline(timeout);
            for (;;) {
                int got = ports.socket.receive(dst, off, off + n, 0, timeout);
                if (got > 0) return got;
                ensureOpen(); // closed by another thread while waiting
                if (timeout >= 0) {
                    timeout = (deadline - System.nanoTime()) / 1_000_000L;
                    if (timeout <= 0)
                        throw SocketException.timeout("socket-receive!", "recv", ports.config.receiveTimeoutMs, null);
                }
            }
        }

        /** Returns the next byte (0-255), or -1 at end of stream. Blocks as described above. */
        @Override
        public int read() throws IOException {
            ensureOpen();
            if (pos >= lim) {
                pos = 0;
                lim = receive(buf, 0, buf.length);
                if (lim == 0) return -1;
            }
            return buf[pos++] & 0xff;
        }

        /**
         * Reads up to {@code len} bytes into {@code b[off, off+len)}: from the buffer when it holds
         * any, else after one receive. Returns the count, 0 only when {@code len} is 0, or -1 at end
         * of stream.
         */
        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            ensureOpen();
            if (len == 0) return 0;
            if (pos >= lim) {
                if (len >= buf.length) {
                    // one receive straight into the caller's array: of all it asked for on a byte
                    // stream (what arrives is the same, in fewer calls: BufferedInputStream does
                    // this too); of buf.length bytes on a datagram or seqpacket socket, whose
                    // messages are cut to the buffer size
                    int n = receive(b, off, ports.socket.type() == Native.SOCK_STREAM ? len : buf.length);
                    return n == 0 ? -1 : n;
                }
                pos = 0;
                lim = receive(buf, 0, buf.length);
                if (lim == 0) return -1;
            }
            int n = Math.min(len, lim - pos);
            System.arraycopy(buf, pos, b, off, n);
            pos += n;
            return n;
        }

        /** Returns the number of bytes in the buffer (readable without blocking). */
        @Override
        public int available() throws IOException {
            ensureOpen();
            return lim - pos;
        }

        /**
         * Closes the port: unless abandoned, shuts down the read side; when the output port is
         * closed too, closes the socket. Closing again does nothing. Does not block. A thread
         * blocked reading a stream socket wakes and sees end of stream.
         *
         * <p>On a datagram socket the read side is never shut down (as if abandoned): shutting
         * it down has no effect the peer can see, and on Linux it leaves the socket reporting
         * readable while recv(2) says it would block, so any receive still waiting on it would
         * spin until its timeout.
         */
        @Override
        public void close() throws IOException {
            synchronized (this) {
                if (closed) return;
                closed = true;
            }
            ports.closeSide(SHUT_RD, abandoned || !eofOnEmpty);
        }

        /** Prints as {@code #<input port #<socket ...>>}. */
        @Override
        public String toString() { return "#<input port " + ports.socket + ">"; }
    }

    /**
     * The output port. Unbuffered ({@code sendBufferSize} 0), each write is sent at once with one
     * {@link Socket#sendAll}; buffered, bytes collect until the buffer's size is reached and then
     * the largest whole multiple of that size is sent in one {@code sendAll}, the rest kept.
     * Writes block until sent, each chunk waiting up to the send timeout ({@code :timeout}). When
     * a send fails, that write's bytes are not kept (some may have been sent) and the buffer is
     * left as it was before the write.
     *
     * <p>Writes, flush and close are serialised: closing the port while another thread is
     * blocked writing waits for that write; to abort it, close the socket.
     */
    public static final class Output extends OutputStream implements Port {
        private final SocketPorts ports;
        private final byte[] buf; // null when unbuffered
        private int count;
        private volatile boolean closed, abandoned;

        Output(SocketPorts ports) {
            this.ports = ports;
            int n = ports.config.sendBufferSize;
            this.buf = n > 0 ? new byte[n] : null;
        }

        @Override public Socket socket() { return ports.socket; }
        @Override public void abandon() { abandoned = true; }
        @Override public boolean isAbandoned() { return abandoned; }
        /** The pair this port belongs to. */
        public SocketPorts ports() { return ports; }
        /** The number of bytes buffered, not yet sent. */
        public synchronized int buffered() { return count; }

        private void ensureOpen() throws SocketException {
            if (closed) throw SocketException.closed(OP, "output port is closed");
        }

        private void send(byte[] b, int start, int end) throws SocketException {
            ports.socket.sendAll(b, start, end, 0, ports.config.sendSize, ports.config.sendTimeoutMs);
        }

        /** Writes one byte, by the rules above. */
        @Override
        public void write(int b) throws IOException {
            synchronized (this) {
                if (buf != null && count + 1 < buf.length && !closed) { // stays below one block
                    buf[count++] = (byte) b;
                    return;
                }
            }
            write(new byte[] {(byte) b}, 0, 1);
        }

        /** Writes {@code b[off, off+len)}, by the rules above; blocks while sending. */
        @Override
        public synchronized void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            ensureOpen();
            if (len == 0) return;
            if (buf == null) { send(b, off, off + len); return; }
            int size = buf.length;
            long total = (long) count + len;
            if (total < size) {
                System.arraycopy(b, off, buf, count, len);
                count += len;
                return;
            }
            int keep = (int) (total % size);
            int fromB = len - keep; // bytes of b that go out now
            if (count == 0) {
                send(b, off, off + fromB);
            } else {
                // one sendAll over buffer + new bytes, so that chunks are cut as the egg cuts them
                byte[] all = new byte[count + fromB];
                System.arraycopy(buf, 0, all, 0, count);
                System.arraycopy(b, off, all, count, fromB);
                send(all, 0, all.length);
            }
            System.arraycopy(b, off + fromB, buf, 0, keep);
            count = keep;
        }

        /** Sends whatever is buffered (one {@code sendAll}); blocks while sending. */
        @Override
        public synchronized void flush() throws IOException {
            ensureOpen();
            flushBuffer();
        }

        private void flushBuffer() throws SocketException {
            if (count > 0) {
                send(buf, 0, count);
                count = 0;
            }
        }

        /**
         * Closes the port: sends what is buffered, then, unless abandoned, shuts down the write
         * side; when the input port is closed too, closes the socket. The port is closed even if
         * the flush fails (its error is thrown). Closing again does nothing.
         */
        @Override
        public void close() throws IOException {
            synchronized (this) {
                if (closed) return;
                closed = true;
                try {
                    flushBuffer();
                } finally {
                    count = 0;
                    ports.closeSide(SHUT_WR, abandoned);
                }
            }
        }

        /** Prints as {@code #<output port #<socket ...>>}. */
        @Override
        public String toString() { return "#<output port " + ports.socket + ">"; }
    }

    // ---------------------------------------------------------------- character ports

    /**
     * A {@link BufferedReader} over an {@link Input} (what clojure.java.io's {@code reader} gives
     * for a socket), so that {@code line-seq} works and the port can be found again. Closing it
     * closes the input port.
     */
    public static final class PortReader extends BufferedReader implements Port {
        private final Input in;

        /** A reader decoding {@code in} with {@code charset} (malformed input is replaced). */
        public PortReader(Input in, Charset charset) {
            super(new InputStreamReader(in, charset));
            this.in = in;
        }

        /** The input port underneath. */
        public Input port() { return in; }

        /**
         * Closes the input port first (without the reader's lock, so that a thread blocked in
         * {@code readLine} on a stream socket wakes), then the reader.
         */
        @Override
        public void close() throws IOException {
            try {
                in.close();
            } finally {
                super.close();
            }
        }
        @Override public Socket socket() { return in.socket(); }
        @Override public void abandon() { in.abandon(); }
        @Override public boolean isAbandoned() { return in.isAbandoned(); }
    }

    /**
     * A {@link Writer} over an {@link Output} (what clojure.java.io's {@code writer} gives for a
     * socket). It adds no buffering of its own: each write call's characters are encoded and
     * handed to the output port in one write, so the port's rules decide what is sent and when
     * (unbuffered: at once). Only an unpaired high surrogate at the end of a write waits for the
     * next write. Closing it closes the output port.
     */
    public static final class PortWriter extends Writer implements Port {
        private final Output out;
        private final CharsetEncoder encoder;
        private char[] pending = new char[0]; // an unfinished surrogate pair's first half

        /** A writer encoding with {@code charset} into {@code out} (unmappable input is replaced). */
        public PortWriter(Output out, Charset charset) {
            this.out = out;
            this.encoder = charset.newEncoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
        }

        /** The output port underneath. */
        public Output port() { return out; }
        @Override public Socket socket() { return out.socket(); }
        @Override public void abandon() { out.abandon(); }
        @Override public boolean isAbandoned() { return out.isAbandoned(); }

        private void encode(CharBuffer in, boolean end) throws IOException {
            ByteBuffer bb = ByteBuffer.allocate((int) Math.min(Integer.MAX_VALUE - 16,
                (long) Math.ceil(in.remaining() * (double) encoder.maxBytesPerChar()) + 16));
            for (;;) {
                CoderResult r = encoder.encode(in, bb, end);
                if (r.isUnderflow() && end) r = encoder.flush(bb);
                if (r.isUnderflow()) break;
                if (r.isOverflow()) {
                    ByteBuffer bigger = ByteBuffer.allocate(bb.capacity() * 2);
                    bb.flip();
                    bigger.put(bb);
                    bb = bigger;
                } else {
                    r.throwException();
                }
            }
            pending = new char[in.remaining()];
            in.get(pending);
            if (bb.position() > 0) out.write(bb.array(), 0, bb.position());
        }

        /** Encodes {@code cbuf[off, off+len)} and writes the bytes to the output port in one write. */
        @Override
        public void write(char[] cbuf, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, cbuf.length);
            synchronized (lock) {
                CharBuffer in;
                if (pending.length == 0) in = CharBuffer.wrap(cbuf, off, len);
                else {
                    char[] joined = new char[pending.length + len];
                    System.arraycopy(pending, 0, joined, 0, pending.length);
                    System.arraycopy(cbuf, off, joined, pending.length, len);
                    in = CharBuffer.wrap(joined);
                }
                encode(in, false);
            }
        }

        /** Flushes the output port (sends what it buffers). */
        @Override
        public void flush() throws IOException {
            synchronized (lock) { out.flush(); }
        }

        /** Writes any pending half surrogate (as a replacement), then closes the output port. */
        @Override
        public void close() throws IOException {
            synchronized (lock) {
                if (out.closed) return;
                try {
                    encode(CharBuffer.wrap(pending), true);
                } finally {
                    out.close();
                }
            }
        }
    }
}
