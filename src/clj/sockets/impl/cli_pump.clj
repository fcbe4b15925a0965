(ns sockets.impl.cli-pump
  "The command line's byte movers (sockets.cli): one stdin reader shared by every connection,
  socket <-> stdout/stdin pumps with an idle timeout, a socket <-> socket relay that passes
  half-closes on, transfer counters and the --progress line. Built only on sockets.core."
  (:require [sockets.core :as s])
  (:import (java.io InputStream PrintStream)
           (java.util.concurrent ArrayBlockingQueue ExecutionException)
           (java.util.concurrent.atomic AtomicLong)))

(set! *warn-on-reflection* true)

(def ^:private chunk-size 65536)

;; ------------------------------------------------------------------ stderr

(def ^:private err-lock (Object.))

(defn say
  "Prints xs (as println does) on stderr, one whole line at a time across threads. Returns nil."
  [& xs]
  (locking err-lock
    (binding [*out* *err*]
      (apply println xs)
      (flush))))

;; ------------------------------------------------------------------ counters and --progress

(defn counters
  "Fresh transfer counters: {:in AtomicLong :out AtomicLong :last AtomicLong :start nanos}
  (:last is the nanoTime of the last byte moved either way)."
  []
  (let [now (System/nanoTime)]
    {:in (AtomicLong.) :out (AtomicLong.) :last (AtomicLong. now) :start now}))

(defn count!
  "Adds n bytes to counter k (:in or :out) of ctr and marks now as the last traffic. Returns nil."
  [ctr k ^long n]
  (.addAndGet ^AtomicLong (k ctr) n)
  (.set ^AtomicLong (:last ctr) (System/nanoTime))
  nil)

(defn- human [^double b]
  (cond (< b 1024.0) (format "%.0f B" b)
        (< b 1048576.0) (format "%.1f KiB" (/ b 1024.0))
        (< b 1073741824.0) (format "%.1f MiB" (/ b 1048576.0))
        :else (format "%.2f GiB" (/ b 1073741824.0))))

(defn progress-line
  "The --progress text for ctr: bytes in and out and the mean rate since the start."
  [ctr]
  (let [in (.get ^AtomicLong (:in ctr))
        out (.get ^AtomicLong (:out ctr))
        secs (max 1e-3 (/ (- (System/nanoTime) (long (:start ctr))) 1e9))]
    (format "%s in, %s out, %s/s, %.1f s" (human in) (human out) (human (/ (+ in out) secs)) secs)))

(defn with-progress
  "Calls f; when on?, meanwhile rewrites one stderr line (\\r) with ctr's progress twice a
  second, and ends it with the final figures and a newline. Returns what f returns."
  [on? ctr f]
  (if-not on?
    (f)
    (let [done (promise)
          show (fn [end] (locking err-lock
                           (.print System/err (str "\r" (progress-line ctr) (if end "\n" "")))
                           (.flush System/err)))
          ticker (future (loop [] (when (= ::tick (deref done 500 ::tick)) (show false) (recur))))]
      (try (f)
           (finally (deliver done true) @ticker (show true))))))

;; ------------------------------------------------------------------ stdin

(defn stdin-source
  "Starts one daemon thread that reads System/in in chunks into a small queue and returns the
  queue; after the last chunk the queue holds ::eof for every later taker (see `take-chunk`)."
  ^ArrayBlockingQueue []
  (let [q (ArrayBlockingQueue. 4)
        t (Thread. ^Runnable
                   (fn []
                     (let [^InputStream in System/in]
                       (try
                         (loop []
                           (let [buf (byte-array chunk-size)
                                 n (.read in buf)]
                             (when (pos? n)
                               (.put q (java.util.Arrays/copyOf buf n))
                               (recur))))
                         (catch java.io.IOException _ nil)
                         (finally (.put q ::eof)))))
                   "sockets-cli-stdin")]
    (.setDaemon t true)
    (.start t)
    q))

(defn take-chunk
  "The next stdin chunk (a byte array) from q, or nil at stdin's end (left for the next taker).
  Blocks; an interrupt raises InterruptedException."
  [^ArrayBlockingQueue q]
  (let [x (.take q)]
    (if (= ::eof x)
      (do (.offer q ::eof) nil)
      x)))

;; ------------------------------------------------------------------ pumps

(defn- idle?
  "True when nothing moved on ctr for idle-ms (nil: never idle)."
  [ctr idle-ms]
  (and idle-ms (>= (- (System/nanoTime) (.get ^AtomicLong (:last ctr))) (* 1000000 (long idle-ms)))))

(defn- receive-until-idle
  "socket-receive! into buf, retried on the receive timeout while ctr shows traffic within
  idle-ms; returns the count, or -1 when idle (or 0 at EOF)."
  ^long [so buf ctr idle-ms]
  (binding [s/*socket-receive-timeout* idle-ms]
    (loop []
      (let [r (try (s/socket-receive! so buf)
                   (catch sockets.SocketException e
                     (if (= :timeout (:kind (ex-data e))) ::timeout (throw e))))]
        (cond (not= ::timeout r) (long r)
              (idle? ctr idle-ms) -1
              :else (recur))))))

(defn socket->stdout
  "Copies what arrives on so to stdout until EOF (returns :eof) or idle-ms without traffic
  either way (returns :idle); with echo? also sends it back. Counts bytes in (and out)."
  [so {:keys [echo? idle-ms ctr]}]
  (let [^PrintStream out System/out
        buf (byte-array chunk-size)]
    (loop []
      (let [n (receive-until-idle so buf ctr idle-ms)]
        (cond
          (neg? n) :idle
          (zero? n) :eof
          :else (do (.write out buf 0 (int n))
                    (.flush out)
                    (count! ctr :in n)
                    (when echo?
                      (s/socket-send-all so buf 0 n)
                      (count! ctr :out n))
                    (recur)))))))

(defn stdin->socket
  "Sends the chunks of stdin queue q on so until stdin's end, then shuts down so's write side
  when half-close? (a stream: the peer sees EOF and may still answer). With peer (a promise or
  a delay of a sockaddr), each chunk goes to it with socket-send-to (a datagram listener
  replying to its peer); otherwise one socket-send-all per chunk. Returns :done."
  [so ^ArrayBlockingQueue q {:keys [ctr half-close? peer]}]
  (loop []
    (when-let [^bytes b (take-chunk q)]
      (if peer
        (s/socket-send-to so b (deref peer))
        (s/socket-send-all so b))
      (count! ctr :out (alength b))
      (recur)))
  (when half-close? (s/socket-shutdown so :shut/wr))
  :done)

(defn socket->socket
  "Copies from `from` to `to` until from's EOF, then shuts down to's write side (a half-close
  passed on); returns :eof, or :idle after idle-ms without traffic. Counts into k of ctr."
  [from to ctr k idle-ms]
  (let [buf (byte-array chunk-size)]
    (loop []
      (let [n (receive-until-idle from buf ctr idle-ms)]
        (cond
          (neg? n) :idle
          (zero? n) (do (s/socket-shutdown to :shut/wr) :eof)
          :else (do (s/socket-send-all to buf 0 n)
                    (count! ctr k n)
                    (recur)))))))

(defn both-ways
  "Runs a and b (no-argument fns) at once, a on this thread: returns when both are done, or
  as soon as one returns :idle or throws (the other is cancelled, and the first error rethrown)."
  [a b]
  (let [other (future (b))]
    (try
      (let [r (a)]
        (if (= :idle r)
          (do (future-cancel other) r)
          (do (try @other (catch ExecutionException e (throw (or (.getCause e) e)))) r)))
      (catch Throwable t
        (future-cancel other)
        (throw t)))))

(defn wait-ms
  "Milliseconds of a -w value in seconds (a string already checked), or nil."
  [secs]
  (when secs (* 1000 (long secs))))

(defn relay-pair
  "Moves bytes both ways between connected sockets a and b until both directions have ended
  (each EOF is passed on as a shutdown) or idle-ms passes without traffic. Returns nil."
  [a b ctr idle-ms]
  (both-ways #(socket->socket a b ctr :in idle-ms)
             #(socket->socket b a ctr :out idle-ms))
  nil)
