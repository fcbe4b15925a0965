(ns sockets.bench.harness
  "The bench's machinery shared by every group of rows: configuration (*cfg*), CPU pinning,
  threads that start together, medians, the C programs of bench/c, connected pairs (NIO and
  this library) and the measuring loops (ping-pong RTT, bulk GB/s, datagram rate)."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [sockets.core :as sc])
  (:import (java.net InetSocketAddress StandardSocketOptions)
           (java.nio ByteBuffer)
           (java.nio.channels ServerSocketChannel SocketChannel)
           (java.nio.file Files Paths)
           (java.util.concurrent CountDownLatch)
           (java.util.concurrent.atomic AtomicBoolean)
           (sockets Socket)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ configuration

(def full-config
  {:rounds 5 :ms 1000 :warm-ms 1000 :bulk-bytes (* 1024 1024 1024) :bulk-ms 5000
   :conns 1000 :idle 8000 :driver-warm-ms 200})

(def quick-config
  {:rounds 2 :ms 50 :warm-ms 50 :bulk-bytes (* 16 1024 1024) :bulk-ms 500
   :conns 100 :idle 300 :driver-warm-ms 30})

(def ^:dynamic *cfg* full-config)

(defn cfg [k] (get *cfg* k))

;; ------------------------------------------------------------------ pinning

(def taskset? (delay (zero? (:exit (sh/sh "sh" "-c" "command -v taskset")))))

(defn- tid
  "The calling thread's kernel thread id (from /proc/thread-self -> <pid>/task/<tid>)."
  ^long []
  (-> (Files/readSymbolicLink (Paths/get "/proc/thread-self" (make-array String 0)))
      str (str/split #"/") last Long/parseLong))

(defn pin-thread!
  "Pins the calling thread to `cpus` (a taskset cpu list such as \"0\"); nil: leaves it alone."
  [cpus]
  (when (and cpus @taskset?)
    (let [r (sh/sh "taskset" "-pc" cpus (str (tid)))]
      (when-not (zero? (:exit r)) (throw (ex-info "taskset failed" r))))))

(defn pin-process!
  "Pins every thread of this JVM to `cpus` (taskset -a); new threads inherit it."
  [cpus]
  (when @taskset?
    (sh/sh "taskset" "-a" "-pc" cpus (str (.pid (java.lang.ProcessHandle/current))))))

(def placements
  [{:name "one CPU" :server "0" :client "0"}
   {:name "split" :server "0" :client "1"}])

;; ------------------------------------------------------------------ threads

(defn spawn
  "Runs f on a new daemon thread; returns a promise of its value (or the Throwable)."
  [nm f]
  (let [p (promise)
        t (Thread. ^Runnable (fn [] (try (deliver p (f)) (catch Throwable e (deliver p e)))) ^String nm)]
    (.setDaemon t true)
    (.start t)
    p))

(defn value-of [p ms]
  (let [v (deref p ms ::timeout)]
    (cond (= v ::timeout) (throw (ex-info "benchmark thread timed out" {:ms ms}))
          (instance? Throwable v) (throw v)
          :else v)))

(defn run-two
  "Runs (fa) on a thread pinned to cpu-a and (fb) on one pinned to cpu-b, both starting after
  both are pinned; returns [result-a result-b]."
  [cpu-a fa cpu-b fb]
  (let [latch (CountDownLatch. 2)
        go (fn [nm cpu f] (spawn nm (fn [] (pin-thread! cpu) (.countDown latch) (.await latch) (f))))
        pa (go "bench-server" cpu-a fa)
        pb (go "bench-client" cpu-b fb)
        limit (+ 60000 (* 4 (long (cfg :bulk-ms))))]
    [(value-of pa limit) (value-of pb limit)]))

(defn median-of ^long [^longs xs ^long n]
  (let [c (java.util.Arrays/copyOf xs (int n))]
    (java.util.Arrays/sort c)
    (aget c (int (quot n 2)))))

(defn median
  "The median of numbers xs (mean of the middle two for an even count), nil when empty."
  [xs]
  (let [v (vec (sort xs)) n (count v)]
    (cond (zero? n) nil
          (odd? n) (v (quot n 2))
          :else (/ (+ (double (v (dec (quot n 2)))) (double (v (quot n 2)))) 2.0))))

(defn ratio
  "sockets' figure against another's, oriented so that higher is better for sockets (other/lib
  when lower? figures are better, lib/other otherwise); nil when either is missing or zero."
  [lower? lib other]
  (when (and lib other (pos? (double lib)) (pos? (double other)))
    (if lower? (/ (double other) lib) (/ (double lib) other))))

(defn fmt
  "A figure with 3 significant digits or so; \"-\" for nil."
  [x]
  (cond (nil? x) "-" (>= (double x) 100) (format "%.0f" (double x)) (>= (double x) 10) (format "%.1f" (double x)) :else (format "%.2f" (double x))))

(defn fmt-r
  "A ratio with two decimals; \"-\" for nil."
  [x]
  (if x (format "%.2f" (double x)) "-"))

(defn proc-lines
  "Lines of a /proc file of this process (read with NIO: FileInputStream.available fails on /proc here)."
  [path]
  (vec (Files/readAllLines (Paths/get ^String path (make-array String 0)))))

;; ------------------------------------------------------------------ C programs

(def ^:private ^java.io.File c-dir (io/file "target" "bench-c"))

(defn build-c!
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

(def c-note (atom :unbuilt))

(defn run-c
  "Runs a C program; returns its first printed number, or nil when C is unavailable."
  [prog & args]
  (when (nil? @c-note)
    (let [r (apply sh/sh (str (io/file c-dir prog)) (map str args))]
      (if (zero? (:exit r))
        (Double/parseDouble (first (str/split (str/trim (:out r)) #"\s+")))
        (throw (ex-info (str prog " failed") r))))))

(defn c-cpu [cpu] (or cpu "-1"))

;; ------------------------------------------------------------------ connections

(def ^InetSocketAddress loopback (InetSocketAddress. "127.0.0.1" 0))

(defn nio-pair
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

(defn lib-listener
  (^Socket [] (lib-listener "127.0.0.1"))
  (^Socket [host]
   (let [l (sc/socket :af/inet :sock/stream {:so/reuseaddr true})]
     (sc/socket-bind l (sc/inet-address host 0))
     (sc/socket-listen l 1024)
     l)))

(defn lib-pair
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

(defn mode-label [blocking?]
  (if blocking? ", sockets in blocking mode (set-socket-blocking!)" ""))

(defn mode-key [blocking?] (if blocking? "-blocking" ""))

(defn close-all [xs]
  (doseq [x xs]
    (cond (instance? Socket x) (.closeQuietly ^Socket x)
          (instance? java.io.Closeable x) (try (.close ^java.io.Closeable x) (catch Exception _)))))

(defn nio-read-fully
  "Reads until b is full; false at end of stream."
  [^SocketChannel ch ^ByteBuffer b]
  (loop []
    (if (.hasRemaining b)
      (if (neg? (.read ch b)) false (recur))
      true)))

(defn nio-write-fully [^SocketChannel ch ^ByteBuffer b]
  (while (.hasRemaining b) (.write ch b)))

(defn lib-read-fully [s ^bytes buf ^long n]
  (loop [got 0]
    (if (< got n)
      (let [r (long (sc/socket-receive! s buf got n))]
        (if (zero? r) false (recur (+ got r))))
      true)))

(defn lib-write-fully [s ^bytes buf ^long n]
  (loop [put 0]
    (when (< put n) (recur (+ put (long (sc/socket-send s buf put n)))))))

;; ------------------------------------------------------------------ measuring loops

(defn ping-client
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

(def ^:const chunk-size 65536)

(defn bulk
  "Runs sender (returns nothing; sends up to total bytes until the deadline, then shuts down)
  and receiver (returns bytes received, at EOF); returns GB/s (10^9 bytes)."
  [pl sender receiver]
  (let [t0 (volatile! 0)
        [[^long n ^long t1] _] (run-two (:server pl) (fn [] (let [n (receiver)] [n (System/nanoTime)]))
                                        (:client pl) (fn [] (vreset! t0 (System/nanoTime)) (sender (+ (System/nanoTime) (* 1000000 (long (cfg :bulk-ms)))))))]
    (/ (double n) (- t1 (long @t0)))))

(defn udp-run
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
