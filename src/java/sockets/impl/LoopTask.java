package sockets.impl;

import sockets.SocketException;

/**
 * Work handed to the loop thread through its queue (see {@link LoopCore#submit}). A flow is
 * its own task: it is queued at most once however many commands (write, resume, cancel,
 * finish) other threads give it before the loop runs it.
 */
public abstract class LoopTask {
    /** For subclasses. */
    protected LoopTask() {}

    /** Runs on the loop thread. */
    abstract void run();

    /** Runs instead of {@link #run} when the loop is stopped (on the submitting or the stopping thread). */
    void reject(SocketException stopped) {}
}
