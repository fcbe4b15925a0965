package sockets.impl;

import jnr.ffi.Platform;

/**
 * The control-message numbers jnr-constants 0.11.4 lacks (it has no SCM_ table and no
 * MSG_CMSG_CLOEXEC), in a class of their own that binds no library: the Clojure control-type
 * table reads them when it loads, and that must not cost {@link Native}'s libc binding (the
 * CLI's start). {@link MsgLib} re-exports them. Never blocks.
 */
public final class CmsgTypes {
    private CmsgTypes() {}

    /** SCM_RIGHTS: 1 in every BSD-socket implementation (Linux, macOS, FreeBSD, OpenBSD, Solaris). */
    public static final int SCM_RIGHTS = 1;
    /** SCM_CREDENTIALS: Linux only (2), else -1. */
    public static final int SCM_CREDENTIALS = Os.LINUX ? 2 : -1;
    /** MSG_CMSG_CLOEXEC: Linux 0x40000000, FreeBSD 0x40000; 0 where absent (received fds then get FD_CLOEXEC by fcntl). */
    public static final int MSG_CMSG_CLOEXEC = Os.LINUX ? 0x40000000
        : Platform.getNativePlatform().getOS() == Platform.OS.FREEBSD ? 0x40000 : 0;
}
