(ns sockets.datagrams-test
  "Many datagrams per call: sockets.datagrams/socket-receive-many!, socket-receive-many,
  socket-send-many and sockets.Datagrams, over UDP (IPv4, IPv6) and unix datagram sockets,
  through recvmmsg/sendmmsg and through the one-by-one path that other platforms take."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.datagrams :as x]
            [sockets.specs :as specs]
            [sockets.test-util :as u])
  (:import (java.io File)
           (java.nio ByteBuffer)
           (java.nio.charset StandardCharsets)
           (java.util Arrays)
           (sockets Datagrams Socket SockAddr SocketException)
           (sockets.impl Batch)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(defn- skip [reason] (println "SKIP sockets.datagrams-test:" reason))

(defn- utf8 ^bytes [^String s] (.getBytes s StandardCharsets/UTF_8))
(defn- text ^String [^bytes b] (String. b StandardCharsets/UTF_8))

(defn- paths
  "Calls (f path-name) once through recvmmsg/sendmmsg (where the platform has them) and once
  one datagram per call, as where it lacks them."
  [f]
  (doseq [loop? (if Batch/MMSG [false true] [true])]
    (let [was (Batch/forceLoop loop?)]
      (try (testing (if loop? "one by one" "recvmmsg/sendmmsg") (f loop?))
           (finally (Batch/forceLoop was))))))

(defn- ^sockets.Socket udp-socket
  "A UDP socket of `family` bound to loopback port 0, or nil when the family is unavailable."
  [family]
  (let [so (s/socket family :sock/dgram)]
    (try (s/socket-bind so (s/inet-address (if (= family :af/inet6) "::1" "127.0.0.1") 0))
         so
         (catch SocketException e
           (s/socket-close* so)
           (if (= :invalid (:kind (ex-data e))) (throw e) nil)))))

(defn- receive-all
  "Receives until `n` datagrams arrived (each call waits at most 5 s; at most n calls): the
  concatenated results of socket-receive-many! into fresh buffers of `size` bytes, each with
  its :data (the bytes stored)."
  [so n size opts]
  (loop [out [] calls 0]
    (if (or (>= (count out) n) (>= calls n))
      out
      (let [bufs (vec (repeatedly (- n (count out)) #(byte-array size)))
            rs (x/socket-receive-many! so bufs (merge {:timeout-ms 5000} opts))]
        (recur (into out (map-indexed (fn [i r] (assoc r :data (Arrays/copyOf ^bytes (bufs i) (int (min size (:count r))))))) rs)
               (inc calls))))))

(defn- direct ^ByteBuffer [^bytes b]
  (.flip (.put (ByteBuffer/allocateDirect (alength b)) b)))

;; ------------------------------------------------------------------ UDP

(deftest udp-order-counts-sources
  (doseq [family [:af/inet :af/inet6]]
    (testing family
      (let [r (udp-socket family) snd (udp-socket family)]
        (if-not (and r snd)
          (do (skip (str family " loopback is not available")) (run! #(some-> % s/socket-close*) [r snd]))
          (try
            (paths
             (fn [_]
               (let [offset (doto (ByteBuffer/wrap (utf8 "xxpositioned")) (.position 2))
                     sent (x/socket-send-many snd ["one" (utf8 "two") (direct (utf8 "three")) offset (byte-array 0)
                                                   {:data "six" :address (s/socket-name r)}]
                                              {:address (s/socket-name r) :timeout-ms 5000})
                     ;; receive into heap and direct buffers alike
                     heap (vec (repeatedly 3 #(byte-array 32)))
                     dbufs (vec (repeatedly 3 #(ByteBuffer/allocateDirect 32)))
                     rs (loop [acc [] calls 0]
                          (if (or (= 6 (count acc)) (= 6 calls))
                            acc
                            (let [k (count acc)
                                  bufs (subvec (into heap dbufs) k)
                                  got (x/socket-receive-many! r bufs {:timeout-ms 5000})]
                              (recur (into acc (map-indexed (fn [i m] (assoc m :buf (bufs i))) got)) (inc calls)))))
                     data (mapv (fn [{:keys [buf count]}]
                                  (if (bytes? buf)
                                    (text (Arrays/copyOf ^bytes buf (int count)))
                                    (let [b (byte-array count)] (.get (.duplicate ^ByteBuffer buf) b) (text b))))
                                rs)]
                 (is (= 6 sent))
                 (is (= 2 (.position offset)) "a sent ByteBuffer's position is not changed")
                 (is (= ["one" "two" "three" "positioned" "" "six"] data) "ordering preserved, every byte intact")
                 (is (= [3 3 5 10 0 3] (mapv :count rs)))
                 (is (every? #(= (s/socket-name snd) (:address %)) rs) "each datagram's source")
                 (is (every? #(false? (:truncated? %)) rs))
                 (is (every? #(zero? (.position ^ByteBuffer %)) dbufs) "receive leaves positions alone"))))
            (finally (s/socket-close r) (s/socket-close snd))))))))

(deftest connected-udp-and-new-arrays
  (let [r (udp-socket :af/inet) snd (udp-socket :af/inet)]
    (try
      (s/socket-connect snd (s/socket-name r))
      (paths
       (fn [_]
         (is (= 3 (x/socket-send-many snd ["a" "bb" "ccc"] {:timeout-ms 5000})) "connected: no addresses needed")
         (let [rs (loop [acc [] calls 0]
                    (if (or (= 3 (count acc)) (= 3 calls))
                      acc
                      (recur (into acc (x/socket-receive-many r 3 2 {:timeout-ms 5000 :address? false})) (inc calls))))]
           (is (= ["a" "bb" "cc"] (mapv (comp text :data) rs)) "at most size bytes each")
           (is (= [false false true] (mapv :truncated? rs)))
           (is (every? #(not (contains? % :address)) rs) ":address? false leaves addresses out"))))
      (finally (s/socket-close r) (s/socket-close snd)))))

;; ------------------------------------------------------------------ unix

(deftest unix-socketpair
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (paths
       (fn [_]
         (is (= 4 (x/socket-send-many a ["w" "x" "yy" "zzz"] {:timeout-ms 5000})))
         ;; unix datagrams are queued by the send itself: all four are there for one call
         (let [rs (x/socket-receive-many b 8 16 {:timeout-ms 5000})]
           (is (= ["w" "x" "yy" "zzz"] (mapv (comp text :data) rs))))))
      (finally (s/socket-close a) (s/socket-close b)))))

(deftest unix-bound-paths
  (u/with-temp-dir [dir]
    (let [pa (.getPath (File. ^File dir "a.sock")) pb (.getPath (File. ^File dir "b.sock"))
          a (s/socket :af/unix :sock/dgram) b (s/socket :af/unix :sock/dgram)]
      (try
        (s/socket-bind a (s/unix-address pa))
        (s/socket-bind b (s/unix-address pb))
        (paths
         (fn [_]
           (is (= 3 (x/socket-send-many a [{:data "to b" :address (s/unix-address pb)}
                                           {:data (direct (utf8 "direct")) :address (s/unix-address pb)}
                                           {:data (byte-array [1 2 3]) :address (s/unix-address pb)}]
                                        {:timeout-ms 5000})))
           (let [rs (receive-all b 3 64 {})]
             (is (= ["to b" "direct" "\u0001\u0002\u0003"] (mapv (comp text :data) rs)))
             (is (every? #(= (s/unix-address pa) (:address %)) rs) "the sender's bound path"))))
        (finally (s/socket-close a) (s/socket-close b))))))

(deftest senders-in-runs
  ;; consecutive datagrams from one sender share one address; a change of sender is seen
  (u/with-temp-dir [dir]
    (let [path #(.getPath (File. ^File dir ^String %))
          [s1 s2 r :as all] (repeatedly 3 #(s/socket :af/unix :sock/dgram))]
      (try
        (doseq [[so nm] (map vector all ["s1" "s2" "r"])] (s/socket-bind so (s/unix-address (path nm))))
        (paths
         (fn [_]
           (doseq [[so ds] [[s1 ["1" "2"]] [s2 ["3"]] [s1 ["4"]] [s2 ["5" "6"]]]]
             (is (= (count ds) (x/socket-send-many so ds {:address (s/unix-address (path "r")) :timeout-ms 5000}))))
           (let [rs (receive-all r 6 8 {})]
             (is (= ["1" "2" "3" "4" "5" "6"] (mapv (comp text :data) rs)))
             (is (= (mapv #(s/unix-address (path %)) ["s1" "s1" "s2" "s1" "s2" "s2"]) (mapv :address rs))))))
        (finally (run! s/socket-close all))))))

(defn- big-payloads
  "n strings of 4096 bytes, each starting with its index."
  [n]
  (mapv (fn [i] (let [tag (str "d" i "-")] (apply str tag (repeat (- 4096 (count tag)) "x")))) (range n)))

(deftest unix-full-queue-sends-part
  ;; a unix datagram sender may have only SO_SNDBUF bytes (about 200 KiB) of datagrams waiting
  ;; to be received: a send of more stops where that is reached and returns how many went,
  ;; without waiting; the rest goes in later calls, every datagram once and in order
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (paths
       (fn [_]
         (let [payloads (big-payloads 200)
               first-k (x/socket-send-many a payloads {:timeout-ms 5000})]
           (is (< 0 first-k 200) "800 KiB do not fit: part went")
           (let [got (loop [got [] sent first-k rounds 0]
                       (if (or (= (count got) 200) (> rounds 400))
                         got
                         (let [rs (x/socket-receive-many b 64 4096 {:timeout-ms 5000})
                               got (into got (map (comp text :data)) rs)
                               more (if (< sent 200) (x/socket-send-many a (subvec payloads sent) {:timeout-ms 5000}) 0)]
                           (recur got (+ sent (long more)) (inc rounds)))))]
             (is (= payloads got) "every datagram arrived once, in order")))))
      (finally (s/socket-close a) (s/socket-close b)))))

;; ------------------------------------------------------------------ truncation

(deftest truncation
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (paths
       (fn [_]
         (x/socket-send-many a ["0123456789" "ok"] {:timeout-ms 5000})
         (let [b1 (byte-array 4) b2 (byte-array 4)
               rs (x/socket-receive-many! b [b1 b2] {:timeout-ms 5000})]
           (is (= [{:count 4 :truncated? true} {:count 2 :truncated? false}] (mapv #(dissoc % :address) rs))
               "the long datagram fills its buffer and the rest of it is lost; the next one is whole")
           (is (= "0123" (text b1)))
           (is (= "ok" (text (Arrays/copyOf b2 2)))))
         (testing ":msg/trunc: the real length"
           (x/socket-send-many a ["0123456789"] {:timeout-ms 5000})
           (let [b1 (byte-array 4)
                 [r] (x/socket-receive-many! b [b1] {:timeout-ms 5000 :flags #{:msg/trunc}})]
             (is (= {:count 10 :truncated? true} (dissoc r :address)))
             (is (= "0123" (text b1)))))))
      (finally (s/socket-close a) (s/socket-close b)))))

;; ------------------------------------------------------------------ waiting

(deftest timeout-with-nothing-queued
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (paths
       (fn [_]
         (is (= :timeout (u/kind-of #(x/socket-receive-many! b [(byte-array 8)] {:timeout-ms 50}))))
         (is (= :timeout (u/kind-of #(binding [s/*socket-receive-timeout* 50] (s/socket-receive-many b 4 8))))
             "the default is sockets.core/*socket-receive-timeout*")
         (is (= :timeout (u/kind-of #(x/socket-receive-many! b [(byte-array 8)] {:timeout-ms 0}))) "0 ms: no wait")))
      (finally (s/socket-close a) (s/socket-close b)))))

(defn- in-batch-wait?
  "True when thread t waits in the library's poll loop under Datagrams."
  [^Thread t]
  (let [st (map (fn [^StackTraceElement e] [(.getClassName e) (.getMethodName e)]) (.getStackTrace t))]
    (boolean (and (some #{["sockets.impl.Waiting" "await"]} st) (some #(= "sockets.Datagrams" (first %)) st)))))

(defn- await-blocked! [^Thread t]
  (let [deadline (+ (System/currentTimeMillis) 5000)]
    (while (and (not (in-batch-wait? t)) (< (System/currentTimeMillis) deadline))
      (Thread/onSpinWait))
    (in-batch-wait? t)))

(defn- blocked-receive
  "Starts a thread blocked in socket-receive-many! on `so` with no timeout, calls (wake t) once
  it waits in the library, and returns [the error kind it ended with, its interrupt status]."
  [so wake]
  (let [out (promise)
        t (Thread. ^Runnable (fn [] (deliver out [(u/kind-of #(x/socket-receive-many! so [(byte-array 8) (byte-array 8)] {:timeout-ms nil}))
                                                  (.isInterrupted (Thread/currentThread))])))]
    (.start t)
    (is (await-blocked! t) "the thread blocked in the library")
    (wake t)
    (let [r (deref out 5000 [:not-woken nil])]
      (.join t 5000)
      r)))

(deftest close-wakes-a-blocked-receive
  (paths
   (fn [_]
     (let [[a b] (s/socketpair :af/unix :sock/dgram)]
       (try
         (is (= :closed (first (blocked-receive b (fn [_] (s/socket-close b))))))
         (finally (s/socket-close* a) (s/socket-close* b))))
     (let [r (udp-socket :af/inet)]
       (try (is (= :closed (first (blocked-receive r (fn [_] (s/socket-close r))))) "UDP too")
            (finally (s/socket-close* r)))))))

(deftest interrupt-wakes-a-blocked-receive
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (let [[kind interrupted?] (blocked-receive b (fn [^Thread t] (.interrupt t)))]
        (is (= :interrupted kind))
        (is (true? interrupted?) "the thread's interrupt status is kept"))
      (x/socket-send-many a ["still usable"] {:timeout-ms 5000})
      (is (= ["still usable"] (mapv (comp text :data) (x/socket-receive-many b 1 32 {:timeout-ms 5000}))))
      (finally (s/socket-close a) (s/socket-close b)))))

(deftest blocking-mode-sockets
  ;; in blocking mode (O_NONBLOCK cleared) a receive-many waits inside recvmmsg (MSG_WAITFORONE)
  ;; in the slices the socket sets, and still times out, wakes on data and on a close; a
  ;; send-many never waits in the kernel: a full send buffer ends it early
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (when (and (s/set-socket-blocking! a true) (s/set-socket-blocking! b true))
        (paths
         (fn [_]
           (let [payloads (big-payloads 100)
                 k (x/socket-send-many a payloads {:timeout-ms 5000})]
             (is (< 0 k 100) "a send-many of more than the send buffer holds returns what went, without waiting")
             (is (= (subvec payloads 0 k) (mapv (comp text :data) (receive-all b k 4096 {})))))
           (let [t0 (System/nanoTime)]
             (is (= :timeout (u/kind-of #(x/socket-receive-many! b [(byte-array 8)] {:timeout-ms 50}))))
             (is (< (/ (- (System/nanoTime) t0) 1e6) 2000)))
           (let [got (future (x/socket-receive-many b 4 16 {:timeout-ms 10000}))]
             (Thread/sleep 100) ; most likely waiting by now; if not, the datagrams are simply queued
             (x/socket-send-many a ["x" "y"] {:timeout-ms 5000})
             (let [first-call (mapv (comp text :data) (deref got 5000 [:hung]))]
               (is (#{["x"] ["x" "y"]} first-call) "data wakes it")
               (when (= ["x"] first-call) ; "y" came after the wake: take it so no later check sees it
                 (is (= ["y"] (mapv (comp text :data) (x/socket-receive-many b 4 16 {:timeout-ms 5000})))))))))
        (let [r (future (u/kind-of #(x/socket-receive-many! b [(byte-array 8)] {:timeout-ms nil})))]
          (Thread/sleep 100)
          (s/socket-close b)
          (is (= :closed (deref r 5000 :hung)) "a close wakes it")))
      (finally (s/socket-close* a) (s/socket-close* b)))))

;; ------------------------------------------------------------------ invalid input

(deftest invalid-input-changes-nothing
  (let [[a b] (s/socketpair :af/unix :sock/dgram)
        [sa sb] (s/socketpair :af/unix :sock/stream)
        ro (.asReadOnlyBuffer (ByteBuffer/allocate 8))
        buf (byte-array 8)]
    (try
      (x/socket-send-many a ["queued"] {:timeout-ms 5000})
      (doseq [[what f] [["not a socket" #(x/socket-receive-many! :nope [buf])]
                        ["a stream socket" #(x/socket-receive-many! sb [buf] {:timeout-ms 0})]
                        ["nil buffers" #(x/socket-receive-many! b nil)]
                        ["no buffers" #(x/socket-receive-many! b [])]
                        ["too many buffers" #(x/socket-receive-many! b (vec (repeat 1025 buf)))]
                        ["a string buffer" #(x/socket-receive-many! b ["text"])]
                        ["a nil buffer" #(x/socket-receive-many! b [buf nil])]
                        ["a read-only buffer" #(x/socket-receive-many! b [buf ro])]
                        ["peek (would repeat the first datagram)" #(x/socket-receive-many! b [buf] {:flags #{:msg/peek}})]
                        ["oob" #(x/socket-receive-many! b [buf] {:flags #{:msg/oob}})]
                        ["an unknown flag" #(x/socket-receive-many! b [buf] {:flags #{:msg/nonsense}})]
                        ["a negative timeout" #(x/socket-receive-many! b [buf] {:timeout-ms -1})]
                        ["a string timeout" #(x/socket-receive-many! b [buf] {:timeout "1"})]
                        ["n of 0" #(x/socket-receive-many b 0 8)]
                        ["n of 1025" #(x/socket-receive-many b 1025 8)]
                        ["a negative size" #(x/socket-receive-many b 1 -1)]
                        ["Java: counts too short" #(Datagrams/receiveMany b (into-array ByteBuffer [(ByteBuffer/wrap buf) (ByteBuffer/wrap buf)]) (int-array 1) nil nil 0 0)]
                        ["Java: froms too short" #(Datagrams/receiveMany b (into-array ByteBuffer [(ByteBuffer/wrap buf)]) (int-array 1) (make-array SockAddr 0) nil 0 0)]
                        ["Java: flags too short" #(Datagrams/receiveMany b (into-array ByteBuffer [(ByteBuffer/wrap buf)]) (int-array 1) nil (int-array 0) 0 0)]
                        ["Java: null socket" #(Datagrams/receiveMany nil (into-array ByteBuffer [(ByteBuffer/wrap buf)]) (int-array 1) nil nil 0 0)]
                        ["Java: null counts" #(Datagrams/receiveMany b (into-array ByteBuffer [(ByteBuffer/wrap buf)]) nil nil nil 0 0)]]]
        (is (= :invalid (u/kind-of f)) (str "receive: " what)))
      (is (= "queued" (text (:data (first (x/socket-receive-many b 1 32 {:timeout-ms 5000})))))
          "the datagram queued before the bad calls is still there, whole")
      (doseq [[what f] [["not a socket" #(x/socket-send-many "sock" ["x"])]
                        ["a stream socket" #(x/socket-send-many sa ["x"])]
                        ["not a sequence" #(x/socket-send-many a "x")]
                        ["too many" #(x/socket-send-many a (vec (repeat 1025 "x")))]
                        ["a map without :data" #(x/socket-send-many a [{:address (s/unix-address "/tmp/x")}])]
                        ["a bad payload" #(x/socket-send-many a ["ok" :keyword])]
                        ["a bad address" #(x/socket-send-many a [{:data "x" :address {:family :af/inet :address "300.1.1.1" :port 1}}])]
                        ["a bad default address" #(x/socket-send-many a ["x"] {:address "nope"})]
                        ["an unsuitable flag" #(x/socket-send-many a ["x"] {:flags #{:msg/more}})]
                        ["oob" #(x/socket-send-many a ["x"] {:flags #{:msg/oob}})]
                        ["a bad timeout" #(x/socket-send-many a ["x"] {:timeout :soon})]
                        ["Java: tos too short" #(Datagrams/sendMany a (into-array ByteBuffer [(ByteBuffer/wrap buf)]) (make-array SockAddr 0) 0 0)]
                        ["Java: a null buffer" #(Datagrams/sendMany a (into-array ByteBuffer [nil]) nil 0 0)]
                        ["Java: null buffers" #(Datagrams/sendMany a nil nil 0 0)]]]
        (is (= :invalid (u/kind-of f)) (str "send: " what)))
      (is (= :timeout (u/kind-of #(x/socket-receive-many! b [buf] {:timeout-ms 0}))) "no bad send sent anything")
      (is (= 0 (x/socket-send-many a [])) "nothing to send: 0, no call")
      (finally (run! s/socket-close* [a b sa sb])))))

(deftest closed-socket
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (s/socket-close a) (s/socket-close b)
    (is (= :closed (u/kind-of #(x/socket-receive-many! b [(byte-array 4)] {:timeout-ms 0}))))
    (is (= :closed (u/kind-of #(x/socket-send-many a ["x"] {:timeout-ms 0}))))))

(deftest layout
  (when (and Batch/MMSG (= 8 (.addressSize sockets.impl.Native/RUNTIME)))
    (is (= [64 56] [Batch/MM_SIZE Batch/LEN]) "struct mmsghdr on 64-bit Linux: 64 bytes, msg_len at 56")))

;; ------------------------------------------------------------------ specs

(deftest instrumented
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (specs/instrument)
    (try
      (is (= 2 (x/socket-send-many a ["x" {:data (byte-array 2)}] {:timeout-ms 1000})))
      (is (= [1 2] (mapv :count (x/socket-receive-many! b [(byte-array 4) (ByteBuffer/allocate 4)] {:timeout-ms 1000}))))
      (is (thrown? clojure.lang.ExceptionInfo (x/socket-send-many a [{:address (s/unix-address "/x")}])))
      (is (thrown? clojure.lang.ExceptionInfo (x/socket-receive-many b 0 8)))
      (finally (specs/unstrument) (s/socket-close a) (s/socket-close b)))))

;; ------------------------------------------------------------------ property

(def ^:private datagram
  ;; 0-1500 random bytes (made from a seed: generating them one by one is slow); shrinks to shorter
  (gen/fmap (fn [[n seed]] (let [b (byte-array n)] (.nextBytes (java.util.Random. (long seed)) b) b))
            (gen/tuple (gen/choose 0 1500) gen/large-integer)))

(def ^:private datagram-lists (gen/vector datagram 1 64))

(defn- round-trip
  "Sends `ds` with socket-send-many from `a` (again from where it stopped, when it sent part)
  while draining `b` with socket-receive-many!; returns the datagrams received. Bounded: at
  most 4 x (count ds) + 8 rounds."
  [a b ds]
  (let [n (count ds)]
    (loop [got [] sent 0 rounds 0]
      (if (or (= (count got) n) (> rounds (+ 8 (* 4 n))))
        got
        (let [more (long (if (< sent n) (x/socket-send-many a (subvec ds sent) {:timeout-ms 5000}) 0))
              rs (receive-all b (min 64 (- (+ sent more) (count got))) 1500 {})]
          (recur (into got (map :data) rs) (+ sent more) (inc rounds)))))))

(defn- same-datagrams? [sent got]
  (and (= (count sent) (count got)) (every? true? (map #(Arrays/equals ^bytes %1 ^bytes %2) sent got))))

(defspec send-many-arrives-intact-unix 100
  (prop/for-all [ds datagram-lists loop? gen/boolean]
    (let [[a b] (s/socketpair :af/unix :sock/dgram)
          was (Batch/forceLoop (or loop? (not Batch/MMSG)))]
      (try (same-datagrams? ds (round-trip a b ds))
           (finally (Batch/forceLoop was) (s/socket-close a) (s/socket-close b))))))

(defspec send-many-arrives-intact-udp 100
  (prop/for-all [ds datagram-lists loop? gen/boolean family (gen/elements [:af/inet :af/inet6])]
    (let [r (or (udp-socket family) (udp-socket :af/inet))
          snd (udp-socket (s/socket-family r))
          was (Batch/forceLoop (or loop? (not Batch/MMSG)))]
      (try
        ;; 64 datagrams of 1500 B take ~300 KB of receive buffer (kernel accounting); ask for
        ;; 4 MiB (capped at net.core.rmem_max) so loopback drops nothing
        (s/set-so-receive-buffer! r (* 4 1024 1024))
        (s/socket-connect snd (s/socket-name r))
        (same-datagrams? ds (round-trip snd r ds))
        (finally (Batch/forceLoop was) (s/socket-close r) (s/socket-close snd))))))

;; ------------------------------------------------------------------ issue 17: one argument layer

(deftest options-are-maps-and-timeout-is-timeout-ms
  (with-open [a (udp-socket :af/inet) b (udp-socket :af/inet)]
    (doseq [[label f] {"non-map receive options" #(x/socket-receive-many b 1 8 [1])
                       "non-map receive! options" #(x/socket-receive-many! b [(byte-array 8)] "x")
                       "non-map send options" #(x/socket-send-many a ["x"] 5)
                       "old :timeout key" #(x/socket-receive-many b 1 8 {:timeout 10})
                       "count * size beyond the cap" #(x/socket-receive-many b 1024 (* 64 1024 1024))
                       "bigint n" #(x/socket-receive-many b 100000000000000000000N 8)}]
      (let [e (try (f) nil (catch Throwable t t))]
        (is (instance? SocketException e) (str label ": " (some-> e class str) " " (some-> e ex-message)))
        (is (= :invalid (:kind (ex-data e))) label)))
    (is (re-find #":timeout is now :timeout-ms" (ex-message (try (x/socket-send-many a ["x"] {:timeout 5}) (catch SocketException e e)))))
    (is (= :timeout (u/kind-of #(x/socket-receive-many b 1 8 {:timeout-ms 20}))))))
