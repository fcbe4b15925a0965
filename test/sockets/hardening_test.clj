(ns sockets.hardening-test
  "Issue 10: leaks, races, interrupts, fd reuse, UDP rules, signals, descriptor exhaustion,
  close-on-exec, faults on the wire and hostile input. Stress counts scale with the env var
  SOCKETS_STRESS (a fraction of the full counts; see `stress`)."
  (:require [clojure.java.io :as io]
            [clojure.java.shell]
            [clojure.set :as set]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check :as tc]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.messages]
            [sockets.gen]
            [sockets.test-util :as u])
  (:import (java.io File RandomAccessFile)
           (java.lang.management ManagementFactory ThreadMXBean)
           (java.util.concurrent CountDownLatch Executors ExecutorService Future TimeUnit
                                 TimeoutException)
           (java.util.concurrent.atomic AtomicBoolean AtomicLong)
           (sockets Socket SocketException)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(def ^:private stress-fraction
  "SOCKETS_STRESS as a fraction of the full counts (default 0.3 keeps the namespace near a minute; SOCKETS_STRESS=1 runs the full counts)."
  (let [v (System/getenv "SOCKETS_STRESS")]
    (or (try (some-> v Double/parseDouble) (catch NumberFormatException _ nil)) 0.3)))

(defn- stress
  "The full count n scaled by SOCKETS_STRESS, at least 1."
  ^long [^long n]
  (max 1 (long (Math/ceil (* n (double stress-fraction))))))

(defn- ex-kind [f]
  (try (f) :no-error
       (catch SocketException e (:kind (ex-data e)))
       (catch clojure.lang.ExceptionInfo e (:kind (ex-data e)))))

(defn- err-data [f]
  (try (f) {:kind :no-error}
       (catch SocketException e (ex-data e))
       (catch clojure.lang.ExceptionInfo e (ex-data e))))

(defn- ms-since ^double [^long t0] (/ (- (System/nanoTime) t0) 1e6))

(defn- udp-socket
  "A UDP socket bound to 127.0.0.1 port 0."
  ^Socket []
  (let [u (s/socket :af/inet :sock/dgram)]
    (s/socket-bind u (s/inet-address "127.0.0.1" 0))
    u))

;; ------------------------------------------------------------------ spurious wakeups

(deftest shut-rd-datagram-wait-does-not-spin
  ;; Linux keeps reporting POLLIN on a datagram socket after SHUT_RD while recv says EAGAIN:
  ;; a blocked receive must back off instead of spinning until its deadline.
  ;; Measured: ~690 ms of CPU over the 1 s wait before the fix, ~8 ms after.
  (with-open [u (udp-socket)]
    (s/socket-shutdown u :shut/rd)
    (let [^ThreadMXBean mx (ManagementFactory/getThreadMXBean)
          t0 (System/nanoTime)
          [kind cpu-ms] @(future
                           (let [c0 (.getCurrentThreadCpuTime mx)
                                 k (ex-kind #(binding [s/*socket-receive-timeout* 1000] (s/socket-receive u 10)))]
                             [k (/ (- (.getCurrentThreadCpuTime mx) c0) 1e6)]))
          wall (ms-since t0)]
      (is (= :timeout kind))
      (is (<= 900 wall 3000) (str "waited " wall " ms"))
      (is (< cpu-ms 200) (str "the waiting thread used " cpu-ms " ms of CPU in a 1 s wait")))))

;; ------------------------------------------------------------------ the leak checker

(def ^:private namespaces-without-fd-fixture
  "Test namespaces known not to install a once fixture counting fds (reported to the lead;
  they open no sockets of their own, but should use u/fd-fixture)."
  #{})

(deftest every-test-namespace-checks-fds
  (let [files (->> (.listFiles (io/file "test/sockets"))
                   (filter #(str/ends-with? (.getName ^File %) "_test.clj")))
        missing (set (for [^File f files
                           :let [src (slurp f)]
                           :when (not (re-find #"\(use-fixtures\s+:once\s+[^\n]*(fd-fixture|\(fn|settled)" src))]
                       (.getName f)))]
    (is (seq files))
    (is (set/subset? missing namespaces-without-fd-fixture)
        (str "test namespaces without an fd-counting once fixture: " (sort missing)))))

(deftest leak-message-names-targets
  ;; the checker itself fails, naming the targets, when a socket and a file stay open
  (u/with-temp-dir [dir]
    (let [f (io/file dir "leaky.txt")
          reports (atom [])
          held (atom [])]
      (try
        (binding [clojure.test/report (fn [m] (swap! reports conj m))]
          (u/with-fd-check
            (swap! held conj (s/socket :af/inet :sock/stream))
            (swap! held conj (RandomAccessFile. f "rw"))))
        (finally (run! #(.close ^java.io.Closeable %) @held)))
      (let [fails (filter #(= :fail (:type %)) @reports)
            msg (str (:message (first fails)))]
        (is (= 1 (count fails)))
        (is (str/includes? msg "socket:[") msg)
        (is (str/includes? msg (.getPath f)) msg)
        (is (str/includes? msg "2 more open") msg))
      ;; and passes when nothing leaks
      (reset! reports [])
      (binding [clojure.test/report (fn [m] (swap! reports conj m))]
        (u/with-fd-check (with-open [_ (s/socket :af/inet :sock/stream)])))
      (is (= [:pass] (map :type @reports))))))

;; ------------------------------------------------------------------ close/use races

(def ^:private race-ops [:receive :send :accept :connect :option-get :option-set :socket-name])

(defn- file-churner
  "Starts a thread that until `stop` keeps opening temp files in `dir`, writing a marker, holding
  them briefly (so their fd numbers are live while sockets close), then checking each reads back
  exactly its marker; and sockets of its own, checking no racing call touched them. Returns a
  future of {:files n :bad [...]}."
  [^File dir ^AtomicBoolean stop]
  (future
    (loop [n 0 bad []]
      (if (or (.get stop) (> (count bad) 10))
        {:files n :bad bad}
        (let [f (io/file dir (str "f" (mod n 32)))
              marker (.getBytes (str "FILE-" n "-MARKER") "US-ASCII")
              r (try
                  (with-open [raf (RandomAccessFile. f "rw")]
                    (.setLength raf 0)
                    (.write raf marker)
                    (dotimes [_ 20] (Thread/onSpinWait))
                    (.seek raf 0)
                    (let [back (byte-array (.length raf))]
                      (.readFully raf back)
                      (when-not (java.util.Arrays/equals back marker)
                        (str f " holds " (pr-str (String. back "ISO-8859-1"))))))
                  (catch Throwable t (str f ": " t)))]
          ;; every other round a socket of its own too: no racing call may connect it, bind it
          ;; or set its options (the races set SO_KEEPALIVE and TCP_NODELAY)
          (let [r2 (when (even? n)
                     (try
                       (with-open [so (s/socket :af/inet :sock/stream)]
                         (dotimes [_ 20] (Thread/onSpinWait))
                         (let [seen {:peer (s/socket-peer-name so) :name (s/socket-name so)
                                     :keepalive (s/so-keep-alive? so) :nodelay (s/tcp-no-delay? so)}]
                           (when-not (= seen {:peer nil :name nil :keepalive false :nodelay false})
                             (str "churner's socket was touched: " (pr-str seen)))))
                       (catch Throwable t (str "churner's socket: " t))))]
            (recur (inc n) (cond-> bad r (conj r) r2 (conj r2)))))))))

(def ^:private ping (.getBytes "PING-FROM-PEER" "US-ASCII"))

(defn- race-once
  "One close racing `op` on a fresh socket. Returns {:op :result} where result is :ok, a kind,
  or a description of what went wrong."
  [op ^Socket shared-listener ^ExecutorService pool]
  (let [laddr (s/socket-name shared-listener)
        [target peer] (case op
                        (:receive :send :option-get :option-set :socket-name) (u/connected-pair shared-listener)
                        :accept [(u/listener) nil]
                        :connect [(s/socket :af/inet :sock/stream) nil])
        gate (CountDownLatch. 1)
        spin (long (rand-int 400))
        work (fn []
               (.await gate)
               (try
                 (binding [s/*socket-receive-timeout* 10000 s/*socket-send-timeout* 10000
                           s/*socket-accept-timeout* 10000 s/*socket-connect-timeout* 10000]
                   (case op
                     :receive (let [^bytes b (s/socket-receive target 64)]
                                (if (or (zero? (alength b)) (java.util.Arrays/equals b ^bytes ping))
                                  :ok
                                  (str "received foreign bytes " (pr-str (String. b "ISO-8859-1")))))
                     :send (do (s/socket-send target ping) :ok)
                     :accept (do (some-> (s/socket-accept target) s/socket-close) :ok)
                     :connect (do (s/socket-connect target laddr) :ok)
                     :option-get (do (s/so-keep-alive? target) (s/so-receive-buffer target) :ok)
                     :option-set (do (s/set-so-keep-alive! target true) (s/set-tcp-no-delay! target true) :ok)
                     :socket-name (if (= (:port (s/socket-name target)) nil) "no name" :ok)))
                 (catch SocketException e
                   (let [d (ex-data e)] (if (= :closed (:kind d)) :closed (str "error " (pr-str d)))))
                 (catch Throwable t (str "threw " t))))
          closer (fn []
                   (.await gate)
                   (dotimes [_ spin] (Thread/onSpinWait))
                   (s/socket-close target))]
    (when (= op :receive) (when (zero? (rand-int 2)) (s/socket-send peer ping)))
    (let [^Future fw (.submit pool ^Callable work)
          ^Future fc (.submit pool ^Callable closer)]
      (.countDown gate)
      (let [r (try (.get fw 5 TimeUnit/SECONDS)
                   (catch TimeoutException _ (s/socket-close* target) "waiter not woken within 5 s"))]
        (try (.get fc 5 TimeUnit/SECONDS) (catch Throwable t (str "close failed " t)))
        (when peer (s/socket-close* peer))
        (s/socket-close* target)
        {:op op :result r}))))

(defn- drain! [^Socket l]
  (loop [i 0]
    (when (and (< i 1000) (s/socket-accept-ready? l))
      (s/socket-close* (binding [s/*socket-accept-timeout* 0] (try (s/socket-accept l) (catch Exception _ nil))))
      (recur (inc i)))))

(deftest close-races-use
  ;; Full count 10,000 (SOCKETS_STRESS=1). While racing, a thread churns temp files (their fd
  ;; numbers are the ones sockets just gave back): no file may ever read back anything but its
  ;; own marker, no socket op may fail with anything but :closed.
  (let [n (stress 10000)
        pool (Executors/newFixedThreadPool 2)
        stop (AtomicBoolean. false)
        t0 (System/nanoTime)]
    (u/with-temp-dir [dir]
      (with-open [l (u/listener)]
        (let [churn (file-churner dir stop)
              results (try
                        (vec (for [i (range n)]
                               (let [r (race-once (race-ops (mod i (count race-ops))) l pool)]
                                 (when (zero? (mod i 50)) (drain! l))
                                 r)))
                        (finally (.set stop true) (drain! l) (.shutdown pool)
                                 (.awaitTermination pool 10 TimeUnit/SECONDS)))
              {:keys [files bad]} @churn
              by-op (update-vals (group-by :op results) #(frequencies (map :result %)))
              wrong (remove #(#{:ok :closed} (:result %)) results)]
          (println (format "close-races-use: %d races in %.0f ms, %d files churned; outcomes %s"
                           n (ms-since t0) files (pr-str by-op)))
          (is (= n (count results)))
          (is (empty? wrong) (str "unexpected outcomes: " (pr-str (take 10 wrong))))
          (is (empty? bad) (str "files touched by socket calls: " (pr-str bad)))
          (is (pos? files))
          ;; the race is real: some calls were cut off by the close
          (is (pos? (count (filter #(= :closed (:result %)) results)))))))))

;; ------------------------------------------------------------------ thread interrupt

(defn- blocked-in-native?
  "True when thread t is waiting inside the library (in Socket's wait loop)."
  [^Thread t]
  (boolean (some #(and (= "sockets.impl.Waiting" (.getClassName ^StackTraceElement %))
                       (#{"await" "backOff"} (.getMethodName ^StackTraceElement %)))
                 (.getStackTrace t))))

(defn- await-blocked!
  "Waits (bounded: 5 s) until thread t is blocked in the library."
  [^Thread t]
  (let [deadline (+ (System/currentTimeMillis) 5000)]
    (while (and (not (blocked-in-native? t)) (< (System/currentTimeMillis) deadline))
      (Thread/onSpinWait))
    (blocked-in-native? t)))

(defn- interrupt-blocked
  "Runs f on a new thread, waits until it blocks in the library, interrupts it and returns
  {:kind :ms (interrupt to wake) :interrupted? (its status after)}."
  [f]
  (let [out (promise)
        t (Thread. ^Runnable (fn []
                               (let [k (ex-kind f)]
                                 (deliver out {:kind k :at (System/nanoTime)
                                               :interrupted? (.isInterrupted (Thread/currentThread))}))))]
    (.start t)
    (is (await-blocked! t) "the thread blocked in the library")
    (let [t0 (System/nanoTime)]
      (.interrupt t)
      (let [r (deref out 5000 {:kind :not-woken :at (System/nanoTime)})
            ms (/ (- (long (:at r)) t0) 1e6)]
        (.join t 5000)
        (println (format "interrupt: %s after %.1f ms" (:kind r) ms))
        (assoc r :ms ms)))))

(deftest interrupt-wakes-blocked-calls
  ;; documented: receive and accept leave the socket open (and usable); a connect that is
  ;; interrupted fails like any failed connect, closing its socket (as in the egg)
  (with-open [l (u/listener)]
    (testing "receive"
      (let [[c a] (u/connected-pair l)]
        (try
          (let [r (interrupt-blocked #(binding [s/*socket-receive-timeout* 10000] (s/socket-receive a 10)))]
            (is (= :interrupted (:kind r)))
            (is (< (:ms r) 100) (str "woke after " (:ms r) " ms"))
            (is (:interrupted? r) "the interrupt status stays set")
            (is (not (.isClosed ^Socket a)))
            (s/socket-send c "after")
            (is (= "after" (String. ^bytes (s/socket-receive a 10) "UTF-8"))))
          (finally (s/socket-close* c) (s/socket-close* a)))))
    (testing "accept"
      (let [r (interrupt-blocked #(binding [s/*socket-accept-timeout* 10000] (s/socket-accept l)))]
        (is (= :interrupted (:kind r)))
        (is (< (:ms r) 100) (str "woke after " (:ms r) " ms"))
        (is (not (.isClosed l)))
        (let [[c a] (u/connected-pair l)] (s/socket-close c) (s/socket-close a))))
    (testing "connect (to a full-backlog listener: the SYN is dropped)"
      (with-open [full (s/socket :af/inet :sock/stream)]
        (s/socket-bind full (s/inet-address "127.0.0.1" 0))
        (s/socket-listen full 0)
        (let [target (s/socket-name full)
              fillers (vec (repeatedly 2 #(s/socket :af/inet :sock/stream)))]
          (try
            (doseq [f fillers] (ex-kind #(binding [s/*socket-connect-timeout* 200] (s/socket-connect f target))))
            (let [so (s/socket :af/inet :sock/stream)
                  r (interrupt-blocked #(binding [s/*socket-connect-timeout* 10000] (s/socket-connect so target)))]
              (is (= :interrupted (:kind r)))
              (is (< (:ms r) 100) (str "woke after " (:ms r) " ms"))
              (is (.isClosed so) "a failed connect closes its socket"))
            (finally (run! s/socket-close* fillers))))))))

;; ------------------------------------------------------------------ fd reuse

(deftest fd-reuse-after-gc
  (let [s1 (udp-socket)
        n1 (s/socket-fileno s1)
        _ (s/socket-close s1)
        s2 (udp-socket)
        weak (java.lang.ref.WeakReference. s1)]
    (try
      (is (= n1 (s/socket-fileno s2)) "the kernel handed out the same number")
      ;; drop s1 (the local is cleared: only the weak reference is left) and collect it
      (let [deadline (+ (System/currentTimeMillis) 5000)]
        (loop [] (System/gc) (System/runFinalization)
              (when (and (.get weak) (< (System/currentTimeMillis) deadline)) (recur))))
      (println "fd-reuse-after-gc: s1 collected:" (nil? (.get weak)))
      (with-open [v (udp-socket)]
        (s/socket-send-to v "still mine" (s/socket-name s2))
        (let [^bytes b (binding [s/*socket-receive-timeout* 5000] (s/socket-receive s2 100))]
          (is (= "still mine" (String. b "UTF-8"))))
        (is (s/so-type s2)))
      (finally (s/socket-close s2)))))

;; ------------------------------------------------------------------ UDP rules

(deftest udp-rules
  (with-open [u (udp-socket) v (udp-socket)]
    (binding [s/*socket-receive-timeout* 5000]
      (let [to (s/socket-name u)]
        (testing "a datagram longer than the buffer is truncated, the rest is gone"
          (s/socket-send-to v (byte-array (map unchecked-byte (range 1000))) to)
          (s/socket-send-to v "next" to)
          (let [b (byte-array 100)]
            (is (= 100 (s/socket-receive! u b)))
            (is (= (map unchecked-byte (range 100)) (seq b))))
          (is (= "next" (String. ^bytes (s/socket-receive u 2000) "UTF-8"))))
        (testing "a zero-length datagram is not end of stream"
          (s/socket-send-to v (byte-array 0) to)
          (is (= 0 (alength ^bytes (s/socket-receive u 100))))
          (is (not (.isClosed u)))
          (s/socket-send-to v "after zero" to)
          (is (= "after zero" (String. ^bytes (s/socket-receive u 100) "UTF-8"))))
        (testing "the largest UDP/IPv4 datagram goes; one byte more is EMSGSIZE"
          (is (= 65507 (s/socket-send-to v (byte-array 65507) to)))
          (is (= 65507 (alength ^bytes (s/socket-receive u 70000))))
          (is (= {:kind :fatal :errno :EMSGSIZE}
                 (select-keys (err-data #(s/socket-send-to v (byte-array 65508) to)) [:kind :errno])))))))
  (testing "connected UDP to a closed port: ECONNREFUSED on a later receive"
    (with-open [v (udp-socket)]
      (let [g (udp-socket)
            gone (s/socket-name g)]
        (s/socket-close g)
        (s/socket-connect v gone)
        (s/socket-send v "anyone?")
        (is (= {:kind :transient :errno :ECONNREFUSED}
               (select-keys (err-data #(binding [s/*socket-receive-timeout* 5000] (s/socket-receive v 10)))
                            [:kind :errno])))
        (is (not (.isClosed v)) "the socket stays open")))))

;; ------------------------------------------------------------------ child JVMs

(defn- run-child
  "Runs test/sockets/child/<script> in a child JVM: see `sockets.test-util/run-child`."
  [prefix script & args]
  (apply u/run-child prefix nil script args))

(defn- child-edn [{:keys [out]}]
  (some-> (last (remove str/blank? (str/split-lines out))) read-string))

(deftest no-sigpipe
  (testing "control: with SIGPIPE at SIG_DFL, a raw send(2) without MSG_NOSIGNAL kills the child"
    (let [r (run-child nil "sigpipe.clj" "control")]
      (is (= 141 (:exit r)) (str "128 + SIGPIPE expected; " (pr-str r)))))
  (testing "the library never raises SIGPIPE"
    (let [r (run-child nil "sigpipe.clj")
          {:keys [sigpipe-ignored results]} (child-edn r)]
      (is (= 0 (:exit r)) (pr-str r))
      (is (false? sigpipe-ignored))
      (is (= 9 (count results)))
      (doseq [[k v] results]
        (is (contains? #{{:kind :fatal :errno :EPIPE} {:kind :fatal :errno :ECONNRESET}} v) (str k " -> " v)))
      (println "no-sigpipe:" (pr-str results)))))

(deftest descriptor-exhaustion
  (let [prefix (if (zero? (:exit (clojure.java.shell/sh "sh" "-c" "command -v prlimit")))
                 ["prlimit" "--nofile=256:256"]
                 ["bash" "-c" "ulimit -n 256 && exec \"$0\" \"$@\""])
        r (run-child prefix "emfile.clj")
        {:keys [fillers base after full recovered] :as d} (child-edn r)]
    (println "descriptor-exhaustion:" (pr-str d))
    (is (= 0 (:exit r)) (pr-str r))
    (is (< 100 fillers 256) "the limit was reached by filling the table")
    (doseq [op [:socket :accept :connect-ai]]
      (is (= {:kind :fatal :errno :EMFILE} (select-keys (full op) [:kind :errno])) (str op " " (full op)))
      (is (str/includes? (str (:message (full op))) "too many open files") (str op))
      (is (= {:result :no-error} (recovered op)) (str op " after fds were freed")))
    (is (= base after) "no fd leaked")))

;; ------------------------------------------------------------------ close-on-exec

(def ^:private ^jnr.posix.POSIX posix (delay (jnr.posix.POSIXFactory/getNativePOSIX)))

(defn- spawn-and-list-fds
  "posix_spawnp's a shell that lists its own fds (ls -l) into a file; returns {fd target}."
  [^File dir]
  (let [^jnr.posix.POSIX px @posix
        out (io/file dir "fds.txt")
        pid (.posix_spawnp px "sh" [] ["sh" "-c" (str "ls -l /proc/$$/fd > '" out "'; exit 0")]
                           [(str "PATH=" (System/getenv "PATH"))])
        status (int-array 1)]
    (is (pos? pid) "posix_spawnp started the child")
    (.waitpid px (long pid) ^ints status (int 0))
    (into {} (for [line (str/split-lines (slurp out))
                   :let [[_ fd target] (re-find #" (\d+) -> (.*)$" line)]
                   :when fd]
               [(Long/parseLong fd) target]))))

(deftest close-on-exec
  ;; 100 sockets made every way the library makes them: socket (inet, inet6 dgram, unix),
  ;; connect-ai, accept, socketpair, and fds received with SCM_RIGHTS
  (u/with-temp-dir [dir]
    (with-open [l (u/listener)]
      (let [ais (s/address-information "127.0.0.1" (:port (s/socket-name l)) :type :sock/stream)
            made (atom {})
            add! (fn [how so] (swap! made assoc so how) so)]
        (try
          (dotimes [_ 20] (add! :socket (s/socket :af/inet :sock/stream)))
          (dotimes [_ 10] (add! :dgram (s/socket :af/inet6 :sock/dgram)))
          (dotimes [_ 10] (add! :unix (s/socket :af/unix :sock/stream)))
          (dotimes [_ 20] (add! :connect-ai (s/socket-connect-ai ais))
                          (add! :accept (binding [s/*socket-accept-timeout* 5000] (s/socket-accept l))))
          (dotimes [_ 5] (run! #(add! :socketpair %) (s/socketpair :af/unix :sock/stream)))
          (let [[a b] (s/socketpair :af/unix :sock/dgram)]
            (try
              (dotimes [_ 10]
                (with-open [sent (s/socket :af/inet :sock/stream)]
                  (sockets.messages/socket-send-message a "fd" {:control [{:level :sol/socket :type :scm/rights :fds [sent]}]}))
                (let [m (sockets.messages/socket-receive-message b 16 {:timeout-ms 5000})]
                  (run! #(add! :received-fd %) (mapcat :fds (:control m)))))
              (finally (s/socket-close a) (s/socket-close b))))
          (is (= 100 (count @made)))
          (is (every? #(instance? Socket %) (keys @made)))
          (testing "every fd the library made has FD_CLOEXEC (fcntl F_GETFD; /proc/self/fdinfo is unreadable under gVisor)"
            (doseq [[so how] @made] (is (u/cloexec? (s/socket-fileno so)) (str how " " so))))
          (let [control (s/socket :af/inet :sock/stream)]
            (try
              ;; control: an fd without FD_CLOEXEC is inherited, so the listing can see a leak
              (.fcntl ^jnr.posix.POSIX @posix (int (s/socket-fileno control)) jnr.constants.platform.Fcntl/F_SETFD (int 0))
              (let [child (spawn-and-list-fds dir)
                    targets (u/fd-targets)
                    target-of #(get targets (str (s/socket-fileno %)))
                    ours (set (map target-of (keys @made)))
                    held (set (vals child))]
                (println "close-on-exec: the child held" (count child) "fds; sockets among them:"
                         (pr-str (into (sorted-map) (filter #(str/starts-with? (val %) "socket:") child))))
                (is (every? #(str/starts-with? % "socket:[") ours))
                (is (contains? held (target-of control)) "control fd (no FD_CLOEXEC) is inherited")
                (is (empty? (set/intersection held ours))
                    (str "the child holds our sockets: " (sort (set/intersection held ours)))))
              (finally (s/socket-close control))))
          (finally (run! s/socket-close* (keys @made))))))))

;; ------------------------------------------------------------------ faults on the wire

(defn- full-backlog-listener
  "[listener filler-sockets]: a listener with backlog 0 whose queue is already full, so the
  kernel drops further SYNs (a blackhole on loopback)."
  []
  (let [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 0)
    (let [fillers (vec (repeatedly 2 #(s/socket :af/inet :sock/stream)))]
      (doseq [f fillers] (ex-kind #(binding [s/*socket-connect-timeout* 200] (s/socket-connect f (s/socket-name l)))))
      [l fillers])))

(deftest syn-blackhole-connect-times-out
  (let [[l fillers] (full-backlog-listener)]
    (try
      (let [so (s/socket :af/inet :sock/stream)
            t0 (System/nanoTime)
            d (err-data #(binding [s/*socket-connect-timeout* 500] (s/socket-connect so (s/socket-name l))))
            ms (ms-since t0)]
        (is (= :timeout (:kind d)) (pr-str d))
        (is (<= 450 ms 2500) (str "timed out after " ms " ms (timeout 500)"))
        (is (.isClosed so)))
      (finally (run! s/socket-close* fillers) (s/socket-close l)))))

(defn- linger-zero! [so] (s/set-socket-options! so {:so/linger {:on? true :seconds 0}}))

(defn- blocked-call-sees-reset
  "Runs f (blocking on `so`) on a thread, resets the connection from `peer` (SO_LINGER 0 and
  close) once f blocks; returns {:data ex-data :ms close-to-wake}."
  [f peer]
  (let [out (promise)
        t (Thread. ^Runnable #(let [d (err-data f)] (deliver out {:data d :at (System/nanoTime)})))]
    (.start t)
    (await-blocked! t)
    (linger-zero! peer)
    (let [t0 (System/nanoTime)]
      (s/socket-close peer)
      (let [r (deref out 5000 {:data :not-woken :at (System/nanoTime)})
            ms (/ (- (long (:at r)) t0) 1e6)]
        (.join t 5000)
        (println (format "reset: %s after %.1f ms" (:errno (:data r)) ms))
        (assoc r :ms ms)))))

(deftest rst-reaches-blocked-reader-and-writer
  (with-open [l (u/listener)]
    (testing "reader"
      (let [[c a] (u/connected-pair l)]
        (try
          (let [r (blocked-call-sees-reset #(binding [s/*socket-receive-timeout* 10000] (s/socket-receive c 100)) a)]
            (is (= {:kind :fatal :errno :ECONNRESET} (select-keys (:data r) [:kind :errno])) (pr-str r))
            (is (< (:ms r) 100) (str "woke after " (:ms r) " ms")))
          (finally (s/socket-close* c) (s/socket-close* a)))))
    (testing "writer (its send buffer full: the peer does not read)"
      (let [[c a] (u/connected-pair l)
            chunk (byte-array 65536)]
        (try
          (let [r (blocked-call-sees-reset
                   #(binding [s/*socket-send-timeout* 10000]
                      (dotimes [_ 100000] (s/socket-send c chunk)))
                   a)]
            (is (contains? #{{:kind :fatal :errno :ECONNRESET} {:kind :fatal :errno :EPIPE}}
                           (select-keys (:data r) [:kind :errno])) (pr-str r))
            (is (< (:ms r) 100) (str "woke after " (:ms r) " ms")))
          (finally (s/socket-close* c) (s/socket-close* a)))))))

(deftest send-times-out-when-the-peer-stops-reading
  (with-open [l (u/listener)]
    (let [[c a] (u/connected-pair l)
          chunk (byte-array 65536)]
      (try
        (binding [s/*socket-send-timeout* 300]
          (let [[d ms] (loop [i 0]
                         (let [t0 (System/nanoTime)
                               d (err-data #(s/socket-send c chunk))]
                           (if (and (= :no-error (:kind d)) (< i 100000)) (recur (inc i)) [d (ms-since t0)])))]
            (is (= :timeout (:kind d)) (pr-str d))
            (is (<= 280 ms 2300) (str "the blocked send gave up after " ms " ms (timeout 300)"))
            (is (not (.isClosed ^Socket c)) "a send timeout leaves the socket open")))
        (finally (s/socket-close* c) (s/socket-close* a))))))

(defn- pattern
  "n pseudo-random bytes from seed."
  ^bytes [n seed]
  (let [b (byte-array n)] (.nextBytes (java.util.Random. seed) b) b))

(defn- receive-and-compare
  "Reads `so` to EOF (bounded by a 5 s receive timeout); returns {:count n :mismatch first-bad-index-or-nil}."
  [so ^bytes expected]
  (binding [s/*socket-receive-timeout* 5000]
    (let [buf (byte-array 65536)]
      (loop [at 0 bad nil]
        (let [n (long (s/socket-receive! so buf))]
          (if (zero? n)
            {:count at :mismatch bad}
            (recur (+ at n)
                   (or bad
                       (when (> (+ at n) (alength expected)) at)
                       (let [m (java.util.Arrays/mismatch buf 0 (int n) expected (int at) (int (+ at n)))]
                         (when (>= m 0) (+ at m)))))))))))

(deftest faulty-wire-64mib-byte-exact
  (let [size (stress (* 64 1024 1024))
        data (pattern size 42)
        schedule {:chunks [1 1500 7 733 1200 64 1499 300 2 999]
                  ;; a few delays only (cycling over 4096 writes): bounded in time
                  :delays-ms (assoc (vec (repeat 4096 0)) 0 20 1024 5 2048 1 3000 10)}]
    (with-open [target (u/listener)]
      (sockets.gen/with-fault-proxy [p {:target (s/socket-name target) :schedule schedule}]
        (doseq [via [:socket-send-all :output-stream]]
          (testing (name via)
            (let [c (s/socket :af/inet :sock/stream)]
              (s/socket-connect c (:address p))
              (let [a (binding [s/*socket-accept-timeout* 5000] (s/socket-accept target))
                    t0 (System/nanoTime)
                    sender (future
                             (binding [s/*socket-send-timeout* 10000]
                               (case via
                                 :socket-send-all (s/socket-send-all c data)
                                 :output-stream (let [[_ ^java.io.OutputStream out] (s/socket-io-ports c)]
                                                  (.write out data) (.flush out)))
                               (s/socket-shutdown c :shut/wr)))]
                (try
                  (let [r (receive-and-compare a data)]
                    @sender
                    (println (format "faulty-wire %s: %d bytes in %.0f ms" (name via) (:count r) (ms-since t0)))
                    (is (= size (:count r)))
                    (is (nil? (:mismatch r)) (str "first differing byte at " (:mismatch r))))
                  (finally (s/socket-close* c) (s/socket-close* a)))))))
        (is (some #(and (= :write (second %)) (= 1 (nth % 2))) @(:log p)) "the proxy re-chunked (1-byte writes seen)")))))

(deftest enetunreach-in-an-empty-network-namespace
  (let [probe (try (clojure.java.shell/sh "unshare" "-rn" "true")
                   (catch java.io.IOException e {:exit -1 :err (str e)}))]
    (if-not (zero? (long (:exit probe)))
      (do (println "SKIPPED enetunreach-in-an-empty-network-namespace: cannot create a network namespace"
                   "(unshare -rn:" (str (str/trim (str (:err probe))) ")"))
          (is true "skipped: no network namespaces here (reason printed)"))
      (let [r (run-child ["unshare" "-rn"] "netns.clj")
            d (child-edn r)]
        (println "enetunreach:" (pr-str d))
        (is (= 0 (:exit r)) (pr-str r))
        (is (= {:kind :transient :errno :ENETUNREACH} (select-keys (:connect d) [:kind :errno])))
        (is (:closed d) "the failed connect closed its socket")))))

;; ------------------------------------------------------------------ hostile input

(def ^:private hostile-dir (delay (u/temp-dir)))

(def ^:private fixture-tokens
  "Stand-ins the generator picks; each case makes the real thing fresh and closes it after."
  [::tcp ::udp ::udp6 ::listener ::closed ::connected ::unix ::in ::out ::fd ::closed-fd])

(def ^:private long-string (apply str (repeat 100000 "x")))

(def ^:private sockaddr-pool
  [{:family :af/inet :address "127.0.0.1" :port 0}
   {:family :af/inet :address "127.0.0.1" :port 9}
   {:family :af/inet6 :address "::1" :port 0}
   {:family :af/inet :address "0.0.0.0" :port 0}
   {:family :af/inet :address "256.1.1.1" :port 1}
   {:family :af/inet :address "127.0.0.1" :port -1}
   {:family :af/inet :address "127.0.0.1" :port 70000}
   {:family :af/inet :address nil :port 80}
   {:family :af/inet :address "127.0.0.1"}
   {:family :af/inet6 :address "fe80::1%nosuchif" :port 1}
   {:family :af/unix :path (apply str (repeat 200 "p"))}
   {:family :af/unix :path "@hostile-abstract"}
   {:family :af/unix :path "a\u0000b"}
   {:family :af/unix :path ""}
   {:family :af/unix}
   {:family :af/bogus :address "127.0.0.1" :port 1}
   {:family 2 :address "127.0.0.1" :port 1}
   {}])

(def ^:private known-keywords
  [:af/inet :af/inet6 :af/unix :af/bogus :sock/stream :sock/dgram :sock/raw :sock/seqpacket
   :ipproto/tcp :ipproto/udp :ipproto/ip :sol/socket :so/linger :so/rcvbuf :so/reuseaddr :so/rcvtimeo
   :tcp/nodelay :shut/rd :shut/wr :shut/rdwr :msg/peek :msg/dontwait :msg/waitall :ai/passive
   :ni/numerichost :receive-timeout :type :family :protocol :flags])

(def ^:private hostile-value
  (let [int-gen (gen/one-of [(gen/elements [-1 0 1 2 -2147483648 2147483647 2147483648 -2147483649
                                            Long/MAX_VALUE Long/MIN_VALUE 65535 65536 65507 65508
                                            67108864 67108865 (bigint 1e30) (biginteger 5) (short 3)
                                            (byte -1)])
                             ;; random ints, kept away from small numbers: a random small int given
                             ;; as an fd would set options on fds this test does not own
                             (gen/fmap #(if (< -1 % 4096) (+ % 4096) %) gen/large-integer)])]
    (gen/frequency
     [[3 (gen/elements fixture-tokens)]
      [1 (gen/return nil)]
      [1 gen/boolean]
      [3 int-gen]
      [1 (gen/one-of [gen/double (gen/elements [##NaN ##Inf ##-Inf -0.0 1.5 (float 2.5) 1/3 (bigdec "1e400")])])]
      [2 (gen/one-of [gen/string gen/string-ascii
                      (gen/elements [long-string "a\u0000b" "" "127.0.0.1" "::1" "localhost" "80" "http"
                                     "-1" "65536" "1.2.3.4.5" "\u0000" (apply str (repeat 300 "h"))])])]
      [2 (gen/one-of [gen/keyword gen/keyword-ns (gen/elements known-keywords)])]
      [2 (gen/elements sockaddr-pool)]
      [1 (gen/one-of [(gen/set (gen/elements [:msg/peek :msg/oob :msg/dontwait :msg/waitall :msg/bogus 1 nil "x"]))
                      (gen/elements [{:so/linger {:on? true :seconds 0}} {:so/rcvbuf -1} {:so/bogus 1}
                                     {:so/reuseaddr "yes"} {:tcp/nodelay true} {:so/rcvtimeo ##NaN}
                                     {:on? true :seconds -5} {:receive-timeout -1} {:type :sock/stream}])
                      (gen/map gen/keyword gen/small-integer {:max-elements 3})
                      (gen/vector gen/small-integer 0 3)
                      (gen/list gen/keyword)])]
      [2 (gen/elements [:bytes-0 :bytes-1 :bytes-100 :bytes-70000 :bb-heap :bb-direct :bb-read-only
                        :bb-empty :object :fn :char :thread :class])]])))

(defn- materialize
  "The real value for a generated one; registers what must be closed in `opened` (an atom)."
  [v opened]
  (let [reg (fn [x] (swap! opened conj x) x)
        pair (fn [] (let [l (reg (u/listener))
                          [c a] (u/connected-pair l)]
                      (reg a) (reg c)))]
    (case v
      ::tcp (reg (s/socket :af/inet :sock/stream))
      ::udp (reg (udp-socket))
      ::udp6 (reg (s/socket :af/inet6 :sock/dgram))
      ::listener (reg (u/listener))
      ::closed (doto (s/socket :af/inet :sock/stream) s/socket-close)
      ::connected (pair)
      ::unix (reg (s/socket :af/unix :sock/stream))
      ::in (first (reg (s/socket-io-ports (pair))))
      ::out (second (reg (s/socket-io-ports (pair))))
      ::fd (s/socket-fileno (reg (s/socket :af/inet :sock/stream)))
      ::closed-fd (let [so (s/socket :af/inet :sock/stream)] (s/socket-close so) (+ 100000 (s/socket-fileno so)))
      :bytes-0 (byte-array 0)
      :bytes-1 (byte-array 1)
      :bytes-100 (byte-array 100)
      :bytes-70000 (byte-array 70000)
      :bb-heap (java.nio.ByteBuffer/allocate 64)
      :bb-direct (java.nio.ByteBuffer/allocateDirect 64)
      :bb-read-only (.asReadOnlyBuffer (java.nio.ByteBuffer/allocate 64))
      :bb-empty (java.nio.ByteBuffer/allocate 0)
      :object (Object.)
      :fn (fn [] 1)
      :char \a
      :thread (Thread/currentThread)
      :class String
      v)))

(defn- close-all! [xs]
  (doseq [x (reverse xs)]
    (cond
      (instance? Socket x) (s/socket-close* x)
      (instance? java.io.Closeable x) (try (.close ^java.io.Closeable x) (catch Throwable _ nil))
      (sequential? x) (close-all! x))))

(defn- closeables-in [r]
  (cond (instance? java.io.Closeable r) [r]
        (sequential? r) (mapcat closeables-in (take 10 r))
        :else []))

(def ^:private hostile-fns
  "Every public function of sockets.core with its arities ([n] or [n :variadic])."
  (delay
    (vec (for [[sym v] (sort-by key (ns-publics 'sockets.core))
               :when (and (fn? @v) (not (:macro (meta v))))
               arglist (:arglists (meta v))
               :let [variadic? (some #{'&} arglist)
                     fixed (count (take-while #(not= '& %) arglist))]
               n (if variadic? [fixed (+ fixed 1) (+ fixed 2) (+ fixed 4)] [fixed])]
           [sym n]))))

(def ^:private known-raw-errors
  "[function exception-class] pairs sockets.core still lets through (reported to the lead with
  the fix); the property tolerates exactly these and prints them. Remove each once fixed."
  #{})

(defn- hostile-call
  "Calls function `sym` with generated args; returns nil when it worked or threw a documented
  error, else a description."
  [sym args]
  (let [opened (atom [])]
    (try
      (let [real (mapv #(materialize % opened) args)
            f @(ns-resolve 'sockets.core sym)]
        (try
          (binding [s/*socket-receive-timeout* 20 s/*socket-send-timeout* 20
                    s/*socket-accept-timeout* 20 s/*socket-connect-timeout* 20]
            (let [r (apply f real)]
              (swap! opened into (closeables-in r))
              (when (and (= 'socket-detach sym) (integer? r)) (.close ^jnr.posix.POSIX @posix (int r))) ; the detached fd is ours to close
              nil))
          (catch SocketException e (when-not (:kind (ex-data e)) {:sym sym :args args :ex e}))
          (catch clojure.lang.ExceptionInfo e (when-not (:kind (ex-data e)) {:sym sym :args args :ex e}))
          (catch Throwable e {:sym sym :args args :ex e})))
      (finally (close-all! @opened)))))

(defn- describe [{:keys [sym args ex]}]
  (str sym " " (pr-str (mapv #(if (and (string? %) (> (count %) 40)) (str (subs % 0 40) "...") %) args))
       " -> " (.getName (class ex)) ": " (.getMessage ^Throwable ex)))

(deftest hostile-input
  ;; full count 10,000 cases; each case is one call of one public function with hostile args
  (let [n (stress 10000)
        raw (atom [])
        tolerated (atom {})
        t0 (System/nanoTime)
        prop (prop/for-all [[sym arity] (gen/elements @hostile-fns)
                            args (gen/vector hostile-value 4 6)]
               (let [args (vec (take arity (cycle args)))
                     p (hostile-call sym args)]
                 (cond
                   (nil? p) true
                   (known-raw-errors [sym (class (:ex p))]) (do (swap! tolerated update [sym (class (:ex p))] (fnil inc 0)) true)
                   :else (do (swap! raw conj p) false))))
        result (u/with-fd-check (tc/quick-check n prop :seed (System/currentTimeMillis)))]
    (println (format "hostile-input: %d cases over %d function arities in %.0f ms; seed %s; tolerated known issues %s"
                     (:num-tests result (:num-tests (:shrunk result))) (count @hostile-fns) (ms-since t0)
                     (:seed result) (pr-str @tolerated)))
    (is (true? (:pass? result))
        (str "undocumented error: " (some-> (first @raw) describe)
             "\nshrunk: " (pr-str (:smallest (:shrunk result)))))))

;; ------------------------------------------------------------------ unix socket paths

(deftest unix-path-over-the-limit-is-rejected-before-bind
  (u/with-temp-dir [dir]
    (let [capacity (sockets.impl.SockAddrCodec/unixPathCapacity) ; sun_path bytes, with the NUL
          base (str dir "/")
          path-of (fn [nbytes ch] (str base (apply str (repeat (- nbytes (count base)) ch))))
          fits (path-of (dec capacity) "a")
          too-long (path-of capacity "b")
          truncated (subs too-long 0 (dec capacity))
          ;; 2-byte UTF-8 characters: few chars, too many bytes
          multibyte (str base (apply str (repeat (quot capacity 2) "\u00e9")))]
      (testing "the longest path that fits binds"
        (with-open [so (s/socket :af/unix :sock/stream)]
          (s/socket-bind so {:family :af/unix :path fits})
          (is (= fits (:path (s/socket-name so))))))
      (doseq [p [too-long multibyte (str too-long "/more")]]
        (with-open [so (s/socket :af/unix :sock/stream)]
          (let [d (err-data #(s/socket-bind so {:family :af/unix :path p}))]
            (is (= :invalid (:kind d)) (str (count p) " chars: " (pr-str d)))
            (is (nil? (s/socket-name so)) "nothing was bound")
            (is (not (.isClosed so))))))
      (is (= :invalid (:kind (err-data #(s/unix-address too-long)))) "rejected when the address is made")
      (is (not (.exists (io/file truncated))) "no socket file at the truncated path")
      (is (= #{(.getName (io/file fits))} (set (.list ^File dir))) "only the fitting path made a file"))))

(deftest send-from-read-only-heap-buffer
  ;; found by hostile-input: jnr cannot pass a read-only heap ByteBuffer (no array) to send(2)
  (with-open [u (udp-socket) v (udp-socket)]
    (let [bb (.asReadOnlyBuffer (java.nio.ByteBuffer/wrap (.getBytes "read-only" "UTF-8")))]
      (is (= 9 (s/socket-send-to v bb (s/socket-name u))))
      (is (= 9 (.position bb)) "the buffer's position advanced as for any ByteBuffer")
      (let [^bytes b (binding [s/*socket-receive-timeout* 5000] (s/socket-receive u 100))]
        (is (= "read-only" (String. b "UTF-8")))))))

(deftest number-stays-reserved-while-a-call-is-inside
  ;; the Fd contract the race test relies on, made deterministic: while a call holds the fd,
  ;; a close marks it closed but the kernel number is not given back, so a socket opened
  ;; meanwhile gets another number; the last call out releases it
  (let [so (s/socket :af/inet :sock/stream)
        n (s/socket-fileno so)
        fd (.fd ^Socket so)
        target (get (u/fd-targets) (str n))
        inside (.acquire fd "test")]
    (is (= n inside))
    (s/socket-close so)
    (is (.isClosed so))
    (is (= :closed (ex-kind #(s/socket-name so))) "new calls see :closed at once")
    (let [meanwhile (s/socket :af/inet :sock/stream)]
      (try
        (is (not= n (s/socket-fileno meanwhile)) "the number is still reserved")
        (is (= target (get (u/fd-targets) (str n))) "the kernel fd is still open")
        (.release fd)
        ;; (listing /proc/self/fd may itself take the freed number: compare targets)
        (is (not= target (get (u/fd-targets) (str n))) "the last call out closed it")
        (with-open [after (s/socket :af/inet :sock/stream)]
          (is (= n (s/socket-fileno after)) "now the number can be reused"))
        (finally (s/socket-close meanwhile))))))
