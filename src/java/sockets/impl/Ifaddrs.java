package sockets.impl;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jnr.constants.platform.InterfaceInfo;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import jnr.ffi.byref.PointerByReference;
import sockets.SockAddr;
import sockets.SocketException;

/**
 * The native side of {@link sockets.NetInterface}: getifaddrs(3) read into {@link Entry}
 * values (the list is always given back with freeifaddrs(3)), if_nametoindex(3) and
 * if_indextoname(3) on byte names, and the IFF_ flag names. Never blocks on the network
 * (the kernel answers from its tables).
 */
public final class Ifaddrs {
    private Ifaddrs() {}

    /**
     * struct ifaddrs. The fields come in this order on Linux (glibc, musl), macOS and the
     * BSDs; Linux's {@code ifa_ifu} union (broadcast or destination address) is the BSDs'
     * {@code ifa_dstaddr} ({@code ifa_broadaddr} is a macro for it there). jnr-ffi's Struct
     * places the fields for this platform's pointer size and alignment, so no offset is
     * written here: on LP64 they are 0, 8, 16, 24, 32, 40, 48; on 32-bit 0, 4, ..., 24.
     */
    static final class Layout extends Struct {
        final Pointer next = new Pointer();
        final Pointer name = new Pointer();
        final Unsigned32 flags = new Unsigned32();
        final Pointer addr = new Pointer();
        final Pointer netmask = new Pointer();
        final Pointer dstaddr = new Pointer();
        final Pointer data = new Pointer();
        Layout(Runtime r) { super(r); }
    }

    private static final int NEXT, NAME, FLAGS, ADDR, NETMASK, DSTADDR;
    static {
        Layout l = new Layout(Native.RUNTIME);
        NEXT = (int) l.next.offset(); NAME = (int) l.name.offset(); FLAGS = (int) l.flags.offset();
        ADDR = (int) l.addr.offset(); NETMASK = (int) l.netmask.offset(); DSTADDR = (int) l.dstaddr.offset();
    }

    /** IFNAMSIZ: bytes for an interface name with its NUL. */
    public static final int IFNAMSIZ = 16; // <net/if.h>: 16 on Linux, macOS and the BSDs; jnr-constants lacks it

    /** IFF_UP (InterfaceInfo in jnr-constants), or -1 where this platform lacks it. */
    public static final int IFF_UP = Native.value(InterfaceInfo.IFF_UP);
    /** IFF_BROADCAST: the entry's dstaddr field is a broadcast address. */
    public static final int IFF_BROADCAST = Native.value(InterfaceInfo.IFF_BROADCAST);
    /** IFF_POINTOPOINT: the entry's dstaddr field is the other end's address. */
    public static final int IFF_POINTOPOINT = Native.value(InterfaceInfo.IFF_POINTOPOINT);

    private static final int[] FLAG_BITS;
    private static final String[] FLAG_NAMES;
    static {
        // Every IFF_ flag jnr-constants defines here, named as keyword text ("up", "point-to-point"),
        // in bit order. Bits it does not define (e.g. Linux's IFF_LOWER_UP) are left out.
        List<InterfaceInfo> defined = new ArrayList<>();
        for (InterfaceInfo f : InterfaceInfo.values())
            if (f.defined() && f.name().startsWith("IFF_") && f.intValue() != 0) defined.add(f);
        defined.sort((a, b) -> a.intValue() != b.intValue() ? Integer.compareUnsigned(a.intValue(), b.intValue())
                                                            : a.name().compareTo(b.name()));
        FLAG_BITS = new int[defined.size()];
        FLAG_NAMES = new String[defined.size()];
        for (int i = 0; i < FLAG_BITS.length; i++) {
            InterfaceInfo f = defined.get(i);
            String n = f.name().substring(4).toLowerCase(java.util.Locale.ROOT).replace('_', '-');
            FLAG_BITS[i] = f.intValue();
            FLAG_NAMES[i] = n.equals("pointopoint") ? "point-to-point" : n;
        }
    }

    /** The names of the IFF_ flags set in {@code flags}, in bit order ("up", "broadcast", ...). */
    public static List<String> flagNames(int flags) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < FLAG_BITS.length; i++)
            if ((flags & FLAG_BITS[i]) == FLAG_BITS[i]) out.add(FLAG_NAMES[i]);
        return Collections.unmodifiableList(out);
    }

    /** One getifaddrs entry: an interface name, its index and flags, and at most one address. */
    public static final class Entry {
        /** The interface name (a Linux address label such as "eth0:1" is kept as it is). */
        public final String name;
        /** The interface index (if_nametoindex of the name); 0 when the interface went away meanwhile. */
        public final int index;
        /** The IFF_ flags. */
        public final int flags;
        /** The address (AF_INET or AF_INET6), or null for an entry of another family or none. */
        public final SockAddr address;
        /** The netmask, or null. */
        public final SockAddr netmask;
        /** The broadcast address (IFF_BROADCAST) or the other end's (IFF_POINTOPOINT), or null. */
        public final SockAddr dstaddr;

        Entry(String name, int index, int flags, SockAddr address, SockAddr netmask, SockAddr dstaddr) {
            this.name = name; this.index = index; this.flags = flags;
            this.address = address; this.netmask = netmask; this.dstaddr = dstaddr;
        }
    }

    /**
     * Every getifaddrs entry, in the kernel's order. Entries of families other than AF_INET
     * and AF_INET6 (Linux's AF_PACKET, the BSDs' AF_LINK) have a null address, so interfaces
     * without an internet address are still named.
     * @throws SocketException from getifaddrs' errno, or {@code :unsupported} where libc lacks it
     */
    public static List<Entry> read() throws SocketException {
        PointerByReference res = new PointerByReference();
        int rc;
        try {
            rc = Native.LIBC.getifaddrs(res);
        } catch (UnsatisfiedLinkError e) {
            throw SocketException.unsupported("interfaces", "getifaddrs(3) is not available on this platform");
        }
        if (rc != 0) throw SocketException.fromErrno("interfaces", Native.errno(), "getifaddrs", null);
        Pointer head = res.getValue();
        List<Entry> out = new ArrayList<>();
        try {
            Map<String, Integer> indexes = new HashMap<>();
            Pointer tmp = Native.BSD_SOCKADDR ? Memory.allocateDirect(Native.RUNTIME, Scratch.ADDR_SIZE, true) : null;
            for (Pointer e = head; e != null && e.address() != 0; e = e.getPointer(NEXT)) {
                byte[] raw = nameBytes(e.getPointer(NAME));
                if (raw == null) continue;
                String key = new String(raw, StandardCharsets.ISO_8859_1); // lossless, for the cache
                Integer index = indexes.get(key);
                if (index == null) { index = nameToIndex(raw); indexes.put(key, index); }
                int flags = e.getInt(FLAGS);
                Pointer sa = e.getPointer(ADDR);
                int family = sa == null || sa.address() == 0 ? -1 : SockAddrCodec.family(sa);
                SockAddr address = null, netmask = null, dst = null;
                if (family == Native.AF_INET || family == Native.AF_INET6) {
                    address = sockaddr(sa, family, tmp);
                    netmask = sockaddr(e.getPointer(NETMASK), family, tmp);
                    if (has(flags, IFF_POINTOPOINT) || has(flags, IFF_BROADCAST))
                        dst = sockaddr(e.getPointer(DSTADDR), family, tmp);
                }
                out.add(new Entry(new String(raw, StandardCharsets.UTF_8), index, flags, address, netmask, dst));
            }
        } finally {
            Native.LIBC.freeifaddrs(head);
        }
        return out;
    }

    private static boolean has(int flags, int bit) { return bit > 0 && (flags & bit) != 0; }

    /** The bytes of a NUL-terminated name (at most 255 read), or null for a null pointer. */
    private static byte[] nameBytes(Pointer p) {
        if (p == null || p.address() == 0) return null;
        int n = 0;
        while (n < 255 && p.getByte(n) != 0) n++;
        byte[] b = new byte[n];
        p.get(0, b, 0, n);
        return b;
    }

    /**
     * An AF_INET or AF_INET6 sockaddr of {@code family} at {@code sa}, or null. On Linux the
     * structure is whole and carries its family. On the BSDs and macOS a netmask may be cut
     * short (sa_len below the structure's size, the zero tail left off) and carry family 0:
     * its sa_len bytes are copied into zeroed memory ({@code tmp}) and the family set.
     */
    private static SockAddr sockaddr(Pointer sa, int family, Pointer tmp) {
        if (sa == null || sa.address() == 0) return null;
        int size = family == Native.AF_INET ? SockAddrCodec.IN.size : SockAddrCodec.IN6.size;
        if (!Native.BSD_SOCKADDR)
            return SockAddrCodec.family(sa) == family ? SockAddrCodec.decode(sa, size) : null;
        int len = Math.min(sa.getByte(0) & 0xff, size);
        tmp.setMemory(0, size, (byte) 0);
        if (len > 2) tmp.transferFrom(2, sa, 2, len - 2);
        tmp.putByte(0, (byte) size);
        tmp.putByte(1, (byte) family);
        return SockAddrCodec.decode(tmp, size);
    }

    /** if_nametoindex on a name's bytes (without NUL): its index, or 0 when there is none. */
    public static int nameToIndex(byte[] name) {
        return Native.LIBC.if_nametoindex(Arrays.copyOf(name, name.length + 1));
    }

    /** if_indextoname: the name of interface {@code index} (unsigned), or null when there is none. */
    public static String indexToName(int index) {
        if (index == 0) return null;
        Pointer buf = Scratch.get().opt; // OPT_SIZE >= IFNAMSIZ
        buf.setMemory(0, IFNAMSIZ + 1, (byte) 0);
        if (Native.LIBC.if_indextoname(index, buf) == null) return null;
        byte[] b = nameBytes(buf);
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }
}
