(ns sockets.connection-test
  (:require [sockets.async :as sa]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.core :as s]
            [sockets.test-util :as u :refer [kind-of]])
  (:import (java.nio ByteBuffer)
           (java.security MessageDigest)
           (java.util Arrays Random)
           (java.util.concurrent CountDownLatch TimeUnit)))

(use-fixtures :once u/fd-fixture
  ;; happy eyeballs runs on the shared event loop: stop it, so its own fds are not counted
  (fn [f] (try (f) (finally (sa/stop-loop!)))))

(defn- bytes= [a b] (Arrays/equals ^bytes a ^bytes b))
(defn- utf8 ^bytes [^String s] (.getBytes s "UTF-8"))
(defn- sha256 ^bytes [^bytes b] (.digest (MessageDigest/getInstance "SHA-256") b))

(defn- receive-exactly
  "Receives exactly n bytes from stream socket so (or fewer at EOF)."
  ^bytes [so n]
  (let [buf (byte-array n)]
    (loop [off 0]
      (if (< off n)
        (let [k (s/socket-receive! so buf off n)]
          (if (zero? k) (Arrays/copyOf buf off) (recur (+ off k))))
        buf))))

(defn- stream-echo-round-trip [listen-addr]
  (with-open [l (u/listener listen-addr)]
    (let [[c a] (u/connected-pair l)]
      (with-open [c c a a]
        (is (= (s/socket-name l) (s/socket-peer-name c)) "client's peer is the listener's address")
        (when-not (= :af/unix (s/sockaddr-family listen-addr))
          (is (= (s/socket-name c) (s/socket-peer-name a)) "server side sees the client's address"))
        (is (= 5 (s/socket-send c "hello")))
        (is (bytes= (utf8 "hello") (receive-exactly a 5)))
        (s/socket-send-all a (utf8 "world!"))
        (is (bytes= (utf8 "world!") (receive-exactly c 6)))))))

(deftest tcp-echo-v4 (stream-echo-round-trip (s/inet-address "127.0.0.1" 0)))
(deftest tcp-echo-v6 (stream-echo-round-trip (s/inet-address "::1" 0)))
(deftest unix-stream-echo
  (u/with-temp-dir [d] (stream-echo-round-trip (s/unix-address (str d "/echo.sock")))))

(defn- dgram-exchange [addr-a addr-b]
  (with-open [a (s/socket (s/sockaddr-family addr-a) :sock/dgram)
              b (s/socket (s/sockaddr-family addr-b) :sock/dgram)]
    (s/socket-bind a addr-a)
    (s/socket-bind b addr-b)
    (is (= 4 (s/socket-send-to a "ping" (s/socket-name b))))
    (let [[data from] (s/socket-receive-from b 100)]
      (is (bytes= (utf8 "ping") data))
      (is (= (s/socket-name a) from) "the source address is the sender's"))
    (let [buf (byte-array 10)]
      (s/socket-send-to b (utf8 "pong!") (s/socket-name a))
      (is (= [5 (s/socket-name b)] (s/socket-receive-from! a buf 2 nil)))
      (is (bytes= (utf8 "pong!") (Arrays/copyOfRange buf 2 7))))
    (testing "connected datagram sockets"
      (s/socket-connect a (s/socket-name b))
      (is (= (s/socket-name b) (s/socket-peer-name a)))
      (is (nil? (s/socket-peer-name b)))
      (s/socket-send a "via connect")
      (is (bytes= (utf8 "via connect") (first (s/socket-receive-from b 100)))))))

(deftest udp-v4 (dgram-exchange (s/inet-address "127.0.0.1" 0) (s/inet-address "127.0.0.1" 0)))
(deftest udp-v6 (dgram-exchange (s/inet-address "::1" 0) (s/inet-address "::1" 0)))
(deftest unix-dgram
  (u/with-temp-dir [d] (dgram-exchange (s/unix-address (str d "/a")) (s/unix-address (str d "/b")))))

(deftest socket-name-when-unbound
  (with-open [so (s/socket :af/inet :sock/stream)]
    (is (nil? (s/socket-name so)))
    (is (nil? (s/socket-peer-name so))))
  (with-open [so (s/socket :af/unix :sock/dgram)]
    (is (nil? (s/socket-name so)))))

(defn- send-all-64mib [size]
  (with-open [l (u/listener)]
    (let [[c a] (u/connected-pair l)
          data (let [b (byte-array (* 64 1024 1024))] (.nextBytes (Random. 42) b) b)]
      (with-open [c c a a]
        (let [reader (future (let [md (MessageDigest/getInstance "SHA-256")
                                   buf (byte-array 65536)]
                               (loop [total 0]
                                 (let [n (s/socket-receive! a buf)]
                                   (if (zero? n)
                                     [total (.digest md)]
                                     (do (.update md buf 0 n) (recur (+ total n))))))))]
          (binding [s/*socket-send-size* size]
            (s/socket-send-all c data))
          (s/socket-shutdown c :shut/wr)
          (let [[total digest] (deref reader 60000 [:timeout nil])]
            (is (= (alength data) total))
            (is (bytes= (sha256 data) digest))))))))

(deftest send-all-64-mib-chunked (send-all-64mib 16384))
(deftest send-all-64-mib-unchunked (send-all-64mib nil))

(deftest send-all-datagram-chunks
  (with-open [a (s/socket :af/inet :sock/dgram)
              b (s/socket :af/inet :sock/dgram)]
    (s/socket-bind b (s/inet-address "127.0.0.1" 0))
    (s/socket-connect a (s/socket-name b))
    (binding [s/*socket-send-size* 512]
      (s/socket-send-all a (byte-array 2000)))
    (is (= [512 512 512 464] (vec (repeatedly 4 #(alength ^bytes (s/socket-receive b 4096))))))))

(deftest offsets-truncation-peek
  (with-open [a (s/socket :af/inet :sock/dgram)
              b (s/socket :af/inet :sock/dgram)]
    (s/socket-bind b (s/inet-address "127.0.0.1" 0))
    (s/socket-connect a (s/socket-name b))
    (testing "receive into the middle of a buffer"
      (let [buf (byte-array 10 (byte 120))]
        (s/socket-send a "abc")
        (is (= 3 (s/socket-receive! b buf 4 8)))
        (is (= "xxxxabcxxx" (String. buf "UTF-8")))))
    (testing "a datagram longer than the space is truncated and the rest is lost"
      (s/socket-send a (byte-array 1000 (byte 1)))
      (s/socket-send a "next")
      (is (= 100 (alength ^bytes (s/socket-receive b 100))))
      (is (bytes= (utf8 "next") (s/socket-receive b 100))))
    (testing ":msg/peek leaves the data in place"
      (s/socket-send a "peeked")
      (is (bytes= (utf8 "peeked") (s/socket-receive b 100 #{:msg/peek})))
      (is (bytes= (utf8 "peeked") (s/socket-receive b 100 (s/address-family->integer :af/unspec)))))
    (testing "ByteBuffers: heap and direct, implicit position and explicit indices"
      (doseq [^ByteBuffer bb [(ByteBuffer/allocate 16) (ByteBuffer/allocateDirect 16)]]
        (.position bb 3)
        (s/socket-send a (ByteBuffer/wrap (utf8 "xyz")))
        (is (= 3 (s/socket-receive! b bb)))
        (is (= 6 (.position bb)) "position advances")
        (is (= (int \y) (.get bb 4)))
        (s/socket-send a "q")
        (is (= 1 (s/socket-receive! b bb 10 12)))
        (is (= 6 (.position bb)) "explicit indices leave the position alone")
        (is (= (int \q) (.get bb 10)))))))

(deftest half-close
  (with-open [l (u/listener)]
    (let [[c a] (u/connected-pair l)]
      (with-open [c c a a]
        (s/socket-send-all c "request")
        (s/socket-shutdown c :shut/wr)
        (is (bytes= (utf8 "request") (receive-exactly a 100)) "server reads to EOF")
        (is (= 0 (s/socket-receive! a (byte-array 10))) "EOF is 0")
        (s/socket-send-all a "response")
        (is (bytes= (utf8 "response") (receive-exactly c 8)) "client still receives")
        (s/socket-shutdown a :shut/rdwr)
        (s/socket-shutdown a :shut/rdwr)))))

(deftest connect-errors
  (let [port (with-open [l (u/listener)] (s/sockaddr-port (s/socket-name l)))]
    (testing "a closed port is a transient \"connection refused\" and closes the socket"
      (let [so (s/socket :af/inet :sock/stream)
            e (try (s/socket-connect so (s/inet-address "127.0.0.1" port)) nil (catch Exception e e))]
        (is (= :transient (:kind (ex-data e))))
        (is (= :ECONNREFUSED (:errno (ex-data e))))
        (is (re-find #"connection refused" (.getMessage ^Exception e)))
        (is (= (str "127.0.0.1:" port) (:address (ex-data e))))
        (is (.isClosed ^sockets.Socket so))))
    (testing "socket-connect-ai skips the refused address and leaves no fd behind"
      (with-open [l (u/listener)]
        (let [before (u/fd-count)
              ais (into (s/address-information "127.0.0.1" port :flags #{:ai/numerichost})
                        (s/address-information "127.0.0.1" (s/sockaddr-port (s/socket-name l)) :flags #{:ai/numerichost}))]
          (with-open [so (s/socket-connect-ai ais)]
            (is (= (s/socket-name l) (s/socket-peer-name so)))
            (s/socket-close (binding [s/*socket-accept-timeout* 5000] (s/socket-accept l))))
          (is (<= (u/settled-fd-count before) before)))))
    (testing "all refused: the last error"
      (let [before (u/fd-count)
            ais (s/address-information "127.0.0.1" port :flags #{:ai/numerichost})]
        (is (= :transient (kind-of #(s/socket-connect-ai (into ais ais)))))
        (is (<= (u/settled-fd-count before) before))))
    (is (= :invalid (kind-of #(s/socket-connect-ai []))))))

(defn- elapsed-ms [f]
  (let [t0 (System/nanoTime)
        k (kind-of f)]
    [k (/ (- (System/nanoTime) t0) 1e6)]))

(deftest timeouts
  (testing "connect to a full-backlog listener times out"
    (with-open [full (s/socket :af/inet :sock/stream)]
      (s/socket-bind full (s/inet-address "127.0.0.1" 0))
      (s/socket-listen full 0)
      (let [filler (atom [])]
        (try
          ;; fill the queue until a connect no longer completes at once
          (loop [i 0]
            (let [c (s/socket :af/inet :sock/stream)]
              (swap! filler conj c)
              (when (and (< i 64) (= :no-error (binding [s/*socket-connect-timeout* 200]
                                                  (kind-of #(s/socket-connect c (s/socket-name full))))))
                (recur (inc i)))))
          (let [[k ms] (binding [s/*socket-connect-timeout* 300]
                         (elapsed-ms #(s/socket-connect-ai (s/address-information "127.0.0.1" (s/sockaddr-port (s/socket-name full))))))]
            (is (= :timeout k))
            (is (<= 300 ms 2300) (str ms " ms (timeout 300; the slack is for a loaded machine)")))
          (finally (run! s/socket-close* @filler))))))
  (testing "accept times out"
    (with-open [l (u/listener)]
      (let [[k ms] (binding [s/*socket-accept-timeout* 200] (elapsed-ms #(s/socket-accept l)))]
        (is (= :timeout k))
        (is (<= 200 ms 2200) (str ms " ms (timeout 200; the slack is for a loaded machine)")))))
  (testing "receive times out; the error says so and is an IOException"
    (with-open [u (s/socket :af/inet :sock/dgram)]
      (s/socket-bind u (s/inet-address "127.0.0.1" 0))
      (let [[k ms] (binding [s/*socket-receive-timeout* 200] (elapsed-ms #(s/socket-receive u 10)))]
        (is (= :timeout k))
        (is (<= 200 ms 2200) (str ms " ms (timeout 200; the slack is for a loaded machine)")))
      (let [e (try (binding [s/*socket-receive-timeout* 0] (s/socket-receive u 10)) (catch Exception e e))]
        (is (instance? java.io.IOException e))
        (is (re-find #"timed out" (.getMessage ^Exception e))))))
  (testing "send times out when the peer stops reading"
    (with-open [l (u/listener)]
      (let [[c a] (u/connected-pair l)]
        (with-open [c c a a]
          (is (= :timeout (binding [s/*socket-send-timeout* 200 s/*socket-send-size* 65536]
                            (kind-of #(dotimes [_ 100000] (s/socket-send-all c (byte-array 65536))))))))))))

(defn- stress-count [full]
  (if-let [v (System/getenv "SOCKETS_STRESS")] (long (* full (Double/parseDouble v))) full))

(defn- close-while-blocked
  "n times: a thread blocks in (op so), another closes so; every waiter gets :closed."
  [n setup op]
  (let [before (u/fd-count)
        rnd (Random. 7)
        results (frequencies
                 (for [_ (range n)]
                   (let [[so cleanup] (setup)
                         started (CountDownLatch. 1)
                         f (future (.countDown started) (kind-of #(op so)))]
                     (.await started 5 TimeUnit/SECONDS)
                     (when (.nextBoolean rnd) (Thread/sleep 0 (.nextInt rnd 500000)))
                     (s/socket-close so)
                     (let [r (deref f 5000 :hung)] ; generous: a loaded 2-core machine; wake-up time is not what this asserts
                       (cleanup)
                       r))))]
    (is (= {:closed n} results))
    (is (<= (u/settled-fd-count before) before))))

(deftest close-wakes-blocked-threads
  (let [n (stress-count 1000)]
    (with-open [l (u/listener)]
      (testing "receive"
        (close-while-blocked n #(let [[c a] (u/connected-pair l)] [c (fn [] (s/socket-close a))])
                             #(binding [s/*socket-receive-timeout* 5000] (s/socket-receive % 10)))))
    (testing "accept"
      (close-while-blocked n #(vector (u/listener) (fn []))
                           #(binding [s/*socket-accept-timeout* 5000] (s/socket-accept %))))
    (testing "connect"
      (with-open [full (s/socket :af/inet :sock/stream)]
        (s/socket-bind full (s/inet-address "127.0.0.1" 0))
        (s/socket-listen full 0)
        (let [fillers (vec (for [_ (range 4)]
                             (let [c (s/socket :af/inet :sock/stream)]
                               (binding [s/*socket-connect-timeout* 100] (kind-of #(s/socket-connect c (s/socket-name full))))
                               c)))]
          (try
            (close-while-blocked n #(vector (s/socket :af/inet :sock/stream) (fn []))
                                 #(binding [s/*socket-connect-timeout* 5000] (s/socket-connect % (s/socket-name full))))
            (finally (run! s/socket-close* fillers))))))))

(deftest no-sigpipe
  (with-open [l (u/listener)]
    (let [[c a] (u/connected-pair l)]
      (with-open [c c]
        (s/socket-close a)
        (let [e (try (dotimes [_ 1000] (s/socket-send-all c (byte-array 65536))) nil (catch Exception e e))]
          (is (some? e))
          (is (= :fatal (:kind (ex-data e))))
          (is (#{:EPIPE :ECONNRESET} (:errno (ex-data e)))))))))

(deftest bad-input
  (with-open [u (s/socket :af/inet :sock/dgram)
              t (s/socket :af/inet :sock/stream)]
    (let [buf (byte-array 10)
          before (u/fd-count)]
      (doseq [[label f] {"start > end" #(s/socket-receive! u buf 5 2)
                         "end beyond buffer" #(s/socket-receive! u buf 0 11)
                         "negative start" #(s/socket-send u buf -1 5)
                         "negative end" #(s/socket-send u buf 0 -5)
                         "non-integer start" #(s/socket-send u buf 0.5 5)
                         "not a buffer" #(s/socket-receive! u [1 2 3])
                         "string receive buffer" #(s/socket-receive! u "abc")
                         "nil buffer" #(s/socket-send u nil)
                         "read-only ByteBuffer" #(s/socket-receive! u (.asReadOnlyBuffer (ByteBuffer/allocate 4)))
                         "bad flags" #(s/socket-send u buf 0 nil #{:msg/bogus})
                         "not a socket" #(s/socket-send "socket" buf)
                         "listen on datagram" #(s/socket-listen u 5)
                         "accept on datagram" #(s/socket-accept u)
                         "backlog beyond an int" #(s/socket-listen t (inc Integer/MAX_VALUE))
                         "send-to without address" #(s/socket-send-to u buf nil)
                         "send-to bad address" #(s/socket-send-to u buf {:family :af/inet :address "x" :port 1})
                         "bad shutdown" #(s/socket-shutdown t :shut/sideways)
                         "bad timeout" #(binding [s/*socket-receive-timeout* -5] (s/socket-receive u 1))
                         "bad send size" #(binding [s/*socket-send-size* 0] (s/socket-send-all u buf))
                         "huge len" #(s/socket-receive u (* 1024 1024 1024))
                         "bind to bad address" #(s/socket-bind t {:family :af/inet6 :address "1.2.3.4" :port 1})}]
        (is (= :invalid (kind-of f)) label))
      (is (<= (u/settled-fd-count before) before))
      (is (nil? (s/socket-name t)) "nothing changed"))
    (let [closed (doto (s/socket :af/inet :sock/dgram) s/socket-close)]
      (is (= :closed (kind-of #(s/socket-send closed "x"))))
      (is (= :closed (kind-of #(s/socket-receive closed 1)))))))

(deftest connect-ai-happy-eyeballs-option
  (with-open [full (s/socket :af/inet :sock/stream)
              good (u/listener)]
    (s/socket-bind full (s/inet-address "127.0.0.1" 0))
    (s/socket-listen full 0)
    (let [fillers (vec (for [_ (range 4)]
                         (let [c (s/socket :af/inet :sock/stream)]
                           (binding [s/*socket-connect-timeout* 200] (kind-of #(s/socket-connect c (s/socket-name full))))
                           c)))
          ai (fn [a] {:family :af/inet :socktype :sock/stream :protocol :ipproto/tcp :address a :canonname nil :flags #{}})]
      (try
        (binding [s/*socket-connect-timeout* 10000]
          (let [t0 (System/nanoTime)
                so (s/socket-connect-ai [(ai (s/socket-name full)) (ai (s/socket-name good))] {:happy-eyeballs {:attempt-delay-ms 100}})]
            (with-open [so so]
              (is (< (/ (- (System/nanoTime) t0) 1e6) 5000) "the answering address wins long before the 10 s timeout")
              (is (= (s/socket-name good) (s/socket-peer-name so)))
              (s/socket-close (binding [s/*socket-accept-timeout* 2000] (s/socket-accept good))))))
        (finally (run! s/socket-close* fillers))))))
