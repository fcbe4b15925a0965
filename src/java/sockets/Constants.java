package sockets;

import jnr.constants.Constant;

/**
 * Named constants for Java callers of {@link Socket}: the integers that {@link Socket#open},
 * {@link Socket#getOption}/{@link Socket#setOption}, {@link Socket#shutdown} and the
 * {@code flags} arguments of receives and sends take. Every value comes from jnr-constants for
 * the platform the JVM runs on (no number is written here), read once when the nested class
 * is first used. A constant the platform lacks is {@link #UNDEFINED} (-1): passing it makes
 * the system call fail with a {@link SocketException} ({@code :invalid} or
 * {@code :unsupported}), never a crash.
 *
 * <pre>{@code
 * import sockets.Constants.AddressFamily;
 * import sockets.Constants.SocketType;
 * Socket s = Socket.open(AddressFamily.INET, SocketType.STREAM, 0);
 * s.setOption(Constants.Level.SOCKET, Constants.SocketOption.REUSEADDR, 1);
 * }</pre>
 *
 * The Clojure API names the same constants as keywords ({@code :af/inet}, {@code :so/reuseaddr}).
 */
public final class Constants {
    private Constants() {}

    /** The value of a constant this platform does not define. */
    public static final int UNDEFINED = -1;

    /**
     * The platform's value of {@code c}, or {@link #UNDEFINED} when the platform lacks it.
     * @param c a jnr-constants constant
     * @return its integer value on this platform, or -1; never throws
     */
    public static int value(Constant c) {
        return c != null && c.defined() ? c.intValue() : UNDEFINED;
    }

    /** Address families: the first argument of {@link Socket#open}. */
    public static final class AddressFamily {
        private AddressFamily() {}
        /** AF_INET: IPv4. */
        public static final int INET = value(jnr.constants.platform.AddressFamily.AF_INET);
        /** AF_INET6: IPv6. */
        public static final int INET6 = value(jnr.constants.platform.AddressFamily.AF_INET6);
        /** AF_UNIX: unix domain sockets (paths and, on Linux, abstract names). */
        public static final int UNIX = value(jnr.constants.platform.AddressFamily.AF_UNIX);
        /** AF_UNSPEC: any family (address lookups). */
        public static final int UNSPEC = value(jnr.constants.platform.AddressFamily.AF_UNSPEC);
    }

    /** Socket types: the second argument of {@link Socket#open}. */
    public static final class SocketType {
        private SocketType() {}
        /** SOCK_STREAM: a connection (TCP, or a unix stream). */
        public static final int STREAM = value(jnr.constants.platform.Sock.SOCK_STREAM);
        /** SOCK_DGRAM: datagrams (UDP, or unix datagrams). */
        public static final int DGRAM = value(jnr.constants.platform.Sock.SOCK_DGRAM);
        /** SOCK_SEQPACKET: a connection that keeps message boundaries. */
        public static final int SEQPACKET = value(jnr.constants.platform.Sock.SOCK_SEQPACKET);
        /** SOCK_RAW: raw packets (needs privileges). */
        public static final int RAW = value(jnr.constants.platform.Sock.SOCK_RAW);
    }

    /** Protocols: the third argument of {@link Socket#open} (0 picks the type's default). */
    public static final class Protocol {
        private Protocol() {}
        /** 0: the default protocol of the family and type. */
        public static final int DEFAULT = 0;
        /** IPPROTO_TCP. */
        public static final int TCP = value(jnr.constants.platform.IPProto.IPPROTO_TCP);
        /** IPPROTO_UDP. */
        public static final int UDP = value(jnr.constants.platform.IPProto.IPPROTO_UDP);
        /** IPPROTO_ICMP. */
        public static final int ICMP = value(jnr.constants.platform.IPProto.IPPROTO_ICMP);
        /** IPPROTO_ICMPV6. */
        public static final int ICMPV6 = value(jnr.constants.platform.IPProto.IPPROTO_ICMPV6);
    }

    /** Option levels: the first argument of {@link Socket#getOption}/{@link Socket#setOption}. */
    public static final class Level {
        private Level() {}
        /** SOL_SOCKET: the options of {@link SocketOption}. */
        public static final int SOCKET = value(jnr.constants.platform.SocketLevel.SOL_SOCKET);
        /** IPPROTO_TCP: the options of {@link TcpOption}. */
        public static final int TCP = value(jnr.constants.platform.IPProto.IPPROTO_TCP);
        /** IPPROTO_IP: the options of {@link IpOption}. */
        public static final int IP = value(jnr.constants.platform.IPProto.IPPROTO_IP);
        /** IPPROTO_IPV6: the options of {@link Ipv6Option}. */
        public static final int IPV6 = value(jnr.constants.platform.IPProto.IPPROTO_IPV6);
    }

    /** Options at {@link Level#SOCKET}: the second argument of getOption/setOption. */
    public static final class SocketOption {
        private SocketOption() {}
        /** SO_REUSEADDR (int, 0 or 1). */
        public static final int REUSEADDR = value(jnr.constants.platform.SocketOption.SO_REUSEADDR);
        /** SO_REUSEPORT (int, 0 or 1). */
        public static final int REUSEPORT = value(jnr.constants.platform.SocketOption.SO_REUSEPORT);
        /** SO_KEEPALIVE (int, 0 or 1). */
        public static final int KEEPALIVE = value(jnr.constants.platform.SocketOption.SO_KEEPALIVE);
        /** SO_BROADCAST (int, 0 or 1). */
        public static final int BROADCAST = value(jnr.constants.platform.SocketOption.SO_BROADCAST);
        /** SO_LINGER (struct linger: use the byte[] forms). */
        public static final int LINGER = value(jnr.constants.platform.SocketOption.SO_LINGER);
        /** SO_RCVBUF (int, bytes; Linux doubles what is set). */
        public static final int RCVBUF = value(jnr.constants.platform.SocketOption.SO_RCVBUF);
        /** SO_SNDBUF (int, bytes; Linux doubles what is set). */
        public static final int SNDBUF = value(jnr.constants.platform.SocketOption.SO_SNDBUF);
        /** SO_RCVLOWAT (int, bytes). */
        public static final int RCVLOWAT = value(jnr.constants.platform.SocketOption.SO_RCVLOWAT);
        /** SO_SNDLOWAT (int, bytes). */
        public static final int SNDLOWAT = value(jnr.constants.platform.SocketOption.SO_SNDLOWAT);
        /** SO_ERROR (int, read-only: the pending error, cleared by reading). */
        public static final int ERROR = value(jnr.constants.platform.SocketOption.SO_ERROR);
        /** SO_TYPE (int, read-only: a {@link SocketType} value). */
        public static final int TYPE = value(jnr.constants.platform.SocketOption.SO_TYPE);
        /** SO_ACCEPTCONN (int, read-only: 1 on a listening socket). */
        public static final int ACCEPTCONN = value(jnr.constants.platform.SocketOption.SO_ACCEPTCONN);
        /** SO_DONTROUTE (int, 0 or 1). */
        public static final int DONTROUTE = value(jnr.constants.platform.SocketOption.SO_DONTROUTE);
        /** SO_OOBINLINE (int, 0 or 1). */
        public static final int OOBINLINE = value(jnr.constants.platform.SocketOption.SO_OOBINLINE);
        /** SO_BINDTODEVICE (bytes: an interface name and a NUL, or one NUL to unbind; Linux). */
        public static final int BINDTODEVICE = value(jnr.constants.platform.SocketOption.SO_BINDTODEVICE);
        /** SO_MARK (int, the packets' fwmark; Linux, needs CAP_NET_ADMIN). */
        public static final int MARK = value(jnr.constants.platform.SocketOption.SO_MARK);
        /** SO_PRIORITY (int, 0-6 without CAP_NET_ADMIN; Linux). */
        public static final int PRIORITY = value(jnr.constants.platform.SocketOption.SO_PRIORITY);
    }

    /** Options at {@link Level#TCP}. */
    public static final class TcpOption {
        private TcpOption() {}
        /** TCP_NODELAY (int, 0 or 1: 1 turns Nagle's algorithm off). */
        public static final int NODELAY = value(jnr.constants.platform.TCP.TCP_NODELAY);
        /** TCP_MAXSEG (int, bytes). */
        public static final int MAXSEG = value(jnr.constants.platform.TCP.TCP_MAXSEG);
        /** TCP_KEEPIDLE (int, seconds before the first keep-alive probe; Linux). */
        public static final int KEEPIDLE = value(jnr.constants.platform.TCP.TCP_KEEPIDLE);
        /** TCP_KEEPINTVL (int, seconds between keep-alive probes). */
        public static final int KEEPINTVL = value(jnr.constants.platform.TCP.TCP_KEEPINTVL);
        /** TCP_KEEPCNT (int, probes before the connection is dropped). */
        public static final int KEEPCNT = value(jnr.constants.platform.TCP.TCP_KEEPCNT);
        /** TCP_USER_TIMEOUT (int, ms sent data may stay unacknowledged; Linux). */
        public static final int USER_TIMEOUT = value(jnr.constants.platform.TCP.TCP_USER_TIMEOUT);
        /** TCP_QUICKACK (int, 0 or 1; Linux). */
        public static final int QUICKACK = value(jnr.constants.platform.TCP.TCP_QUICKACK);
        /** TCP_FASTOPEN (int, the Fast Open queue length of a listener). */
        public static final int FASTOPEN = value(jnr.constants.platform.TCP.TCP_FASTOPEN);
        /** TCP_CONGESTION (bytes: the algorithm's name, at most 16 with the NUL; Linux, FreeBSD). */
        public static final int CONGESTION = value(jnr.constants.platform.TCP.TCP_CONGESTION);
    }

    /** Options at {@link Level#IP}. */
    public static final class IpOption {
        private IpOption() {}
        /** IP_TTL (int). */
        public static final int TTL = value(jnr.constants.platform.IP.IP_TTL);
        /** IP_TOS (int). */
        public static final int TOS = value(jnr.constants.platform.IP.IP_TOS);
        /** IP_MULTICAST_TTL (int). */
        public static final int MULTICAST_TTL = value(jnr.constants.platform.IP.IP_MULTICAST_TTL);
        /** IP_MULTICAST_LOOP (int, 0 or 1). */
        public static final int MULTICAST_LOOP = value(jnr.constants.platform.IP.IP_MULTICAST_LOOP);
        /** IP_FREEBIND (int, 0 or 1: bind to a non-local address; Linux). */
        public static final int FREEBIND = value(jnr.constants.platform.IP.IP_FREEBIND);
        /** IP_TRANSPARENT (int, 0 or 1; Linux, 1 needs CAP_NET_ADMIN). */
        public static final int TRANSPARENT = value(jnr.constants.platform.IP.IP_TRANSPARENT);
    }

    /** Options at {@link Level#IPV6}. */
    public static final class Ipv6Option {
        private Ipv6Option() {}
        /** IPV6_V6ONLY (int, 0 or 1: 1 refuses IPv4-mapped addresses). */
        public static final int V6ONLY = value(jnr.constants.platform.IPv6.IPV6_V6ONLY);
        /** IPV6_UNICAST_HOPS (int). */
        public static final int UNICAST_HOPS = value(jnr.constants.platform.IPv6.IPV6_UNICAST_HOPS);
        /** IPV6_MULTICAST_IF (int, an interface index). */
        public static final int MULTICAST_IF = value(jnr.constants.platform.IPv6.IPV6_MULTICAST_IF);
        /** IPV6_MULTICAST_HOPS (int, -1 for the default). */
        public static final int MULTICAST_HOPS = value(jnr.constants.platform.IPv6.IPV6_MULTICAST_HOPS);
        /** IPV6_MULTICAST_LOOP (int, 0 or 1). */
        public static final int MULTICAST_LOOP = value(jnr.constants.platform.IPv6.IPV6_MULTICAST_LOOP);
        /** IPV6_JOIN_GROUP (bytes: a struct ipv6_mreq, see {@code sockets.impl.OptionValues.ipv6Mreq}). */
        public static final int JOIN_GROUP = value(jnr.constants.platform.IPv6.IPV6_JOIN_GROUP);
        /** IPV6_LEAVE_GROUP (bytes: a struct ipv6_mreq). */
        public static final int LEAVE_GROUP = value(jnr.constants.platform.IPv6.IPV6_LEAVE_GROUP);
        /** IPV6_RECVPKTINFO (int, 0 or 1: IPV6_PKTINFO control messages). */
        public static final int RECVPKTINFO = value(jnr.constants.platform.IPv6.IPV6_RECVPKTINFO);
    }

    /** Message flags: the {@code flags} of receives and sends, combined with {@code |}. */
    public static final class MsgFlag {
        private MsgFlag() {}
        /** No flag. */
        public static final int NONE = 0;
        /** MSG_PEEK: receive without taking the data from the queue. */
        public static final int PEEK = value(jnr.constants.platform.SocketMessage.MSG_PEEK);
        /** MSG_OOB: out-of-band data. */
        public static final int OOB = value(jnr.constants.platform.SocketMessage.MSG_OOB);
        /** MSG_WAITALL: a receive waits for the whole buffer (or EOF, a signal, an error). */
        public static final int WAITALL = value(jnr.constants.platform.SocketMessage.MSG_WAITALL);
        /** MSG_DONTWAIT: this call does not wait. */
        public static final int DONTWAIT = value(jnr.constants.platform.SocketMessage.MSG_DONTWAIT);
        /** MSG_TRUNC: a datagram receive returns the datagram's real length. */
        public static final int TRUNC = value(jnr.constants.platform.SocketMessage.MSG_TRUNC);
    }

    /** How to shut down a connection: the argument of {@link Socket#shutdown}. */
    public static final class Shutdown {
        private Shutdown() {}
        /** SHUT_RD: no more receives. */
        public static final int RD = value(jnr.constants.platform.Shutdown.SHUT_RD);
        /** SHUT_WR: no more sends (the peer reads EOF). */
        public static final int WR = value(jnr.constants.platform.Shutdown.SHUT_WR);
        /** SHUT_RDWR: both. */
        public static final int RDWR = value(jnr.constants.platform.Shutdown.SHUT_RDWR);
    }
}
