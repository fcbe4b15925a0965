(ns sockets.bench.async
  "The async rows: this library's event loop (sockets.async core.async channels, and
  sockets.EventLoop's handlers directly) against a one-thread NIO Selector echo or a NIO
  blocking echo thread, with Netty's epoll echo (sockets.bench.netty) beside them. Also the
  switchable go-block dispatch executor the fixed-pool rows use."
  (:require [clojure.core.async :as a]
            [sockets.async :as sa]
            [sockets.bench.harness :refer [cfg close-all lib-listener loopback nio-read-fully nio-write-fully pin-process!
                                           pin-thread! ping-client spawn value-of]]
            [sockets.bench.netty :as netty]
            [sockets.core :as sc])
  (:import (java.net InetSocketAddress StandardSocketOptions)
           (java.nio ByteBuffer)
           (java.nio.channels SelectionKey Selector ServerSocketChannel SocketChannel)
           (java.util.concurrent.atomic AtomicBoolean)
           (sockets EventLoop EventLoop$Flow EventLoop$Options EventLoop$ReadHandler EventLoop$WriteHandler Socket)))

(set! *warn-on-reflection* true)

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
  (System/setProperty "clojure.core.async.executor-factory" "sockets.bench.async/dispatch-executor"))

(defn- with-fixed-dispatch
  "Calls (f) with go blocks dispatched on a fixed pool of 8 threads instead of core.async's default."
  [f]
  (reset! dispatch-target fixed-dispatch)
  (try (f) (finally (reset! dispatch-target cached-dispatch))))

(def netty-note
  "nil when Netty's epoll transport works here, else why not (its column is then \"-\")."
  (delay (netty/unavailable)))

(defn- netty-server
  "The Netty epoll echo server's start function, or nil when Netty's epoll is unavailable."
  []
  (when-not @netty-note netty/echo-server))

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

(defn async-echo
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

(def ^:private process-placements
  "The async rows' placements: the whole process (event loop, go blocks, driver) on one CPU, or on both."
  [{:name "one CPU (process)" :server "0" :client "0"} {:name "both CPUs (process)" :server "0-1" :client "0-1"}])

(defn- echo-row
  "An N-connection echo row: the same NIO echo driver against the NIO Selector echo, Netty's
  and sockets.async's; (figure driver-result) is the row's figure, and (lib-wrap f) runs the
  sockets measurement f (e.g. under with-fixed-dispatch)."
  [key scenario unit lower? placements figure lib-wrap]
  {:key key :scenario scenario :unit unit :lower? lower? :placements placements
   :impls {:nio (fn [pl ms] (figure (async-echo-run nio-selector-echo pl ms)))
           :netty (fn [pl ms] (some-> (netty-server) (async-echo-run pl ms) figure))
           :lib (fn [pl ms] (figure (lib-wrap #(async-echo-run async-echo pl ms))))}})

(defn- rate-k [{:keys [rate]}] (/ rate 1000.0))

(def ^:private async-echo-row
  (echo-row "async-echo" "async echo, N connections x 64 B in flight: sockets.async (core.async) vs NIO Selector (echoes/s)"
            "k/s" false process-placements rate-k #(%)))

(def ^:private async-echo-fixed-row
  (echo-row "async-echo-fixed"
            "async echo as above, go blocks dispatched on a fixed pool of 8 (clojure.core.async.executor-factory) vs NIO Selector (echoes/s)"
            "k/s" false process-placements rate-k with-fixed-dispatch))

(def ^:private async-echo-cpu-row
  ;; The async echo's cost rather than its rate: CPU time of everything but the driver thread per
  ;; echo. Other processes on a shared machine starve the one-thread NIO server more than the
  ;; many-threaded async one, so the rate ratio swings with the load; CPU per echo hardly does.
  (echo-row "async-echo-cpu" "async echo server CPU per echo (process CPU minus the driver thread): sockets.async vs NIO Selector"
            "us" true [(first process-placements)] :cpu-us #(%)))

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

(defn rtt-against
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

(defn- rtt-row
  "A 1 B ping-pong RTT row: one NIO blocking client against the NIO blocking echo thread,
  Netty's echo and the sockets echo that (lib-rtt pl ms) measures."
  [key scenario lib-rtt]
  {:key key :scenario scenario :unit "us" :lower? true :placements process-placements
   :impls {:nio (fn [pl ms] (async-rtt-run nio-blocking-echo pl ms))
           :netty (fn [pl ms] (some-> (netty-server) (async-rtt-run pl ms)))
           :lib lib-rtt}})

(def ^:private async-pingpong-row
  (rtt-row "async-pingpong" "ping-pong 1 B RTT: echo via sockets.async (core.async) vs NIO blocking echo thread"
           (fn [pl ms] (async-rtt-run async-echo pl ms))))

(def ^:private async-pingpong-fixed-row
  (rtt-row "async-pingpong-fixed"
           "ping-pong 1 B RTT as above, go blocks dispatched on a fixed pool of 8 (clojure.core.async.executor-factory) vs NIO blocking echo thread"
           (fn [pl ms] (with-fixed-dispatch #(async-rtt-run async-echo pl ms)))))

(def ^:private loop-pingpong-row
  (rtt-row "loop-pingpong" "ping-pong 1 B RTT: echo on EventLoop handlers (no core.async) vs NIO blocking echo thread"
           (fn [pl ms] (async-rtt-run loop-echo pl ms))))

(defn rows
  "The async rows, in run order: ping-pong RTT (core.async, fixed pool, EventLoop handlers), then
  the N-connection echo (rate, fixed pool, server CPU per echo)."
  []
  [async-pingpong-row async-pingpong-fixed-row loop-pingpong-row async-echo-row async-echo-fixed-row async-echo-cpu-row])
