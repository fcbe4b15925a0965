package sockets.impl;

import jnr.constants.platform.AddressInfo;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;

/**
 * struct addrinfo, in the two layouts that exist (Linux puts ai_addr before ai_canonname,
 * the BSDs and macOS the other way round); offsets come from jnr-ffi's {@link Struct} layout.
 */
public final class AddrInfoStruct {
    private AddrInfoStruct() {}

    /** AI_PASSIVE. */ public static final int AI_PASSIVE = Native.value(AddressInfo.AI_PASSIVE);
    /** AI_NUMERICHOST. */ public static final int AI_NUMERICHOST = Native.value(AddressInfo.AI_NUMERICHOST);
    /** AI_NUMERICSERV. */ public static final int AI_NUMERICSERV = Math.max(0, Native.value(AddressInfo.AI_NUMERICSERV));
    /** AI_CANONNAME. */ public static final int AI_CANONNAME = Native.value(AddressInfo.AI_CANONNAME);

    static final class Linux extends Struct {
        final Signed32 flags = new Signed32();
        final Signed32 family = new Signed32();
        final Signed32 socktype = new Signed32();
        final Signed32 protocol = new Signed32();
        final Unsigned32 addrlen = new Unsigned32();
        final Pointer addr = new Pointer();
        final Pointer canonname = new Pointer();
        final Pointer next = new Pointer();
        Linux(Runtime r) { super(r); }
    }

    static final class Bsd extends Struct {
        final Signed32 flags = new Signed32();
        final Signed32 family = new Signed32();
        final Signed32 socktype = new Signed32();
        final Signed32 protocol = new Signed32();
        final Unsigned32 addrlen = new Unsigned32();
        final Pointer canonname = new Pointer();
        final Pointer addr = new Pointer();
        final Pointer next = new Pointer();
        Bsd(Runtime r) { super(r); }
    }

    /** Offsets within struct addrinfo. */
    public static final int SIZE, FLAGS, FAMILY, SOCKTYPE, PROTOCOL, ADDRLEN, ADDR, CANONNAME, NEXT;
    static {
        if (Native.BSD_SOCKADDR) {
            Bsd s = new Bsd(Native.RUNTIME);
            SIZE = Struct.size(s); FLAGS = (int) s.flags.offset(); FAMILY = (int) s.family.offset();
            SOCKTYPE = (int) s.socktype.offset(); PROTOCOL = (int) s.protocol.offset(); ADDRLEN = (int) s.addrlen.offset();
            ADDR = (int) s.addr.offset(); CANONNAME = (int) s.canonname.offset(); NEXT = (int) s.next.offset();
        } else {
            Linux s = new Linux(Native.RUNTIME);
            SIZE = Struct.size(s); FLAGS = (int) s.flags.offset(); FAMILY = (int) s.family.offset();
            SOCKTYPE = (int) s.socktype.offset(); PROTOCOL = (int) s.protocol.offset(); ADDRLEN = (int) s.addrlen.offset();
            ADDR = (int) s.addr.offset(); CANONNAME = (int) s.canonname.offset(); NEXT = (int) s.next.offset();
        }
    }
}
