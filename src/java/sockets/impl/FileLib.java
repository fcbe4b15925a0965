package sockets.impl;

import java.nio.ByteBuffer;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The libc functions of sending a file ({@link FileSend}), bound by jnr-ffi when a file is
 * first sent ({@link #LIB}), so loading the library binds nothing more. Errors are read with
 * {@link Native#errno}, as for {@link LibC}. Buffers passed here are direct.
 */
public interface FileLib {
    /** open(2), without a mode (only for reading). */
    int open(String path, int flags);
    /** close(2) of a file this library opened; never retried. */
    int close(int fd);
    /**
     * sendfile(2) (Linux): {@code count} bytes of {@code inFd} from the off_t at {@code offset}
     * (the file's own position is not used or changed) to {@code outFd}; returns the count sent,
     * 0 at the file's end.
     */
    @ssize_t long sendfile(int outFd, int inFd, Pointer offset, @size_t long count);
    /** pread(2) into a direct buffer from its position. */
    @ssize_t long pread(int fd, @Out ByteBuffer buf, @size_t long count, @off_t long offset);
    /** read(2) into a direct buffer from its position (for files that cannot seek: pipes, FIFOs). */
    @ssize_t long read(int fd, @Out ByteBuffer buf, @size_t long count);
    /** sigemptyset(3). */
    int sigemptyset(Pointer set);
    /** sigaddset(3). */
    int sigaddset(Pointer set, int sig);
    /** pthread_sigmask(3): returns 0 or the error number (errno is not set). */
    int pthread_sigmask(int how, Pointer set, Pointer old);
    /** sigtimedwait(2): takes one pending signal of {@code set}, waiting up to {@code timeout}. */
    int sigtimedwait(Pointer set, Pointer info, Pointer timeout);

    /** The bound library. */
    FileLib LIB = LibraryLoader.create(FileLib.class).load(Platform.getNativePlatform().getStandardCLibraryName());
}
