package sockets.impl;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import jnr.ffi.annotations.IgnoreError;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.ssize_t;

/**
 * The libc functions of the extensions (socketpair, sendmsg, recvmsg, peer credentials),
 * bound once by jnr-ffi ({@link #LIB}), with the structs they take. Struct offsets come from
 * jnr's layout of the declared fields, and the CMSG_* arithmetic from the struct sizes and
 * the platform's alignment ({@link #cmsgAlign}), never from hand-written offsets.
 */
public interface MsgLib {
    /** socketpair(2). */
    int socketpair(int domain, int type, int protocol, @Out int[] sv);
    /** sendmsg(2) with a prepared {@link MsgHdr}. */
    @ssize_t long sendmsg(int fd, Pointer msg, int flags);
    /** recvmsg(2) with a prepared {@link MsgHdr}. */
    @ssize_t long recvmsg(int fd, Pointer msg, int flags);
    /** getpeereid(3) (the BSDs and macOS; glibc lacks it, and calling it there throws). */
    int getpeereid(int fd, @Out int[] uid, @Out int[] gid);
    /** getpid(2). */
    @IgnoreError int getpid();
    /** getuid(2). */
    @IgnoreError int getuid();
    /** getgid(2). */
    @IgnoreError int getgid();

    /** The bound library. */
    MsgLib LIB = LibraryLoader.create(MsgLib.class).load(Platform.getNativePlatform().getStandardCLibraryName());
    /** The runtime of {@link #LIB}. */
    Runtime RUNTIME = Runtime.getRuntime(LIB);

    // Constants jnr-constants 0.11.4 lacks: see CmsgTypes (a class that binds no library)
    /** SCM_RIGHTS ({@link CmsgTypes#SCM_RIGHTS}). */
    int SCM_RIGHTS = CmsgTypes.SCM_RIGHTS;
    /** SCM_CREDENTIALS ({@link CmsgTypes#SCM_CREDENTIALS}). */
    int SCM_CREDENTIALS = CmsgTypes.SCM_CREDENTIALS;
    /** MSG_CMSG_CLOEXEC ({@link CmsgTypes#MSG_CMSG_CLOEXEC}). */
    int MSG_CMSG_CLOEXEC = CmsgTypes.MSG_CMSG_CLOEXEC;

    /** CMSG_ALIGN's unit: sizeof(size_t) on Linux and FreeBSD, 4 on macOS (and sizeof(long) elsewhere). */
    static int cmsgAlign() {
        return Platform.getNativePlatform().getOS() == Platform.OS.DARWIN ? 4 : RUNTIME.addressSize();
    }

    /** CMSG_ALIGN(n). */
    static int align(int n) { int a = cmsgAlign(); return (n + a - 1) & -a; }

    /**
     * sizeof(struct msghdr): jnr's Struct.size stops at the last field (52 bytes on 64-bit
     * Linux); C pads the struct to its alignment (56).
     */
    int MSGHDR_SIZE = msgHdrSize();

    private static int msgHdrSize() {
        MsgHdr m = new MsgHdr(RUNTIME);
        int a = Struct.alignment(m);
        return (Struct.size(m) + a - 1) / a * a;
    }

    /** sizeof(struct cmsghdr) as laid out by {@link CmsgHdr}. */
    static int cmsgHdrSize() { return Struct.size(new CmsgHdr(RUNTIME)); }

    /** CMSG_LEN(n): the cmsg_len of a control message with n data bytes. */
    static int cmsgLen(int n) { return align(cmsgHdrSize()) + n; }

    /** CMSG_SPACE(n): the control-buffer bytes a control message with n data bytes takes. */
    static int cmsgSpace(int n) { return align(cmsgHdrSize()) + align(n); }

    /** struct iovec. */
    final class IoVec extends Struct {
        /** iov_base. */ public final Pointer base = new Pointer();
        /** iov_len. */ public final size_t len = new size_t();
        /** An iovec laid out for {@code r}. */
        public IoVec(Runtime r) { super(r); }
    }

    /** struct msghdr: size_t lengths on Linux, int/socklen_t on the BSDs and macOS. */
    final class MsgHdr extends Struct {
        /** msg_name. */ public final Pointer name = new Pointer();
        /** msg_namelen. */ public final Unsigned32 namelen = new Unsigned32();
        /** msg_iov. */ public final Pointer iov = new Pointer();
        /** msg_iovlen. */ public final NumberField iovlen = Native.LINUX ? new size_t() : new Signed32();
        /** msg_control. */ public final Pointer control = new Pointer();
        /** msg_controllen. */ public final NumberField controllen = Native.LINUX ? new size_t() : new Unsigned32();
        /** msg_flags. */ public final Signed32 flags = new Signed32();
        /** A msghdr laid out for {@code r}. */
        public MsgHdr(Runtime r) { super(r); }
    }

    /** struct cmsghdr: cmsg_len is size_t on Linux, socklen_t elsewhere; data follows at CMSG_ALIGN(sizeof). */
    final class CmsgHdr extends Struct {
        /** cmsg_len. */ public final NumberField len = Native.LINUX ? new size_t() : new Unsigned32();
        /** cmsg_level. */ public final Signed32 level = new Signed32();
        /** cmsg_type. */ public final Signed32 type = new Signed32();
        /** A cmsghdr laid out for {@code r}. */
        public CmsgHdr(Runtime r) { super(r); }
    }

    /** struct ucred (Linux SO_PEERCRED / SCM_CREDENTIALS). */
    final class Ucred extends Struct {
        /** pid. */ public final Signed32 pid = new Signed32();
        /** uid. */ public final Unsigned32 uid = new Unsigned32();
        /** gid. */ public final Unsigned32 gid = new Unsigned32();
        /** A ucred laid out for {@code r}. */
        public Ucred(Runtime r) { super(r); }
    }

    /** The start of Linux's struct tcp_info (linux/tcp.h), the fields every kernel since 2.6 has. */
    final class TcpInfo extends Struct {
        /** tcpi_state. */ public final Unsigned8 state = new Unsigned8();
        /** tcpi_ca_state. */ public final Unsigned8 caState = new Unsigned8();
        /** tcpi_retransmits. */ public final Unsigned8 retransmits = new Unsigned8();
        /** tcpi_probes. */ public final Unsigned8 probes = new Unsigned8();
        /** tcpi_backoff. */ public final Unsigned8 backoff = new Unsigned8();
        /** tcpi_options. */ public final Unsigned8 options = new Unsigned8();
        /** tcpi_snd_wscale:4, tcpi_rcv_wscale:4. */ public final Unsigned8 wscale = new Unsigned8();
        /** tcpi_delivery_rate_app_limited:1 and other bits. */ public final Unsigned8 flags = new Unsigned8();
        /** tcpi_rto (us). */ public final Unsigned32 rto = new Unsigned32();
        /** tcpi_ato (us). */ public final Unsigned32 ato = new Unsigned32();
        /** tcpi_snd_mss. */ public final Unsigned32 sndMss = new Unsigned32();
        /** tcpi_rcv_mss. */ public final Unsigned32 rcvMss = new Unsigned32();
        /** tcpi_unacked. */ public final Unsigned32 unacked = new Unsigned32();
        /** tcpi_sacked. */ public final Unsigned32 sacked = new Unsigned32();
        /** tcpi_lost. */ public final Unsigned32 lost = new Unsigned32();
        /** tcpi_retrans. */ public final Unsigned32 retrans = new Unsigned32();
        /** tcpi_fackets. */ public final Unsigned32 fackets = new Unsigned32();
        /** tcpi_last_data_sent. */ public final Unsigned32 lastDataSent = new Unsigned32();
        /** tcpi_last_ack_sent. */ public final Unsigned32 lastAckSent = new Unsigned32();
        /** tcpi_last_data_recv. */ public final Unsigned32 lastDataRecv = new Unsigned32();
        /** tcpi_last_ack_recv. */ public final Unsigned32 lastAckRecv = new Unsigned32();
        /** tcpi_pmtu. */ public final Unsigned32 pmtu = new Unsigned32();
        /** tcpi_rcv_ssthresh. */ public final Unsigned32 rcvSsthresh = new Unsigned32();
        /** tcpi_rtt (us). */ public final Unsigned32 rtt = new Unsigned32();
        /** tcpi_rttvar (us). */ public final Unsigned32 rttvar = new Unsigned32();
        /** tcpi_snd_ssthresh. */ public final Unsigned32 sndSsthresh = new Unsigned32();
        /** tcpi_snd_cwnd. */ public final Unsigned32 sndCwnd = new Unsigned32();
        /** tcpi_advmss. */ public final Unsigned32 advmss = new Unsigned32();
        /** A tcp_info laid out for {@code r}. */
        public TcpInfo(Runtime r) { super(r); }
    }
}
