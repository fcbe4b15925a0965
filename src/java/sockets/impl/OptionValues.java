package sockets.impl;

import jnr.ffi.Memory;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;
import sockets.SocketException;

/**
 * Encoders and decoders for the structured socket option values ({@code struct linger},
 * {@code struct timeval}, {@code struct ip_mreq}, {@code struct ipv6_mreq}) as the raw bytes getsockopt/setsockopt
 * take. The layouts are jnr-ffi {@link Struct}s, so field sizes, alignment and padding come
 * from the platform's ABI, never from hand-written offsets. All memory used is on the Java
 * heap; nothing here calls the kernel.
 */
public final class OptionValues {
    private OptionValues() {}

    private static final boolean DARWIN = Platform.getNativePlatform().getOS() == Platform.OS.DARWIN;

    /** {@code struct linger { int l_onoff; int l_linger; }}. */
    static final class Linger extends Struct {
        final Signed32 onoff = new Signed32();
        final Signed32 linger = new Signed32();
        Linger() { super(Native.RUNTIME); }
    }

    /**
     * {@code struct timeval { time_t tv_sec; suseconds_t tv_usec; }}; suseconds_t is a long
     * everywhere except macOS, where it is an int (the struct is padded to the same size).
     */
    static final class Timeval extends Struct {
        final time_t sec = new time_t();
        final NumberField usec = DARWIN ? new Signed32() : new SignedLong();
        Timeval() { super(Native.RUNTIME); }
    }

    /** {@code struct ip_mreq { struct in_addr imr_multiaddr; struct in_addr imr_interface; }}. */
    static final class IpMreq extends Struct {
        final in_addr_t multiaddr = new in_addr_t();
        final in_addr_t iface = new in_addr_t();
        IpMreq() { super(Native.RUNTIME); }
    }

    /** {@code struct ipv6_mreq { struct in6_addr ipv6mr_multiaddr; unsigned int ipv6mr_interface; }}. */
    static final class Ipv6Mreq extends Struct {
        final Unsigned8[] multiaddr = array(new Unsigned8[16]);
        final Unsigned32 iface = new Unsigned32();
        Ipv6Mreq() { super(Native.RUNTIME); }
    }

    private static final byte[] ZEROS = new byte[Scratch.OPT_SIZE];

    /**
     * getsockopt into a zeroed buffer of {@code len} bytes on fd number {@code fdn}; returns the
     * bytes the kernel wrote. (Zeroes with {@code put}: jnr-ffi 2.3.7's {@code setMemory} on a
     * slice checks bounds against the slice's base plus offset, so it throws for any slice not
     * at offset 0, such as {@link Scratch#opt}.)
     * @throws SocketException {@code :invalid} for a length outside 0-{@value Scratch#OPT_SIZE},
     *     else the errno's kind, with op {@code get-socket-option}
     */
    public static byte[] getBytes(int fdn, int level, int name, int len) throws SocketException {
        if (len < 0 || len > Scratch.OPT_SIZE)
            throw SocketException.invalid("get-socket-option", "option length " + len + " is out of range 0-" + Scratch.OPT_SIZE);
        Scratch sc = Scratch.get();
        sc.opt.put(0, ZEROS, 0, Scratch.OPT_SIZE);
        sc.len.putInt(0, len);
        if (Native.LIBC.getsockopt(fdn, level, name, sc.opt, sc.len) < 0)
            throw SocketException.errno("get-socket-option", Native.errno(), "unable to get socket option", null);
        int n = Math.max(0, Math.min(len, sc.len.getInt(0)));
        byte[] out = new byte[n];
        sc.opt.get(0, out, 0, n);
        return out;
    }

    private static <T extends Struct> T on(T s, byte[] bytes) {
        int size = Struct.size(s);
        Pointer p = Memory.allocate(Native.RUNTIME, size);
        if (bytes != null) p.put(0, bytes, 0, Math.min(size, bytes.length));
        s.useMemory(p);
        return s;
    }

    private static byte[] bytes(Struct s) {
        Pointer p = Struct.getMemory(s);
        byte[] out = new byte[Struct.size(s)];
        p.get(0, out, 0, out.length);
        return out;
    }

    /** sizeof(struct linger). */
    public static int lingerSize() { return Struct.size(new Linger()); }
    /** sizeof(struct timeval). */
    public static int timevalSize() { return Struct.size(new Timeval()); }
    /** sizeof(struct ip_mreq). */
    public static int ipMreqSize() { return Struct.size(new IpMreq()); }

    /** sizeof(struct ipv6_mreq). */
    public static int ipv6MreqSize() { return Struct.size(new Ipv6Mreq()); }

    /** The bytes of a {@code struct linger}. */
    public static byte[] linger(boolean on, int seconds) {
        Linger l = on(new Linger(), null);
        l.onoff.set(on ? 1 : 0);
        l.linger.set(seconds);
        return bytes(l);
    }

    /** {@code {l_onoff, l_linger}} of a {@code struct linger}'s bytes (missing bytes read as 0). */
    public static int[] lingerValues(byte[] b) {
        Linger l = on(new Linger(), b);
        return new int[] {l.onoff.get(), l.linger.get()};
    }

    /** The bytes of a {@code struct timeval} holding {@code micros} microseconds (not negative). */
    public static byte[] timeval(long micros) {
        if (micros < 0) throw new IllegalArgumentException("negative timeval: " + micros);
        Timeval t = on(new Timeval(), null);
        t.sec.set(micros / 1_000_000L);
        t.usec.set(micros % 1_000_000L);
        return bytes(t);
    }

    /** The microseconds a {@code struct timeval}'s bytes hold (missing bytes read as 0). */
    public static long timevalMicros(byte[] b) {
        Timeval t = on(new Timeval(), b);
        return t.sec.get() * 1_000_000L + t.usec.longValue();
    }

    /**
     * The bytes of a {@code struct ip_mreq}.
     * @param group the group's 4 address bytes, network order
     * @param iface the local interface address's 4 bytes, network order
     */
    public static byte[] ipMreq(byte[] group, byte[] iface) {
        if (group == null || group.length != 4 || iface == null || iface.length != 4)
            throw new IllegalArgumentException("ip_mreq needs two 4-byte IPv4 addresses");
        IpMreq m = on(new IpMreq(), null);
        Pointer p = Struct.getMemory(m);
        p.put(m.multiaddr.offset(), group, 0, 4);
        p.put(m.iface.offset(), iface, 0, 4);
        return bytes(m);
    }

    /**
     * The bytes of a {@code struct ipv6_mreq}.
     * @param group the group's 16 address bytes, network order
     * @param ifindex the interface index (0: the kernel chooses)
     */
    public static byte[] ipv6Mreq(byte[] group, int ifindex) {
        if (group == null || group.length != 16)
            throw new IllegalArgumentException("ipv6_mreq needs a 16-byte IPv6 address");
        Ipv6Mreq m = on(new Ipv6Mreq(), null);
        Pointer p = Struct.getMemory(m);
        p.put(m.multiaddr[0].offset(), group, 0, 16);
        m.iface.set(ifindex & 0xffffffffL);
        return bytes(m);
    }
}
