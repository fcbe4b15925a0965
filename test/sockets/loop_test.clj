(ns sockets.loop-test
  "The event loop's contract under faults (issue 16): pending puts and takes complete when a
  flow ends, no spinning on a socket shut down for reading, read-only buffers on send-chan,
  huge timeouts, connect over an address list (happy eyeballs on the loop), and a loop whose
  first event happens at EMFILE."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.core.async :as a]
            [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [sockets.address :as addr]
            [sockets.async :as sa]
            [sockets.constants :as c]
            [sockets.test-util :as tu])
  (:import (java.io File)
           (java.lang.management ManagementFactory ThreadMXBean)
           (java.nio ByteBuffer ByteOrder)
           (java.util.concurrent TimeUnit)
           (java.util.concurrent.atomic AtomicLong)
           (sockets EventLoop Messages SockAddr Socket SocketException)))

(set! *warn-on-reflection* true)

(use-fixtures :once tu/fd-fixture)

(def ^:private AF_INET (c/->int :af :af/inet))
(def ^:private AF_UNIX (c/->int :af :af/unix))
(def ^:private STREAM (c/->int :sock :sock/stream))
(def ^:private DGRAM (c/->int :sock :sock/dgram))

(defn- take!! ([ch] (take!! ch 10000)) ([ch ms] (a/alt!! ch ([v] v) (a/timeout ms) ::timeout)))
(defn- kind [x] (when (sa/error? x) (:kind (ex-data x))))
(defn- loopback ^SockAddr [port] (SockAddr/parseInet "127.0.0.1" (int port)))
(defn- port [^Socket s] (.port (.localAddress s)))

(defmacro ^:private with-loop [[sym nm] & body]
  `(let [~sym (EventLoop/create ~nm false)]
     (try ~@body (finally (sa/stop-loop! ~sym 5000)))))

(defn- listener ^Socket []
  (doto (Socket/open AF_INET STREAM 0) (.bind (loopback 0)) (.listen 1024)))

(defn- linger0! [^Socket s]
  (.setOption s (int (c/->int :sol :sol/socket)) (int (c/->int :so :so/linger))
              ^bytes (-> (ByteBuffer/allocate 8) (.order (ByteOrder/nativeOrder)) (.putInt 1) (.putInt 0) (.array))))

;; ------------------------------------------------------------------ 16.1 parked puts

(deftest parked-put-returns-when-the-flow-fails
  (doseq [close-which [:peer :self]]
    (testing (str "a producer parked on a full send-chan gets false once the flow fails (closing the " (name close-which) ")")
      (with-loop [lp "parked-put"]
        (let [[^Socket p ^Socket q] (Messages/socketPair AF_UNIX STREAM 0)
              ch (sa/send-chan p {:loop lp :buf-or-n 1})
              puts (AtomicLong.)
              producer (a/thread (loop []
                                   (if (a/>!! ch (byte-array 1048576))
                                     (do (.incrementAndGet puts) (recur))
                                     :returned-false)))]
          ;; the producer parks once the kernel buffers, the value in flight and the channel are full
          (is (tu/wait-until 5000 #(let [n (.get puts)] (Thread/sleep 200) (= n (.get puts)))) "the producer parked")
          (if (= close-which :peer) (.close q) (.close p))
          (is (= :returned-false (take!! producer 2000)) "the parked put completed and the next put gave false")
          (.close p) (.close q))))))

(defn- serve-echo!
  "An echo of `s` made of receive-chan -> go block -> send-chan, with small buffers; counts the
  go block's exit in `exited`."
  [lp ^Socket s ^AtomicLong exited]
  (.setOption s (int (c/->int :sol :sol/socket)) (int (c/->int :so :so/sndbuf)) (int 4096))
  (let [rc (sa/receive-chan s {:loop lp :buf-or-n 1 :max-chunk 4096})
        sc (sa/send-chan s {:loop lp :buf-or-n 1 :close? true})]
    (a/go (loop []
            (let [v (a/<! rc)]
              (if (bytes? v)
                (do (a/>! sc v) (recur))
                (a/close! sc))))
          (.incrementAndGet exited))))

(deftest echo-churn-leaves-no-go-block-parked
  (testing "abrupt closes of async echo connections end every echo go block"
    (with-loop [lp "churn"]
      (let [n 200
            l (listener)
            acc (sa/accept-chan l {:loop lp :buf-or-n 256})
            exited (AtomicLong.)
            small (int 4096)
            sol (int (c/->int :sol :sol/socket))]
        (a/go-loop []
          (when-let [s (a/<! acc)]
            (when (instance? Socket s)
              (serve-echo! lp s exited)
              (recur))))
        (let [clients (vec (for [_ (range n)]
                             (doto (Socket/open AF_INET STREAM 0)
                               (.setOption sol (int (c/->int :so :so/rcvbuf)) small)
                               (.connect (loopback (port l)) 5000))))
              ;; each client sends without reading until its sends time out: then the echo's
              ;; send-chan is full and its go block parked on >!
              fill (fn [^Socket c] (let [b (byte-array 65536)]
                                     (loop [k 0]
                                       (when (< k 256)
                                         (when (try (.send c b 0 65536 0 300) true (catch SocketException _ false))
                                           (recur (inc k)))))))]
          (doseq [f (mapv #(future (fill %)) clients)] @f)
          (doseq [^Socket c clients] (linger0! c) (.close c))
          (is (tu/wait-until 15000 #(= n (.get exited))) (str (.get exited) " of " n " echo go blocks ended")))
        (a/close! acc)
        (.close l)))))

;; ------------------------------------------------------------------ 16.2 no spin

(defn- thread-cpu-ms
  "CPU time (ms) of the live thread named `nm`."
  [nm]
  (let [^ThreadMXBean mx (ManagementFactory/getThreadMXBean)
        t (first (filter #(= nm (.getName ^Thread %)) (keys (Thread/getAllStackTraces))))]
    (when t (quot (.getThreadCpuTime mx (.getId ^Thread t)) 1000000))))

(deftest datagram-shut-down-for-reading-does-not-spin
  (doseq [[label mk] [["udp" #(vector (doto (Socket/open AF_INET DGRAM 0) (.bind (loopback 0))))]
                      ["unix dgram" #(vec (Messages/socketPair AF_UNIX DGRAM 0))]]]
    (testing (str label ": a receive-chan on a socket shut down for reading leaves the loop idle")
      (let [nm (str "spin-" (str/replace label " " "-"))]
        (with-loop [lp nm]
          (let [socks (mk)
                ^Socket u (first socks)
                rc (sa/receive-chan u {:loop lp})]
            (is (tu/wait-until 2000 #(= 1 (.registrations lp))))
            (.shutdown u (c/->int :shut :shut/rd))
            (let [c0 (thread-cpu-ms nm) t0 (System/nanoTime)
                  _ (Thread/sleep 1000)
                  c1 (thread-cpu-ms nm) wall (quot (- (System/nanoTime) t0) 1000000)]
              (println (format "%s after shutdown: loop thread CPU %d ms in %d ms" label (- c1 c0) wall))
              (is (< (- c1 c0) (quot wall 20)) "far below 50% of one CPU (under 5%: an idle loop only sweeps)"))
            (is (contains? #{nil ::timeout} (take!! rc 100)) "the channel closed (EOF) or stays quiet")
            (run! #(.close ^Socket %) socks)))))))

;; ------------------------------------------------------------------ 16.4 read-only buffers

(deftest send-chan-takes-read-only-heap-buffers
  (with-loop [lp "read-only"]
    (let [[^Socket p ^Socket q] (Messages/socketPair AF_UNIX STREAM 0)
          result (a/promise-chan)
          ch (sa/send-chan p {:loop lp :result-ch result})
          ro (fn [^String s] (.asReadOnlyBuffer (ByteBuffer/wrap (.getBytes s "UTF-8"))))]
      (is (true? (a/>!! ch (ro "read-only "))))
      (is (true? (a/>!! ch (ro "heap "))))
      (is (true? (a/>!! ch "after")))
      (a/close! ch)
      (is (= 20 (take!! result 5000)) ":result-ch answers with every byte")
      (let [buf (byte-array 64)
            n (loop [n 0] (let [r (.receive q buf (int n) 64 0 2000)] (if (and (pos? r) (< (+ n r) 20)) (recur (+ n r)) (+ n r))))]
        (is (= "read-only heap after" (String. buf 0 (int n) "UTF-8"))))
      (.close p) (.close q))))

;; ------------------------------------------------------------------ item 5 timeouts

(deftest huge-timeouts-never-expire-at-once
  (with-loop [lp "timeouts"]
    (doseq [t [Long/MAX_VALUE (long 1e13)]]
      (testing (str ":timeout-ms " t)
        (let [[^Socket p ^Socket q] (Messages/socketPair AF_UNIX STREAM 0)
              rc (sa/receive-chan p {:loop lp :timeout-ms t})]
          (is (= ::timeout (take!! rc 300)) "no timeout error")
          (.sendAll q "x" 0 0 1000)
          (is (= "x" (String. ^bytes (take!! rc))))
          (.close p) (.close q))
        (let [l (listener)
              s (take!! (sa/connect-chan {:family :af/inet :address "127.0.0.1" :port (port l)} {:loop lp :timeout-ms t}))]
          (is (instance? Socket s))
          (when (instance? Socket s) (.close ^Socket s))
          (.close l))))
    (testing "anything but an integer 0..Long/MAX_VALUE (or nil) is :invalid"
      (with-open [s (Socket/open AF_INET STREAM 0)]
        (doseq [bad [-1 (inc (bigint Long/MAX_VALUE)) 1.5 1e13 "10"]]
          (is (= :invalid (tu/kind-of #(sa/receive-chan s {:loop lp :timeout-ms bad}))) (pr-str bad)))
        (is (zero? (.registrations lp)))))))

;; ------------------------------------------------------------------ item 4 address lists

(defn- ai [p] {:family :af/inet :socktype :sock/stream :protocol :ipproto/tcp
               :address {:family :af/inet :address "127.0.0.1" :port p}})

(deftest connect-over-address-lists
  (with-loop [lp "connect-any"]
    (let [closed (let [l (listener) p (port l)] (.close l) p)
          good (listener)]
      (testing "sequential: the refused address is skipped"
        (let [s (take!! (sa/connect-ai-chan [(ai closed) (ai (port good))] {:loop lp}))]
          (is (instance? Socket s))
          (when (instance? Socket s) (.close ^Socket s))))
      (testing "happy eyeballs: the first connection wins, on the loop"
        (let [s (take!! (sa/connect-ai-chan [(ai closed) (ai (port good))] {:loop lp :happy-eyeballs {:attempt-delay-ms 100}}))]
          (is (instance? Socket s))
          (is (= (port good) (.port (.peerAddress ^Socket s))))
          (when (instance? Socket s) (.close ^Socket s))))
      (testing "all fail: the last error, naming every address tried"
        (doseq [o [{} {:happy-eyeballs true}]]
          (let [e (take!! (sa/connect-ai-chan [(ai closed) (ai closed)] (assoc o :loop lp)))]
            (is (= :transient (kind e)))
            (is (= 2 (count (:tried (ex-data e)))))
            (is (str/includes? (.getMessage ^Throwable e) (str "127.0.0.1:" closed))))))
      (testing "blocking: EventLoop.connectHappySync"
        (with-open [s (.connectHappySync lp [(addr/->addrinfo (ai closed)) (addr/->addrinfo (ai (port good)))] 100 5000)]
          (is (= (port good) (.port (.peerAddress s))))))
      (is (tu/wait-until 2000 #(zero? (.registrations lp))) "every losing attempt's socket is gone")
      (.close good))))

;; ------------------------------------------------------------------ 16.3 EMFILE

(defn- run-child [prefix script]
  (let [java (str (io/file (System/getProperty "java.home") "bin" "java"))
        cmd (concat prefix [java "-Dsockets.child=true" "-cp" (System/getProperty "java.class.path") "clojure.main"
                            (str "test/sockets/child/" script)])
        out (File/createTempFile "child" ".out")
        err (File/createTempFile "child" ".err")]
    (try
      (let [p (-> (ProcessBuilder. ^java.util.List (vec cmd)) (.redirectOutput out) (.redirectError err) (.start))
            done (.waitFor p 120 TimeUnit/SECONDS)]
        (when-not done (.destroyForcibly p) (.waitFor p 10 TimeUnit/SECONDS))
        {:exit (if done (.exitValue p) :timeout) :out (slurp out) :err (slurp err)})
      (finally (.delete out) (.delete err)))))

(deftest loop-first-event-at-emfile
  (let [prefix (if (zero? (:exit (sh/sh "sh" "-c" "command -v prlimit")))
                 ["prlimit" "--nofile=256:256"]
                 ["bash" "-c" "ulimit -n 256 && exec \"$0\" \"$@\""])
        r (run-child prefix "emfile_loop.clj")
        d (some-> (last (remove str/blank? (str/split-lines (:out r)))) read-string)]
    (println "loop-first-event-at-emfile:" (pr-str d))
    (is (= 0 (:exit r)) (pr-str r))
    (is (< 100 (:fillers d 0)) "the fd table was filled")
    (is (= :accepted (:after-free d)) "the loop accepted once fds were freed")
    (is (= :running (:state d)))
    (is (zero? (:handler-errors d 1)) (str (:last-error d)))))

(defn- black-hole
  "[listener fillers]: a listener whose accept queue (backlog 0) is full, so a further connect
  is never answered; nil when the kernel does not behave that way."
  []
  (let [l (doto (Socket/open AF_INET STREAM 0) (.bind (loopback 0)) (.listen 0))]
    (loop [i 0 fillers []]
      (let [c (Socket/open AF_INET STREAM 0)
            r (try (.connect c (loopback (port l)) 300) :ok (catch SocketException e (kind e)))]
        (cond (= r :timeout) [l fillers]
              (and (= r :ok) (< i 8)) (recur (inc i) (conj fillers c))
              :else (do (run! #(.closeQuietly ^Socket %) (conj fillers c l)) nil))))))

(deftest happy-eyeballs-staggers-and-abandons-the-loser
  (if-let [[^Socket hole fillers] (black-hole)]
    (with-loop [lp "happy"]
      (let [good (listener)
            t0 (System/nanoTime)
            s (take!! (sa/connect-ai-chan [(ai (port hole)) (ai (port good))]
                                          {:loop lp :timeout-ms 10000 :happy-eyeballs {:attempt-delay-ms 200}}))
            ms (quot (- (System/nanoTime) t0) 1000000)]
        (is (instance? Socket s))
        (is (= (port good) (some-> ^Socket s .peerAddress .port)))
        (is (<= 200 ms 5000) (str ms " ms: the second attempt started after the stagger delay, long before the timeout"))
        (is (tu/wait-until 2000 #(zero? (.registrations lp))) "the unanswered attempt was abandoned and its socket closed")
        (when (instance? Socket s) (.close ^Socket s))
        (testing "connectHappySync: the socket, and the log of attempts"
          (let [log (java.util.ArrayList.)]
            (with-open [s (.connectHappySync lp [(addr/->addrinfo (ai (port hole))) (addr/->addrinfo (ai (port good)))] 200 10000 log)]
              (is (= (port good) (.port (.peerAddress s))))
              (is (= [false true] (map #(.won ^sockets.EventLoop$Attempt %) log)))
              (is (= ["abandoned" nil] (map #(.error ^sockets.EventLoop$Attempt %) log)))
              (is (= [(port hole) (port good)] (map #(.port (.address ^sockets.EventLoop$Attempt %)) log))))))
        (is (tu/wait-until 2000 #(zero? (.registrations lp))))
        (run! #(.close ^Socket %) (conj fillers hole good))))
    (println "SKIP happy-eyeballs-staggers-and-abandons-the-loser: no black-hole listener on this kernel")))
