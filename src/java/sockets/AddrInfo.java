package sockets;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import jnr.constants.platform.ErrnoAddressInfo;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.byref.PointerByReference;
import sockets.impl.AddrInfoStruct;
import sockets.impl.Native;
import sockets.impl.SockAddrCodec;

/**
 * One result of {@code getaddrinfo} (the egg's {@code addrinfo}): flags, family, socket type,
 * protocol (platform integers), a {@link SockAddr} and the canonical name (or null).
 */
public final class AddrInfo {
    private final int flags, family, socktype, protocol;
    private final SockAddr address;
    private final String canonname;

    /** Creates an addrinfo value. */
    public AddrInfo(int flags, int family, int socktype, int protocol, SockAddr address, String canonname) {
        this.flags = flags; this.family = family; this.socktype = socktype; this.protocol = protocol;
        this.address = address; this.canonname = canonname;
    }

    /** ai_flags. */ public int flags() { return flags; }
    /** ai_family. */ public int family() { return family; }
    /** ai_socktype. */ public int socktype() { return socktype; }
    /** ai_protocol. */ public int protocol() { return protocol; }
    /** ai_addr as a socket address. */ public SockAddr address() { return address; }
    /** ai_canonname, or null. */ public String canonname() { return canonname; }

    private static final int EAI_NONAME = Native.value(ErrnoAddressInfo.EAI_NONAME);
    private static final int EAI_SYSTEM = Native.value(ErrnoAddressInfo.EAI_SYSTEM);
    private static final int EAI_NODATA = Native.value(ErrnoAddressInfo.EAI_NODATA);

    static void checkName(String op, String what, String s) throws SocketException {
        if (s == null) return;
        if (s.indexOf('\0') >= 0) throw SocketException.invalid(op, what + " contains a NUL character");
        if (s.length() > 1024) throw SocketException.invalid(op, what + " is longer than 1024 characters");
    }

    /**
     * getaddrinfo(node, service, hints): the egg's {@code address-information}. A family, type
     * or protocol of 0 leaves that hint open. A name that does not exist (EAI_NONAME) gives an
     * empty list, as in the egg; other failures raise {@code :lookup} with gai_strerror's text.
     */
    public static List<AddrInfo> lookup(String node, String service, int family, int socktype, int protocol, int flags)
            throws SocketException {
        checkName("address-information", "node", node);
        checkName("address-information", "service", service);
        if (node == null && service == null) return Collections.emptyList();
        Pointer hints = Memory.allocateDirect(Native.RUNTIME, AddrInfoStruct.SIZE, true);
        hints.putInt(AddrInfoStruct.FLAGS, flags);
        hints.putInt(AddrInfoStruct.FAMILY, family);
        hints.putInt(AddrInfoStruct.SOCKTYPE, socktype);
        hints.putInt(AddrInfoStruct.PROTOCOL, protocol);
        PointerByReference res = new PointerByReference();
        int rc = Native.LIBC.getaddrinfo(node, service, hints, res);
        if (rc != 0) {
            int err = rc == EAI_SYSTEM ? Native.errno() : 0;
            if (rc == EAI_NONAME || (rc == EAI_NODATA && EAI_NODATA != -1)) return Collections.emptyList();
            String msg = Native.LIBC.gai_strerror(rc);
            throw SocketException.lookup("address-information", err,
                node == null ? service : node, msg == null ? "lookup failed" : lowerFirst(msg),
                clojure.lang.PersistentArrayMap.EMPTY.assoc(clojure.lang.Keyword.intern("gai-code"), (long) rc));
        }
        Pointer head = res.getValue();
        List<AddrInfo> out = new ArrayList<>();
        try {
            for (Pointer ai = head; ai != null && ai.address() != 0; ai = ai.getPointer(AddrInfoStruct.NEXT)) {
                Pointer sa = ai.getPointer(AddrInfoStruct.ADDR);
                int len = ai.getInt(AddrInfoStruct.ADDRLEN);
                SockAddr addr = sa == null ? null : SockAddrCodec.decode(sa, len);
                Pointer cn = ai.getPointer(AddrInfoStruct.CANONNAME);
                String canon = cn == null || cn.address() == 0 ? null : cn.getString(0, 1025, StandardCharsets.UTF_8);
                out.add(new AddrInfo(ai.getInt(AddrInfoStruct.FLAGS), ai.getInt(AddrInfoStruct.FAMILY),
                    ai.getInt(AddrInfoStruct.SOCKTYPE), ai.getInt(AddrInfoStruct.PROTOCOL), addr, canon));
            }
        } finally {
            Native.LIBC.freeaddrinfo(head);
        }
        return out;
    }

    static String lowerFirst(String s) {
        return s.isEmpty() ? s : Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }

    /**
     * getnameinfo: the egg's {@code name-information}, as {@code [host, service]} strings.
     * @throws SocketException {@code :lookup} with gai_strerror's text (e.g. with NI_NAMEREQD)
     */
    public static String[] nameInfo(SockAddr sa, int flags) throws SocketException {
        if (sa == null || !sa.isInet()) throw SocketException.invalid("name-information", "name-information needs an internet socket address");
        Pointer mem = Memory.allocateDirect(Native.RUNTIME, 128, true);
        Pointer host = Memory.allocateDirect(Native.RUNTIME, 1025, true);
        Pointer serv = Memory.allocateDirect(Native.RUNTIME, 32, true);
        int len = sa.encode(mem);
        int rc = Native.LIBC.getnameinfo(mem, len, host, 1025, serv, 32, flags);
        if (rc != 0) {
            String msg = Native.LIBC.gai_strerror(rc);
            throw SocketException.lookup("name-information", rc == EAI_SYSTEM ? Native.errno() : 0,
                sa, msg == null ? "lookup failed" : lowerFirst(msg),
                clojure.lang.PersistentArrayMap.EMPTY.assoc(clojure.lang.Keyword.intern("gai-code"), (long) rc));
        }
        return new String[] { host.getString(0, 1025, StandardCharsets.UTF_8), serv.getString(0, 32, StandardCharsets.UTF_8) };
    }

    @Override
    public String toString() {
        return "#<addrinfo \"" + address + "\" " + family + " " + socktype + " " + protocol
            + (canonname == null ? "" : " canonical: \"" + canonname + "\"") + ">";
    }
}
