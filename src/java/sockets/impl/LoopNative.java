package sockets.impl;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;

/** The one binding of {@link Epoll}, loaded on first use of the event loop. */
public final class LoopNative {
    private LoopNative() {}

    /** The bound calls (epoll functions exist on Linux only and are only called there). */
    public static final Epoll SYS = LibraryLoader.create(Epoll.class).load(Platform.getNativePlatform().getStandardCLibraryName());
}
