package sockets;

import clojure.lang.IExceptionInfo;
import clojure.lang.IPersistentMap;
import clojure.lang.Keyword;
import clojure.lang.PersistentArrayMap;
import java.io.IOException;
import sockets.impl.Native;

/**
 * The one exception this library throws. It is an {@link IOException} for Java callers and
 * an {@link IExceptionInfo} for Clojure callers, whose {@code ex-data} is
 * {@code {:op :errno :errno-code :address :kind}}:
 * <ul>
 * <li>{@code :op} the operation, a keyword named as the egg's procedure ({@code :socket-connect});</li>
 * <li>{@code :errno} the errno's name as a keyword ({@code :ECONNREFUSED}) or nil;</li>
 * <li>{@code :errno-code} the platform's errno number, or nil;</li>
 * <li>{@code :address} the socket address involved, as its string form, or nil;</li>
 * <li>{@code :kind} one of {@code :timeout}, {@code :transient}, {@code :unsupported}, {@code :fatal},
 * {@code :closed}, {@code :interrupted}, {@code :invalid} (bad argument, nothing was done),
 * {@code :lookup} (a getaddrinfo/getnameinfo failure), {@code :would-block} (the caller asked
 * not to wait, with MSG_DONTWAIT, and the call would have had to: errno EAGAIN).</li>
 * </ul>
 * <p>Make them with the factories ({@link #invalid}, {@link #closed(String)}, {@link #timeout},
 * {@link #interrupted}, {@link #wouldBlock}, {@link #unsupported}, {@link #fatal},
 * {@link #lookup}, {@link #fromErrno}), one per kind, so each kind's message reads the same
 * everywhere.
 * <ul>
 * </ul>
 */
public class SocketException extends IOException implements IExceptionInfo {
    private static final long serialVersionUID = 1L;

    /** The kinds of failure, as their ex-data keywords' names. */
    public enum Kind {
        /** The library's own timeout (the egg's {@code (exn i/o net timeout)}). */ TIMEOUT,
        /** Refused, unreachable, network down, system timeout: retrying may help. */ TRANSIENT,
        /** The platform lacks the option, level, family or protocol. */ UNSUPPORTED,
        /** Any other system error. */ FATAL,
        /** The socket was closed (before or during the call). */ CLOSED,
        /** The waiting thread was interrupted; the socket is left open and usable. */ INTERRUPTED,
        /** A bad argument; nothing native was called and nothing changed. */ INVALID,
        /** A name lookup failed (getaddrinfo/getnameinfo). */ LOOKUP,
        /**
         * The caller passed MSG_DONTWAIT and the call would have had to wait (errno EAGAIN):
         * nothing was done, try again later. Keyword {@code :would-block}.
         */
        WOULD_BLOCK;

        private final Keyword kw = Keyword.intern(null, name().toLowerCase().replace('_', '-'));

        /** The keyword used in ex-data ({@code :timeout}, {@code :would-block} ...). */
        public Keyword keyword() { return kw; }
    }

    /** The failed operation, e.g. "socket-connect" (:op in the data). */
    private final String op;
    /** What a caller can do about it (:kind in the data). */
    private final Kind kind;
    /** The platform errno, 0 when no system call failed. */
    private final int errno;
    /** The address involved, as text, or null. */
    private final String address;
    /** Further ex-data entries, or null. */
    private final IPersistentMap extra;

    /**
     * Creates an exception.
     * @param op the operation name, e.g. "socket-connect"
     * @param kind the kind
     * @param errno the errno, or 0 for none
     * @param address the address involved as a string, or null
     * @param message the message
     * @param extra more ex-data entries, or null
     */
    public SocketException(String op, Kind kind, int errno, String address, String message, IPersistentMap extra) {
        super(message);
        this.op = op;
        this.kind = kind;
        this.errno = errno;
        this.address = address;
        this.extra = extra;
    }

    /** An exception for a failed system call: the same as {@link #fromErrno}. */
    public static SocketException errno(String op, int errno, String what, Object address) {
        return fromErrno(op, errno, what, address);
    }

    /**
     * An exception for a failed system call: kind from the errno ({@link #kindOf}), message
     * "WHAT - strerror" naming {@code address} when given; for the errnos a caller can act on
     * (a refused connect, an address in use or not local, an unreachable network) the message
     * names the address and the likely fix instead.
     * @param address the address involved (its {@code toString} is kept), or null
     */
    public static SocketException fromErrno(String op, int errno, String what, Object address) {
        String a = address == null ? null : address.toString();
        String why = Native.message(errno);
        String n = a == null ? null : Native.errnoName(errno);
        String msg;
        if (errno == Native.EPIPE)
            msg = what + (a == null ? "" : " " + a) + " - " + why + " (the peer closed the connection, or the socket was never connected)";
        else if (n == null) msg = what + (a == null ? "" : " " + a) + " - " + why;
        else switch (n) {
            case "ECONNREFUSED": msg = "connect to " + a + " refused (" + why + "); is a server listening there?"; break;
            case "EADDRINUSE": msg = a + " is already in use (" + why + "); choose another port or set :so/reuse-address"; break;
            case "EADDRNOTAVAIL": msg = a + " is not an address of this host (" + why + "); bind to one of its addresses or to the wildcard"; break;
            case "ENETUNREACH": case "EHOSTUNREACH": msg = "cannot reach " + a + " (" + why + "); check the address and the routes"; break;
            case "ETIMEDOUT": msg = "connect to " + a + " timed out in the kernel (" + why + "); is the host up?"; break;
            default: msg = what + " " + a + " - " + why;
        }
        return new SocketException(op, kindOf(errno), errno, a, msg, null);
    }

    /** A bad-argument exception ({@code :invalid}): nothing was done. */
    public static SocketException invalid(String op, String message) {
        return new SocketException(op, Kind.INVALID, 0, null, message, null);
    }

    /** {@code :closed} for a socket closed before or during the call: errno EBADF, "socket is closed". */
    public static SocketException closed(String op) {
        return new SocketException(op, Kind.CLOSED, Native.EBADF, null, "socket is closed", null);
    }

    /** {@code :closed} with its own message (a closed port, a stopped loop), no errno. */
    public static SocketException closed(String op, String message) {
        return new SocketException(op, Kind.CLOSED, 0, null, message, null);
    }

    /**
     * {@code :timeout}: "WHAT timed out after N ms; ..." naming the duration and how to wait
     * longer. {@code timeoutMs} negative (unknown) leaves the duration out.
     * @param what the call, as the system call's name ("recv", "send", "accept", "connect")
     * @param address the address involved, or null
     */
    public static SocketException timeout(String op, String what, long timeoutMs, Object address) {
        String a = address == null ? null : address.toString();
        String var = what.startsWith("recv") ? "*socket-receive-timeout*"
                   : what.startsWith("send") ? "*socket-send-timeout*"
                   : what.startsWith("accept") ? "*socket-accept-timeout*"
                   : what.startsWith("connect") ? "*socket-connect-timeout*" : null;
        String msg = what + (a == null ? "" : " " + a) + " timed out" + (timeoutMs >= 0 ? " after " + timeoutMs + " ms" : "")
            + "; pass a longer timeout" + (var == null ? "" : " (Clojure: bind " + var + ", ms, nil = forever)");
        return new SocketException(op, Kind.TIMEOUT, 0, a, msg, null);
    }

    /** {@code :interrupted}: the waiting thread was interrupted (its interrupt status stays set). */
    public static SocketException interrupted(String op, String what) {
        return new SocketException(op, Kind.INTERRUPTED, 0, null, what + " interrupted", null);
    }

    /**
     * {@code :would-block}, errno EAGAIN: the caller passed MSG_DONTWAIT and the call would
     * have had to wait; nothing was done.
     */
    public static SocketException wouldBlock(String op, String what) {
        return new SocketException(op, Kind.WOULD_BLOCK, Native.EAGAIN, null,
                                   what + " would block (MSG_DONTWAIT was given); try again when the socket is ready", null);
    }

    /** {@code :unsupported}: the platform lacks what was asked for. */
    public static SocketException unsupported(String op, String message) {
        return new SocketException(op, Kind.UNSUPPORTED, 0, null, message, null);
    }

    /** {@code :fatal} with no errno (a failure inside the library, e.g. a handler that threw). */
    public static SocketException fatal(String op, String message) {
        return new SocketException(op, Kind.FATAL, 0, null, message, null);
    }

    /**
     * {@code :lookup}: a getaddrinfo/getnameinfo failure about {@code what} (a host, service or
     * address, or null), with its own ex-data entries (may be null).
     */
    public static SocketException lookup(String op, int errno, Object what, String message, IPersistentMap extra) {
        return new SocketException(op, Kind.LOOKUP, errno, what == null ? null : what.toString(), message, extra);
    }

    /** This exception with {@code address} (its string form) in place of its own; nothing else changes. */
    public SocketException withAddress(Object address) {
        SocketException e = new SocketException(op, kind, errno, address == null ? null : address.toString(), getMessage(), extra);
        if (getCause() != null) e.initCause(getCause());
        return e;
    }

    /** The kind an errno falls into: the egg's transient list, unsupported, closed, else fatal. */
    public static Kind kindOf(int errno) {
        String n = Native.errnoName(errno);
        if (n == null) return Kind.FATAL;
        switch (n) {
            case "ECONNREFUSED": case "ETIMEDOUT": case "ENETUNREACH": case "EHOSTUNREACH": case "ENETDOWN":
                return Kind.TRANSIENT;
            case "ENOPROTOOPT": case "EPROTONOSUPPORT": case "EAFNOSUPPORT": case "ESOCKTNOSUPPORT":
            case "EOPNOTSUPP": case "ENOTSUP": case "EPFNOSUPPORT":
                return Kind.UNSUPPORTED;
            case "EBADF":
                return Kind.CLOSED;
            default:
                return Kind.FATAL;
        }
    }

    /** The operation name. */
    public String op() { return op; }
    /** The kind. */
    public Kind kind() { return kind; }
    /** The errno, or 0 when none. */
    public int errno() { return errno; }
    /** The address string, or null. */
    public String address() { return address; }

    private static Keyword kw(String s) { return Keyword.intern(null, s); }

    /** {@code {:op :errno :errno-code :address :kind}} plus any extra entries. */
    @Override
    public IPersistentMap getData() {
        String name = errno == 0 ? null : Native.errnoName(errno);
        IPersistentMap m = PersistentArrayMap.EMPTY
            .assoc(kw("op"), kw(op))
            .assoc(kw("errno"), name == null ? null : kw(name))
            .assoc(kw("errno-code"), errno == 0 ? null : (Object) Long.valueOf(errno))
            .assoc(kw("address"), address)
            .assoc(kw("kind"), kind.keyword());
        if (extra != null) {
            for (Object o : extra) {
                java.util.Map.Entry<?, ?> e = (java.util.Map.Entry<?, ?>) o;
                m = m.assoc(e.getKey(), e.getValue());
            }
        }
        return m;
    }
}
