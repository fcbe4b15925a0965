(ns sockets.async-test
  "sockets.async and sockets.EventLoop over loopback. Stress sizes scale with the env var
  SOCKETS_STRESS, a percentage of the issue's figures (1,000 echo clients x 100 messages,
  2,000 connections, 10,000 datagrams): default 10, 100 for the full counts."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.core.async :as a]
            [clojure.core.async.impl.protocols]
            [clojure.datafy]
            [sockets.async :as sa]
            [sockets.constants :as c]
            [sockets.test-util :as tu])
  (:import (java.nio ByteBuffer ByteOrder)
           (java.security MessageDigest)
           (java.util Arrays Random)
           (java.util.concurrent.atomic AtomicLong)
           (sockets EventLoop EventLoop$Options EventLoop$ReadHandler Socket SockAddr SocketException)
           (sockets.impl LoopEpoll)))

(set! *warn-on-reflection* true)

(use-fixtures :once tu/fd-fixture)

;; ------------------------------------------------------------------ helpers

(def ^:private AF_INET (c/->int :af :af/inet))
(def ^:private STREAM (c/->int :sock :sock/stream))
(def ^:private DGRAM (c/->int :sock :sock/dgram))

(def ^:private stress-pct
  (let [v (System/getenv "SOCKETS_STRESS")]
    (if (and v (re-matches #"\d+" v)) (max 1 (Long/parseLong v)) 10)))

(defn- scaled [full] (max 2 (quot (* full stress-pct) 100)))

(defn- fd-count [] (tu/fd-count))

(defn- take!!
  "Takes from `ch`, waiting at most `ms`; ::timeout when nothing came."
  ([ch] (take!! ch 10000))
  ([ch ms] (a/alt!! ch ([v] v) (a/timeout ms) ::timeout)))

(defn- loopback ^SockAddr [port] (SockAddr/parseInet "127.0.0.1" (int port)))

(defn- listener ^Socket []
  (let [s (Socket/open AF_INET STREAM 0)]
    (.setOption s (int (c/->int :sol :sol/socket)) (int (c/->int :so :so/reuseaddr)) (int 1))
    (.bind s (loopback 0))
    (.listen s 1024)
    s))

(defn- port [^Socket s] (.port (.localAddress s)))

(defn- connect-blocking ^Socket [p]
  (doto (Socket/open AF_INET STREAM 0) (.connect (loopback p) 5000)))

(defmacro with-loop
  "Runs body with `sym` bound to a fresh EventLoop (epoll, or poll when `poll?`), stopped after."
  [[sym poll?] & body]
  `(let [~sym (EventLoop/create "test-loop" (boolean ~poll?))]
     (try ~@body
          (finally (sa/stop-loop! ~sym 5000)))))

(defn- impl-closed? [ch] (clojure.core.async.impl.protocols/closed? ch))

(defn- kind [x] (when (sa/error? x) (:kind (ex-data x))))

(defn- message ^bytes [id i]
  (let [n (inc (mod (+ (* id 131) (* i 977)) 3000))
        b (byte-array n)]
    (dotimes [k n] (aset b k (unchecked-byte (+ id (* 7 i) k))))
    b))

;; ------------------------------------------------------------------ layout

(deftest epoll-event-layout
  (testing "struct epoll_event: packed 12 bytes on x86_64, 16 elsewhere"
    (if (= "amd64" (System/getProperty "os.arch"))
      (is (= [12 0 4] [LoopEpoll/SIZE LoopEpoll/EVENTS_OFFSET LoopEpoll/DATA_OFFSET]))
      (is (= [16 0 8] [LoopEpoll/SIZE LoopEpoll/EVENTS_OFFSET LoopEpoll/DATA_OFFSET])))))

;; ------------------------------------------------------------------ echo

(defn- echo-server
  "Serves every connection accepted on `l` with receive-chan -> send-chan only. Returns the accept channel."
  [^Socket l lp]
  (let [acc (sa/accept-chan l {:loop lp :buf-or-n 64})]
    (a/go-loop []
      (let [s (a/<! acc)]
        (when (and s (not (sa/error? s)))
          (let [rc (sa/receive-chan s {:loop lp})
                sc (sa/send-chan s {:loop lp :close? true :shutdown-on-close? true})]
            (a/go-loop []
              (let [v (a/<! rc)]
                (if (or (nil? v) (sa/error? v))
                  (a/close! sc)
                  (do (a/>! sc v) (recur))))))
          (recur))))
    acc))

(defn- blen ^long [^bytes b] (alength b))

(defn- concat-bytes ^bytes [^bytes a ^bytes b]
  (let [m (byte-array (+ (alength a) (alength b)))]
    (System/arraycopy a 0 m 0 (alength a))
    (System/arraycopy b 0 m (alength a) (alength b))
    m))

(defn- same-bytes? [^bytes a ^bytes b] (Arrays/equals a b))

(defn- read-exactly
  "A go block reading byte arrays from `rc` until `len` bytes came; returns them, or the first non-array value."
  [rc len]
  (a/go-loop [acc (byte-array 0)]
    (if (>= (blen acc) (long len))
      acc
      (let [v (a/<! rc)]
        (if (bytes? v)
          (recur (concat-bytes acc v))
          v)))))

(defn- exchange
  "A go block sending `n` messages on `sc` one at a time and checking each echo from `rc`;
  then closes `sc` and expects EOF. Returns :ok or what went wrong."
  [rc sc id n]
  (a/go-loop [i 0]
    (if (= i n)
      (do (a/close! sc)
          (let [v (a/<! rc)] (if (nil? v) :ok [:no-eof id v])))
      (let [msg (message id i)
            _ (a/>! sc msg)
            got (a/<! (read-exactly rc (blen msg)))]
        (if (and (bytes? got) (same-bytes? got msg))
          (recur (inc i))
          [:mismatch id i (if (bytes? got) (blen got) got)])))))

(defn- echo-client
  "A go block: connects, exchanges `n` messages, closes. Returns :ok or what went wrong."
  [lp p id n]
  (a/go
    (let [s (a/<! (sa/connect-chan {:family :af/inet :address "127.0.0.1" :port p} {:loop lp :timeout-ms 20000}))]
      (if (sa/error? s)
        [:connect id (ex-data s)]
        (let [rc (sa/receive-chan s {:loop lp})
              sc (sa/send-chan s {:loop lp :shutdown-on-close? true})
              result (a/<! (exchange rc sc id n))]
          (.close ^Socket s)
          result)))))

(defn- run-echo [clients msgs poll?]
  (let [before (fd-count)]
    (with-loop [server-loop poll?]
      (with-loop [client-loop poll?]
        (let [l (listener)
              acc (echo-server l server-loop)
              p (port l)
              t0 (System/nanoTime)
              results (a/<!! (a/go (let [chs (mapv #(echo-client client-loop p % msgs) (range clients))]
                                     (loop [chs chs out []]
                                       (if (empty? chs) out (recur (rest chs) (conj out (a/<! (first chs)))))))))
              ms (quot (- (System/nanoTime) t0) 1000000)
              bad (remove #{:ok} results)]
          (println (format "echo (%s): %d clients x %d messages in %d ms" (.pollerName server-loop) clients msgs ms))
          (is (= clients (count results)))
          (is (empty? bad) (str "failures: " (vec (take 5 bad))))
          (a/close! acc)
          (is (tu/wait-until 5000 #(zero? (.registrations server-loop))) "server loop holds no socket")
          (is (zero? (.registrations client-loop)))
          (is (zero? (.handlerErrors server-loop)) (str (.lastHandlerError server-loop)))
          (.close l))))
    (is (tu/wait-until 5000 #(<= (fd-count) before)) (str "fds " before " -> " (fd-count)))))

(deftest echo-many-clients
  (testing "an echo server made only of accept-chan/receive-chan/send-chan serves concurrent clients, every byte checked"
    (run-echo (scaled 1000) 100 false)))

(deftest echo-on-poll-fallback
  (testing "the poll(2) fallback serves the same echo"
    (run-echo 20 20 true)))

;; ------------------------------------------------------------------ backpressure

(deftest backpressure-end-to-end
  (let [total (* 64 1024 1024)
        chunk 16384
        nbuf 4
        bound (* (inc nbuf) chunk) ; channel buffer + the one pending put
        data (let [b (byte-array total)] (.nextBytes (Random. 42) b) b)
        want (.digest (MessageDigest/getInstance "SHA-256") data)]
    (with-loop [lp]
      (let [l (listener)
            acc (sa/accept-chan l {:loop lp})
            client (connect-blocking (port l))
            ^Socket server (take!! acc)
            rc (sa/receive-chan server {:loop lp :buf-or-n nbuf :max-chunk chunk})
            sent (loop [off 0]
                   (let [r (try (.send client data (int off) (int (min total (+ off 65536))) 0 200)
                                (catch SocketException e e))]
                     (if (sa/error? r) [off r] (recur (+ off (long r))))))
            [off err] sent]
        (testing "with nobody taking, the producer's send blocks (times out) well before 64 MiB"
          (is (= :timeout (kind err)))
          (is (< off total)))
        (testing "the loop took no more off the socket than the channel can hold"
          (println (format "backpressure: producer blocked after %d bytes; loop read %d bytes (bound %d)"
                           off (.bytesRead lp) bound))
          (is (<= (.bytesRead lp) bound))
          (is (pos? (.bytesRead lp))))
        (testing "once a consumer takes, all 64 MiB arrive byte-exact"
          (let [consumer (a/thread
                           (let [md (MessageDigest/getInstance "SHA-256")]
                             (loop [n 0]
                               (let [v (take!! rc 30000)]
                                 (cond (bytes? v) (do (.update md ^bytes v) (recur (+ n (alength ^bytes v))))
                                       (nil? v) [n (.digest md)]
                                       :else [n v])))))]
            (.sendAll client data (int off) (int total) 0 65536 30000)
            (.shutdown client (c/->int :shut :shut/wr))
            (let [[n digest] (take!! consumer 60000)]
              (is (= total n))
              (is (Arrays/equals ^bytes want ^bytes digest)))))
        (.close client) (.close server) (.close l)))))

(deftest send-side-backpressure
  (testing "a full kernel send buffer stops the loop taking from the send channel (the producer parks)"
    (with-loop [lp]
      (let [l (listener)
            acc (sa/accept-chan l {:loop lp})
            client (connect-blocking (port l))
            ^Socket server (take!! acc)
            result (a/promise-chan)
            sc (sa/send-chan server {:loop lp :buf-or-n 2 :result-ch result})
            block (byte-array 65536)
            puts (a/<!! (a/go (loop [n 0]
                                (if (= n 1024) ; 64 MiB, far beyond the kernel's buffers
                                  n
                                  (let [[_ port] (a/alts! [[sc block] (a/timeout 500)])]
                                    (if (= port sc) (recur (inc n)) n))))))]
        (is (< puts 1024) "a put parked")
        (is (<= (.bytesWritten lp) (* 65536 puts)))
        (is (<= puts (+ (quot (.bytesWritten lp) 65536) 1 2))
            "accepted puts = values the kernel took whole + at most one in flight + the channel's buffer of 2")
        (println (format "send backpressure: producer parked after %d puts of 64 KiB; kernel took %d bytes"
                         puts (.bytesWritten lp)))
        ;; drain on the client, then finish
        (a/close! sc)
        (let [buf (byte-array 65536)
              got (loop [n 0]
                    (let [r (.receive client buf 0 65536 0 10000)
                          n (+ n r)]
                      (if (and (pos? r) (< n (* 65536 puts))) (recur n) n)))]
          (is (= (* 65536 puts) got)))
        (is (= (* 65536 puts) (take!! result)))
        (.close client) (.close server) (.close l)))))

;; ------------------------------------------------------------------ UDP

(deftest udp-datagrams-with-from
  (let [n (scaled 10000)
        senders 4
        window 32]
    (with-loop [lp]
      (let [rx (doto (Socket/open AF_INET DGRAM 0)
                 (.setOption (int (c/->int :sol :sol/socket)) (int (c/->int :so :so/rcvbuf)) (int (* 1024 1024)))
                 (.bind (loopback 0)))
            rx-addr (.localAddress rx)
            txs (vec (repeatedly senders #(doto (Socket/open AF_INET DGRAM 0) (.bind (loopback 0)))))
            tx-ports (mapv port txs)
            rc (sa/receive-chan rx {:loop lp :buf-or-n 64 :max-chunk 2048})
            received (AtomicLong.)
            checker (a/thread
                      (loop [seen #{} bad 0]
                        (if (= n (count seen))
                          [seen bad]
                          (let [v (take!! rc 5000)]
                            (if (map? v)
                              (let [^bytes d (:data v)
                                    bb (ByteBuffer/wrap d)
                                    sender (.getInt bb) seq (.getInt bb)
                                    ok (and (= 8 (alength d)) (= {:family :af/inet :address "127.0.0.1" :port (tx-ports sender)} (:from v)))]
                                (.incrementAndGet received)
                                (recur (conj seen [sender seq]) (if ok bad (inc bad))))
                              [seen bad v])))))]
        (dotimes [i n]
          (let [k (mod i senders)
                b (doto (ByteBuffer/allocate 8) (.putInt k) (.putInt i))]
            ;; a window keeps the receive buffer from overflowing; a lost datagram would only slow this down
            (tu/wait-until 1000 #(< (- i (.get received)) window))
            (.sendTo ^Socket (txs k) (.array b) 0 8 rx-addr 0 1000)))
        (let [[seen bad extra] (take!! checker 60000)
              lost (- n (count seen))]
          (println (format "udp: %d datagrams from %d senders, %d lost, %d with a wrong :from" n senders lost bad))
          (is (nil? extra))
          (is (zero? lost) "no datagram lost (counted)")
          (is (zero? bad)))
        (.close rx)
        (is (= :closed (kind (take!! rc))) "closing the socket surfaces as :closed")
        (is (nil? (take!! rc)))
        (doseq [^Socket t txs] (.close t))))))

;; ------------------------------------------------------------------ errors

(defn- connected-pair
  "[client server] over loopback, the server side accepted through accept-chan on the loop `lp`."
  [lp]
  (let [l (listener)
        acc (sa/accept-chan l {:loop lp})
        client (connect-blocking (port l))
        server (take!! acc)]
    (a/close! acc)
    (.close l)
    [client server]))

(deftest peer-reset-surfaces-as-error
  (with-loop [lp]
    (let [[^Socket client ^Socket server] (connected-pair lp)
          rc (sa/receive-chan server {:loop lp})
          linger (-> (ByteBuffer/allocate 8) (.order (ByteOrder/nativeOrder)) (.putInt 1) (.putInt 0) (.array))]
      (.sendAll client "before the reset" 0 0 1000)
      (is (= "before the reset" (String. ^bytes (take!! rc))))
      (.setOption client (int (c/->int :sol :sol/socket)) (int (c/->int :so :so/linger)) ^bytes linger)
      (.close client)
      (let [e (take!! rc)]
        (is (sa/error? e))
        (is (= :ECONNRESET (:errno (ex-data e))))
        (is (= :socket-receive! (:op (ex-data e)))))
      (is (nil? (take!! rc)) "then the channel closes")
      (.close server))))

(deftest receive-timeout-surfaces-as-error
  (with-loop [lp]
    (let [[^Socket client ^Socket server] (connected-pair lp)
          t0 (System/nanoTime)
          rc (sa/receive-chan server {:loop lp :timeout-ms 300})
          e (take!! rc)
          ms (quot (- (System/nanoTime) t0) 1000000)]
      (is (= :timeout (kind e)))
      (is (<= 300 ms 5000) (str ms " ms"))
      (is (nil? (take!! rc)))
      (is (not (.isClosed server)) "the socket stays open without :close?")
      (.close client) (.close server))))

(deftest local-close-surfaces-as-error
  (let [before (fd-count)]
    (with-loop [lp]
      (let [[^Socket client ^Socket server] (connected-pair lp)
            rc (sa/receive-chan server {:loop lp})
            result (a/promise-chan)
            _sc (sa/send-chan server {:loop lp :result-ch result})]
        (is (tu/wait-until 2000 #(= 1 (.registrations lp))))
        (.close server)
        (let [e (take!! rc)]
          (is (= :closed (kind e)))
          (is (= :socket-receive! (:op (ex-data e)))))
        (is (nil? (take!! rc)))
        (is (= :closed (kind (take!! result))))
        (is (tu/wait-until 2000 #(zero? (.registrations lp))))
        (.close client)))
    (is (tu/wait-until 2000 #(<= (fd-count) before)) "the fd was released and closed once")))

(deftest closing-the-channel-unregisters
  (with-loop [lp]
    (let [[^Socket client ^Socket server] (connected-pair lp)
          rc (sa/receive-chan server {:loop lp :close? true})]
      (is (tu/wait-until 2000 #(= 1 (.registrations lp))))
      (a/close! rc)
      (is (tu/wait-until 2000 #(zero? (.registrations lp))))
      (is (.isClosed server) ":close? true closed the socket")
      (is (= 0 (.receive client (byte-array 8) 0 8 0 2000)) "the peer sees EOF")
      (.close client))))

(deftest connect-errors
  (with-loop [lp]
    (let [l (listener) p (port l)]
      (.close l)
      (testing "refused"
        (let [e (take!! (sa/connect-chan {:family :af/inet :address "127.0.0.1" :port p} {:loop lp}))]
          (is (= :transient (kind e)))
          (is (= :ECONNREFUSED (:errno (ex-data e))))))
      (testing "connect-ai-chan tries the next address after a refusal"
        (let [l2 (listener)
              ai (fn [port] {:family :af/inet :socktype :sock/stream :protocol :ipproto/tcp
                             :address {:family :af/inet :address "127.0.0.1" :port port}})
              s (take!! (sa/connect-ai-chan [(ai p) (ai (port l2))] {:loop lp}))]
          (is (instance? Socket s))
          (is (= (port l2) (.port (.peerAddress ^Socket s))))
          (.close ^Socket s) (.close l2)))
      (testing "bad input is :invalid before anything happens"
        (is (thrown? SocketException (sa/receive-chan :not-a-socket {})))
        (is (thrown? SocketException (sa/connect-chan {:family :af/inet :address "127.0.0.1" :port -1} {})))
        (with-open [s (Socket/open AF_INET STREAM 0)]
          (is (thrown? SocketException (sa/receive-chan s {:max-chunk 0 :loop lp})))
          (is (thrown? SocketException (sa/send-chan s {:buf-or-n -1 :loop lp})))
          (is (thrown? SocketException (sa/receive-chan s {:timeout-ms "soon" :loop lp})))
          (is (zero? (.registrations lp)) "nothing was registered"))))))

;; ------------------------------------------------------------------ fds

(deftest fd-count-back-to-baseline
  (let [n (scaled 2000)
        batch 100
        before (fd-count)]
    (with-loop [lp]
      (let [l (listener)
            p (port l)
            acc (sa/accept-chan l {:loop lp :buf-or-n 128})
            served (AtomicLong.)
            _ (a/go-loop []
                (let [s (a/<! acc)]
                  (when (instance? Socket s)
                    (a/pipe (sa/receive-chan s {:loop lp :close? true}) (a/chan (a/dropping-buffer 1)))
                    (.incrementAndGet served)
                    (recur))))]
        (doseq [b (partition-all batch (range n))]
          (let [oks (a/<!! (a/go-loop [chs (mapv (fn [_]
                                                   (a/go
                                                     (let [s (a/<! (sa/connect-chan {:family :af/inet :address "127.0.0.1" :port p} {:loop lp :timeout-ms 10000}))]
                                                       (if (sa/error? s)
                                                         s
                                                         (let [res (a/promise-chan)
                                                               sc (sa/send-chan s {:loop lp :close? true :shutdown-on-close? true :result-ch res})]
                                                           (a/>! sc "x")
                                                           (a/close! sc)
                                                           (a/<! res))))))
                                                 b)
                                       out []]
                             (if (empty? chs) out (recur (rest chs) (conj out (a/<! (first chs)))))))]
            (is (every? #{1} oks) (str (first (remove #{1} oks))))))
        (is (tu/wait-until 20000 #(= n (.get served))) (str (.get served) " of " n " served"))
        (a/close! acc)
        (is (tu/wait-until 10000 #(zero? (.registrations lp))))
        (.close l)))
    (println (format "fds: %d connections through channels, fds %d before, %d after" n before (fd-count)))
    (is (tu/wait-until 10000 #(<= (fd-count) before)))))

;; ------------------------------------------------------------------ loop health

(deftest a-failing-handler-does-not-stop-the-loop
  (with-loop [lp]
    (let [[^Socket c1 ^Socket s1] (connected-pair lp)
          [^Socket c2 ^Socket s2] (connected-pair lp)
          err (promise)
          bad (reify EventLoop$ReadHandler
                (onItem [_ _ _] (throw (RuntimeException. "boom")))
                (onEnd [_ _])
                (onError [_ _ e] (deliver err e)))
          _ (.receive lp s1 (EventLoop$Options.) bad)
          rc2 (sa/receive-chan s2 {:loop lp})]
      (.sendAll c1 "a" 0 0 1000)
      (let [e (deref err 5000 nil)]
        (is (= :fatal (kind e)))
        (is (= "boom" (.getMessage (.getCause ^Throwable e)))))
      (is (= :running (sa/loop-state lp)))
      (.sendAll c2 "still served" 0 0 1000)
      (is (= "still served" (String. ^bytes (take!! rc2))))
      (doseq [^Socket s [c1 s1 c2 s2]] (.close s)))))

(deftest stopping-fails-every-channel
  (let [before (fd-count)
        lp (EventLoop/create "stopping")
        l (listener)
        acc (sa/accept-chan l {:loop lp})
        client (connect-blocking (port l))
        ^Socket server (take!! acc)
        rc (sa/receive-chan server {:loop lp :close? true})
        result (a/promise-chan)
        _sc (sa/send-chan client {:loop lp :result-ch result})]
    (is (tu/wait-until 2000 #(= 3 (.registrations lp))))
    (is (sa/stop-loop! lp 5000))
    (is (= :stopped (sa/loop-state lp)))
    (doseq [ch [acc rc]]
      (is (= :closed (kind (take!! ch))))
      (is (nil? (take!! ch))))
    (is (= :closed (kind (take!! result))))
    (is (.isClosed server) ":close? true closed the socket")
    (is (not (.isClosed client)))
    (testing "a registration on a stopped lp fails at once"
      (let [rc2 (sa/receive-chan client {:loop lp})]
        (is (= :closed (kind (take!! rc2))))
        (is (nil? (take!! rc2)))))
    (.close client) (.close l)
    (is (tu/wait-until 2000 #(<= (fd-count) before)))))

(deftest shared-loop-starts-lazily-and-restarts
  (let [l (listener)
        acc (sa/accept-chan l)
        client (connect-blocking (port l))
        ^Socket server (take!! acc)]
    (is (= :running (sa/loop-state)))
    (is (sa/stop-loop!))
    (is (= :closed (kind (take!! acc))))
    (is (= :new (sa/loop-state)) "a fresh shared loop replaces a stopped one, not started until used")
    (let [rc (sa/receive-chan server)]
      (.sendAll client "again" 0 0 1000)
      (is (= "again" (String. ^bytes (take!! rc))))
      (is (= :running (sa/loop-state))))
    (.close client) (.close server) (.close l)
    (is (sa/stop-loop!) "stopped again: its epoll fd and eventfd are closed")))

(deftest send-chan-values
  (with-loop [lp]
    (let [[^Socket client ^Socket server] (connected-pair lp)
          result (a/promise-chan)
          sc (sa/send-chan server {:loop lp :result-ch result :shutdown-on-close? true})]
      (a/>!! sc "héllo ")
      (a/>!! sc (.getBytes "bytes "))
      (a/>!! sc (doto (ByteBuffer/wrap (.getBytes "xxbuffer")) (.position 2)))
      (a/close! sc)
      (is (= 19 (take!! result)) "the total written, once closed and drained")
      (let [buf (byte-array 64)
            n (loop [n 0]
                (let [r (.receive client buf (int n) 64 0 2000)]
                  (if (pos? r) (recur (+ n r)) n)))]
        (is (= "héllo bytes buffer" (String. buf 0 (int n) "UTF-8")) "in order, then EOF from the shutdown"))
      (testing "a value of another type ends the channel with :invalid"
        (let [result2 (a/promise-chan)
              sc2 (sa/send-chan client {:loop lp :result-ch result2})]
          (a/>!! sc2 42)
          (is (= :invalid (kind (take!! result2))))
          (is (false? (a/>!! sc2 "after")) "the channel is closed")))
      (.close client) (.close server))))

;; ------------------------------------------------------------------ direct writes

(defn- take-parked?
  "True when `ch` has a pending take (the send-chan's pump waiting for a value)."
  [ch]
  (= 1 (:take-count (clojure.datafy/datafy ch))))

(defn- receive-n
  "Reads exactly n bytes from the blocking socket `s` (10 s per receive); returns them."
  ^bytes [^Socket s n]
  (let [n (long n)
        b (byte-array n)]
    (loop [off 0]
      (if (< off n)
        (let [r (.receive s b (int off) (int n) 0 10000)]
          (if (pos? r) (recur (+ off r)) (throw (ex-info "early EOF" {:off off :n n}))))
        b))))

(deftest send-chan-writes-on-the-putting-thread
  (with-loop [lp]
    (let [[^Socket client ^Socket server] (connected-pair lp)
          result (a/promise-chan)
          sc (sa/send-chan server {:loop lp :result-ch result :buf-or-n 4})
          small-values (volatile! 0)]
      (a/>!! sc "first")
      (is (= "first" (String. (receive-n client 5))) "the first value (written by the loop: the flow was not attached yet)")
      (is (tu/wait-until 2000 #(take-parked? sc)))
      (testing "a value the kernel can take is sent before the put returns, by the putting thread (while the loop sleeps)"
        ;; the loop may be awake at that instant (its 50 ms sweep): then it sends the value itself, so try a few times
        (let [direct (loop [i 0]
                       (if (= i 50)
                         nil
                         (let [before (.bytesWritten lp)
                               d0 (.directWrites lp)]
                           (is (tu/wait-until 2000 #(take-parked? sc)))
                           (is (true? (a/>!! sc (byte-array 1000 (byte i)))))
                           (let [direct? (= (inc d0) (.directWrites lp))]
                             (when direct? (is (= (+ before 1000) (.bytesWritten lp)) "written before the put returned"))
                             (is (= (seq (byte-array 1000 (byte i))) (seq (receive-n client 1000))))
                             (if direct? (inc i) (recur (inc i)))))))]
          (is direct "sent by the putting thread")
          (vreset! small-values (or direct 50))))
      (testing "a value larger than the kernel's buffers: the putting thread sends what fits, the loop the rest"
        (let [big (let [b (byte-array (* 24 1024 1024))] (.nextBytes (Random. 7) b) b)
              before (.bytesWritten lp)]
          (is (tu/wait-until 2000 #(take-parked? sc)))
          (is (true? (a/>!! sc big)) "the put completes: the value is in flight")
          (let [direct (- (.bytesWritten lp) before)]
            (println (format "direct write: %d of %d bytes sent by the putting thread, the rest by the loop" direct (alength big)))
            (is (< direct (alength big)) "the rest waits for the peer"))
          (is (true? (a/>!! sc "tail")) "buffered behind the value in flight")
          (let [got (receive-n client (+ (alength big) 4))]
            (is (Arrays/equals big (Arrays/copyOfRange got 0 (alength big))) "the big value intact, in order")
            (is (= "tail" (String. got (alength big) 4)) "then the next value"))))
      (a/close! sc)
      (is (= (+ 5 (* 1000 @small-values) (* 24 1024 1024) 4) (take!! result)) "every byte, once")
      (testing "a put after the socket was closed: :closed on :result-ch, the channel closes"
        (let [result2 (a/promise-chan)
              sc2 (sa/send-chan server {:loop lp :result-ch result2})]
          (a/>!! sc2 "attach")
          (is (= "attach" (String. (receive-n client 6))))
          (is (tu/wait-until 2000 #(take-parked? sc2)))
          (.close server)
          (a/put! sc2 "after close")
          (is (= :closed (kind (take!! result2))))
          (is (tu/wait-until 2000 #(impl-closed? sc2)))))
      (.close client))))

(deftest send-chan-keeps-order-of-puts-from-many-threads
  (testing "values put by several threads and go blocks arrive whole and in each producer's order, across kernel-full fallbacks"
    (with-loop [lp]
      (let [[^Socket client ^Socket server] (connected-pair lp)
            result (a/promise-chan)
            sc (sa/send-chan server {:loop lp :result-ch result :buf-or-n 3})
            producers 6
            per 150
            ;; message: producer id (1 byte), seq (int), length (int), payload; every 40th is 300 KB
            msg (fn ^bytes [id i]
                  (let [n (if (zero? (mod i 40)) (* 300 1024) (inc (mod (* (inc id) i 131) 3000)))
                        bb (ByteBuffer/allocate (+ 9 n))]
                    (.put bb (byte id)) (.putInt bb (int i)) (.putInt bb (int n))
                    (dotimes [k n] (.put bb (unchecked-byte (+ id i k))))
                    (.array bb)))
            total (reduce + (for [id (range producers) i (range per)] (alength ^bytes (msg id i))))
            done (a/merge
                  (for [id (range producers)]
                    (if (even? id)
                      (a/thread (dotimes [i per] (a/>!! sc (msg id i))) id)
                      (a/go (dotimes [i per] (a/>! sc (msg id i))) id))))
            reader (a/thread
                     (let [next-seq (long-array producers)]
                       (loop [got 0 bad []]
                         (if (or (= got (* producers per)) (seq bad))
                           [got bad (vec next-seq)]
                           (let [hdr (ByteBuffer/wrap (receive-n client 9))
                                 id (.get hdr) i (.getInt hdr) n (.getInt hdr)]
                             (if-not (and (< -1 id producers) (< -1 n (* 400 1024)))
                               (recur got [[:garbled-header id i n]])
                               (let [p (receive-n client n)
                                     ok-payload (loop [k 0] (or (= k n) (and (= (aget p k) (unchecked-byte (+ id i k))) (recur (inc k)))))
                                     ok-seq (= i (aget next-seq id))]
                                 (aset next-seq id (inc i))
                                 (recur (inc got) (cond-> bad
                                                    (not ok-payload) (conj [:payload id i])
                                                    (not ok-seq) (conj [:order id i]))))))))))]
        (is (= (set (range producers)) (set (a/<!! (a/into [] done)))))
        (a/close! sc)
        (let [[got bad seqs] (take!! reader 60000)]
          (is (empty? bad))
          (is (= (* producers per) got))
          (is (= (repeat producers per) seqs)))
        (is (= total (take!! result)) "every byte, once")
        (.close client) (.close server)))))

(deftest write-flow-try-write
  (testing "Flow.tryWrite: true when sent on the calling thread; false with onWritten on the loop thread when the kernel is full"
    (with-loop [lp]
      (let [[^Socket client ^Socket server] (connected-pair lp)
            written (a/chan 16)
            flow (.send lp server (EventLoop$Options.)
                        (reify sockets.EventLoop$WriteHandler
                          (onWritten [_ _] (a/put! written (.getName (Thread/currentThread))))
                          (onEnd [_ _] (a/put! written :end))
                          (onError [_ _ e] (a/put! written e))))]
        (.write flow (ByteBuffer/wrap (.getBytes "attach")))
        (is (= "test-loop" (take!! written)) "write: onWritten on the loop thread")
        ;; true unless the loop is awake at that instant (then it sends, and onWritten follows): try a few times
        (let [tries (loop [i 1]
                      (cond (.tryWrite flow (ByteBuffer/wrap (.getBytes "d"))) i
                            (= i 50) nil
                            :else (do (is (= "test-loop" (take!! written))) (recur (inc i)))))]
          (is tries "an idle socket takes it on the calling thread")
          (is (thrown? IllegalStateException (do (.tryWrite flow (ByteBuffer/allocate (* 32 1024 1024)))
                                                 (.tryWrite flow (ByteBuffer/wrap (.getBytes "x")))))
              "a second buffer while the first is pending is refused")
          (let [n (+ 6 (or tries 0))]
            (is (= (apply str "attach" (repeat (or tries 0) "d")) (String. (receive-n client n))))
            (receive-n client (* 32 1024 1024))
            (is (= "test-loop" (take!! written)) "the big buffer was finished by the loop")
            (.finish flow)
            (is (= :end (take!! written)))
            (is (= (+ n (* 32 1024 1024)) (.bytesWritten flow)))))
        (.close client) (.close server)))))

(deftest connect-timeout
  (testing "a connect that gets no answer (the listener's queue is full) fails with :timeout"
    (with-loop [lp]
      (let [l (doto (Socket/open AF_INET STREAM 0) (.bind (loopback 0)) (.listen 0))
            p (port l)
            ;; fill the accept queue; nobody accepts
            fillers (vec (for [_ (range 4)]
                           (let [s (Socket/open AF_INET STREAM 0)]
                             (try (.connect s (loopback p) 300) s (catch SocketException _ nil)))))
            t0 (System/nanoTime)
            e (take!! (sa/connect-chan {:family :af/inet :address "127.0.0.1" :port p} {:loop lp :timeout-ms 300}))
            ms (quot (- (System/nanoTime) t0) 1000000)]
        (is (= :timeout (kind e)))
        (is (= (str "127.0.0.1:" p) (:address (ex-data e))))
        (is (<= 300 ms 5000) (str ms " ms"))
        (doseq [^Socket s (remove nil? fillers)] (.close s))
        (.close l)))))
