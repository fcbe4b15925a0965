package sockets.impl;

/** A task the loop runs at a given System.nanoTime (loop thread only). */
final class LoopTimer implements Comparable<LoopTimer> {
    final long at;
    final LoopTask task;
    LoopTimer(long at, LoopTask task) { this.at = at; this.task = task; }
    @Override public int compareTo(LoopTimer o) { return Long.compare(at - o.at, 0); }
}
