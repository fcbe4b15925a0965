package sockets;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import sockets.impl.Ifaddrs;

/**
 * A network interface of this host, as getifaddrs(3) reports it: its name, index, IFF_
 * flags and internet addresses (the Clojure form is {@code sockets.platform/interfaces}).
 * Immutable: a snapshot taken by {@link #list()}; nothing here holds a descriptor or native
 * memory, so there is nothing to close. An interface's {@link #index()} is the scope id of
 * its IPv6 link-local addresses ({@link SockAddr#inet6}'s {@code scopeId}).
 */
public final class NetInterface {
    private final String name;
    private final int index;
    private final int flagBits;
    private final List<String> flags;
    private final List<Address> addresses;

    private NetInterface(String name, int index, int flagBits, List<Address> addresses) {
        this.name = name; this.index = index; this.flagBits = flagBits;
        this.flags = Ifaddrs.flagNames(flagBits);
        this.addresses = Collections.unmodifiableList(addresses);
    }

    /**
     * One internet address of an interface, with its netmask and its broadcast address (on a
     * broadcast interface) or the other end's address (on a point-to-point one). Immutable.
     */
    public static final class Address {
        private final SockAddr address, netmask, broadcast, destination;

        private Address(SockAddr address, SockAddr netmask, SockAddr broadcast, SockAddr destination) {
            this.address = address; this.netmask = netmask; this.broadcast = broadcast; this.destination = destination;
        }
        /** The address (AF_INET or AF_INET6, port 0; a link-local IPv6 one carries the scope id). */
        public SockAddr address() { return address; }
        /** The netmask as an address of the same family, or null when the kernel gave none. */
        public SockAddr netmask() { return netmask; }
        /** The broadcast address (IFF_BROADCAST interfaces), or null. */
        public SockAddr broadcast() { return broadcast; }
        /** The other end's address (IFF_POINTOPOINT interfaces), or null. */
        public SockAddr destination() { return destination; }
        /** "address/netmask" with the broadcast or destination address when there is one. */
        @Override public String toString() {
            return address + (netmask == null ? "" : "/" + netmask)
                + (broadcast != null ? " broadcast " + broadcast : destination != null ? " destination " + destination : "");
        }
    }

    /**
     * Every network interface of this host (of this network namespace, on Linux), sorted by
     * index, then name. Reads the kernel's tables with getifaddrs(3) (which it always frees)
     * and if_nametoindex(3); does not block on the network. An interface without an internet
     * address is listed with no addresses; link-layer entries (Linux's AF_PACKET, the BSDs'
     * AF_LINK) are not listed as addresses. A Linux address label ("eth0:1") is an interface
     * of its own name, with its device's index. An interface that disappears between the two
     * calls is left out.
     * @return an unmodifiable list, a new snapshot on each call
     * @throws SocketException with getifaddrs' errno (e.g. {@code ENOMEM}), or
     *         {@code :unsupported} where libc has no getifaddrs
     */
    public static List<NetInterface> list() throws SocketException {
        Map<String, List<Ifaddrs.Entry>> byName = new LinkedHashMap<>();
        for (Ifaddrs.Entry e : Ifaddrs.read())
            byName.computeIfAbsent(e.name, k -> new ArrayList<>()).add(e);
        List<NetInterface> out = new ArrayList<>();
        for (Map.Entry<String, List<Ifaddrs.Entry>> kv : byName.entrySet()) {
            List<Ifaddrs.Entry> es = kv.getValue();
            int index = es.get(0).index;
            if (index == 0) continue;
            int flags = es.get(0).flags;
            List<Address> addrs = new ArrayList<>();
            for (Ifaddrs.Entry e : es) {
                if (e.address == null) continue;
                boolean p2p = Ifaddrs.IFF_POINTOPOINT > 0 && (e.flags & Ifaddrs.IFF_POINTOPOINT) != 0;
                addrs.add(new Address(e.address, e.netmask, p2p ? null : e.dstaddr, p2p ? e.dstaddr : null));
            }
            out.add(new NetInterface(kv.getKey(), index, flags, addrs));
        }
        out.sort((a, b) -> a.index != b.index ? Integer.compareUnsigned(a.index, b.index) : a.name.compareTo(b.name));
        return Collections.unmodifiableList(out);
    }

    /**
     * The index of the interface named {@code name} (if_nametoindex(3)), or 0 when there is no
     * such interface. Does not block on the network.
     * @throws SocketException {@code :invalid} (nothing is looked up) when the name is null, has
     *         a NUL or a lone UTF-16 surrogate, or is longer than 15 bytes of UTF-8 (IFNAMSIZ)
     */
    public static int index(String name) throws SocketException {
        byte[] b = nameBytes(name);
        return b.length == 0 ? 0 : Ifaddrs.nameToIndex(b);
    }

    /**
     * The name of the interface with index {@code index} (if_indextoname(3); the index is
     * read as unsigned), or null when there is none (no interface has index 0). Does not block
     * on the network.
     */
    public static String name(int index) { return Ifaddrs.indexToName(index); }

    private static byte[] nameBytes(String name) throws SocketException {
        String rule = "the interface name must be a string of at most " + (Ifaddrs.IFNAMSIZ - 1)
            + " bytes of UTF-8 without NUL, not ";
        if (name == null) throw SocketException.invalid("interface-index", "interface-index: " + rule + "nil");
        String shown = name.length() > 40 ? "\"" + name.substring(0, 40) + "\"... (" + name.length() + " chars)" : "\"" + name + "\"";
        if (name.length() >= Ifaddrs.IFNAMSIZ * 4 || name.indexOf('\0') >= 0)
            throw SocketException.invalid("interface-index", "interface-index: " + rule + shown);
        try {
            ByteBuffer bb = StandardCharsets.UTF_8.newEncoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                .encode(CharBuffer.wrap(name));
            if (bb.remaining() >= Ifaddrs.IFNAMSIZ) throw SocketException.invalid("interface-index", "interface-index: " + rule + shown);
            byte[] b = new byte[bb.remaining()];
            bb.get(b);
            return b;
        } catch (CharacterCodingException e) {
            throw SocketException.invalid("interface-index", "interface-index: " + rule + shown);
        }
    }

    /** The interface name ("lo", "eth0"). */
    public String name() { return name; }
    /** The interface index (1 or more; compare as unsigned). */
    public int index() { return index; }
    /** The IFF_ flags as the kernel gave them, including bits with no name in {@link #flags()}. */
    public int flagBits() { return flagBits; }
    /**
     * The names of the IFF_ flags set, in bit order: "up", "broadcast", "loopback",
     * "point-to-point", "running", "multicast", ... (the IFF_ flags jnr-constants names on
     * this platform, lower case, '_' as '-').
     */
    public List<String> flags() { return flags; }
    /** True when the interface is up (IFF_UP). */
    public boolean isUp() { return Ifaddrs.IFF_UP > 0 && (flagBits & Ifaddrs.IFF_UP) != 0; }
    /** The interface's internet addresses (IPv4 and IPv6), in the kernel's order; unmodifiable. */
    public List<Address> addresses() { return addresses; }

    /** "index: name [flags] addresses". */
    @Override public String toString() { return index + ": " + name + " " + flags + " " + addresses; }
}
