package sockets;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import jnr.ffi.Pointer;
import sockets.impl.AddrInfoStruct;
import sockets.impl.Native;
import sockets.impl.Scratch;
import sockets.impl.SockAddrCodec;

/**
 * An immutable socket address (the egg's {@code sockaddr}): an IPv4 or IPv6 address with a
 * port (and, for IPv6, a scope id and flow label), or a unix socket path ("@name" is a Linux
 * abstract name). Clojure sees it as a map ({@code sockets.address}).
 */
public final class SockAddr {
    private final int family;
    private final byte[] addr;   // 4 or 16 bytes, or null
    private final int port;
    private final int flowinfo;
    private final int scopeId;
    private final String host;   // numeric text of addr, without scope
    private final String path;   // unix only

    private SockAddr(int family, byte[] addr, int port, int flowinfo, int scopeId, String host, String path) {
        this.family = family; this.addr = addr; this.port = port; this.flowinfo = flowinfo;
        this.scopeId = scopeId; this.host = host; this.path = path;
    }

    private static void checkPort(String op, long port) throws SocketException {
        if (port < 0 || port > 65535) throw SocketException.invalid(op, "port " + port + " is out of range 0-65535");
    }

    /** An IPv4 address from its 4 bytes and a port (0-65535). */
    public static SockAddr inet4(byte[] a, int port) {
        if (a.length != 4) throw new IllegalArgumentException("IPv4 address must be 4 bytes");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port out of range: " + port);
        byte[] c = a.clone();
        return new SockAddr(Native.AF_INET, c, port, 0, 0, ntop(Native.AF_INET, c), null);
    }

    /** An IPv6 address from its 16 bytes, a port, a flow label and a scope id (interface index). */
    public static SockAddr inet6(byte[] a, int port, int flowinfo, int scopeId) {
        if (a.length != 16) throw new IllegalArgumentException("IPv6 address must be 16 bytes");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port out of range: " + port);
        byte[] c = a.clone();
        return new SockAddr(Native.AF_INET6, c, port, flowinfo, scopeId, ntop(Native.AF_INET6, c), null);
    }

    /** A unix socket address; "" is the unnamed address, "@name" a Linux abstract name. */
    public static SockAddr unix(String path) {
        if (path == null) throw new IllegalArgumentException("path is null");
        return new SockAddr(Native.AF_UNIX, null, 0, 0, 0, null, path);
    }

    /**
     * A unix socket address, checked: the path must fit the platform's sun_path (no silent
     * truncation) and contain no NUL.
     * @throws SocketException {@code :invalid} otherwise, or {@code :unsupported} without AF_UNIX
     */
    public static SockAddr unixChecked(String path) throws SocketException {
        if (Native.AF_UNIX < 0) throw SocketException.unsupported("unix-address", "UNIX sockets are not supported");
        if (path == null) throw SocketException.invalid("unix-address", "path must be a string");
        SockAddrCodec.unixPathBytes(path);
        return unix(path);
    }

    /** An address of a family this library does not decode (only its family is kept). */
    public static SockAddr other(int family) { return new SockAddr(family, null, 0, 0, 0, null, null); }

    /**
     * Parses a numeric IP address ("127.0.0.1", "::1", "fe80::1%lo", "fe80::1%2") with a port;
     * never resolves names. A null host gives the unspecified address, chosen as the egg does
     * (getaddrinfo with AI_PASSIVE: the system's first answer).
     * @throws SocketException {@code :invalid} for anything that is not a numeric address
     */
    public static SockAddr parseInet(String host, int port) throws SocketException {
        checkPort("inet-address", port);
        if (host == null) {
            java.util.List<AddrInfo> ais = AddrInfo.lookup(null, Integer.toString(port), 0, 0, 0,
                AddrInfoStruct.AI_PASSIVE | AddrInfoStruct.AI_NUMERICSERV);
            if (ais.isEmpty()) throw SocketException.invalid("inet-address", "no unspecified address on this system");
            return ais.get(0).address();
        }
        if (host.length() == 0 || host.length() > 96 || host.indexOf('\0') >= 0)
            throw SocketException.invalid("inet-address", "invalid internet address " + quote(host));
        String base = host;
        int scope = 0;
        int pct = host.indexOf('%');
        if (pct >= 0) {
            base = host.substring(0, pct);
            String s = host.substring(pct + 1);
            if (s.isEmpty()) throw SocketException.invalid("inet-address", "invalid internet address " + quote(host));
            if (s.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
                try { scope = Integer.parseUnsignedInt(s); } catch (NumberFormatException e) {
                    throw SocketException.invalid("inet-address", "scope id out of range in " + quote(host));
                }
            } else {
                if (s.length() > 15) throw SocketException.invalid("inet-address", "no such interface " + quote(s));
                scope = Native.LIBC.if_nametoindex(s);
                if (scope == 0) throw SocketException.invalid("inet-address", "no such interface " + quote(s) + " in " + quote(host));
            }
        }
        if (pct < 0) {
            byte[] a = dottedQuad(base); // the common case, without a native call
            if (a != null) return inet4(a, port);
        }
        Scratch sc = Scratch.get();
        if (pct < 0 && base.indexOf(':') < 0 && Native.LIBC.inet_pton(Native.AF_INET, base, sc.opt) == 1) {
            byte[] a = new byte[4];
            sc.opt.get(0, a, 0, 4);
            return inet4(a, port);
        }
        if (Native.LIBC.inet_pton(Native.AF_INET6, base, sc.opt) == 1) {
            byte[] a = new byte[16];
            sc.opt.get(0, a, 0, 16);
            return inet6(a, port, 0, scope);
        }
        throw SocketException.invalid("inet-address", "invalid internet address " + quote(host)
            + (looksLikeName(base) ? ": inet-address takes a numeric IP address; look a name up with (address-information "
               + quote(base) + " " + port + ")" : ""));
    }

    /** True for text that is a host name rather than a mistyped address (a letter, no ':'). */
    private static boolean looksLikeName(String s) {
        return s.indexOf(':') < 0 && s.chars().anyMatch(Character::isLetter);
    }

    private static String quote(String s) { return "\"" + s + "\""; }

    /**
     * The 4 bytes of {@code s} when it is what inet_pton(AF_INET) accepts: four decimal
     * octets 0-255 joined by dots, no leading zeros; else null (then inet_pton decides).
     */
    private static byte[] dottedQuad(String s) {
        int n = s.length();
        if (n < 7 || n > 15) return null;
        byte[] a = new byte[4];
        int part = 0, val = 0, digits = 0;
        for (int i = 0; i < n; i++) {
            char ch = s.charAt(i);
            if (ch >= '0' && ch <= '9') {
                if (digits > 0 && val == 0) return null; // a leading zero
                val = val * 10 + (ch - '0');
                if (++digits > 3 || val > 255) return null;
            } else if (ch == '.' && digits > 0 && part < 3) {
                a[part++] = (byte) val;
                val = 0;
                digits = 0;
            } else return null;
        }
        if (digits == 0 || part != 3) return null;
        a[3] = (byte) val;
        return a;
    }

    private static String ntop(int af, byte[] a) {
        if (af == Native.AF_INET && a.length == 4) // what inet_ntop writes, without a native call
            return (a[0] & 255) + "." + (a[1] & 255) + "." + (a[2] & 255) + "." + (a[3] & 255);
        Scratch sc = Scratch.get();
        sc.addr.put(0, a, 0, a.length);
        Pointer r = Native.LIBC.inet_ntop(af, sc.addr, sc.opt, 64);
        if (r == null) throw new IllegalStateException("inet_ntop failed");
        return sc.opt.getString(0, 64, StandardCharsets.US_ASCII);
    }

    /** The interface name of a scope id, or its number as text when it has none. */
    public static String scopeName(int scopeId) {
        Scratch sc = Scratch.get();
        Pointer r = Native.LIBC.if_indextoname(scopeId, sc.opt);
        return r == null ? Integer.toUnsignedString(scopeId) : sc.opt.getString(0, 64, StandardCharsets.US_ASCII);
    }

    /** The platform's address family number. */
    public int family() { return family; }
    /** True for AF_INET and AF_INET6. */
    public boolean isInet() { return family == Native.AF_INET || family == Native.AF_INET6; }
    /** True for AF_UNIX. */
    public boolean isUnix() { return family == Native.AF_UNIX; }
    /** The raw address bytes (a copy), or null for unix addresses. */
    public byte[] addressBytes() { return addr == null ? null : addr.clone(); }
    /** The numeric address text without scope ("fe80::1"), or null for unix addresses. */
    public String host() { return host; }
    /**
     * The egg's {@code sockaddr-address}: the numeric address with "%scope" for scoped IPv6
     * addresses, or the path for unix addresses.
     */
    public String address() {
        if (isUnix()) return path;
        if (host == null) return null;
        return scopeId != 0 ? host + "%" + scopeName(scopeId) : host;
    }
    /** The port (inet only, else 0). */
    public int port() { return port; }
    /** The IPv6 flow label (0 unless set). */
    public int flowinfo() { return flowinfo; }
    /** The IPv6 scope id (0 when none). */
    public int scopeId() { return scopeId; }
    /** The unix path, or null. */
    public String path() { return path; }

    /**
     * The egg's {@code sockaddr->string}: "address" when port is 0, "a.b.c.d:port",
     * "[v6]:port"; the path for unix addresses.
     */
    @Override
    public String toString() {
        if (isUnix()) return path;
        if (!isInet()) return "#<sockaddr family " + family + ">";
        String a = address();
        if (port == 0) return a;
        return family == Native.AF_INET6 ? "[" + a + "]:" + port : a + ":" + port;
    }

    /** Fills native memory with this address and returns its length (internal use). */
    public int encode(Pointer p) throws SocketException { return SockAddrCodec.encode(this, p); }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SockAddr)) return false;
        SockAddr s = (SockAddr) o;
        return family == s.family && port == s.port && flowinfo == s.flowinfo && scopeId == s.scopeId
            && Arrays.equals(addr, s.addr) && java.util.Objects.equals(path, s.path);
    }

    @Override
    public int hashCode() {
        return ((family * 31 + port) * 31 + scopeId) * 31 + Arrays.hashCode(addr) + (path == null ? 0 : path.hashCode());
    }

}
