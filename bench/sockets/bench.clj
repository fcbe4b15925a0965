(ns sockets.bench
  "Benchmarks: this library against plain Java NIO (and small C programs, the limit) in one JVM
  run, on loopback. Run with `lein bench` (full, a few minutes) or `lein bench --quick` (a smoke
  run: about 14 s of measuring, figures only prove it runs). Options:
    --quick          short rounds, small transfers (CI smoke)
    --only a,b       only the scenarios whose key contains one of these words (see `scenarios`)
    --rounds N       measured rounds per row (default 5, quick 2)
    --out FILE       also write the table as Markdown to FILE (bench/RESULTS.md)
  Every row: a warm-up run of each implementation, then N rounds, each running C, NIO and
  sockets one after the other (interleaved), so drift hits all three alike; the ratio is
  computed per round (higher is better for sockets) and reported as min/median/max.
  Placement: 'one CPU' pins both ends' threads to CPU 0 (taskset on the thread ids; the C
  programs pin themselves); 'split' puts the server/receiver on CPU 0 and the client/sender on
  CPU 1. Not part of `lein test`."
  (:require [clojure.core.async :as a]
            [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [sockets.async :as sa]
            [sockets.core :as sc]
            [sockets.datagrams :as sx]
            [sockets.io :as sio])
  (:import (java.io InputStream OutputStream)
           (java.net InetSocketAddress ServerSocket StandardSocketOptions)
           (java.nio ByteBuffer)
           (java.nio.channels DatagramChannel SelectionKey Selector ServerSocketChannel SocketChannel)
           (java.nio.file Files Paths)
           (java.util.concurrent CountDownLatch)
           (java.util.concurrent.atomic AtomicBoolean)
           (jnr.ffi Pointer)
           (sockets.impl Native)
           (sockets EventLoop EventLoop$Flow EventLoop$Options EventLoop$ReadHandler EventLoop$WriteHandler Socket)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ configuration

(def full-config
  {:rounds 5 :ms 1000 :warm-ms 1000 :bulk-bytes (* 1024 1024 1024) :bulk-ms 5000
   :conns 1000 :idle 8000 :driver-warm-ms 200})

(def quick-config
  {:rounds 2 :ms 50 :warm-ms 50 :bulk-bytes (* 16 1024 1024) :bulk-ms 500
   :conns 100 :idle 300 :driver-warm-ms 30})

(def ^:dynamic *cfg* full-config)

(defn- cfg [k] (get *cfg* k))

;; ------------------------------------------------------------------ pinning

(def ^:private taskset? (delay (zero? (:exit (sh/sh "sh" "-c" "command -v taskset")))))

(defn- tid
  "The calling thread's kernel thread id (from /proc/thread-self -> <pid>/task/<tid>)."
  ^long []
  (-> (Files/readSymbolicLink (Paths/get "/proc/thread-self" (make-array String 0)))
      str (str/split #"/") last Long/parseLong))

(defn- pin-thread!
  "Pins the calling thread to `cpus` (a taskset cpu list such as \"0\"); nil: leaves it alone."
  [cpus]
  (when (and cpus @taskset?)
    (let [r (sh/sh "taskset" "-pc" cpus (str (tid)))]
      (when-not (zero? (:exit r)) (throw (ex-info "taskset failed" r))))))

(defn- pin-process!
  "Pins every thread of this JVM to `cpus` (taskset -a); new threads inherit it."
  [cpus]
  (when @taskset?
    (sh/sh "taskset" "-a" "-pc" cpus (str (.pid (java.lang.ProcessHandle/current))))))

(def placements
  [{:name "one CPU" :server "0" :client "0"}
   {:name "split" :server "0" :client "1"}])

;; ------------------------------------------------------------------ threads

(defn- spawn
  "Runs f on a new daemon thread; returns a promise of its value (or the Throwable)."
  [nm f]
  (let [p (promise)
        t (Thread. ^Runnable (fn [] (try (deliver p (f)) (catch Throwable e (deliver p e)))) ^String nm)]
    (.setDaemon t true)
    (.start t)
    p))

(defn- value-of [p ms]
  (let [v (deref p ms ::timeout)]
    (cond (= v ::timeout) (throw (ex-info "benchmark thread timed out" {:ms ms}))
          (instance? Throwable v) (throw v)
          :else v)))

(defn- run-two
  "Runs (fa) on a thread pinned to cpu-a and (fb) on one pinned to cpu-b, both starting after
  both are pinned; returns [result-a result-b]."
  [cpu-a fa cpu-b fb]
  (let [latch (CountDownLatch. 2)
        go (fn [nm cpu f] (spawn nm (fn [] (pin-thread! cpu) (.countDown latch) (.await latch) (f))))
        pa (go "bench-server" cpu-a fa)
        pb (go "bench-client" cpu-b fb)
        limit (+ 60000 (* 4 (long (cfg :bulk-ms))))]
    [(value-of pa limit) (value-of pb limit)]))

(defn- median-of ^long [^longs xs ^long n]
  (let [c (java.util.Arrays/copyOf xs (int n))]
    (java.util.Arrays/sort c)
    (aget c (int (quot n 2)))))

(defn- median
  "The median of numbers xs (mean of the middle two for an even count), nil when empty."
  [xs]
  (let [v (vec (sort xs)) n (count v)]
    (cond (zero? n) nil
          (odd? n) (v (quot n 2))
          :else (/ (+ (double (v (dec (quot n 2)))) (double (v (quot n 2)))) 2.0))))

(defn- proc-lines
  "Lines of a /proc file of this process (read with NIO: FileInputStream.available fails on /proc here)."
  [path]
  (vec (Files/readAllLines (Paths/get ^String path (make-array String 0)))))

;; ------------------------------------------------------------------ C programs

(def ^:private ^java.io.File c-dir (io/file "target" "bench-c"))

(defn- build-c!
  "Compiles bench/c/*.c with gcc into target/bench-c; returns nil, or a note why C rows are skipped."
  []
  (if-not (zero? (:exit (sh/sh "sh" "-c" "command -v gcc")))
    "gcc not found: C rows skipped"
    (do (.mkdirs c-dir)
        (some (fn [p]
                (let [r (sh/sh "gcc" "-O2" "-Wall" "-Wextra" "-pthread" "-o" (str (io/file c-dir p))
                               (str "bench/c/" p ".c"))]
                  (when-not (zero? (:exit r)) (str "gcc failed on " p ".c: C rows skipped\n" (:err r)))))
              ["pingpong" "bulk" "udp" "accept"]))))

(def ^:private c-note (atom :unbuilt))

(defn- run-c
  "Runs a C program; returns its first printed number, or nil when C is unavailable."
  [prog & args]
  (when (nil? @c-note)
    (let [r (apply sh/sh (str (io/file c-dir prog)) (map str args))]
      (if (zero? (:exit r))
        (Double/parseDouble (first (str/split (str/trim (:out r)) #"\s+")))
        (throw (ex-info (str prog " failed") r))))))

(defn- c-cpu [cpu] (or cpu "-1"))

;; ------------------------------------------------------------------ connections

(def ^:private ^InetSocketAddress loopback (InetSocketAddress. "127.0.0.1" 0))

(defn- nio-pair
  "A connected pair of blocking SocketChannels: [client server listener]."
  [nodelay?]
  (let [ss (ServerSocketChannel/open)
        _ (.bind ss loopback 1024)
        c (SocketChannel/open (.getLocalAddress ss))
        s (.accept ss)]
    (when nodelay?
      (.setOption c StandardSocketOptions/TCP_NODELAY true)
      (.setOption s StandardSocketOptions/TCP_NODELAY true))
    [c s ss]))

(defn- lib-listener
  (^Socket [] (lib-listener "127.0.0.1"))
  (^Socket [host]
   (let [l (sc/socket :af/inet :sock/stream {:so/reuseaddr true})]
     (sc/socket-bind l (sc/inet-address host 0))
     (sc/socket-listen l 1024)
     l)))

(defn- lib-pair
  "A connected pair of this library's sockets: [client server listener], both ends in blocking
  mode when `blocking?` (`set-socket-blocking!`), else non-blocking (the egg's mode)."
  ([nodelay?] (lib-pair nodelay? false))
  ([nodelay? blocking?]
   (let [l (lib-listener)
         c (sc/socket :af/inet :sock/stream)
         _ (sc/socket-connect c (sc/socket-name l))
         s (sc/socket-accept l)]
     (when nodelay? (sc/set-tcp-no-delay! c true) (sc/set-tcp-no-delay! s true))
     (when blocking? (sc/set-socket-blocking! c true) (sc/set-socket-blocking! s true))
     [c s l])))

(defn- mode-label [blocking?]
  (if blocking? ", sockets in blocking mode (set-socket-blocking!)" ""))

(defn- mode-key [blocking?] (if blocking? "-blocking" ""))

(defn- close-all [xs]
  (doseq [x xs]
    (cond (instance? Socket x) (.closeQuietly ^Socket x)
          (instance? java.io.Closeable x) (try (.close ^java.io.Closeable x) (catch Exception _)))))

(defn- nio-read-fully
  "Reads until b is full; false at end of stream."
  [^SocketChannel ch ^ByteBuffer b]
  (loop []
    (if (.hasRemaining b)
      (if (neg? (.read ch b)) false (recur))
      true)))

(defn- nio-write-fully [^SocketChannel ch ^ByteBuffer b]
  (while (.hasRemaining b) (.write ch b)))

(defn- lib-read-fully [s ^bytes buf ^long n]
  (loop [got 0]
    (if (< got n)
      (let [r (long (sc/socket-receive! s buf got n))]
        (if (zero? r) false (recur (+ got r))))
      true)))

(defn- lib-write-fully [s ^bytes buf ^long n]
  (loop [put 0]
    (when (< put n) (recur (+ put (long (sc/socket-send s buf put n)))))))

;; ------------------------------------------------------------------ 1. ping-pong

(defn- ping-client
  "Round trips for ms milliseconds; returns the median RTT in microseconds."
  [^long ms rt!]
  (let [cap 2000000
        samples (long-array cap)
        end (+ (System/nanoTime) (* ms 1000000))]
    (loop [i 0]
      (let [t0 (System/nanoTime)]
        (if (or (> t0 end) (= i cap))
          (/ (median-of samples i) 1000.0)
          (do (rt!)
              (aset samples i (- (System/nanoTime) t0))
              (recur (inc i))))))))

(defn- nio-pingpong [size pl ms]
  (let [[^SocketChannel c ^SocketChannel s :as all] (nio-pair true)]
    (try
      (second
       (run-two (:server pl) (fn []
                               (let [b (ByteBuffer/allocateDirect size)]
                                 (loop [] (.clear b)
                                   (when (nio-read-fully s b) (.flip b) (nio-write-fully s b) (recur)))))
                (:client pl) (fn []
                               (let [b (ByteBuffer/allocateDirect size)
                                     r (ping-client ms (fn []
                                                         (.clear b) (nio-write-fully c b)
                                                         (.clear b) (nio-read-fully c b)))]
                                 (.shutdownOutput c)
                                 r))))
      (finally (close-all all)))))

(defn- lib-read-direct
  "Receives until direct buffer b is full (socket-receive! from its position); false at EOF."
  [s ^ByteBuffer b]
  (.clear b)
  (loop []
    (if (.hasRemaining b)
      (if (zero? (long (sc/socket-receive! s b))) false (recur))
      true)))

(defn- lib-write-direct [s ^ByteBuffer b]
  (.clear b)
  (while (.hasRemaining b) (sc/socket-send s b)))

(defn- lib-pingpong [size direct? blocking? pl ms]
  (let [[c s :as all] (lib-pair true blocking?)
        n (long size)
        [rd! wr! mk] (if direct?
                       [(fn [s b] (lib-read-direct s b)) (fn [s b] (lib-write-direct s b)) #(ByteBuffer/allocateDirect n)]
                       [(fn [s b] (lib-read-fully s b n)) (fn [s b] (lib-write-fully s b n)) #(byte-array n)])]
    (try
      (second
       (run-two (:server pl) (fn []
                               (let [b (mk)]
                                 (loop [] (when (rd! s b) (wr! s b) (recur)))))
                (:client pl) (fn []
                               (let [b (mk)
                                     r (ping-client ms (fn [] (wr! c b) (rd! c b)))]
                                 (sc/socket-shutdown c :shut/wr)
                                 r))))
      (finally (close-all all)))))

(defn- pingpong-row [size direct? blocking?]
  {:key (str "pingpong-" size (if direct? "-direct" "") (mode-key blocking?))
   :scenario (str "TCP ping-pong " size " B, TCP_NODELAY (median RTT), "
                  (if direct? "direct ByteBuffers" "byte arrays") (mode-label blocking?))
   :unit "us" :lower? true
   :impls {:c (fn [pl ms] (some-> (run-c "pingpong" size ms (c-cpu (:server pl)) (c-cpu (:client pl))) (/ 1000.0)))
           :nio (fn [pl ms] (nio-pingpong size pl ms))
           :lib (fn [pl ms] (lib-pingpong size direct? blocking? pl ms))}})

;; ------------------------------------------------------------------ 2./3. bulk

(def ^:private ^:const chunk-size 65536)

(defn- bulk
  "Runs sender (returns nothing; sends up to total bytes until the deadline, then shuts down)
  and receiver (returns bytes received, at EOF); returns GB/s (10^9 bytes)."
  [pl sender receiver]
  (let [t0 (volatile! 0)
        [[^long n ^long t1] _] (run-two (:server pl) (fn [] (let [n (receiver)] [n (System/nanoTime)]))
                                        (:client pl) (fn [] (vreset! t0 (System/nanoTime)) (sender (+ (System/nanoTime) (* 1000000 (long (cfg :bulk-ms)))))))]
    (/ (double n) (- t1 (long @t0)))))

(defn- nio-bulk [direct? pl _]
  (let [[^SocketChannel c ^SocketChannel s :as all] (nio-pair false)
        total (long (cfg :bulk-bytes))
        mk #(if direct? (ByteBuffer/allocateDirect chunk-size) (ByteBuffer/allocate chunk-size))]
    (try
      (bulk pl
            (fn [^long deadline]
              (let [^ByteBuffer b (mk)]
                (loop [sent 0]
                  (when (and (< sent total) (< (System/nanoTime) deadline))
                    (.clear b) (nio-write-fully c b) (recur (+ sent chunk-size)))))
              (.shutdownOutput c))
            (fn []
              (let [^ByteBuffer b (mk)]
                (loop [got 0]
                  (.clear b)
                  (let [r (.read s b)] (if (neg? r) got (recur (+ got r))))))))
      (finally (close-all all)))))

(defn- lib-bulk [direct? blocking? pl _]
  (let [[c s :as all] (lib-pair false blocking?)
        total (long (cfg :bulk-bytes))]
    (try
      (bulk pl
            (fn [^long deadline]
              (if direct?
                (let [b (ByteBuffer/allocateDirect chunk-size)]
                  (loop [sent 0]
                    (when (and (< sent total) (< (System/nanoTime) deadline))
                      (.clear b)
                      (while (.hasRemaining b) (sc/socket-send c b))
                      (recur (+ sent chunk-size)))))
                (let [b (byte-array chunk-size)]
                  (loop [sent 0]
                    (when (and (< sent total) (< (System/nanoTime) deadline))
                      (lib-write-fully c b chunk-size)
                      (recur (+ sent chunk-size))))))
              (sc/socket-shutdown c :shut/wr))
            (fn []
              (if direct?
                (let [b (ByteBuffer/allocateDirect chunk-size)]
                  (loop [got 0]
                    (.clear b)
                    (let [r (long (sc/socket-receive! s b))] (if (zero? r) got (recur (+ got r))))))
                (let [b (byte-array chunk-size)]
                  (loop [got 0]
                    (let [r (long (sc/socket-receive! s b 0 chunk-size))] (if (zero? r) got (recur (+ got r)))))))))
      (finally (close-all all)))))

(defn- c-bulk [pl _]
  (some-> (run-c "bulk" (cfg :bulk-bytes) (cfg :bulk-ms) (c-cpu (:server pl)) (c-cpu (:client pl))) (/ 1e9)))

(defn- bulk-row [direct? blocking?]
  {:key (str "bulk-" (if direct? "direct" "array") (mode-key blocking?))
   :scenario (str "TCP bulk 64 KiB writes, " (if direct? "direct ByteBuffers" "byte arrays") " (socket-send/receive!)" (mode-label blocking?))
   :unit "GB/s"
   :impls {:c c-bulk
           :nio (fn [pl ms] (nio-bulk direct? pl ms))
           :lib (fn [pl ms] (lib-bulk direct? blocking? pl ms))}})

(defn- stream-bulk
  "Bulk through an OutputStream/InputStream pair, 64 KiB writes and reads."
  [pl ^OutputStream out ^InputStream in]
  (let [total (long (cfg :bulk-bytes))]
    (bulk pl
          (fn [^long deadline]
            (let [b (byte-array chunk-size)]
              (loop [sent 0]
                (when (and (< sent total) (< (System/nanoTime) deadline))
                  (.write out b 0 chunk-size) (recur (+ sent chunk-size)))))
            (.close out))
          (fn []
            (let [b (byte-array chunk-size)]
              (loop [got 0]
                (let [r (.read in b 0 chunk-size)] (if (neg? r) got (recur (+ got r))))))))))

(defn- jnet-streams [pl _]
  (let [ss (ServerSocket. 0 50 (java.net.InetAddress/getByName "127.0.0.1"))
        c (java.net.Socket. "127.0.0.1" (.getLocalPort ss))
        s (.accept ss)]
    (try (stream-bulk pl (.getOutputStream c) (.getInputStream s))
         (finally (close-all [c s ss])))))

(defn- lib-streams [params pl _]
  (let [[c s l :as all] (lib-pair false)
        [_ out] (sio/io-ports c params)
        [in _] (sio/io-ports s params)]
    (try (stream-bulk pl out in)
         (finally (close-all all)))))

(defn- ports-row [params label]
  {:key (str "ports-" label)
   :scenario (str "TCP bulk through socket-io-ports (" label ") vs Socket.getInputStream")
   :unit "GB/s"
   :impls {:c c-bulk
           :nio jnet-streams
           :lib (fn [pl ms] (lib-streams params pl ms))}})

;; ------------------------------------------------------------------ 4. UDP

(defn- udp-run
  "sender (fn [deadline]) blasts 64 B datagrams until the deadline; then end markers (1 B) are
  sent every ms until the receiver saw one. Returns datagrams received per second."
  [pl ms send64! send1! receive!]
  (let [done (AtomicBoolean.)
        t0 (volatile! 0)
        [[^long n ^long t1] _]
        (run-two (:server pl) (fn []
                                (let [n (loop [n 0] (if (= 1 (long (receive!))) n (recur (inc n))))]
                                  (.set done true)
                                  [n (System/nanoTime)]))
                 (:client pl) (fn []
                                (vreset! t0 (System/nanoTime))
                                (let [end (+ (long @t0) (* 1000000 (long ms)))]
                                  (while (< (System/nanoTime) end) (send64!)))
                                (while (not (.get done)) (send1!) (Thread/sleep 1))))]
    (/ (* 1e9 n) (- t1 (long @t0)))))

(defn- nio-udp [pl ms]
  (let [r (doto (DatagramChannel/open) (.bind loopback))
        s (doto (DatagramChannel/open) (.bind loopback))]
    (.connect r (.getLocalAddress s))
    (.connect s (.getLocalAddress r))
    (try
      (let [ob (doto (ByteBuffer/allocateDirect 64) (.put (byte-array 64)))
            ib (ByteBuffer/allocateDirect 2048)]
        (udp-run pl ms
                 (fn [] (.clear ob) (.write s ob))
                 (fn [] (.clear ob) (.limit ob 1) (.write s ob))
                 (fn [] (.clear ib) (.read r ib))))
      (finally (close-all [r s])))))

(defn- lib-udp [direct? blocking? pl ms]
  (let [mk (fn [] (doto (sc/socket :af/inet :sock/dgram) (sc/socket-bind (sc/inet-address "127.0.0.1" 0))
                    (sc/set-socket-blocking! blocking?)))
        r (mk) s (mk)]
    (sc/socket-connect r (sc/socket-name s))
    (sc/socket-connect s (sc/socket-name r))
    (try
      (if direct?
        (let [^ByteBuffer ob (ByteBuffer/allocateDirect 64) ^ByteBuffer ib (ByteBuffer/allocateDirect 2048)]
          (udp-run pl ms
                   (fn [] (.clear ob) (sc/socket-send s ob))
                   (fn [] (.clear ob) (.limit ob 1) (sc/socket-send s ob))
                   (fn [] (.clear ib) (sc/socket-receive! r ib))))
        (let [ob (byte-array 64) ib (byte-array 2048)]
          (udp-run pl ms
                   (fn [] (sc/socket-send s ob 0 64))
                   (fn [] (sc/socket-send s ob 0 1))
                   (fn [] (sc/socket-receive! r ib 0 2048)))))
      (finally (close-all [r s])))))

(defn- udp-row [direct? blocking?]
  {:key (str "udp" (if direct? "-direct" "") (mode-key blocking?))
   :scenario (str "UDP 64 B datagrams received/s (connected sockets), " (if direct? "direct ByteBuffers" "byte arrays")
                  (mode-label blocking?))
   :unit "k/s"
   :impls {:c (fn [pl ms] (some-> (run-c "udp" ms (c-cpu (:server pl)) (c-cpu (:client pl))) (/ 1000.0)))
           :nio (fn [pl ms] (/ (nio-udp pl ms) 1000.0))
           :lib (fn [pl ms] (/ (lib-udp direct? blocking? pl ms) 1000.0))}})

(def ^:private ^:const batch 32)

(defn- udp-batch-bufs
  "n direct ByteBuffers of size bytes each (direct: passed to the kernel by address)."
  [^long n ^long size]
  (vec (repeatedly n #(ByteBuffer/allocateDirect (int size)))))

(defn- lib-udp-batched
  "UDP with sockets.datagrams/socket-receive-many! and socket-send-many (recvmmsg/sendmmsg, 32
  datagrams per call) on connected sockets, direct buffers. The receiver, in blocking mode,
  waits inside recvmmsg when nothing is queued."
  [pl ms]
  (let [mk (fn [] (doto (sc/socket :af/inet :sock/dgram) (sc/socket-bind (sc/inet-address "127.0.0.1" 0))))
        ^Socket r (mk) ^Socket s (mk)
        rbufs (udp-batch-bufs batch 2048)
        sbufs (vec (repeat batch (ByteBuffer/allocateDirect 64)))
        end-marker [(ByteBuffer/allocateDirect 1)]
        no-addr {:address? false}
        done (AtomicBoolean.)
        t0 (volatile! 0)]
    (sc/socket-connect r (sc/socket-name s))
    (sc/socket-connect s (sc/socket-name r))
    (sc/set-socket-blocking! r true) ; the receiver waits inside recvmmsg (MSG_WAITFORONE)
    (try
      (let [[[^long n ^long t1] _]
            (run-two (:server pl)
                     (fn []
                       (loop [total 0]
                         (let [rs (sx/socket-receive-many! r rbufs no-addr)
                               c (long (reduce (fn [^long c m] (if (= 1 (long (:count m))) (reduced (- -1 c)) (inc c))) 0 rs))]
                           (if (neg? c)
                             (do (.set done true) [(+ total (- -1 c)) (System/nanoTime)])
                             (recur (+ total c))))))
                     (:client pl)
                     (fn []
                       (vreset! t0 (System/nanoTime))
                       (let [end (+ (long @t0) (* 1000000 (long ms)))]
                         (while (< (System/nanoTime) end) (sx/socket-send-many s sbufs)))
                       (while (not (.get done)) (sx/socket-send-many s end-marker) (Thread/sleep 1))))]
        (/ (* 1e9 n) (- t1 (long @t0))))
      (finally (close-all [r s])))))

(def udp-batched-row
  {:key "udp-batched"
   :scenario "UDP 64 B received/s, socket-receive-many!/socket-send-many x32 (recvmmsg/sendmmsg; C batched too; receiver in blocking mode) vs NIO one by one"
   :unit "k/s"
   :impls {:c (fn [pl ms] (some-> (run-c "udp" ms (c-cpu (:server pl)) (c-cpu (:client pl)) batch) (/ 1000.0)))
           :nio (fn [pl ms] (/ (nio-udp pl ms) 1000.0))
           :lib (fn [pl ms] (/ (lib-udp-batched pl ms) 1000.0))}})

;; ------------------------------------------------------------------ 5. accept rate

(defn- on-pinned-thread [cpu f]
  (value-of (spawn "bench-accept" (fn [] (pin-thread! cpu) (f))) 120000))

(defn- per-ms-rate
  "Calls f repeatedly for `ms` milliseconds; returns the calls per millisecond (thousands/s)."
  [ms f]
  (let [t0 (System/nanoTime) end (+ t0 (* 1000000 (long ms)))]
    (loop [n 0]
      (let [t (System/nanoTime)]
        (if (> t end)
          (/ (* 1e6 n) (- t t0))
          (do (f) (recur (inc n))))))))

(def ^:private accept-host
  "A fresh listening address for each accept run (127.0.0.2 ... 127.0.0.254, then again):
  thousands of connections a second leave as many in TIME_WAIT for a minute, and a run that
  connects to the same address as the run before has to find free ports among them."
  (let [n (atom 0)]
    (fn [] (str "127.0.0." (+ 2 (mod (swap! n inc) 253))))))

(defn- nio-accept [pl ms]
  (let [ss (ServerSocketChannel/open)]
    (try
      (.bind ss (InetSocketAddress. ^String (accept-host) 0) 1024)
      (let [addr (.getLocalAddress ss)]
        (on-pinned-thread (:server pl)
                          (fn []
                            (per-ms-rate ms #(let [c (SocketChannel/open addr) s (.accept ss)]
                                               (.close c) (.close s))))))
      (finally (.close ss)))))

(defn- lib-accept [pl ms]
  (let [l (lib-listener (accept-host))]
    (try
      (let [addr (sc/socket-name l)]
        (on-pinned-thread (:server pl)
                          (fn []
                            (per-ms-rate ms #(let [c (sc/socket :af/inet :sock/stream)
                                                   _ (sc/socket-connect c addr)
                                                   s (sc/socket-accept l)]
                                               (sc/socket-close c) (sc/socket-close s))))))
      (finally (.closeQuietly l)))))

(def accept-row
  {:key "accept"
   :scenario "connect+accept+close/s (one thread: connect, accept, close both)"
   :unit "k/s" :placements [(first placements)]
   :impls {:c (fn [pl ms] (some-> (run-c "accept" ms (c-cpu (:server pl)) (accept-host)) (/ 1000.0)))
           :nio nio-accept
           :lib lib-accept}})

;; ------------------------------------------------------------------ 6. async

;; core.async's go-block dispatch executor, switchable per row. core.async 1.9 reads the
;; clojure.core.async.executor-factory property once, at its first dispatch (which comes after
;; this namespace is loaded), so the property is set here unless the user set one. The default
;; target is what core.async would build itself (an unbounded cached pool, threads
;; "async-mixed-N"); `with-fixed-dispatch` switches to a fixed pool of 8 for one measurement.
(def ^:private cached-dispatch
  (delay (java.util.concurrent.Executors/newCachedThreadPool
          (clojure.core.async.impl.dispatch/counted-thread-factory "async-mixed-%d" true))))
(def ^:private fixed-dispatch
  (delay (java.util.concurrent.Executors/newFixedThreadPool
          8 (clojure.core.async.impl.dispatch/counted-thread-factory "async-fixed-%d" true))))
(def ^:private dispatch-target (atom cached-dispatch))

(def ^:private switchable-dispatch
  (reify java.util.concurrent.Executor
    (execute [_ r] (.execute ^java.util.concurrent.Executor @@dispatch-target r))))

(defn dispatch-executor
  "The executor factory named by clojure.core.async.executor-factory in bench runs: go blocks
  dispatch through the switchable executor; other workloads get core.async's defaults."
  [workload]
  (when (= workload :core-async-dispatch) switchable-dispatch))

(when-not (System/getProperty "clojure.core.async.executor-factory")
  (System/setProperty "clojure.core.async.executor-factory" "sockets.bench/dispatch-executor"))

(defn- with-fixed-dispatch
  "Calls (f) with go blocks dispatched on a fixed pool of 8 threads instead of core.async's default."
  [f]
  (reset! dispatch-target fixed-dispatch)
  (try (f) (finally (reset! dispatch-target cached-dispatch))))

(defn- nio-selector-echo
  "A hand-written NIO Selector echo server on one thread; returns [address stop-fn]."
  []
  (let [ss (ServerSocketChannel/open)
        _ (.bind ss loopback 4096)
        _ (.configureBlocking ss false)
        sel (Selector/open)
        stop (AtomicBoolean.)
        buf (ByteBuffer/allocateDirect 65536)]
    (.register ss sel SelectionKey/OP_ACCEPT)
    (spawn "nio-echo"
           (fn []
             (try
               (while (not (.get stop))
                 (.select sel)
                 (let [it (.iterator (.selectedKeys sel))]
                   (while (.hasNext it)
                     (let [^SelectionKey k (.next it)]
                       (.remove it)
                       (cond
                         (not (.isValid k)) nil
                         (.isAcceptable k)
                         (loop []
                           (when-let [c (.accept ss)]
                             (.configureBlocking c false)
                             (.setOption c StandardSocketOptions/TCP_NODELAY true)
                             (.register c sel SelectionKey/OP_READ)
                             (recur)))
                         (.isReadable k)
                         (let [^SocketChannel c (.channel k)]
                           (.clear buf)
                           (let [n (try (.read c buf) (catch java.io.IOException _ -1))]
                             (if (neg? n)
                               (do (.cancel k) (.close c))
                               (do (.flip buf)
                                   (while (.hasRemaining buf) (.write c buf)))))))))))
               (finally
                 (doseq [^SelectionKey k (.keys sel)] (.close (.channel k)))
                 (.close sel)))))
    [(.getLocalAddress ss) (fn [] (.set stop true) (.wakeup sel))]))

(defn- async-echo
  "An echo server through sockets.async: every accepted socket's receive-chan piped into its
  send-chan (core.async). Returns [address stop-fn]."
  []
  (let [l (lib-listener)
        ach (sa/accept-chan l {:close? true})
        {:keys [address port]} (sc/socket-name l)]
    (a/go-loop []
      (when-let [s (a/<! ach)]
        (when (instance? Socket s)
          (sc/set-tcp-no-delay! s true)
          (a/pipe (sa/receive-chan s) (sa/send-chan s {:close? true}))
          (recur))))
    [(InetSocketAddress. ^String address (int port)) (fn [] (a/close! ach))]))

(defn- process-cpu-ns ^long []
  (.getProcessCpuTime ^com.sun.management.OperatingSystemMXBean
                      (java.lang.management.ManagementFactory/getOperatingSystemMXBean)))

(defn- thread-cpu-ns ^long []
  (.getCurrentThreadCpuTime (java.lang.management.ManagementFactory/getThreadMXBean)))

(defn- echo-driver
  "Opens n connections to addr, keeps one 64 B message in flight on each (NIO Selector, one
  thread), counts echoes for ms after a warm-up; returns {:rate echoes/s, :cpu-us the CPU time
  of the rest of the process (the server: its threads, plus JIT/GC) per echo}. Closes the
  connections."
  [addr ^long n ^long ms cpu]
  (let [conns (vec (for [_ (range n)]
                     (doto (SocketChannel/open ^InetSocketAddress addr)
                       (.setOption StandardSocketOptions/TCP_NODELAY true))))
        sel (Selector/open)
        msg (ByteBuffer/allocateDirect 64)
        buf (ByteBuffer/allocateDirect 4096)]
    (try
      (value-of
       (spawn "echo-driver"
              (fn []
                (pin-thread! cpu)
                (doseq [^SocketChannel c conns]
                  (.configureBlocking c false)
                  (.register c sel SelectionKey/OP_READ (long-array 1))
                  (.clear msg) (while (.hasRemaining msg) (.write c msg)))
                (let [warm-end (+ (System/nanoTime) (* 1000000 (long (cfg :driver-warm-ms))))
                      end (+ warm-end (* 1000000 ms))]
                  (loop [count 0 t0 0 cpu0 [0 0]]
                    (let [now (System/nanoTime)]
                      (cond
                        (> now end) (let [[p0 d0] cpu0
                                          server-ns (- (- (process-cpu-ns) (long p0)) (- (thread-cpu-ns) (long d0)))]
                                      {:rate (/ (* 1e9 count) (- now t0))
                                       :cpu-us (when (pos? count) (/ server-ns 1000.0 count))})
                        :else
                        (let [measuring? (> now warm-end)
                              start? (and measuring? (zero? t0))
                              t0 (if start? now t0)
                              cpu0 (if start? [(process-cpu-ns) (thread-cpu-ns)] cpu0)
                              got (long-array 1)]
                          (.select sel 100)
                          (let [it (.iterator (.selectedKeys sel))]
                            (while (.hasNext it)
                              (let [^SelectionKey k (.next it)
                                    ^SocketChannel c (.channel k)
                                    ^longs pending (.attachment k)]
                                (.remove it)
                                (.clear buf)
                                (let [r (.read c buf)]
                                  (when (neg? r) (throw (ex-info "echo server closed a connection" {})))
                                  (let [p (+ (aget pending 0) r)]
                                    (if (>= p 64)
                                      (do (aset pending 0 (- p 64))
                                          (aset got 0 (inc (aget got 0)))
                                          (.clear msg) (while (.hasRemaining msg) (.write c msg)))
                                      (aset pending 0 p)))))))
                          (recur (if measuring? (+ count (aget got 0)) count) t0 cpu0))))))))
       (+ 60000 ms))
      (finally (.close sel) (close-all conns)))))

(defn- async-echo-run [server pl ms]
  (pin-process! (:server pl))
  (try
    (let [[addr stop] (server)]
      (try (echo-driver addr (cfg :conns) ms nil)
           (finally (stop))))
    (finally (pin-process! "0-1"))))

(def async-echo-row
  {:key "async-echo"
   :scenario "async echo, N connections x 64 B in flight: sockets.async (core.async) vs NIO Selector (echoes/s)"
   :unit "k/s"
   :placements [{:name "one CPU (process)" :server "0" :client "0"} {:name "both CPUs (process)" :server "0-1" :client "0-1"}]
   :impls {:nio (fn [pl ms] (/ (:rate (async-echo-run nio-selector-echo pl ms)) 1000.0))
           :lib (fn [pl ms] (/ (:rate (async-echo-run async-echo pl ms)) 1000.0))}})

(def async-echo-fixed-row
  {:key "async-echo-fixed"
   :scenario "async echo as above, go blocks dispatched on a fixed pool of 8 (clojure.core.async.executor-factory) vs NIO Selector (echoes/s)"
   :unit "k/s"
   :placements (:placements async-echo-row)
   :impls {:nio (fn [pl ms] (/ (:rate (async-echo-run nio-selector-echo pl ms)) 1000.0))
           :lib (fn [pl ms] (/ (:rate (with-fixed-dispatch #(async-echo-run async-echo pl ms))) 1000.0))}})

(def async-echo-cpu-row
  "The async echo's cost rather than its rate: CPU time of everything but the driver thread per
  echo. Other processes on a shared machine starve the one-thread NIO server more than the
  many-threaded async one, so the rate ratio swings with the load; CPU per echo hardly does."
  {:key "async-echo-cpu"
   :scenario "async echo server CPU per echo (process CPU minus the driver thread): sockets.async vs NIO Selector"
   :unit "us" :lower? true
   :placements [{:name "one CPU (process)" :server "0" :client "0"}]
   :impls {:nio (fn [pl ms] (:cpu-us (async-echo-run nio-selector-echo pl ms)))
           :lib (fn [pl ms] (:cpu-us (async-echo-run async-echo pl ms)))}})

(defn- loop-echo
  "An echo server on sockets.EventLoop's handlers directly (no core.async): each chunk received
  is written back from the loop thread, so no thread hand-off at all. Returns [address stop-fn]."
  []
  (let [l (lib-listener)
        ^EventLoop lp (sa/event-loop)
        opts (EventLoop$Options.)
        {:keys [address port]} (sc/socket-name l)
        serve (fn [^Socket s]
                (sc/set-tcp-no-delay! s true)
                (let [out (.send lp s (.closeSocket (EventLoop$Options.) true)
                                 (reify EventLoop$WriteHandler
                                   (onWritten [_ _])
                                   (onEnd [_ _])
                                   (onError [_ _ _])))]
                  (.receive lp s opts
                            (reify EventLoop$ReadHandler
                              (onItem [_ _ item] (.write out (ByteBuffer/wrap ^bytes item)) true)
                              (onEnd [_ _] (.finish out))
                              (onError [_ _ _] (.cancel out))))))
        acc (.accept lp l opts
                     (reify EventLoop$ReadHandler
                       (onItem [_ _ s] (serve s) true)
                       (onEnd [_ _])
                       (onError [_ _ _])))]
    [(InetSocketAddress. ^String address (int port)) (fn [] (.cancel ^EventLoop$Flow acc) (.closeQuietly l))]))

(defn- nio-blocking-echo []
  (let [ss (ServerSocketChannel/open)
        _ (.bind ss loopback 16)
        stop (AtomicBoolean.)]
    (spawn "nio-blocking-echo"
           (fn []
             (try
               (while (not (.get stop))
                 (let [c (.accept ss)
                       b (ByteBuffer/allocateDirect 64)]
                   (.setOption c StandardSocketOptions/TCP_NODELAY true)
                   (spawn "nio-blocking-echo-conn"
                          (fn [] (try (loop [] (.clear b)
                                        (let [n (.read c b)]
                                          (when-not (neg? n) (.flip b) (nio-write-fully c b) (recur))))
                                      (finally (.close c)))))))
               (catch java.io.IOException _ nil))))
    [(.getLocalAddress ss) (fn [] (.set stop true) (.close ss))]))

(defn- rtt-against
  "Median RTT (us) of 1 B round trips over one blocking NIO connection to an echo server."
  [addr ^long ms]
  (let [c (doto (SocketChannel/open ^InetSocketAddress addr) (.setOption StandardSocketOptions/TCP_NODELAY true))
        b (ByteBuffer/allocateDirect 1)]
    (try (ping-client ms (fn [] (.clear b) (nio-write-fully c b) (.clear b) (nio-read-fully c b)))
         (finally (.close c)))))

(defn- async-rtt-run [server pl ms]
  (pin-process! (:server pl))
  (try
    (let [[addr stop] (server)]
      (try (rtt-against addr ms) (finally (stop))))
    (finally (pin-process! "0-1"))))

(def async-pingpong-row
  {:key "async-pingpong"
   :scenario "ping-pong 1 B RTT: echo via sockets.async (core.async) vs NIO blocking echo thread"
   :unit "us" :lower? true
   :placements [{:name "one CPU (process)" :server "0" :client "0"} {:name "both CPUs (process)" :server "0-1" :client "0-1"}]
   :impls {:nio (fn [pl ms] (async-rtt-run nio-blocking-echo pl ms))
           :lib (fn [pl ms] (async-rtt-run async-echo pl ms))}})

(def async-pingpong-fixed-row
  {:key "async-pingpong-fixed"
   :scenario "ping-pong 1 B RTT as above, go blocks dispatched on a fixed pool of 8 (clojure.core.async.executor-factory) vs NIO blocking echo thread"
   :unit "us" :lower? true
   :placements (:placements async-pingpong-row)
   :impls {:nio (fn [pl ms] (async-rtt-run nio-blocking-echo pl ms))
           :lib (fn [pl ms] (with-fixed-dispatch #(async-rtt-run async-echo pl ms)))}})

(def loop-pingpong-row
  {:key "loop-pingpong"
   :scenario "ping-pong 1 B RTT: echo on EventLoop handlers (no core.async) vs NIO blocking echo thread"
   :unit "us" :lower? true
   :placements (:placements async-pingpong-row)
   :impls {:nio (fn [pl ms] (async-rtt-run nio-blocking-echo pl ms))
           :lib (fn [pl ms] (async-rtt-run loop-echo pl ms))}})

;; ------------------------------------------------------------------ 7. idle connections

(defn- used-heap ^long []
  (dotimes [_ 4] (System/gc) (Thread/sleep 50))
  (let [r (Runtime/getRuntime)] (- (.totalMemory r) (.freeMemory r))))

(defn- rss ^long []
  (let [line (first (filter #(str/starts-with? % "VmRSS:") (proc-lines "/proc/self/status")))]
    (* 1024 (Long/parseLong (second (re-find #"(\d+)" line))))))

(defn- fd-limit ^long []
  (let [line (first (filter #(str/starts-with? % "Max open files") (proc-lines "/proc/self/limits")))]
    (Long/parseLong (nth (str/split (str/trim line) #"\s+") 3))))

(defn- open-fds ^long [] (count (.list (io/file "/proc/self/fd"))))

(defn- idle-count ^long []
  (min (long (cfg :idle)) (quot (- (fd-limit) (open-fds) 200) 2)))

(defn- measure-idle
  "Opens n connections with open-one (returns the things to close), measures heap and RSS per
  connection, then calls (during) with them open, then closes them. Returns
  {:heap bytes/conn :rss bytes/conn :during (during)}."
  [^long n open-one during]
  (close-all (flatten (vec (repeatedly (max 50 (quot n 4)) open-one)))) ; warm-up: classes, JIT, pools
  (let [h0 (used-heap) r0 (rss)
        held (vec (repeatedly n open-one))
        h1 (used-heap) r1 (rss)
        d (during)]
    (close-all (flatten held))
    {:heap (/ (double (- h1 h0)) n) :rss (/ (double (- r1 r0)) n) :during d}))

(defn- idle-rows
  "Idle connections: heap and RSS per connection for NIO SocketChannel pairs, this library's
  socket pairs, and pairs whose accepted end has a receive-chan and send-chan; then the async
  echo RTT with the idle async connections registered on the loop vs none."
  [ms]
  (let [n (idle-count)
        ss (doto (ServerSocketChannel/open) (.bind loopback 4096))
        nio (measure-idle n (fn [] (let [c (SocketChannel/open (.getLocalAddress ss))] [c (.accept ss)])) (constantly nil))
        _ (.close ss)
        l (lib-listener)
        addr (sc/socket-name l)
        open-lib (fn [] (let [c (sc/socket :af/inet :sock/stream)]
                          (sc/socket-connect c addr)
                          [c (sc/socket-accept l)]))
        lib (measure-idle n open-lib (constantly nil))
        rtt (fn [] (let [[addr stop] (async-echo)]
                     (try (vec (for [_ (range (cfg :rounds))] (rtt-against addr ms)))
                          (finally (stop)))))
        rtt0 (do (pin-process! "0") (try (rtt) (finally (pin-process! "0-1"))))
        async (measure-idle n (fn [] (let [[c s] (open-lib)
                                           rc (sa/receive-chan s)
                                           sch (sa/send-chan s)]
                                       [c s rc sch]))
                            (fn [] (pin-process! "0") (try (rtt) (finally (pin-process! "0-1")))))]
    (.closeQuietly l)
    {:n n :limit (fd-limit) :nio nio :lib lib :async (dissoc async :during)
     :rtt0 rtt0 :rtt-idle (:during async)}))

;; ------------------------------------------------------------------ running and printing

(defn- measure
  "Runs one implementation once; returns its figure or nil (unavailable)."
  [f pl ms]
  (f pl ms))

(defn- run-row
  "Warm-up, then rounds of C, NIO, sockets interleaved, for each placement."
  [{:keys [impls] :as row}]
  (vec
   (for [pl (or (:placements row) placements)]
     (let [order (filter impls [:c :nio :lib])
           ms (cfg :ms)]
       (doseq [k order] (measure (impls k) pl (cfg :warm-ms)))
       (let [rounds (vec (for [_ (range (cfg :rounds))]
                           (into {} (for [k order] [k (measure (impls k) pl ms)]))))]
         (assoc (select-keys row [:key :scenario :unit :lower?]) :placement (:name pl) :rounds rounds))))))

(defn- ratio [lower? lib other]
  (when (and lib other (pos? (double lib)) (pos? (double other)))
    (if lower? (/ (double other) lib) (/ (double lib) other))))

(defn- fmt [x] (cond (nil? x) "-" (>= (double x) 100) (format "%.0f" (double x)) (>= (double x) 10) (format "%.1f" (double x)) :else (format "%.2f" (double x))))
(defn- fmt-r [x] (if x (format "%.2f" (double x)) "-"))

(defn- summarize [{:keys [rounds lower?] :as r}]
  (let [fig (fn [k] (median (keep k rounds)))
        per-round (vec (keep #(ratio lower? (:lib %) (:nio %)) rounds))
        per-round-c (vec (keep #(ratio lower? (:lib %) (:c %)) rounds))]
    (assoc r :c (fig :c) :nio (fig :nio) :lib (fig :lib)
           :ratio (median per-round) :min (when (seq per-round) (apply min per-round))
           :max (when (seq per-round) (apply max per-round)) :per-round per-round
           :ratio-c (median per-round-c))))

(def ^:private header
  "| scenario | placement | unit | C | NIO | sockets | sockets/NIO median | min | max | sockets/C | per-round sockets/NIO |\n|---|---|---|---|---|---|---|---|---|---|---|")

(defn- row-line [{:keys [scenario placement unit c nio lib ratio min max ratio-c per-round]}]
  (str "| " scenario " | " placement " | " unit " | " (fmt c) " | " (fmt nio) " | " (fmt lib) " | "
       (fmt-r ratio) " | " (fmt-r min) " | " (fmt-r max) " | " (fmt-r ratio-c) " | "
       (str/join " " (map fmt-r per-round)) " |"))

(defn- idle-lines [{:keys [n limit nio lib async rtt0 rtt-idle]}]
  (let [kib #(format "%.2f" (/ (double %) 1024))]
    [""
     (str "Idle connections: " n " (both ends in this JVM, so " (* 2 n) " fds; RLIMIT_NOFILE " limit
          "; the issue's 10,000 would need 20,000+ fds here). Per connection = client + accepted socket.")
     ""
     "| idle connections | heap KiB/conn | RSS KiB/conn (includes heap pages touched) |"
     "|---|---|---|"
     (str "| NIO SocketChannel pair | " (kib (:heap nio)) " | " (kib (:rss nio)) " |")
     (str "| sockets Socket pair | " (kib (:heap lib)) " | " (kib (:rss lib)) " |")
     (str "| sockets pair + receive-chan + send-chan on the accepted end | " (kib (:heap async)) " | " (kib (:rss async)) " |")
     ""
     (str "Async echo RTT (1 B, one CPU), median of rounds: 0 idle " (fmt (median rtt0)) " us "
          (pr-str (mapv fmt rtt0)) "; with " n " idle connections registered on the loop "
          (fmt (median rtt-idle)) " us " (pr-str (mapv fmt rtt-idle))
          "; ratio " (fmt-r (ratio true (median rtt-idle) (median rtt0))) " (1.0 = no cost).")]))

(defn scenarios
  "Every row, in run order."
  []
  [(pingpong-row 1 false false) (pingpong-row 1 false true) (pingpong-row 1 true true)
   (pingpong-row 64 false false) (pingpong-row 64 false true)
   (bulk-row false false) (bulk-row false true) (bulk-row true false) (bulk-row true true)
   (ports-row {:receive-buffer-size 4096 :send-size 16384} "egg defaults: 4 KiB input buffer, 16 KiB send size")
   (ports-row {:receive-buffer-size chunk-size :send-size chunk-size} "64 KiB buffer and send size")
   (udp-row false false) (udp-row false true) (udp-row true true) udp-batched-row accept-row async-pingpong-row async-pingpong-fixed-row
   loop-pingpong-row async-echo-row async-echo-fixed-row async-echo-cpu-row])

(defn- machine []
  (let [cpu (some #(when (str/starts-with? % "model name") (str/trim (second (str/split % #":" 2))))
                  (proc-lines "/proc/cpuinfo"))]
    (str (.availableProcessors (Runtime/getRuntime)) " CPUs (" cpu "), "
         (System/getProperty "java.vm.name") " " (System/getProperty "java.runtime.version")
         ", " (System/getProperty "os.name") " " (System/getProperty "os.version"))))

(defn- parse-args [args]
  (loop [[a & more] args opts {}]
    (case a
      nil opts
      "--quick" (recur more (assoc opts :quick true))
      "--only" (recur (rest more) (assoc opts :only (str/split (first more) #",")))
      "--rounds" (recur (rest more) (assoc opts :rounds (Long/parseLong (first more))))
      "--out" (recur (rest more) (assoc opts :out (first more)))
      (throw (ex-info (str "unknown argument " a) {})))))

(defn -main
  "Runs the benchmarks and prints the table (see the namespace doc for options)."
  [& args]
  (let [opts (parse-args args)
        cfg* (cond-> (if (:quick opts) quick-config full-config)
               (:rounds opts) (assoc :rounds (:rounds opts)))
        wanted? (fn [k] (or (nil? (:only opts)) (some #(str/includes? k %) (:only opts))))
        started (System/nanoTime)]
    (binding [*cfg* cfg*]
      (reset! c-note (build-c!))
      (pin-process! "0-1")
      (println "sockets bench:" (machine))
      (println "config:" (pr-str cfg*) (if @taskset? "" "(taskset missing: nothing pinned)"))
      (when @c-note (println "NOTE:" @c-note))
      (let [rows (atom [])
            lines (atom [header])]
        (println header)
        (doseq [row (scenarios) :when (wanted? (:key row))
                r (run-row row)]
          (let [s (summarize r)]
            (swap! rows conj s)
            (swap! lines conj (row-line s))
            (println (row-line s))
            (flush)))
        (when (wanted? "idle")
          (let [ls (idle-lines (idle-rows (cfg :ms)))]
            (swap! lines into ls)
            (run! println ls)))
        (let [secs (/ (- (System/nanoTime) started) 1e9)]
          (println (format "total %.1f s" secs))
          (when-let [out (:out opts)]
            (spit out (str "# Benchmark results\n\n"
                           "Date: " (java.time.ZonedDateTime/now (java.time.ZoneOffset/UTC)) "  \n"
                           "Machine: " (machine) "  \n"
                           "Command: `lein bench " (str/join " " args) "` (" (format "%.0f" secs) " s)  \n"
                           "Config: `" (pr-str cfg*) "`  \n"
                           (when @c-note (str "Note: " @c-note "  \n"))
                           "\n" (str/join "\n" @lines) "\n"))))))
    (shutdown-agents)
    (System/exit 0)))
