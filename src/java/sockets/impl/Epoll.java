package sockets.impl;

import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The libc calls the event loop needs beyond {@link LibC}: epoll and eventfd (Linux only;
 * never called elsewhere), and pipe/read/write for the wake-up descriptor. Bound once by
 * {@link LoopNative#SYS}; every fd passed here is owned by the loop or
 * acquired from its {@link Fd} owner.
 */
public interface Epoll {
    /** epoll_create1(2). */
    int epoll_create1(int flags);
    /** epoll_ctl(2); {@code event} points at one {@link Event} (may be null for EPOLL_CTL_DEL). */
    int epoll_ctl(int epfd, int op, int fd, Pointer event);
    /** epoll_wait(2) into an array of {@code maxevents} {@link Event}s. */
    int epoll_wait(int epfd, Pointer events, int maxevents, int timeout);
    /** eventfd(2). */
    int eventfd(int initval, int flags);
    /** pipe(2), for the wake-up descriptor where there is no eventfd. */
    int pipe(@Out int[] fds);
    /** read(2). */
    @ssize_t long read(int fd, Pointer buf, @size_t long count);
    /** write(2). */
    @ssize_t long write(int fd, Pointer buf, @size_t long count);

    // <sys/epoll.h> numbers: jnr-constants has no table for them. These are the Linux values on
    // every architecture (include/uapi/linux/eventpoll.h); EPOLL_CLOEXEC, EFD_CLOEXEC and
    // EFD_NONBLOCK are defined there as O_CLOEXEC / O_NONBLOCK, so they come from jnr-constants.
    //   name            value   meaning
    //   EPOLL_CTL_ADD   1       register an fd
    //   EPOLL_CTL_DEL   2       unregister an fd
    //   EPOLL_CTL_MOD   3       change an fd's interest
    //   EPOLLIN         0x001   readable (data, EOF, a connection to accept)
    //   EPOLLOUT        0x004   writable (or a non-blocking connect finished)
    //   EPOLLERR        0x008   error pending (always reported, even when not asked for)
    //   EPOLLHUP        0x010   hang-up (always reported, even when not asked for)
    //   EPOLLRDHUP      0x2000  read side shut down (peer FIN on a stream, SHUT_RD on a datagram socket)
    /** EPOLL_CTL_ADD. */ int EPOLL_CTL_ADD = 1;
    /** EPOLL_CTL_DEL. */ int EPOLL_CTL_DEL = 2;
    /** EPOLL_CTL_MOD. */ int EPOLL_CTL_MOD = 3;
    /** EPOLLIN. */ int EPOLLIN = 0x001;
    /** EPOLLOUT. */ int EPOLLOUT = 0x004;
    /** EPOLLERR. */ int EPOLLERR = 0x008;
    /** EPOLLHUP. */ int EPOLLHUP = 0x010;
    /** EPOLLRDHUP. */ int EPOLLRDHUP = 0x2000;

    /**
     * struct epoll_event { uint32_t events; epoll_data_t data; }. The kernel declares it
     * {@code __attribute__((packed))} on x86_64 only, so there it is 12 bytes with {@code data}
     * at offset 4; on every other architecture {@code data} is 8-aligned: 16 bytes, offset 8.
     * The layout is computed by jnr-ffi from this declaration (packed or not), never by hand;
     * {@link LoopEpoll} checks the resulting size and offsets when it loads.
     */
    final class Event extends Struct {
        /** True where the kernel packs the struct (x86_64). */
        public static final boolean PACKED = Platform.getNativePlatform().getCPU() == Platform.CPU.X86_64;
        /** The event bits. */
        public final Unsigned32 events = new Unsigned32();
        /** epoll_data_t, used here as a u64 holding the fd number. */
        public final Unsigned64 data = new Unsigned64();

        /** A layout-only instance (no memory of its own until {@link #useMemory}). */
        public Event(Runtime runtime) { super(runtime, new Alignment(PACKED ? 1 : 8)); }
    }
}
