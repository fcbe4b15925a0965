package sockets.impl;

import sockets.SocketException;

/**
 * What the event loop needs from the system's readiness API: epoll on Linux ({@link LoopEpoll}),
 * poll(2) elsewhere ({@link LoopPoll}). Used by the loop thread only, except {@link #wake}.
 * Interest and readiness are the abstract bits {@link #READ}, {@link #WRITE} (and {@link #ERROR}
 * in readiness); an fd with no interest is not registered at all, so a hang-up or error on a
 * paused socket cannot make a level-triggered wait return again and again.
 */
public interface LoopPoller {
    /** Interest / readiness: readable. */ int READ = 1;
    /** Interest / readiness: writable. */ int WRITE = 2;
    /** Readiness only: error or hang-up. */ int ERROR = 4;
    /**
     * Readiness only: the read side is shut down (EPOLLRDHUP: the peer's FIN on a stream, a
     * local shutdown(SHUT_RD) on a datagram socket). Pollers that cannot tell never report it.
     */
    int HUP = 8;

    /** Registers {@code fd} (acquired by the caller) with a non-zero interest. */
    void add(int fd, int interest) throws SocketException;
    /** Changes the interest of a registered fd (non-zero). */
    void modify(int fd, int interest) throws SocketException;
    /** Unregisters {@code fd}; errors are ignored (the fd may already be gone from the set). */
    void remove(int fd);
    /**
     * Waits up to {@code timeoutMs} (negative: forever, 0: not at all) for readiness or a
     * {@link #wake}; returns the count of ready fds (the wake-up itself is consumed, not counted).
     * EINTR returns 0.
     */
    int await(int timeoutMs) throws SocketException;
    /** The fd of the {@code i}th ready entry of the last {@link #await}. */
    int readyFd(int i);
    /** The readiness bits of the {@code i}th ready entry of the last {@link #await}. */
    int readyOps(int i);
    /** Makes a current or the next {@link #await} return at once; any thread. */
    void wake();
    /** Frees the poller's own fds and memory; loop thread only, last. */
    void close();
}
