package sockets.impl;

import sockets.Socket;
import sockets.SocketException;

/**
 * What the loop needs from {@link Socket} beyond its public API, supplied by
 * {@link sockets.EventLoop}: making a Socket of an accepted fd, and taking a socket out of
 * blocking mode for good.
 */
public interface LoopSockets {
    /**
     * Returns a Socket owning {@code fdn}, freshly accepted from {@code listener} (its family,
     * type and protocol), made close-on-exec and non-blocking if accept4 could not; on failure
     * the fd is closed and the error thrown.
     */
    Socket adopt(int fdn, Socket listener) throws SocketException;

    /** Puts {@code s} in non-blocking mode for good (the loop's calls must never wait in the kernel). */
    void leaveBlocking(Socket s) throws SocketException;
}
