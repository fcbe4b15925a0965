(ns sockets.blocking-test
  "Blocking mode (`set-socket-blocking!`): the fd loses O_NONBLOCK and calls wait in the kernel
  in slices bounded by SO_RCVTIMEO/SO_SNDTIMEO. Everything a caller can see must stay as in
  non-blocking mode, so the connection, stream and hardening tests run again here with every
  socket `sockets.core/socket` makes put in blocking mode; then what is particular to the mode."
  (:require [clojure.core.async :as a]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.async :as async]
            [sockets.connection-test :as ct]
            [sockets.core :as s]
            [sockets.messages :as ext]
            [sockets.hardening-test :as ht]
            [sockets.io-test :as iot]
            [sockets.test-util :as u :refer [kind-of]])
  (:import (java.util.concurrent CountDownLatch TimeUnit)
           (sockets Socket)))

(use-fixtures :once u/fd-fixture)

(defn- blocking-socket
  "sockets.core/socket, then blocking mode."
  [orig]
  (fn [& args] (doto ^Socket (apply orig args) (s/set-socket-blocking! true))))

(defmacro ^:private in-blocking-mode [& body]
  `(with-redefs [s/socket (blocking-socket s/socket)] ~@body))

(deftest mode-switches-the-fd-flag
  (with-open [so (s/socket :af/inet :sock/stream)]
    (is (false? (s/socket-blocking? so)) "created non-blocking, as in the egg")
    (is (u/nonblocking? (s/socket-fileno so)))
    (is (true? (s/set-socket-blocking! so true)))
    (is (true? (s/socket-blocking? so)))
    (is (not (u/nonblocking? (s/socket-fileno so))))
    (is (false? (s/set-socket-blocking! so false)))
    (is (u/nonblocking? (s/socket-fileno so))))
  (testing "bad input"
    (is (= :invalid (kind-of #(s/set-socket-blocking! :nope true))))
    (let [so (s/socket :af/inet :sock/stream)]
      (s/socket-close so)
      (is (= :closed (kind-of #(s/set-socket-blocking! so true)))))))

(deftest accepted-sockets-take-the-listeners-mode
  (with-open [l (u/listener)]
    (s/set-socket-blocking! l true)
    (let [[c a] (u/connected-pair l)]
      (with-open [c c a a]
        (is (false? (s/socket-blocking? c)))
        (is (true? (s/socket-blocking? a)))
        (is (not (u/nonblocking? (s/socket-fileno a))))
        (is (u/cloexec? (s/socket-fileno a)) "still close-on-exec")))))

(deftest the-library-owns-the-kernel-timeouts
  (with-open [l (u/listener)]
    (let [[c a] (u/connected-pair l)]
      (with-open [c c a a]
        (s/set-socket-blocking! a true)
        (binding [s/*socket-receive-timeout* 5000]
          (s/socket-send c "x")
          (is (= "x" (String. ^bytes (s/socket-receive a 1) "UTF-8"))))
        ;; the kernel rounds the value to its clock tick (gVisor gives 52 ms for 50)
        (is (<= 1 (:so/rcvtimeo (s/socket-options a [:so/rcvtimeo])) 60) "a slice of 50 ms, not the 5 s timeout")
        (testing "a receive timeout is still honoured when the user overwrote SO_RCVTIMEO"
          (s/set-socket-options! a {:so/rcvtimeo 30000})
          (let [t0 (System/nanoTime)
                k (binding [s/*socket-receive-timeout* 200] (kind-of #(s/socket-receive a 1)))
                ms (/ (- (System/nanoTime) t0) 1e6)]
            (is (= :timeout k))
            (is (< ms 5000) (str "timed out after " ms " ms, not after the user's 30 s"))
            (is (<= 1 (:so/rcvtimeo (s/socket-options a [:so/rcvtimeo])) 60) "a slice is back")))))))

(deftest shut-rd-datagram-receive-gets-the-kernels-answer
  ;; the one visible difference: on a datagram socket shut down for reading, a receive in
  ;; non-blocking mode waits until its timeout (recv says EAGAIN while poll says ready); in
  ;; blocking mode the kernel answers 0 bytes at once, as it does to a blocking java.nio channel
  (with-open [u (s/socket :af/inet :sock/dgram)]
    (s/socket-bind u (s/inet-address "127.0.0.1" 0))
    (s/set-socket-blocking! u true)
    (s/socket-shutdown u :shut/rd)
    (let [t0 (System/nanoTime)
          r (binding [s/*socket-receive-timeout* 1000] (s/socket-receive u 10))]
      (is (= 0 (alength ^bytes r)))
      (is (< (/ (- (System/nanoTime) t0) 1e6) 900) "at once, not after the timeout"))))

(deftest async-channels-take-the-socket-back-to-non-blocking
  (with-open [l (u/listener)]
    (let [[c a] (u/connected-pair l)]
      (with-open [c c a a]
        (s/set-socket-blocking! a true)
        (let [ch (async/receive-chan a)]
          (s/socket-send c "via the loop")
          (is (= "via the loop" (String. ^bytes (first (a/alts!! [ch (a/timeout 5000)])) "UTF-8")))
          (is (false? (s/socket-blocking? a)))
          (is (u/nonblocking? (s/socket-fileno a)))
          (is (false? (s/set-socket-blocking! a true)) "and it stays so")
          (a/close! ch)
          (is (async/stop-loop!) "the shared loop (its epoll and eventfd) goes away with the test"))))))

(deftest calls-that-wait-in-poll-do-not-wait-in-the-kernel
  ;; sendmsg/recvmsg wait in poll(2) whatever the mode: they pass MSG_DONTWAIT, so an empty
  ;; socket in blocking mode times out on time instead of hanging in recvmsg
  (let [[x y] (s/socketpair :af/unix :sock/stream)]
    (with-open [^Socket x x ^Socket y y]
      (s/set-socket-blocking! x true)
      (let [t0 (System/nanoTime)
            k (kind-of #(ext/socket-receive-message x 4 {:timeout-ms 200}))
            ms (/ (- (System/nanoTime) t0) 1e6)]
        (is (= :timeout k))
        (is (< ms 5000) (str ms " ms")))
      (ext/socket-send-message y ["ok"])
      (is (= "ok" (String. ^bytes (:data (ext/socket-receive-message x 2 {:timeout-ms 2000})) "UTF-8"))))))

(deftest timeout-zero-never-waits
  (with-open [u (s/socket :af/inet :sock/dgram)]
    (s/socket-bind u (s/inet-address "127.0.0.1" 0))
    (s/set-socket-blocking! u true)
    (is (= :timeout (binding [s/*socket-receive-timeout* 0] (kind-of #(s/socket-receive u 10)))))
    (with-open [v (s/socket :af/inet :sock/dgram)]
      (s/socket-send-to v "ready" (s/socket-name u))
      ;; the datagram may take a moment to be queued on loopback: bounded retries
      (is (= "ready" (loop [i 0]
                       (let [r (try (binding [s/*socket-receive-timeout* 0] (String. ^bytes (s/socket-receive u 10) "UTF-8"))
                                    (catch sockets.SocketException _ nil))]
                         (if (or r (>= i 100)) r (do (Thread/sleep 10) (recur (inc i)))))))))))

(deftest interrupt-wakes-a-call-waiting-in-the-kernel
  (with-open [l (u/listener)]
    (let [[c a] (u/connected-pair l)]
      (with-open [c c a a]
        (s/set-socket-blocking! a true)
        (let [started (CountDownLatch. 1)
              out (promise)
              t (Thread. ^Runnable (fn []
                                     (.countDown started)
                                     (deliver out [(kind-of #(binding [s/*socket-receive-timeout* 10000] (s/socket-receive a 10)))
                                                   (.isInterrupted (Thread/currentThread))])))]
          (.start t)
          (.await started 5 TimeUnit/SECONDS)
          (Thread/sleep 100) ; let it reach recv; if it has not, the interrupt is seen before the call
          (.interrupt t)
          (is (= [:interrupted true] (deref out 5000 :hung)))
          (.join t 5000)
          (s/socket-send c "after")
          (is (= "after" (String. ^bytes (s/socket-receive a 10) "UTF-8")) "the socket is still usable"))))))

(deftest connection-tests-in-blocking-mode
  (in-blocking-mode
   (ct/tcp-echo-v4) (ct/tcp-echo-v6) (ct/unix-stream-echo)
   (ct/udp-v4) (ct/udp-v6) (ct/unix-dgram)
   (ct/send-all-64-mib-chunked) (ct/send-all-datagram-chunks)
   (ct/offsets-truncation-peek) (ct/half-close) (ct/connect-errors) (ct/timeouts)
   (ct/close-wakes-blocked-threads) (ct/no-sigpipe) (ct/bad-input)))

(deftest stream-tests-in-blocking-mode
  (in-blocking-mode
   (iot/line-protocol-over-streams) (iot/half-close-through-streams)
   (iot/closing-input-wakes-a-blocked-reader) (iot/quarter-gibibyte-arrives-byte-exact)
   (iot/timeouts-raise-socket-exception)))

(deftest hardening-tests-in-blocking-mode
  (in-blocking-mode
   (ht/close-races-use) (ht/udp-rules)
   (ht/rst-reaches-blocked-reader-and-writer) (ht/send-times-out-when-the-peer-stops-reading)
   (ht/number-stays-reserved-while-a-call-is-inside)))

(deftest virtual-threads-in-blocking-mode-do-not-hold-carriers
  ;; .ci/run runs this on JDK 25; on 17 it has nothing to test
  (if-let [^java.util.concurrent.ThreadFactory factory
           (do (System/setProperty "jdk.virtualThreadScheduler.parallelism" "2")
               (System/setProperty "jdk.virtualThreadScheduler.maxPoolSize" "2")
               @u/vt-factory)]
    (with-open [l (u/listener)]
      (s/set-socket-blocking! l true)
      (let [n 64
            pairs (vec (repeatedly n #(u/connected-pair l)))
            results (java.util.concurrent.ConcurrentLinkedQueue.)
            done (CountDownLatch. (inc n))
            parked #(sockets.impl.Parker/parked)]
        (try
          (is (every? (fn [[_ a]] (s/socket-blocking? a)) pairs))
          (doseq [[_ a] pairs]
            (.start (.newThread factory ^Runnable
                                (fn [] (try (.add results (String. ^bytes (binding [s/*socket-receive-timeout* 30000]
                                                                            (s/socket-receive a 10)) "UTF-8"))
                                            (catch Throwable t (.add results t))
                                            (finally (.countDown done)))))))
          (let [acc (promise)]
            (.start (.newThread factory ^Runnable
                                (fn [] (deliver acc (try (binding [s/*socket-accept-timeout* 30000] (s/socket-accept l))
                                                         (catch Throwable t t)))
                                  (.countDown done))))
            (testing "all of them wait parked on the Parker, 2 carriers for 65 threads"
              (is (loop [i 0] (cond (>= (parked) (inc n)) true
                                    (>= i 3000) false
                                    :else (do (Thread/sleep 10) (recur (inc i)))))
                  (str (parked) " of " (inc n) " parked")))
            (doseq [[c _] pairs] (s/socket-send c "vt"))
            (with-open [extra (s/socket :af/inet :sock/stream)]
              (s/socket-connect extra (s/socket-name l))
              (is (.await done 30 TimeUnit/SECONDS))
              (is (= (repeat n "vt") (vec results)))
              (let [a @acc]
                (is (instance? Socket a) (str a))
                (when (instance? Socket a) (is (s/socket-blocking? a)) (s/socket-close a)))))
          (finally
            (doseq [[c a] pairs] (s/socket-close* c) (s/socket-close* a))
            (is (async/stop-loop!) "no loop is left running by the test")))))
    (do (println "SKIP virtual-threads-in-blocking-mode-do-not-hold-carriers: needs JDK 21+")
        (is (nil? @u/vt-factory)))))
