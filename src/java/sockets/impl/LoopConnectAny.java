package sockets.impl;

import java.util.ArrayList;
import java.util.List;
import sockets.AddrInfo;
import sockets.EventLoop;
import sockets.Socket;
import sockets.SocketException;

/**
 * Connecting over an address list on the loop's non-blocking connects, sequentially (the
 * egg's socket-connect/ai: the next address after a transient failure or timeout) or the
 * happy-eyeballs way (RFC 8305: each next attempt starts a stagger delay after the previous
 * one or at once when it fails; the first connection wins and every other attempt is
 * abandoned, its socket closed). Runs on the loop thread only.
 */
public final class LoopConnectAny {
    private final LoopCore loop;
    private final List<AddrInfo> ais;
    private final long staggerMs; // negative: sequential
    private final EventLoop.Options opts;
    private final EventLoop.ConnectHandler handler;
    private final FlowConnect[] running;
    private final SocketException[] errors;
    private final List<EventLoop.Attempt> log;
    private final EventLoop.Attempt[] outcomes;
    private long t0;
    private int started, failed;
    private boolean finished;

    /**
     * Prepares the attempts over {@code ais} (already ordered, see {@link LoopAddresses#order});
     * {@code staggerMs} negative: sequential. {@code log} (may be null) gets one entry per
     * attempt made, in order, before the handler is called. Start it with {@link #start} on
     * the loop thread.
     */
    public LoopConnectAny(LoopCore loop, List<AddrInfo> ais, long staggerMs, EventLoop.Options opts,
                          List<EventLoop.Attempt> log, EventLoop.ConnectHandler h) {
        this.loop = loop; this.ais = ais; this.opts = opts; this.handler = h; this.log = log;
        this.outcomes = new EventLoop.Attempt[ais.size()];
        this.staggerMs = staggerMs;
        this.running = new FlowConnect[ais.size()];
        this.errors = new SocketException[ais.size()];
    }

    private boolean happy() { return staggerMs >= 0; }

    /** Starts the first attempt. Loop thread. */
    public void start() { t0 = System.nanoTime(); next(); }

    private void note(int i, String error, boolean won) {
        if (outcomes[i] == null) outcomes[i] = new EventLoop.Attempt(ais.get(i).address(), error, (System.nanoTime() - t0) / 1_000_000L, won);
    }

    /** The attempts made, in order, into the log (once, just before the handler is called). */
    private void flushLog() {
        if (log == null) return;
        for (int k = 0; k < started; k++) if (outcomes[k] != null) log.add(outcomes[k]);
    }

    private void next() {
        int i = started++;
        AddrInfo ai = ais.get(i);
        FlowConnect f = new FlowConnect(loop, ai.address(), ai.socktype(), opts, new Attempt(i));
        running[i] = f;
        f.run(); // we are on the loop thread: start it now
        if (!finished && happy() && started < ais.size() && started == i + 1) {
            long at = Waiting.deadline(staggerMs, System.nanoTime());
            if (at != Long.MAX_VALUE) loop.at(at, new Next(i + 1));
        }
    }

    /** The stagger delay after attempt {@code index - 1} passed: start attempt {@code index} unless it already was. */
    final class Next extends LoopTask {
        private final int index;
        Next(int index) { this.index = index; }
        @Override void run() { if (!finished && started == index) next(); }
    }

    /** The outcome of attempt {@code i}. */
    final class Attempt implements EventLoop.ConnectHandler {
        private final int i;
        Attempt(int i) { this.i = i; }

        @Override
        public void onConnected(Socket s) {
            running[i] = null;
            if (finished) { s.closeQuietly(); return; }
            finished = true;
            note(i, null, true);
            for (int k = 0; k < running.length; k++) {
                if (running[k] == null) continue;
                loop.end(running[k], null, true); // losers: their sockets close
                note(k, "abandoned", false);
            }
            flushLog();
            handler.onConnected(s);
        }

        @Override
        public void onError(SocketException e) {
            running[i] = null;
            if (finished) return;
            errors[i] = e;
            note(i, e.getMessage(), false);
            failed++;
            boolean more = started < ais.size() && LoopAddresses.moveOn(e, happy()) && loop.state() == EventLoop.State.RUNNING;
            if (more) { next(); return; }
            if (happy() && LoopAddresses.moveOn(e, true) && failed < started) return; // others still running
            finished = true;
            for (int k = 0; k < running.length; k++) {
                if (running[k] == null) continue;
                loop.end(running[k], null, true);
                note(k, "abandoned", false);
            }
            flushLog();
            List<AddrInfo> tried = new ArrayList<>();
            List<SocketException> errs = new ArrayList<>();
            for (int k = 0; k < started; k++) {
                if (errors[k] == null) continue;
                tried.add(ais.get(k));
                errs.add(errors[k]);
            }
            if (errors[i] != null) { // the one that ended it goes last
                int at = tried.indexOf(ais.get(i));
                if (at >= 0 && at != tried.size() - 1) { tried.add(tried.remove(at)); errs.add(errs.remove(at)); }
            }
            handler.onError(LoopAddresses.allFailed(tried, errs));
        }
    }
}
