package sockets;

import clojure.lang.Keyword;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import sockets.impl.Fd;
import sockets.impl.FlowAccept;
import sockets.impl.FlowConnect;
import sockets.impl.FlowDatagramRead;
import sockets.impl.FlowStreamRead;
import sockets.impl.FlowWrite;
import sockets.impl.LoopAddresses;
import sockets.impl.LoopConnectAny;
import sockets.impl.LoopCore;
import sockets.impl.LoopSockets;
import sockets.impl.Native;

/**
 * One thread that serves many non-blocking sockets: epoll (level-triggered) on Linux, poll(2)
 * elsewhere. This class is the public face; the loop is {@link LoopCore} (thread, task queue,
 * waker, poller, timer sweep) and each kind of registration is a small class of its own
 * ({@link FlowStreamRead}, {@link FlowDatagramRead}, {@link FlowAccept}, {@link FlowWrite},
 * {@link FlowConnect}). Blocked threads do not wait here: virtual threads park on
 * {@link sockets.impl.Parker}.
 *
 * <h2>Threading</h2>
 * The loop owns one daemon thread, started lazily by the first registration and ended by
 * {@link #stop}. Other threads never touch its state: every public method hands the loop a
 * task through a concurrent queue and wakes it only when it sleeps in its wait. The one
 * shortcut: {@link Flow#tryWrite} sends on the calling thread while the loop sleeps. <b>Every
 * handler callback runs on the loop thread</b> and must not block; the one exception: when a
 * registration reaches a loop that is already stopped, its {@code onError} runs on the thread
 * that registered (or that stopped the loop).
 *
 * <h2>Flows and fds</h2>
 * Each registration is a {@link Flow}. A socket can have one reading flow (receive,
 * receiveFrom or accept) and one writing flow (send) at a time. While a socket has a flow, the
 * loop holds an {@link Fd#acquire acquisition} of its fd, so closing the socket never frees the
 * number under the loop: the loop notices the close (at the next event on it, or within
 * {@link #SWEEP_MS} ms), fails its flows with {@code :closed}, unregisters the fd, and only then
 * releases it.
 *
 * <h2>Backpressure</h2>
 * A read handler returns false from {@code onItem} to pause its flow until {@link Flow#resume};
 * a writing flow holds one buffer at a time, the next given only after {@code onWritten}.
 *
 * <h2>Errors</h2>
 * Every failure reaches a handler's {@code onError} as a {@link SocketException}, then the flow
 * ends. A handler that throws fails every flow of its socket ({@code :fatal}, the throwable as
 * cause); the loop goes on. A failure of the loop itself reaches every registered flow as a
 * {@code :fatal} error. Every class the loop needs is loaded before its first event, so the
 * loop survives running out of file descriptors at any point.
 */
public final class EventLoop {
    /** How often the loop looks for closed sockets, timeouts and closed consumers, in ms. */
    public static final int SWEEP_MS = LoopCore.SWEEP_MS;
    /** The largest {@link Options#maxChunk}. */
    public static final int MAX_CHUNK = 16 << 20;
    /** The default stagger delay of {@link #connectHappy}, in ms (RFC 8305's recommended 250). */
    public static final long HAPPY_DELAY_MS = 250;

    /** The life of a loop. */
    public enum State {
        /** Created, thread not started yet. */ NEW,
        /** The thread is serving. */ RUNNING,
        /** {@link #stop} was called (or the loop failed); flows are being failed. */ STOPPING,
        /** The thread has ended; registrations fail at once with {@code :closed}. */ STOPPED;

        /** The keyword for Clojure ({@code :running}, ...). */
        public Keyword keyword() { return Keyword.intern(null, name().toLowerCase()); }
    }

    /**
     * Callbacks of a reading flow. All run on the loop thread and must not block.
     * @param <T> {@code byte[]} for {@link #receive}, {@link Datagram} for {@link #receiveFrom},
     *            {@link Socket} for {@link #accept}
     */
    public interface ReadHandler<T> {
        /**
         * An item arrived. Returns true to keep reading, false to pause the flow until
         * {@link Flow#resume}. An accepted socket belongs to the handler from here on (if this
         * throws, the loop closes it).
         */
        boolean onItem(Flow flow, T item);
        /** The peer closed its side (stream EOF, or a datagram socket shut down for reading); the flow has ended. */
        void onEnd(Flow flow);
        /** The flow failed and has ended. */
        void onError(Flow flow, SocketException e);
        /**
         * Polled every {@link #SWEEP_MS} ms, paused or not: false ends the flow quietly (no
         * callback), e.g. because its consumer went away. Must be cheap and must not block.
         */
        default boolean wanted() { return true; }
    }

    /** Callbacks of a writing flow. All run on the loop thread and must not block. */
    public interface WriteHandler {
        /** The buffer given to {@link Flow#write} was sent entirely; the next may be given. */
        void onWritten(Flow flow);
        /** {@link Flow#finish} completed (after the write side was shut down, if asked); the flow has ended. */
        void onEnd(Flow flow);
        /** The flow failed and has ended; a pending buffer may be partly sent. */
        void onError(Flow flow, SocketException e);
    }

    /** Callbacks of a connect. They run on the loop thread and must not block. */
    public interface ConnectHandler {
        /** Connected; the socket belongs to the handler (if this throws, the loop closes it). */
        void onConnected(Socket socket);
        /** Failed; every socket the attempt opened is already closed. */
        void onError(SocketException e);
    }

    /** One received datagram. */
    public static final class Datagram {
        /** The payload (exactly the bytes received). */ public final byte[] data;
        /** The sender, or null when the kernel reported none. */ public final SockAddr from;
        /** Creates a datagram. */
        public Datagram(byte[] data, SockAddr from) { this.data = data; this.from = from; }
    }

    /** One attempt of {@link #connectHappySync(List, long, long, List)}: where, how it ended, when. */
    public static final class Attempt {
        /** The address tried. */ public final SockAddr address;
        /** Why it failed ("abandoned" when another attempt won first), or null for the winner. */ public final String error;
        /** Milliseconds from the start of the whole connect to this attempt's end. */ public final long ms;
        /** True for the winner. */ public final boolean won;
        /** Creates an entry. */
        public Attempt(SockAddr address, String error, long ms, boolean won) {
            this.address = address; this.error = error; this.ms = ms; this.won = won;
        }
    }

    /** Settings of one flow (one object instead of long parameter lists). Read when the flow is registered. */
    public static final class Options {
        private int maxChunk = 65536;
        private long timeoutMs = -1;
        private boolean closeSocket;
        private boolean shutdownOutput;

        /** Defaults: 64 KiB chunks, no timeout, socket left open, no shutdown. */
        public Options() {}

        /**
         * Largest byte count per read (stream: per item; datagram: longer ones are truncated),
         * 1 to {@link #MAX_CHUNK}. Default 65536. Returns this.
         * @throws SocketException {@code :invalid} out of range
         */
        public Options maxChunk(int n) throws SocketException {
            if (n < 1 || n > MAX_CHUNK) throw SocketException.invalid("event-loop", "max chunk must be 1-" + MAX_CHUNK + ", not " + n);
            maxChunk = n; return this;
        }

        /**
         * Idle timeout in ms (negative: none, the default; any long, a huge one meaning
         * practically never): a reading flow that is not paused and gets nothing for this long,
         * a write that makes no progress for this long, or a connect that takes longer fails
         * with {@code :timeout}. Returns this.
         */
        public Options timeoutMs(long ms) { timeoutMs = ms; return this; }

        /** When the flow ends, for any reason, close the socket (its other flow then fails with {@code :closed}). Returns this. */
        public Options closeSocket(boolean b) { closeSocket = b; return this; }

        /** Writing flows: {@link Flow#finish} shuts down the write side (SHUT_WR) before {@code onEnd}. Returns this. */
        public Options shutdownOutput(boolean b) { shutdownOutput = b; return this; }

        /** The largest byte count per read. */
        public int maxChunk() { return maxChunk; }
        /** The idle timeout in ms (negative: none). */
        public long timeoutMs() { return timeoutMs; }
        /** Whether the flow's end closes the socket. */
        public boolean closeSocket() { return closeSocket; }
        /** Whether finishing a writing flow shuts the write side down. */
        public boolean shutdownOutput() { return shutdownOutput; }
    }

    /**
     * A registration of one socket with the loop. Its methods may be called from any thread;
     * they take effect on the loop thread, in order.
     */
    public interface Flow {
        /** The socket (for a connect: null until its socket is open). */
        Socket socket();
        /** The loop serving it. */
        EventLoop loop();
        /** True once the flow has ended (its last callback has been or is being made). */
        boolean isDone();
        /** Bytes this flow has taken off the socket so far. */
        long bytesRead();
        /** Bytes this flow has handed to the kernel so far. */
        long bytesWritten();
        /** Reading flows: resumes reading after {@code onItem} returned false. Any thread; other flows ignore it. */
        void resume();
        /** Ends the flow quietly (no further callbacks). Any thread; idempotent. */
        void cancel();
        /**
         * Writing flows: sends the remaining bytes of {@code buf} (heap, direct or read-only; its
         * position and limit are not changed; do not change its content until
         * {@code onWritten}). One buffer at a time. Any thread.
         * @throws IllegalStateException when the previous buffer is not written yet, or this is not a writing flow
         */
        void write(ByteBuffer buf);
        /**
         * Writing flows: while the loop thread is asleep in its wait, sends the remaining bytes
         * of {@code buf} from the calling thread. Returns true when the kernel took all of it:
         * no {@code onWritten} follows, the next buffer may be given at once. Returns false when
         * the loop finishes the job, as after {@link #write}: {@code onWritten} (or
         * {@code onError}) follows on the loop thread. Never blocks. Any thread.
         * @throws IllegalStateException when the previous buffer is not written yet, or this is not a writing flow
         */
        boolean tryWrite(ByteBuffer buf);
        /**
         * Writing flows: ends the flow after the pending buffer (if any) is sent, shutting down
         * the write side when the flow's options say so; then {@code onEnd}. Any thread.
         * @throws IllegalStateException when this is not a writing flow
         */
        void finish();
    }

    // ---------------------------------------------------------------- the loop

    /** What the loop needs from Socket beyond its public API. */
    private static final LoopSockets SOCKETS = new LoopSockets() {
        @Override
        public Socket adopt(int fdn, Socket listener) throws SocketException {
            try {
                Socket.prepareFd("socket-accept", fdn, Native.SOCK_ATOMIC_FLAGS != 0);
            } catch (SocketException e) {
                Native.LIBC.close(fdn);
                throw e;
            }
            return new Socket(fdn, listener.family(), listener.type(), listener.protocol());
        }

        @Override
        public void leaveBlocking(Socket s) throws SocketException { s.leaveBlockingForLoop(); }
    };

    private final LoopCore core;

    private EventLoop(String name, boolean usePoll) { this.core = new LoopCore(this, name, usePoll, SOCKETS); }

    /**
     * Returns a new loop (not started: its thread starts with the first registration).
     * @param name the thread's name
     * @param usePoll true to use poll(2) even where epoll exists (testing the fallback)
     */
    public static EventLoop create(String name, boolean usePoll) { return new EventLoop(name, usePoll); }

    /** Returns a new loop with the platform's poller (epoll on Linux). */
    public static EventLoop create(String name) { return create(name, false); }

    private static EventLoop shared;

    /**
     * Returns the process-wide loop, creating it if there is none or the last one was
     * stopped. Its thread starts with its first registration.
     */
    public static synchronized EventLoop shared() {
        if (shared == null || shared.state().compareTo(State.STOPPING) >= 0) shared = create("sockets-event-loop");
        return shared;
    }

    /** The loop's state. */
    public State state() { return core.state(); }
    /** True when called on this loop's thread. */
    public boolean inLoop() { return core.inLoop(); }
    /** The count of sockets currently registered (updated by the loop thread). */
    public int registrations() { return core.registrations(); }
    /** Bytes read from all sockets by this loop. */
    public long bytesRead() { return core.bytesRead(); }
    /** Bytes written to all sockets by this loop. */
    public long bytesWritten() { return core.bytesWritten(); }
    /** How many buffers {@link Flow#tryWrite} sent entirely on the calling thread (the loop thread not involved). */
    public long directWrites() { return core.directWrites(); }
    /** How many handler callbacks threw where nothing else could report it (onEnd, onError, tasks). */
    public long handlerErrors() { return core.handlerErrors(); }
    /** The last such throwable, or null. */
    public Throwable lastHandlerError() { return core.lastHandlerError(); }
    /** The poller in use: "epoll" or "poll". */
    public String pollerName() { return core.pollerName(); }

    /**
     * Stops the loop: every registered flow fails with {@code :closed} (sockets are closed only
     * where their flow's options say so), the poller is freed, the thread ends. Returns at once;
     * see {@link #awaitStopped}. Idempotent.
     */
    public void stop() { core.stop(); }

    /** Waits up to {@code timeoutMs} for the thread to end; returns true when it has. Blocks. */
    public boolean awaitStopped(long timeoutMs) throws InterruptedException { return core.awaitStopped(timeoutMs); }

    /** Runs {@code r} on the loop thread (it must not block); dropped if the loop is stopped. */
    public void execute(Runnable r) { core.execute(r); }

    // ---------------------------------------------------------------- registration

    private static <T> T required(T x, String what) {
        if (x == null) throw new IllegalArgumentException(what + " is required");
        return x;
    }

    private <F extends sockets.impl.LoopFlow> F register(F f) {
        core.submit(f);
        return f;
    }

    private static Options opts(Options o) { return o == null ? new Options() : o; }

    /**
     * Registers a reading flow on a stream socket: items are byte arrays of 1 to
     * {@code maxChunk} bytes, in order; {@code onEnd} at EOF. Returns at once.
     */
    public Flow receive(Socket s, Options o, ReadHandler<byte[]> h) {
        return register(new FlowStreamRead(core, required(s, "socket"), opts(o), required(h, "handler")));
    }

    /**
     * Registers a reading flow on a datagram socket: one {@link Datagram} per item; {@code onEnd}
     * when the socket is shut down for reading. Returns at once.
     */
    public Flow receiveFrom(Socket s, Options o, ReadHandler<Datagram> h) {
        return register(new FlowDatagramRead(core, required(s, "socket"), opts(o), required(h, "handler")));
    }

    /**
     * Registers an accepting flow on a listening socket: items are accepted sockets
     * (non-blocking, close-on-exec, owned by the handler). Returns at once.
     */
    public Flow accept(Socket listener, Options o, ReadHandler<Socket> h) {
        return register(new FlowAccept(core, required(listener, "socket"), opts(o), required(h, "handler")));
    }

    /** Registers a writing flow; give it buffers with {@link Flow#write}. Returns at once. */
    public Flow send(Socket s, Options o, WriteHandler h) {
        return register(new FlowWrite(core, required(s, "socket"), opts(o), required(h, "handler")));
    }

    /**
     * Opens a socket of {@code addr}'s family and {@code type} and connects it without blocking
     * (timeout: the options' {@code timeoutMs}). The handler gets the connected socket, or the
     * error (the socket then closed, as the egg does). Returns at once.
     */
    public void connect(SockAddr addr, int type, Options o, ConnectHandler h) {
        register(new FlowConnect(core, required(addr, "address"), type, opts(o), required(h, "handler")));
    }

    /**
     * The egg's {@code socket-connect/ai} without blocking: tries each addrinfo in turn (timeout
     * per address: the options' {@code timeoutMs}); a transient or timeout error tries the
     * next, any other error ends at once. When all fail the handler gets the last error, its
     * message naming every address tried (see {@link LoopAddresses#allFailed}); an empty list
     * gets {@code :invalid}. Returns at once.
     */
    public void connectAny(List<AddrInfo> ais, Options o, ConnectHandler h) {
        startAny("socket-connect/ai", ais, -1, opts(o), null, required(h, "handler"));
    }

    /**
     * Happy eyeballs (RFC 8305) on the loop's non-blocking connects: the addresses interleaved
     * by family (starting with the first's), each next attempt started {@code staggerMs} after
     * the previous one (negative: {@link #HAPPY_DELAY_MS}) or at once when the previous one
     * fails; the first connection wins, every other attempt is abandoned and its socket closed.
     * {@code timeoutMs} bounds each attempt (negative: none but the system's). The handler gets
     * the winner, or, when every attempt failed, the last error naming every address tried
     * ({@code :tried} and {@code :errors} in its ex-data). Returns at once.
     */
    public void connectHappy(List<AddrInfo> ais, long staggerMs, long timeoutMs, ConnectHandler h) {
        connectHappy(ais, staggerMs, timeoutMs, null, h);
    }

    private void connectHappy(List<AddrInfo> ais, long staggerMs, long timeoutMs, List<Attempt> log, ConnectHandler h) {
        startAny("connect-ai-happy", ais, staggerMs < 0 ? HAPPY_DELAY_MS : staggerMs, new Options().timeoutMs(timeoutMs), log, required(h, "handler"));
    }

    /**
     * {@link #connectHappy} for a blocking caller: returns the connected socket (the caller's to
     * close), or throws the error the handler would get. Blocks the calling thread until one
     * attempt wins or all failed; an interrupt throws {@code :interrupted} (a socket that
     * connects later is closed).
     */
    public Socket connectHappySync(List<AddrInfo> ais, long staggerMs, long timeoutMs) throws SocketException {
        return connectHappySync(ais, staggerMs, timeoutMs, null);
    }

    /**
     * {@link #connectHappySync(List, long, long)} that also adds to {@code log} (when not null)
     * one {@link Attempt} per attempt made, in the order tried (an abandoned one says
     * "abandoned"), before it returns or throws. Blocks as that method does.
     */
    public Socket connectHappySync(List<AddrInfo> ais, long staggerMs, long timeoutMs, List<Attempt> log) throws SocketException {
        CompletableFuture<Socket> result = new CompletableFuture<>();
        List<Attempt> entries = new java.util.ArrayList<>();
        connectHappy(ais, staggerMs, timeoutMs, entries, new ConnectHandler() {
            @Override public void onConnected(Socket s) { if (!result.complete(s)) s.closeQuietly(); }
            @Override public void onError(SocketException e) { result.completeExceptionally(e); }
        });
        try {
            Socket s = result.get();
            if (log != null) log.addAll(entries);
            return s;
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            if (!result.cancel(false) && result.isDone() && !result.isCompletedExceptionally()) result.join().closeQuietly();
            throw new SocketException("connect-ai-happy", SocketException.Kind.INTERRUPTED, 0, null, "connect interrupted", null);
        } catch (ExecutionException ee) {
            if (log != null) log.addAll(entries);
            if (ee.getCause() instanceof SocketException) throw (SocketException) ee.getCause();
            throw new SocketException("connect-ai-happy", SocketException.Kind.FATAL, 0, null, "connect failed: " + ee.getCause(), null);
        }
    }

    private void startAny(String op, List<AddrInfo> ais, long staggerMs, Options o, List<Attempt> log, ConnectHandler h) {
        List<AddrInfo> list;
        try {
            list = LoopAddresses.order(op, ais, staggerMs >= 0);
        } catch (SocketException e) {
            core.execute(() -> h.onError(e));
            return;
        }
        LoopConnectAny any = new LoopConnectAny(core, list, staggerMs, o, log, h);
        core.execute(any::start);
    }
}
