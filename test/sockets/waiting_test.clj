(ns sockets.waiting-test
  "The one waiting path (sockets.impl.Waiting, Io, Buffers, Parker) and the defects it fixes:
  timeouts up to Long/MAX_VALUE wait (16.5), a caller's :msg/dontwait never waits (16.6),
  :msg/trunc reports the real length without making up bytes (17.2), a read-only heap buffer
  sends (16.4), virtual threads park on the Parker, and errors name the address."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.core :as s]
            [sockets.constants]
            [sockets.messages :as x]
            [sockets.test-util :as u])
  (:import (java.nio ByteBuffer)
           (java.util.concurrent ThreadFactory)
           (sockets Datagrams Messages Socket SocketException SocketPorts$Config)
           (sockets.impl Buffers Io Native Parker Waiting)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(defn- text ^String [^bytes b] (String. b "UTF-8"))

(defn- ex-of
  "The ex-data of the SocketException `f` throws, or :no-error."
  [f]
  (try (f) :no-error (catch SocketException e (ex-data e))))

(defn- udp-pair
  "[a b]: two UDP sockets on 127.0.0.1, a connected to b."
  []
  (let [a (s/socket :af/inet :sock/dgram)
        b (s/socket :af/inet :sock/dgram)]
    (s/socket-bind b (s/inet-address "127.0.0.1" 0))
    (s/socket-connect a (s/socket-name b))
    [a b]))

;; ------------------------------------------------------------------ 16.5: huge timeouts

(defn- still-blocked-then-closed
  "Starts `f` on a thread, checks it is still waiting after 300 ms, closes `so` and returns the
  ex-data :kind it ended with (:not-woken when it did not end within 10 s)."
  [^Socket so f]
  (let [out (promise)
        t (Thread. ^Runnable (fn [] (deliver out (:kind (ex-of f)))))]
    (.start t)
    (is (= ::waiting (deref out 300 ::waiting)) "the call still waits after 300 ms")
    (.close so)
    (deref out 10000 :not-woken)))

(deftest huge-timeouts-wait-and-never-overflow
  (doseq [ms [Long/MAX_VALUE 10000000000000 (quot Long/MAX_VALUE 1000000) (inc Waiting/FOREVER_MS)]]
    (testing (str "timeout " ms " ms")
      (is (= Long/MAX_VALUE (Waiting/deadline ms)) "no deadline")
      (is (= Long/MAX_VALUE (Waiting/deadline Waiting/FOREVER_MS Long/MAX_VALUE)) "saturates")
      (testing "receive"
        (let [[a b] (udp-pair)]
          (try (is (= :closed (still-blocked-then-closed b #(.receive ^Socket b (byte-array 8) 0 8 0 (long ms)))))
               (finally (s/socket-close* a) (s/socket-close* b)))))
      (testing "accept"
        (let [l (u/listener)]
          (is (= :closed (still-blocked-then-closed l #(.accept l (long ms)))))))
      (testing "receive in blocking mode (kernel slices)"
        (let [[a b] (udp-pair)]
          (s/set-socket-blocking! b true)
          (try (is (= :closed (still-blocked-then-closed b #(.receive ^Socket b (byte-array 8) 0 8 0 (long ms)))))
               (finally (s/socket-close* a) (s/socket-close* b)))))))
  (testing "a deadline far away but counted still counts"
    (let [now (System/nanoTime)]
      (is (= (+ now 60000000000) (Waiting/deadline 60000 now)))
      (is (= Long/MAX_VALUE (Waiting/deadline -1 now))))))

;; ------------------------------------------------------------------ 16.6: :msg/dontwait

(defn- ends-within
  "Runs f on a thread; the ex-data (or :no-error) it ends with, or :still-waiting after 10 s."
  [f]
  (let [out (promise)]
    (.start (Thread. ^Runnable (fn [] (deliver out (ex-of f)))))
    (deref out 10000 :still-waiting)))

(deftest dontwait-never-waits
  (binding [s/*socket-receive-timeout* 60000 s/*socket-send-timeout* 60000]
    (let [[a b] (udp-pair)]
      (try
        (testing "socket-receive on an empty socket fails at once with :would-block, :EAGAIN"
          (let [d (ends-within #(s/socket-receive b 10 #{:msg/dontwait}))]
            (is (= :would-block (:kind d)) (pr-str d))
            (is (= :EAGAIN (:errno d)))))
        (testing "socket-receive-from and socket-receive! the same"
          (is (= :would-block (:kind (ends-within #(s/socket-receive-from b 10 #{:msg/dontwait})))))
          (is (= :would-block (:kind (ends-within #(s/socket-receive! b (ByteBuffer/allocate 10) nil nil #{:msg/dontwait}))))))
        (testing "with data queued it receives"
          (s/socket-send a "hi")
          (is (= "hi" (text (s/socket-receive b 10 #{:msg/dontwait})))))
        (testing "in blocking mode too"
          (s/set-socket-blocking! b true)
          (is (= :would-block (:kind (ends-within #(s/socket-receive b 10 #{:msg/dontwait}))))))
        (testing "recvmsg"
          (is (= :would-block (:kind (ends-within #(x/socket-receive-message b 10 {:flags #{:msg/dontwait} :timeout-ms 60000}))))))
        (finally (s/socket-close* a) (s/socket-close* b))))
    (with-open [l (u/listener)]
      (let [[c srv] (u/connected-pair l)]
        (try
          (testing "socket-send on a full send buffer fails at once"
            (let [chunk (byte-array 65536)
                  d (ends-within #(loop [i 0] (when (< i 100000) (s/socket-send c chunk nil nil #{:msg/dontwait}) (recur (inc i)))))]
              (is (= :would-block (:kind d)) (pr-str d))
              (is (= :EAGAIN (:errno d)))))
          (testing "sendmsg on the full buffer"
            (let [chunk (byte-array 65536)]
              (is (= :would-block (:kind (ends-within #(loop [i 0]
                                                          (when (< i 100000)
                                                            (x/socket-send-message c chunk {:flags #{:msg/dontwait} :timeout-ms 60000})
                                                            (recur (inc i))))))))))
          (finally (s/socket-close* c) (s/socket-close* srv)))))))

;; ------------------------------------------------------------------ 17.2: :msg/trunc

(deftest trunc-reports-the-real-length-and-makes-up-no-bytes
  (let [[a b] (udp-pair)
        dgram (byte-array (range 100))]
    (try
      (binding [s/*socket-receive-timeout* 5000]
        (testing "socket-receive returns the 10 bytes received, not 100 padded with zeros"
          (s/socket-send a dgram)
          (is (= (seq (take 10 dgram)) (seq (s/socket-receive b 10 #{:msg/trunc})))))
        (testing "socket-receive-from the same"
          (s/socket-send a dgram)
          (is (= 10 (count (first (s/socket-receive-from b 10 #{:msg/trunc}))))))
        (testing "socket-receive! into a ByteBuffer stops at its limit; its count is recv(2)'s, the real length"
          (s/socket-send a dgram)
          (let [bb (ByteBuffer/allocate 10)]
            (is (= 100 (s/socket-receive! b bb nil nil #{:msg/trunc})))
            (is (= 10 (.position bb)))
            (is (= (seq (take 10 dgram)) (seq (.array bb))))))
        (testing "Java: the real length is told apart from the count"
          (s/socket-send a dgram)
          (let [r (.receiveCounted ^Socket b (ByteBuffer/allocate 10) (int (sockets.constants/flags->int :msg #{:msg/trunc})) 5000)]
            (is (= 10 (.count r)))
            (is (= 100 (.length r)))
            (is (.truncated r)))
          (s/socket-send a dgram)
          (let [r (.receiveFrom ^Socket b (ByteBuffer/allocateDirect 10) (int (sockets.constants/flags->int :msg #{:msg/trunc})) 5000)]
            (is (= [10 100] [(.count r) (.length r)]))
            (is (some? (.from r))))))
      (finally (s/socket-close* a) (s/socket-close* b)))))

;; ------------------------------------------------------------------ buffers and Io

(deftest read-only-heap-buffers-send
  (let [[a b] (udp-pair)]
    (try
      (let [ro (.asReadOnlyBuffer (ByteBuffer/wrap (.getBytes "read-only" "UTF-8")))]
        (is (not (Buffers/takesAsIs ro)))
        (is (.isDirect (Buffers/forSend "t" ro)))
        (is (= 9 (.send ^Socket a ro 0 5000)))
        (is (= 0 (.position ro)) "the caller's buffer is untouched")
        (is (= "read-only" (text (binding [s/*socket-receive-timeout* 5000] (s/socket-receive b 100))))))
      (testing "receiving into a read-only buffer is :invalid"
        (is (= :invalid (u/kind-of #(.receive ^Socket b (.asReadOnlyBuffer (ByteBuffer/allocate 4)) 0 0)))))
      (testing "Io.attempt: one try, never waiting"
        (is (= Io/WOULD_BLOCK (Io/attempt (.fd ^Socket b) "t" "recv"
                                          (reify sockets.impl.Syscall
                                            (call [_ fdn] (.recv Native/LIBC fdn (ByteBuffer/allocateDirect 4) 4 0)))))))
      (finally (s/socket-close* a) (s/socket-close* b)))
    (is (= :closed (u/kind-of #(Io/attempt (.fd ^Socket b) "t" "recv" (reify sockets.impl.Syscall (call [_ _] 0))))))))

;; ------------------------------------------------------------------ messages name the address

(deftest errors-name-the-address-and-the-fix
  (testing "connect refused"
    (let [l (u/listener)
          addr (s/socket-name l)
          _ (s/socket-close l)
          c (s/socket :af/inet :sock/stream)
          e (try (s/socket-connect c addr) nil (catch SocketException e e))]
      (is (re-find #"connect to 127\.0\.0\.1:\d+ refused .*is a server listening there\?" (ex-message e)))
      (is (re-find #"connection refused" (ex-message e)))))
  (testing "bind in use"
    (with-open [l (u/listener)]
      (with-open [o (s/socket :af/inet :sock/stream)]
        (let [e (try (s/socket-bind o (s/socket-name l)) nil (catch SocketException e e))]
          (is (re-find #"127\.0\.0\.1:\d+ is already in use .*:so/reuse-address" (ex-message e)))
          (is (= :EADDRINUSE (:errno (ex-data e))))))))
  (testing "a timeout names its duration"
    (let [[a b] (udp-pair)]
      (try (let [e (try (.receive ^Socket b (byte-array 4) 0 4 0 120) nil (catch SocketException e e))]
             (is (= :timeout (:kind (ex-data e))))
             (is (re-find #"recv timed out after 120 ms" (ex-message e))))
           (finally (s/socket-close* a) (s/socket-close* b))))))

;; ------------------------------------------------------------------ virtual threads

(deftest virtual-threads-park-on-the-parker
  (if-let [^ThreadFactory factory (do (System/setProperty "jdk.virtualThreadScheduler.parallelism" "2")
                                      (System/setProperty "jdk.virtualThreadScheduler.maxPoolSize" "2")
                                      @u/vt-factory)]
    (with-open [l (u/listener)]
      (let [n 200
            pairs (vec (repeatedly n #(u/connected-pair l)))
            results (java.util.concurrent.ConcurrentLinkedQueue.)
            done (java.util.concurrent.CountDownLatch. n)
            before (Parker/parked)]
        (try
          (doseq [[_ ^Socket a] pairs]
            (.start (.newThread factory ^Runnable
                                (fn [] (try (.add results (text (binding [s/*socket-receive-timeout* 30000]
                                                                  (s/socket-receive a 10))))
                                            (catch Throwable t (.add results t))
                                            (finally (.countDown done)))))))
          (testing "every virtual thread parks on the Parker, with 2 carriers"
            (is (loop [i 0] (cond (>= (- (Parker/parked) before) n) true
                                  (>= i 3000) false
                                  :else (do (Thread/sleep 10) (recur (inc i)))))
                (str (Parker/parked) " parked")))
          (doseq [[c _] pairs] (s/socket-send c "vt"))
          (is (.await done 30 java.util.concurrent.TimeUnit/SECONDS))
          (is (= (repeat n "vt") (vec results)))
          (testing "a close wakes a parked virtual thread with :closed"
            (let [[c a] (first pairs)
                  out (promise)]
              (.start (.newThread factory ^Runnable (fn [] (deliver out (u/kind-of #(.receive ^Socket a (byte-array 4) 0 4 0 -1))))))
              (is (loop [i 0] (cond (pos? (- (Parker/parked) before)) true (>= i 1000) false :else (do (Thread/sleep 10) (recur (inc i))))))
              (s/socket-close a)
              (is (= :closed (deref out 5000 :not-woken)))))
          (testing "a detach wakes a parked virtual thread with :closed, then hands the open fd over"
            (let [[c a] (second pairs)
                  out (promise)]
              (.start (.newThread factory ^Runnable (fn [] (deliver out (u/kind-of #(.receive ^Socket a (byte-array 4) 0 4 0 -1))))))
              (is (loop [i 0] (cond (pos? (- (Parker/parked) before)) true (>= i 1000) false :else (do (Thread/sleep 10) (recur (inc i))))))
              (let [fd (deref (future (s/socket-detach a)) 10000 nil)] ; returns once the thread left
                (is fd "the detach returned: the parked thread woke and left")
                (when fd
                  (try
                    (is (= :closed (deref out 5000 :not-woken)))
                    (is (>= (.fcntl Native/LIBC (int fd) Native/F_GETFD 0) 0) "the fd is still open")
                    (s/socket-send c "new")
                    (with-open [adopted (s/fd->socket fd)]
                      (is (= "new" (text (binding [s/*socket-receive-timeout* 5000] (s/socket-receive adopted 10))))
                          "the new owner reads what the peer sent"))
                    (catch Throwable t
                      (.close (u/posix) (int fd))
                      (throw t)))))))
          (finally
            (doseq [[c a] pairs] (s/socket-close* c) (s/socket-close* a))))))
    (do (println "SKIP virtual-threads-park-on-the-parker: needs JDK 21+")
        (is (nil? @u/vt-factory)))))

;; ------------------------------------------------------------------ 17.1: allocation caps (Java)

(deftest java-allocations-are-capped
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (testing "a message over Messages/MAX_DATA is :invalid before anything is allocated"
        (let [chunk (ByteBuffer/allocate 65536)
              bufs (into-array ByteBuffer (repeat (inc (quot Messages/MAX_DATA 65536)) chunk))]
          (is (= :invalid (u/kind-of #(Messages/receive b bufs 0 0 1000))))
          (is (= :invalid (u/kind-of #(Messages/send a bufs nil nil 0 1000))))))
      (testing "control buffers over Messages/MAX_CONTROL"
        (is (= :invalid (u/kind-of #(Messages/receive b (into-array ByteBuffer [(ByteBuffer/allocate 4)]) (inc Messages/MAX_CONTROL) 0 1000)))))
      (testing "heap buffers over Datagrams/MAX_BYTES in one call"
        (let [chunk (ByteBuffer/allocate 65537)
              bufs (into-array ByteBuffer (repeat Datagrams/MAX chunk))]
          (is (= :invalid (u/kind-of #(Datagrams/receiveMany b bufs (int-array Datagrams/MAX) nil nil 0 1000))))
          (is (= :invalid (u/kind-of #(Datagrams/sendMany a bufs nil 0 1000))))))
      (finally (s/socket-close* a) (s/socket-close* b))))
  (testing "port buffer sizes over SocketPorts$Config/MAX_BUFFER_SIZE"
    (is (= :invalid (u/kind-of #(.withReceiveBufferSize SocketPorts$Config/DEFAULTS Integer/MAX_VALUE))))
    (is (= :invalid (u/kind-of #(.withSendBufferSize SocketPorts$Config/DEFAULTS (inc SocketPorts$Config/MAX_BUFFER_SIZE)))))
    (is (= SocketPorts$Config/MAX_BUFFER_SIZE
           (.receiveBufferSize (.withReceiveBufferSize SocketPorts$Config/DEFAULTS SocketPorts$Config/MAX_BUFFER_SIZE))))))
