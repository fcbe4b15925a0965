package sockets;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import jnr.constants.platform.Errno;
import jnr.constants.platform.SocketMessage;
import jnr.constants.platform.SocketOption;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;
import sockets.impl.Fd;
import sockets.impl.MsgLib;
import sockets.impl.Native;
import sockets.impl.Scratch;
import sockets.impl.SockAddrCodec;
import sockets.impl.Waiting;

/**
 * Beyond the egg: socket pairs, adopting fds, peer credentials, and sendmsg/recvmsg with
 * vectored data and ancillary (control) messages as raw {@link Control} records (the
 * Clojure namespace {@code sockets.messages} turns them into maps). Every socket made here is
 * non-blocking and close-on-exec, and every fd received is close-on-exec. Blocking calls
 * behave as in {@link Socket} (its one waiting path, {@link sockets.impl.Waiting}): try, wait
 * with poll on EAGAIN up to the timeout (ms, negative forever), retry EINTR, wake with
 * {@code :closed} when the socket is closed; with MSG_DONTWAIT in the flags a call that would
 * block fails at once with {@code :would-block} (errno EAGAIN).
 */
public final class Messages {
    private Messages() {}

    private static final int SO_DOMAIN = Native.value(SocketOption.SO_DOMAIN);
    private static final int SO_PROTOCOL = Native.value(SocketOption.SO_PROTOCOL);
    private static final int SO_PEERCRED = Native.value(SocketOption.SO_PEERCRED);
    private static final int MSG_CTRUNC = Native.value(SocketMessage.MSG_CTRUNC);
    private static final int ENOTSOCK = Native.value(Errno.ENOTSOCK);

    // ---------------------------------------------------------------- creation

    /**
     * Returns two connected sockets from socketpair(2), both non-blocking and close-on-exec
     * (atomically where the platform allows, else by fcntl; both are closed if that fails).
     * @throws SocketException {@code :unsupported} for a family or type the system lacks
     */
    public static Socket[] socketPair(int family, int type, int protocol) throws SocketException {
        int[] sv = new int[2];
        if (MsgLib.LIB.socketpair(family, type | Native.SOCK_ATOMIC_FLAGS, protocol, sv) < 0)
            throw SocketException.errno("socketpair", Native.errno(), "cannot create socket pair", null);
        try {
            boolean atomic = Native.SOCK_ATOMIC_FLAGS != 0;
            Socket.prepareFd("socketpair", sv[0], atomic);
            Socket.prepareFd("socketpair", sv[1], atomic);
        } catch (SocketException e) {
            Native.LIBC.close(sv[0]);
            Native.LIBC.close(sv[1]);
            throw e;
        }
        return new Socket[] { new Socket(sv[0], family, type, protocol), new Socket(sv[1], family, type, protocol) };
    }

    /**
     * True when {@code fdn} is an open socket (getsockopt SO_TYPE succeeds); false for any other
     * fd (ENOTSOCK) or a closed one (EBADF).
     */
    public static boolean isSocket(int fdn) {
        Scratch sc = Scratch.get();
        sc.len.putInt(0, 4);
        return Native.LIBC.getsockopt(fdn, Native.SOL_SOCKET, Native.SO_TYPE, sc.opt, sc.len) == 0;
    }

    /**
     * Adopts an open socket fd: reads its type (SO_TYPE), family (SO_DOMAIN, else
     * getsockname) and protocol (SO_PROTOCOL, else 0) from the kernel, makes it non-blocking
     * and close-on-exec, and returns a Socket that owns it (closing the Socket closes the fd).
     * On failure the fd is left open and still the caller's.
     * @throws SocketException {@code :invalid} when the fd is not a socket
     */
    public static Socket adopt(int fdn) throws SocketException {
        String op = "fd->socket";
        if (fdn < 0) throw SocketException.invalid(op, "file descriptor must not be negative: " + fdn);
        int type;
        try { type = Socket.getOptionInt(fdn, Native.SOL_SOCKET, Native.SO_TYPE); }
        catch (SocketException e) {
            if (e.errno() == ENOTSOCK) throw SocketException.invalid(op, "fd " + fdn + " is not a socket");
            throw SocketException.errno(op, e.errno(), "cannot adopt fd " + fdn, null);
        }
        int family = -1;
        if (SO_DOMAIN >= 0) {
            try { family = Socket.getOptionInt(fdn, Native.SOL_SOCKET, SO_DOMAIN); } catch (SocketException e) { family = -1; }
        }
        if (family < 0) {
            Scratch sc = Scratch.get();
            sc.len.putInt(0, Scratch.ADDR_SIZE);
            if (Native.LIBC.getsockname(fdn, sc.addr, sc.len) < 0)
                throw SocketException.errno(op, Native.errno(), "unable to get socket name", null);
            family = SockAddrCodec.family(sc.addr);
        }
        int protocol = 0;
        if (SO_PROTOCOL >= 0) {
            try { protocol = Socket.getOptionInt(fdn, Native.SOL_SOCKET, SO_PROTOCOL); } catch (SocketException e) { protocol = 0; }
        }
        Socket.prepareFd(op, fdn, false);
        return new Socket(fdn, family, type, protocol);
    }

    // ---------------------------------------------------------------- credentials

    /**
     * The peer's credentials of a connected unix socket: {pid, uid, gid}. Linux: SO_PEERCRED
     * (struct ucred); elsewhere getpeereid(3), whose pid is unknown (-1).
     */
    public static int[] peerCredentials(Socket s) throws SocketException {
        String op = "socket-peer-credentials";
        Fd owner = s.fd();
        int fdn = owner.acquire(op);
        try {
            if (Native.LINUX && SO_PEERCRED >= 0) {
                MsgLib.Ucred u = new MsgLib.Ucred(MsgLib.RUNTIME);
                int size = Struct.size(u);
                Pointer mem = Memory.allocateDirect(MsgLib.RUNTIME, size, true);
                Pointer len = Memory.allocateDirect(MsgLib.RUNTIME, 4, true);
                len.putInt(0, size);
                if (Native.LIBC.getsockopt(fdn, Native.SOL_SOCKET, SO_PEERCRED, mem, len) < 0)
                    throw SocketException.errno(op, Native.errno(), "unable to get peer credentials", null);
                u.useMemory(mem);
                return new int[] { u.pid.get(), (int) u.uid.get(), (int) u.gid.get() };
            }
            int[] uid = new int[1], gid = new int[1];
            try {
                if (MsgLib.LIB.getpeereid(fdn, uid, gid) < 0)
                    throw SocketException.errno(op, Native.errno(), "unable to get peer credentials", null);
            } catch (UnsatisfiedLinkError e) {
                throw SocketException.unsupported(op, "peer credentials are not supported on this platform");
            }
            return new int[] { -1, uid[0], gid[0] };
        } finally { owner.release(); }
    }

    /** This process's {pid, uid, gid}. */
    public static int[] processCredentials() {
        return new int[] { MsgLib.LIB.getpid(), MsgLib.LIB.getuid(), MsgLib.LIB.getgid() };
    }

    // ---------------------------------------------------------------- messages

    /** One ancillary (control) message: level, type and its data bytes as the kernel has them. */
    public static final class Control {
        /** cmsg_level (platform integer). */ public final int level;
        /** cmsg_type (platform integer). */ public final int type;
        /** The data (not shared with anything). */ public final byte[] data;
        /** A control message. */
        public Control(int level, int type, byte[] data) { this.level = level; this.type = type; this.data = data; }
    }

    /** The result of {@link #receive}. */
    public static final class Message {
        /** Bytes received (with MSG_TRUNC in the flags given, the datagram's real length). */ public final long count;
        /** The source address, or null when the kernel gave none. */ public final SockAddr from;
        /** msg_flags as returned (MSG_TRUNC, MSG_CTRUNC, ...). */ public final int flags;
        /** The control messages received, in order (SCM_RIGHTS ones removed when truncated, see closedFds). */ public final List<Control> controls;
        /** fds that arrived in a truncated control buffer and were closed here. */ public final int[] closedFds;
        /** A result. */
        public Message(long count, SockAddr from, int flags, List<Control> controls, int[] closedFds) {
            this.count = count; this.from = from; this.flags = flags; this.controls = controls; this.closedFds = closedFds;
        }
    }

    /**
     * The most data bytes one message may carry, 64 MiB: send and receive copy a message
     * through native memory of its size, so a larger one is {@code :invalid} before anything
     * is allocated. (Clojure's receive size is capped with it too.)
     */
    public static final int MAX_DATA = 64 << 20;
    /** The largest control (ancillary) buffer, 1 MiB, for sends and receives. */
    public static final int MAX_CONTROL = 1 << 20;

    private static long total(String op, ByteBuffer[] bufs) throws SocketException {
        if (bufs == null) throw SocketException.invalid(op, "buffers are required");
        long t = 0;
        for (ByteBuffer b : bufs) {
            if (b == null) throw SocketException.invalid(op, "buffer is required");
            t += b.remaining();
        }
        if (t > MAX_DATA) throw SocketException.invalid(op, "a message may carry at most " + MAX_DATA + " bytes (Messages.MAX_DATA), not " + t);
        return t;
    }

    /** An iovec array over consecutive slices of {@code data}, one per buffer. */
    private static Pointer iovecs(ByteBuffer[] bufs, Pointer data) {
        MsgLib.IoVec v = new MsgLib.IoVec(MsgLib.RUNTIME);
        int size = Struct.size(v);
        Pointer iov = Memory.allocateDirect(MsgLib.RUNTIME, Math.max(1, size * bufs.length), true);
        long off = 0;
        for (int i = 0; i < bufs.length; i++) {
            v.useMemory(iov.slice((long) i * size, size));
            v.base.set(data.slice(off));
            v.len.set(bufs[i].remaining());
            off += bufs[i].remaining();
        }
        return iov;
    }

    /**
     * sendmsg(2): sends the remaining bytes of {@code bufs} (gathered in order; positions not
     * changed) to {@code to} (null: the connected peer) with the control messages
     * {@code controls} (may be null). MSG_NOSIGNAL is always added. Blocks up to
     * {@code timeoutMs} for room; returns the bytes sent. fds in SCM_RIGHTS data must stay open
     * until this returns.
     */
    public static long send(Socket s, ByteBuffer[] bufs, SockAddr to, List<Control> controls, int flags, long timeoutMs) throws SocketException {
        String op = "socket-send-message";
        long n = total(op, bufs);
        List<Control> cs = controls == null ? Collections.<Control>emptyList() : controls;
        int hdr = MsgLib.align(MsgLib.cmsgHdrSize());
        long clen = 0;
        for (Control c : cs) {
            if (c == null || c.data == null) throw SocketException.invalid(op, "control message needs data");
            clen += MsgLib.cmsgSpace(c.data.length);
        }
        if (clen > MAX_CONTROL) throw SocketException.invalid(op, "control messages take more than " + MAX_CONTROL + " bytes (Messages.MAX_CONTROL)");
        Pointer data = Memory.allocateDirect(MsgLib.RUNTIME, Math.max(1, n), false);
        long off = 0;
        for (ByteBuffer b : bufs) {
            int r = b.remaining();
            byte[] tmp = new byte[r];
            b.duplicate().get(tmp);
            data.put(off, tmp, 0, r);
            off += r;
        }
        Pointer control = null;
        if (clen > 0) {
            control = Memory.allocateDirect(MsgLib.RUNTIME, clen, true);
            MsgLib.CmsgHdr ch = new MsgLib.CmsgHdr(MsgLib.RUNTIME);
            long co = 0;
            for (Control c : cs) {
                ch.useMemory(control.slice(co));
                ch.len.set(MsgLib.cmsgLen(c.data.length));
                ch.level.set(c.level);
                ch.type.set(c.type);
                control.put(co + hdr, c.data, 0, c.data.length);
                co += MsgLib.cmsgSpace(c.data.length);
            }
        }
        Pointer name = null;
        int namelen = 0;
        if (to != null) {
            name = Memory.allocateDirect(MsgLib.RUNTIME, Scratch.ADDR_SIZE, true);
            namelen = to.encode(name);
        }
        MsgLib.MsgHdr m = new MsgLib.MsgHdr(MsgLib.RUNTIME);
        Pointer mp = Memory.allocateDirect(MsgLib.RUNTIME, MsgLib.MSGHDR_SIZE, true);
        m.useMemory(mp);
        m.name.set(name);
        m.namelen.set(namelen);
        m.iov.set(iovecs(bufs, data));
        m.iovlen.set(bufs.length);
        m.control.set(control);
        m.controllen.set(clen);
        m.flags.set(0);
        Fd owner = s.fd();
        int fdn = owner.acquire(op);
        try {
            int fl = flags | Native.MSG_NOSIGNAL;
            return s.waiting().run(fdn, Waiting.SENDMSG, op, timeoutMs, (flags & Native.NO_WAIT) != 0, to, null,
                                   (f, nw) -> MsgLib.LIB.sendmsg(f, mp, fl | nw));
        } finally { owner.release(); }
    }

    /**
     * recvmsg(2): receives into the remaining bytes of {@code bufs} (scattered in order from
     * each position; positions not changed), with a control buffer of {@code controlSize}
     * bytes. Blocks up to {@code timeoutMs} for data. Received fds are close-on-exec
     * (MSG_CMSG_CLOEXEC, else fcntl). When the control data was truncated (MSG_CTRUNC), the
     * fds that did arrive are closed and listed in {@link Message#closedFds}.
     */
    public static Message receive(Socket s, ByteBuffer[] bufs, int controlSize, int flags, long timeoutMs) throws SocketException {
        String op = "socket-receive-message";
        long n = total(op, bufs);
        for (ByteBuffer b : bufs) if (b.isReadOnly()) throw SocketException.invalid(op, "cannot receive into a read-only buffer");
        if (controlSize < 0 || controlSize > MAX_CONTROL)
            throw SocketException.invalid(op, "control buffer size must be 0 to " + MAX_CONTROL + " (Messages.MAX_CONTROL), not " + controlSize);
        Pointer data = Memory.allocateDirect(MsgLib.RUNTIME, Math.max(1, n), false);
        Pointer control = controlSize == 0 ? null : Memory.allocateDirect(MsgLib.RUNTIME, controlSize, true);
        Pointer name = Memory.allocateDirect(MsgLib.RUNTIME, Scratch.ADDR_SIZE, true);
        MsgLib.MsgHdr m = new MsgLib.MsgHdr(MsgLib.RUNTIME);
        Pointer mp = Memory.allocateDirect(MsgLib.RUNTIME, MsgLib.MSGHDR_SIZE, true);
        m.useMemory(mp);
        Pointer iov = iovecs(bufs, data);
        Fd owner = s.fd();
        int fdn = owner.acquire(op);
        try {
            int fl = flags | MsgLib.MSG_CMSG_CLOEXEC;
            long r = s.waiting().run(fdn, Waiting.RECVMSG, op, timeoutMs, (flags & Native.NO_WAIT) != 0, null, null, (f, nw) -> {
                m.name.set(name);
                m.namelen.set(Scratch.ADDR_SIZE);
                m.iov.set(iov);
                m.iovlen.set(bufs.length);
                m.control.set(control);
                m.controllen.set(controlSize);
                m.flags.set(0);
                long k = MsgLib.LIB.recvmsg(f, mp, fl | nw);
                // fds that arrived with a message the close makes us drop must not leak
                if (k >= 0 && owner.isClosed()) closeReceivedFds(control, m.controllen.longValue());
                return k;
            });
            int mflags = m.flags.get();
            List<Control> cs = new ArrayList<>();
            List<Integer> fds = new ArrayList<>();
            parse(control, m.controllen.longValue(), cs, fds);
            boolean ctrunc = MSG_CTRUNC > 0 && (mflags & MSG_CTRUNC) != 0;
            if (ctrunc) {
                for (int f : fds) Native.LIBC.close(f);
                cs.removeIf(c -> c.level == Native.SOL_SOCKET && c.type == MsgLib.SCM_RIGHTS);
            } else if (MsgLib.MSG_CMSG_CLOEXEC == 0) {
                for (int f : fds) Native.setCloexec(f);
            }
            int namelen = (int) m.namelen.get();
            SockAddr from = namelen > 0 ? SockAddrCodec.decode(name, namelen) : null;
            long got = Math.min(r, n);
            long off = 0;
            for (ByteBuffer b : bufs) {
                if (off >= got) break;
                int k = (int) Math.min(b.remaining(), got - off);
                byte[] tmp = new byte[k];
                data.get(off, tmp, 0, k);
                b.duplicate().put(tmp);
                off += k;
            }
            int[] closed = new int[0];
            if (ctrunc) { closed = new int[fds.size()]; for (int i = 0; i < closed.length; i++) closed[i] = fds.get(i); }
            return new Message(r, from, mflags, cs, closed);
        } finally { owner.release(); }
    }

    /** Closes the fds of the SCM_RIGHTS messages in a received control buffer. */
    private static void closeReceivedFds(Pointer control, long len) {
        List<Integer> fds = new ArrayList<>();
        parse(control, len, new ArrayList<>(), fds);
        for (int f : fds) Native.LIBC.close(f);
    }

    /** Walks the control buffer (CMSG_FIRSTHDR/CMSG_NXTHDR), bounds-checked against {@code len}. */
    private static void parse(Pointer control, long len, List<Control> out, List<Integer> fds) {
        if (control == null || len <= 0) return;
        MsgLib.CmsgHdr ch = new MsgLib.CmsgHdr(MsgLib.RUNTIME);
        int hsize = MsgLib.cmsgHdrSize();
        int hdr = MsgLib.align(hsize);
        long off = 0;
        while (off + hsize <= len) {
            ch.useMemory(control.slice(off));
            long clen = ch.len.longValue();
            if (clen < hdr || off + clen > len) break;
            int dlen = (int) (clen - hdr);
            byte[] d = new byte[dlen];
            control.get(off + hdr, d, 0, dlen);
            int level = ch.level.get(), type = ch.type.get();
            if (level == Native.SOL_SOCKET && type == MsgLib.SCM_RIGHTS)
                for (int i = 0; i + 4 <= dlen; i += 4) fds.add(control.getInt(off + hdr + i));
            out.add(new Control(level, type, d));
            off += MsgLib.align((int) clen);
        }
    }

    /** CMSG_SPACE(n): control-buffer bytes for a control message of n data bytes. */
    public static int controlSpace(int n) { return MsgLib.cmsgSpace(n); }

    /** The size of a C {@code long} (time_t and suseconds_t on LP64 platforms), in bytes. */
    public static int longSize() { return MsgLib.RUNTIME.longSize(); }

    private static final int TCP_INFO = Native.value(jnr.constants.platform.TCP.TCP_INFO);

    /**
     * Linux TCP_INFO basics of a TCP socket: {state, ca_state, retransmits, probes, backoff,
     * rto, ato, snd_mss, rcv_mss, unacked, lost, retrans, pmtu, rtt, rttvar, snd_cwnd, advmss}.
     * @throws SocketException {@code :unsupported} off Linux
     */
    public static long[] tcpInfo(Socket s) throws SocketException {
        String op = "tcp-info";
        if (!Native.LINUX || TCP_INFO < 0)
            throw SocketException.unsupported(op, "TCP_INFO is not supported on this platform");
        int level = Native.value(jnr.constants.platform.IPProto.IPPROTO_TCP);
        Fd owner = s.fd();
        int fdn = owner.acquire(op);
        try {
            MsgLib.TcpInfo t = new MsgLib.TcpInfo(MsgLib.RUNTIME);
            int size = Struct.size(t);
            Pointer mem = Memory.allocateDirect(MsgLib.RUNTIME, size, true);
            Pointer len = Memory.allocateDirect(MsgLib.RUNTIME, 4, true);
            len.putInt(0, size);
            if (Native.LIBC.getsockopt(fdn, level, TCP_INFO, mem, len) < 0)
                throw SocketException.errno(op, Native.errno(), "unable to get TCP_INFO", null);
            t.useMemory(mem);
            return new long[] { t.state.get(), t.caState.get(), t.retransmits.get(), t.probes.get(), t.backoff.get(),
                                t.rto.get(), t.ato.get(), t.sndMss.get(), t.rcvMss.get(), t.unacked.get(), t.lost.get(),
                                t.retrans.get(), t.pmtu.get(), t.rtt.get(), t.rttvar.get(), t.sndCwnd.get(), t.advmss.get() };
        } finally { owner.release(); }
    }
}
