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
 * {@code :lookup} (a getaddrinfo/getnameinfo failure).</li>
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
        /** A name lookup failed (getaddrinfo/getnameinfo). */ LOOKUP;

        /** The keyword used in ex-data. */
        public Keyword keyword() { return Keyword.intern(null, name().toLowerCase()); }
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

    /** An exception for a failed system call: kind from the errno, message "what - strerror". */
    public static SocketException errno(String op, int errno, String what, Object address) {
        return new SocketException(op, kindOf(errno), errno, address == null ? null : address.toString(),
                                   what + " - " + Native.message(errno), null);
    }

    /** A bad-argument exception: nothing was done. */
    public static SocketException invalid(String op, String message) {
        return new SocketException(op, Kind.INVALID, 0, null, message, null);
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
