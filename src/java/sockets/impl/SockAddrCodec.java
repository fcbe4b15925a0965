package sockets.impl;

import java.nio.charset.StandardCharsets;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import sockets.SockAddr;
import sockets.SocketException;

/**
 * Encodes {@link SockAddr} values into native sockaddr structures and decodes them back.
 * Offsets and sizes come from jnr-ffi {@link Struct} layouts, one per platform layout
 * (Linux: a 16-bit family; the BSDs and macOS: a length byte then an 8-bit family).
 */
public final class SockAddrCodec {
    private SockAddrCodec() {}

    /** struct sockaddr_in, Linux layout. */
    static final class InLinux extends Struct {
        final Unsigned16 family = new Unsigned16();
        final Unsigned8[] port = array(new Unsigned8[2]);
        final Unsigned8[] addr = array(new Unsigned8[4]);
        final Unsigned8[] zero = array(new Unsigned8[8]);
        InLinux(Runtime r) { super(r); }
    }
    /** struct sockaddr_in, BSD layout. */
    static final class InBsd extends Struct {
        final Unsigned8 len = new Unsigned8();
        final Unsigned8 family = new Unsigned8();
        final Unsigned8[] port = array(new Unsigned8[2]);
        final Unsigned8[] addr = array(new Unsigned8[4]);
        final Unsigned8[] zero = array(new Unsigned8[8]);
        InBsd(Runtime r) { super(r); }
    }
    /** struct sockaddr_in6, Linux layout. */
    static final class In6Linux extends Struct {
        final Unsigned16 family = new Unsigned16();
        final Unsigned8[] port = array(new Unsigned8[2]);
        final Unsigned32 flowinfo = new Unsigned32();
        final Unsigned8[] addr = array(new Unsigned8[16]);
        final Unsigned32 scope = new Unsigned32();
        In6Linux(Runtime r) { super(r); }
    }
    /** struct sockaddr_in6, BSD layout. */
    static final class In6Bsd extends Struct {
        final Unsigned8 len = new Unsigned8();
        final Unsigned8 family = new Unsigned8();
        final Unsigned8[] port = array(new Unsigned8[2]);
        final Unsigned32 flowinfo = new Unsigned32();
        final Unsigned8[] addr = array(new Unsigned8[16]);
        final Unsigned32 scope = new Unsigned32();
        In6Bsd(Runtime r) { super(r); }
    }
    /** struct sockaddr_un, Linux layout. */
    static final class UnLinux extends Struct {
        final Unsigned16 family = new Unsigned16();
        final Unsigned8[] path = array(new Unsigned8[108]);
        UnLinux(Runtime r) { super(r); }
    }
    /** struct sockaddr_un, BSD layout. */
    static final class UnBsd extends Struct {
        final Unsigned8 len = new Unsigned8();
        final Unsigned8 family = new Unsigned8();
        final Unsigned8[] path = array(new Unsigned8[104]);
        UnBsd(Runtime r) { super(r); }
    }

    /** Offsets of one family's layout. */
    static final class Layout {
        final int size, port, addr, flowinfo, scope, path;
        Layout(int size, int port, int addr, int flowinfo, int scope, int path) {
            this.size = size; this.port = port; this.addr = addr; this.flowinfo = flowinfo; this.scope = scope; this.path = path;
        }
    }

    static final Layout IN, IN6, UN;
    static {
        Runtime r = Native.RUNTIME;
        if (Native.BSD_SOCKADDR) {
            InBsd a = new InBsd(r); In6Bsd b = new In6Bsd(r); UnBsd c = new UnBsd(r);
            IN = new Layout(Struct.size(a), (int) a.port[0].offset(), (int) a.addr[0].offset(), -1, -1, -1);
            IN6 = new Layout(Struct.size(b), (int) b.port[0].offset(), (int) b.addr[0].offset(), (int) b.flowinfo.offset(), (int) b.scope.offset(), -1);
            UN = new Layout(Struct.size(c), -1, -1, -1, -1, (int) c.path[0].offset());
        } else {
            InLinux a = new InLinux(r); In6Linux b = new In6Linux(r); UnLinux c = new UnLinux(r);
            IN = new Layout(Struct.size(a), (int) a.port[0].offset(), (int) a.addr[0].offset(), -1, -1, -1);
            IN6 = new Layout(Struct.size(b), (int) b.port[0].offset(), (int) b.addr[0].offset(), (int) b.flowinfo.offset(), (int) b.scope.offset(), -1);
            UN = new Layout(Struct.size(c), -1, -1, -1, -1, (int) c.path[0].offset());
        }
    }

    /** Bytes available for a unix socket path (sizeof sun_path). */
    public static int unixPathCapacity() { return UN.size - UN.path; }

    private static void putFamily(Pointer p, int family, int len) {
        if (Native.BSD_SOCKADDR) { p.putByte(0, (byte) len); p.putByte(1, (byte) family); }
        else p.putShort(0, (short) family);
    }

    private static void putBE32(Pointer p, int off, int v) {
        for (int i = 0; i < 4; i++) p.putByte(off + i, (byte) (v >>> (24 - 8 * i)));
    }

    private static int getBE32(Pointer p, int off) {
        int v = 0;
        for (int i = 0; i < 4; i++) v = (v << 8) | (p.getByte(off + i) & 0xff);
        return v;
    }

    /** The family of a native sockaddr. */
    public static int family(Pointer p) {
        return Native.BSD_SOCKADDR ? (p.getByte(1) & 0xff) : (p.getShort(0) & 0xffff);
    }

    /**
     * Writes {@code sa} into {@code p} (at least {@link Scratch#ADDR_SIZE} bytes) and returns its length.
     * @throws SocketException {@code :invalid} when a unix path does not fit
     */
    public static int encode(SockAddr sa, Pointer p) throws SocketException {
        int f = sa.family();
        if (f == Native.AF_INET) {
            p.setMemory(0, IN.size, (byte) 0);
            putFamily(p, f, IN.size);
            p.putByte(IN.port, (byte) (sa.port() >>> 8));
            p.putByte(IN.port + 1, (byte) sa.port());
            p.put(IN.addr, sa.addressBytes(), 0, 4);
            return IN.size;
        } else if (f == Native.AF_INET6) {
            p.setMemory(0, IN6.size, (byte) 0);
            putFamily(p, f, IN6.size);
            p.putByte(IN6.port, (byte) (sa.port() >>> 8));
            p.putByte(IN6.port + 1, (byte) sa.port());
            putBE32(p, IN6.flowinfo, sa.flowinfo());
            p.put(IN6.addr, sa.addressBytes(), 0, 16);
            p.putInt(IN6.scope, sa.scopeId());
            return IN6.size;
        } else if (f == Native.AF_UNIX) {
            byte[] path = unixPathBytes(sa.path());
            boolean abstractName = path.length > 0 && path[0] == 0;
            int len = UN.path + path.length + (abstractName || path.length == 0 ? 0 : 1);
            p.setMemory(0, UN.size, (byte) 0);
            putFamily(p, f, len);
            p.put(UN.path, path, 0, path.length);
            return len;
        }
        throw SocketException.invalid("sockaddr", "unsupported address family " + f);
    }

    /**
     * The bytes of a unix path as they go into sun_path: UTF-8, with "@name" meaning the Linux
     * abstract name (a leading NUL). Checked against the platform's capacity, so a path is
     * never truncated onto another one.
     */
    public static byte[] unixPathBytes(String path) throws SocketException {
        if (path.indexOf('\0') >= 0) throw SocketException.invalid("unix-address", "unix socket path contains a NUL character");
        byte[] utf8;
        if (path.startsWith("@")) {
            if (!Native.LINUX) throw SocketException.invalid("unix-address", "abstract unix socket names (@name) exist only on Linux");
            byte[] name = path.substring(1).getBytes(StandardCharsets.UTF_8);
            utf8 = new byte[name.length + 1];
            System.arraycopy(name, 0, utf8, 1, name.length);
            if (utf8.length > unixPathCapacity())
                throw SocketException.invalid("unix-address", "abstract unix socket name is " + utf8.length + " bytes; the limit is " + unixPathCapacity());
        } else {
            utf8 = path.getBytes(StandardCharsets.UTF_8);
            if (utf8.length >= unixPathCapacity())
                throw SocketException.invalid("unix-address", "unix socket path is " + utf8.length + " bytes; the limit is " + (unixPathCapacity() - 1));
        }
        return utf8;
    }

    /** Reads a native sockaddr of length {@code len}; null when len is 0 or the family is unspecified. */
    public static SockAddr decode(Pointer p, int len) {
        if (len < 2) return null;
        int f = family(p);
        if (f == Native.AF_INET && len >= IN.size) {
            byte[] a = new byte[4];
            p.get(IN.addr, a, 0, 4);
            int port = ((p.getByte(IN.port) & 0xff) << 8) | (p.getByte(IN.port + 1) & 0xff);
            return SockAddr.inet4(a, port);
        } else if (f == Native.AF_INET6 && len >= IN6.size) {
            byte[] a = new byte[16];
            p.get(IN6.addr, a, 0, 16);
            int port = ((p.getByte(IN6.port) & 0xff) << 8) | (p.getByte(IN6.port + 1) & 0xff);
            return SockAddr.inet6(a, port, getBE32(p, IN6.flowinfo), p.getInt(IN6.scope));
        } else if (f == Native.AF_UNIX) {
            int n = Math.min(len, UN.size) - UN.path;
            if (n <= 0) return SockAddr.unix("");
            byte[] raw = new byte[n];
            p.get(UN.path, raw, 0, n);
            if (raw[0] == 0) {
                if (n == 1 && !Native.LINUX) return SockAddr.unix("");
                return SockAddr.unix("@" + new String(raw, 1, n - 1, StandardCharsets.UTF_8));
            }
            int end = 0;
            while (end < n && raw[end] != 0) end++;
            return SockAddr.unix(new String(raw, 0, end, StandardCharsets.UTF_8));
        } else if (f == Native.AF_UNSPEC) {
            return null;
        }
        return SockAddr.other(f);
    }
}
