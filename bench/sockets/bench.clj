(ns sockets.bench
  "Benchmarks: this library against plain Java NIO (and small C programs, the limit; Netty's
  native epoll transport in the async rows) in one JVM run, on loopback and unix sockets. The
  rows' machinery is in sockets.bench.harness and sockets.bench.stream; the Netty peer in
  sockets.bench.netty, the unix-socket rows in sockets.bench.unix, the targets table in
  sockets.bench.targets. Run with `lein bench` (full, a few minutes) or `lein bench --quick`
  (a smoke run: about 14 s of measuring, figures only prove it runs). Options:
    --quick          short rounds, small transfers (CI smoke)
    --only a,b       only the scenarios whose key contains one of these words (see `scenarios`;
                     `--only unix` the unix-socket rows, `--only netty` the rows with a Netty column)
    --rounds N       measured rounds per row (default 5, quick 2)
    --out FILE       also write the table as Markdown to FILE (bench/RESULTS.md)
  Every row: a warm-up run of each implementation, then N rounds, each running C, NIO and
  sockets one after the other (interleaved), so drift hits all three alike; the ratio is
  computed per round (higher is better for sockets) and reported as min/median/max.
  Placement: 'one CPU' pins both ends' threads to CPU 0 (taskset on the thread ids; the C
  programs pin themselves); 'split' puts the server/receiver on CPU 0 and the client/sender on
  CPU 1. Not part of `lein test`."
  (:require [clojure.string :as str]
            [sockets.bench.harness :refer [*cfg* full-config quick-config cfg taskset? pin-thread! pin-process!
                                           placements spawn value-of run-two median proc-lines ratio fmt fmt-r
                                           build-c! c-note run-c c-cpu loopback nio-pair lib-listener lib-pair
                                           mode-label mode-key close-all chunk-size bulk udp-run]]
            [sockets.bench.async :as async]
            [sockets.bench.idle :as idle]
            [sockets.bench.stream :refer [nio-pingpong lib-pingpong nio-bulk lib-bulk]]
            [sockets.bench.targets :as targets]
            [sockets.bench.unix :as unix]
            [sockets.core :as sc]
            [sockets.datagrams :as sx]
            [sockets.io :as sio])
  (:import (java.io InputStream OutputStream)
           (java.net InetSocketAddress ServerSocket StandardSocketOptions)
           (java.nio ByteBuffer)
           (java.nio.channels DatagramChannel ServerSocketChannel SocketChannel)
           (java.util.concurrent.atomic AtomicBoolean)
           (sockets Socket)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ 1. ping-pong

(defn- pingpong-row [size direct? blocking?]
  {:key (str "pingpong-" size (if direct? "-direct" "") (mode-key blocking?))
   :scenario (str "TCP ping-pong " size " B, TCP_NODELAY (median RTT), "
                  (if direct? "direct ByteBuffers" "byte arrays") (mode-label blocking?))
   :unit "us" :lower? true
   :impls {:c (fn [pl ms] (some-> (run-c "pingpong" size ms (c-cpu (:server pl)) (c-cpu (:client pl))) (/ 1000.0)))
           :nio (fn [pl ms] (nio-pingpong #(nio-pair true) size pl ms))
           :lib (fn [pl ms] (lib-pingpong #(lib-pair true blocking?) size direct? pl ms))}})

;; ------------------------------------------------------------------ 2./3. bulk

(defn- c-bulk [pl _]
  (some-> (run-c "bulk" (cfg :bulk-bytes) (cfg :bulk-ms) (c-cpu (:server pl)) (c-cpu (:client pl))) (/ 1e9)))

(defn- bulk-row [direct? blocking?]
  {:key (str "bulk-" (if direct? "direct" "array") (mode-key blocking?))
   :scenario (str "TCP bulk 64 KiB writes, " (if direct? "direct ByteBuffers" "byte arrays") " (socket-send/receive!)" (mode-label blocking?))
   :unit "GB/s"
   :impls {:c c-bulk
           :nio (fn [pl ms] (nio-bulk #(nio-pair false) direct? pl ms))
           :lib (fn [pl ms] (lib-bulk #(lib-pair false blocking?) direct? pl ms))}})

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
     (let [order (filter impls [:c :nio :netty :lib])
           ms (cfg :ms)]
       (doseq [k order] (measure (impls k) pl (cfg :warm-ms)))
       (let [rounds (vec (for [_ (range (cfg :rounds))]
                           (into {} (for [k order] [k (measure (impls k) pl ms)]))))]
         (assoc (select-keys row [:key :scenario :unit :lower?]) :placement (:name pl) :rounds rounds))))))

(defn- summarize [{:keys [rounds lower?] :as r}]
  (let [fig (fn [k] (median (keep k rounds)))
        per-round (vec (keep #(ratio lower? (:lib %) (:nio %)) rounds))
        per-round-c (vec (keep #(ratio lower? (:lib %) (:c %)) rounds))
        per-round-netty (vec (keep #(ratio lower? (:lib %) (:netty %)) rounds))]
    (assoc r :c (fig :c) :nio (fig :nio) :netty (fig :netty) :lib (fig :lib)
           :ratio-netty (median per-round-netty)
           :ratio (median per-round) :min (when (seq per-round) (apply min per-round))
           :max (when (seq per-round) (apply max per-round)) :per-round per-round
           :ratio-c (median per-round-c))))

(def ^:private header
  "| scenario | placement | unit | C | NIO | netty epoll | sockets | sockets/NIO median | min | max | sockets/netty | sockets/C | per-round sockets/NIO |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")

(defn- row-line [{:keys [scenario placement unit c nio netty lib ratio min max ratio-netty ratio-c per-round]}]
  (str "| " scenario " | " placement " | " unit " | " (fmt c) " | " (fmt nio) " | " (fmt netty) " | " (fmt lib) " | "
       (fmt-r ratio) " | " (fmt-r min) " | " (fmt-r max) " | " (fmt-r ratio-netty) " | " (fmt-r ratio-c) " | "
       (str/join " " (map fmt-r per-round)) " |"))

(defn- row-words
  "What `--only` matches against: the row's key, and \"netty\" when the row has a netty column."
  [row]
  (cond-> [(:key row)] (:netty (:impls row)) (conj "netty")))

(defn scenarios
  "Every row, in run order."
  []
  (into [(pingpong-row 1 false false) (pingpong-row 1 false true) (pingpong-row 1 true true)
         (pingpong-row 64 false false) (pingpong-row 64 false true)
         (bulk-row false false) (bulk-row false true) (bulk-row true false) (bulk-row true true)
         (ports-row {:receive-buffer-size 4096 :send-size 16384} "egg defaults: 4 KiB input buffer, 16 KiB send size")
         (ports-row {:receive-buffer-size chunk-size :send-size chunk-size} "64 KiB buffer and send size")
         (udp-row false false) (udp-row false true) (udp-row true true) udp-batched-row accept-row]
        (concat (async/rows) (unix/rows))))

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
        wanted? (fn [& words] (or (nil? (:only opts)) (some (fn [w] (some #(str/includes? w %) (:only opts))) words)))
        started (System/nanoTime)]
    (binding [*cfg* cfg*]
      (reset! c-note (build-c!))
      (pin-process! "0-1")
      (println "sockets bench:" (machine))
      (println "config:" (pr-str cfg*) (if @taskset? "" "(taskset missing: nothing pinned)"))
      (when @c-note (println "NOTE:" @c-note))
      (when @async/netty-note (println "NOTE:" @async/netty-note))
      (let [rows (atom [])
            lines (atom [header])]
        (println header)
        (doseq [row (scenarios) :when (apply wanted? (row-words row))
                r (run-row row)]
          (let [s (summarize r)]
            (swap! rows conj s)
            (swap! lines conj (row-line s))
            (println (row-line s))
            (flush)))
        (when (seq @rows)
          (let [ls (targets/lines @rows)]
            (swap! lines into ls)
            (run! println ls)))
        (when (wanted? "idle")
          (let [ls (idle/lines (idle/rows (cfg :ms)))]
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
                           (when @async/netty-note (str "Note: " @async/netty-note "  \n"))
                           "\n" (str/join "\n" @lines) "\n"))))))
    (shutdown-agents)
    (System/exit 0)))
