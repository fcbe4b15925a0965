package sockets.impl;

/**
 * One registered socket: its fd number, held acquired while registered, and its (at most two)
 * flows: one reading (stream read, datagram read, accept), one writing (write, connect). Loop
 * thread only.
 */
final class LoopReg {
    final Fd fd;
    final int fdn;
    LoopFlow reader, writer;
    /** What the poller has; 0: not in the poller. */
    int interest;

    LoopReg(Fd fd, int fdn) { this.fd = fd; this.fdn = fdn; }

    /** The union of what the flows want now. */
    int wanted() {
        return (reader == null ? 0 : reader.interest()) | (writer == null ? 0 : writer.interest());
    }
}
