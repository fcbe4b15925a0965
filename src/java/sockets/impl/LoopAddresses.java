package sockets.impl;

import clojure.lang.IPersistentMap;
import clojure.lang.Keyword;
import clojure.lang.PersistentArrayMap;
import clojure.lang.PersistentVector;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import sockets.AddrInfo;
import sockets.SocketException;

/**
 * Connecting over an address list, the parts every way of doing it shares (the blocking
 * {@code Socket.connectAny}, the loop's {@code connectAny} and happy eyeballs): the order of
 * the addresses, which failure moves on to the next address, and the one error reported when
 * all fail.
 */
public final class LoopAddresses {
    private LoopAddresses() {}

    /**
     * Checks the list and returns a copy in the order to try: as given (the egg's
     * socket-connect/ai), or for happy eyeballs interleaved by family (RFC 8305 section 4:
     * alternate families, starting with the first address's).
     * @throws SocketException {@code :invalid} for a null or empty list or a null entry
     */
    public static List<AddrInfo> order(String op, List<AddrInfo> ais, boolean interleave) throws SocketException {
        if (ais == null || ais.isEmpty()) throw SocketException.invalid(op, "no addresses to connect to");
        for (AddrInfo ai : ais) if (ai == null || ai.address() == null) throw SocketException.invalid(op, "an address list entry is missing");
        if (!interleave) return List.copyOf(ais);
        Map<Integer, List<AddrInfo>> byFamily = new LinkedHashMap<>();
        for (AddrInfo ai : ais) byFamily.computeIfAbsent(ai.family(), k -> new ArrayList<>()).add(ai);
        List<AddrInfo> out = new ArrayList<>(ais.size());
        for (int i = 0; out.size() < ais.size(); i++)
            for (List<AddrInfo> g : byFamily.values()) if (i < g.size()) out.add(g.get(i));
        return out;
    }

    /**
     * True when a failed attempt moves on to the next address: for the egg's sequential
     * connect a {@code :transient} or {@code :timeout} error; for happy eyeballs any error but
     * {@code :invalid} (RFC 8305 moves on after any failure).
     */
    public static boolean moveOn(SocketException e, boolean happy) {
        SocketException.Kind k = e.kind();
        return happy ? k != SocketException.Kind.INVALID : k == SocketException.Kind.TRANSIENT || k == SocketException.Kind.TIMEOUT;
    }

    /**
     * The error when every attempt failed (or one ended the list): the last error (its op, kind,
     * errno and address), its message naming every address tried, and ex-data {@code :tried}
     * (the addresses as text, in the order tried) and {@code :errors} (each attempt's message).
     */
    public static SocketException allFailed(List<AddrInfo> tried, List<SocketException> errors) {
        SocketException last = errors.get(errors.size() - 1);
        List<Object> addrs = new ArrayList<>(), msgs = new ArrayList<>();
        for (int i = 0; i < errors.size() && i < tried.size(); i++) {
            addrs.add(tried.get(i).address().toString());
            msgs.add(errors.get(i).getMessage());
        }
        IPersistentMap extra = PersistentArrayMap.EMPTY
            .assoc(Keyword.intern(null, "tried"), PersistentVector.create(addrs))
            .assoc(Keyword.intern(null, "errors"), PersistentVector.create(msgs));
        StringBuilder msg = new StringBuilder(last.getMessage()).append(" (tried ");
        for (int i = 0; i < addrs.size(); i++) msg.append(i == 0 ? "" : ", ").append(addrs.get(i));
        msg.append(')');
        SocketException e = new SocketException(last.op(), last.kind(), last.errno(), last.address(), msg.toString(), extra);
        e.initCause(last);
        return e;
    }
}
