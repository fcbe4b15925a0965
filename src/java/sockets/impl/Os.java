package sockets.impl;

import jnr.ffi.Platform;

/**
 * Platform facts that need no native binding: loading this class binds no library, so code
 * that only needs to know the OS (constant tables read at namespace load, the CLI's
 * {@code --help}) does not pay for {@link Native}'s libc binding. Never blocks.
 */
public final class Os {
    private Os() {}

    /** True on Linux. */
    public static final boolean LINUX = Platform.getNativePlatform().getOS() == Platform.OS.LINUX;
    /** True where struct sockaddr starts with a length byte (the BSDs, macOS). */
    public static final boolean BSD_SOCKADDR = !LINUX && Platform.getNativePlatform().isBSD();
}
