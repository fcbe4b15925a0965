package sockets.impl;

/**
 * One system call on an acquired fd number: returns its result (>= 0) or -1 with errno set
 * (read with {@link Native#errno} right after, on the same thread). It must not wait: the fd
 * is non-blocking, or the call passes MSG_DONTWAIT. See {@link Io}.
 */
@FunctionalInterface
public interface Syscall {
    /** Makes the call on {@code fdn}; its result (>= 0), or -1 with errno set. */
    long call(int fdn);
}
