package sockets.impl;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.annotations.IgnoreError;

/**
 * The process's native environment (libc's {@code environ}), bound by jnr-ffi on first use of
 * {@link #LIB}: socket activation reads and clears LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
 * here, not in {@code System.getenv}, which is a snapshot the JVM took at start and never
 * changes. Child processes started without an explicit environment inherit this one.
 */
public interface EnvLib {
    /**
     * getenv(3): the variable's value, or null when it is not set. Does not block. Not safe
     * against a concurrent setenv/unsetenv in another thread (libc's rule).
     */
    @IgnoreError String getenv(String name);

    /** unsetenv(3): removes the variable; 0, or -1 with errno (EINVAL for a bad name). */
    int unsetenv(String name);

    /** The bound library. */
    EnvLib LIB = LibraryLoader.create(EnvLib.class).load(Platform.getNativePlatform().getStandardCLibraryName());
}
