(ns sockets.java-api-test
  "The Java core used directly, as Java callers use it."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.test-util :as u])
  (:import (java.nio ByteBuffer)
           (jnr.constants.platform AddressFamily Sock)
           (sockets AddrInfo SockAddr Socket SocketException SocketException$Kind)
           (sockets.impl Fd)))

(use-fixtures :once u/fd-fixture)

(def ^:private inet (.intValue AddressFamily/AF_INET))
(def ^:private stream (.intValue Sock/SOCK_STREAM))

(deftest java-round-trip
  (with-open [l (Socket/open inet stream 0)]
    (.bind l (SockAddr/parseInet "127.0.0.1" 0))
    (.listen l 8)
    (let [port (.port (.localAddress l))]
      (with-open [c (Socket/connectAny (AddrInfo/lookup "127.0.0.1" (str port) 0 stream 0 0) 5000)
                  a (.accept l 5000)]
        (.sendAll c "hello" 0 16384 5000)
        (let [bb (ByteBuffer/allocateDirect 16)]
          (is (= 5 (.receive a bb 0 5000)))
          (is (= 0 (.position bb)) "Java receive leaves the position alone")
          (is (= (int \h) (.get bb 0))))
        (is (= (.localAddress c) (.peerAddress a)))
        (is (= (str "127.0.0.1:" port) (str (.peerAddress c))))))))

(deftest exceptions-are-ioexceptions-with-data
  (let [e (try (SockAddr/parseInet "999.1.1.1" 1) nil (catch java.io.IOException e e))]
    (is (instance? SocketException e))
    (is (= SocketException$Kind/INVALID (.kind ^SocketException e)))
    (is (= :invalid (:kind (ex-data e))))
    (is (= :inet-address (:op (ex-data e))))))

(deftest fd-owner-semantics
  (let [s (Socket/open inet stream 0)
        ^Fd fd (.fd s)]
    (testing "acquire reserves the number across a close; the last release closes it"
      (let [n (.acquire fd "test")]
        (is (= 0 (.close fd)))
        (is (.isClosed fd))
        (is (thrown? SocketException (.acquire fd "test")))
        (is (.exists (java.io.File. (str "/proc/self/fd/" n))) "still open while a call is inside")
        (.release fd)
        (is (not (.exists (java.io.File. (str "/proc/self/fd/" n)))) "closed by the last release")))
    (is (= 0 (.close fd)) "closing twice is harmless")))

(deftest interrupt-wakes-a-blocked-receive
  (with-open [u (Socket/open inet (.intValue Sock/SOCK_DGRAM) 0)]
    (.bind u (SockAddr/parseInet "127.0.0.1" 0))
    (let [result (promise)
          t (Thread. #(deliver result (try (.receive u (byte-array 10) 0 10 0 -1) :no-error
                                           (catch SocketException e [(.kind e) (.isInterrupted (Thread/currentThread))]))))]
      (.start t)
      (Thread/sleep 100)
      (let [t0 (System/nanoTime)]
        (.interrupt t)
        (is (= [SocketException$Kind/INTERRUPTED true] (deref result 2000 :hung)))
        (is (< (/ (- (System/nanoTime) t0) 1e6) 200) "wakes within 2x the 100 ms the issue allows"))
      (is (not (.isClosed u)) "an interrupt leaves the socket open")
      (is (false? (.receiveReady u))))))

(deftest heap-receive-copies-only-what-arrived
  ;; heap arrays go through a per-thread direct buffer up to 64 KiB (pinned above): only the
  ;; bytes received may change in the caller's array
  (with-open [l (Socket/open inet stream 0)]
    (.bind l (SockAddr/parseInet "127.0.0.1" 0))
    (.listen l 8)
    (with-open [c (Socket/open inet stream 0)]
      (.connect c (.localAddress l) 5000)
      (with-open [a (.accept l 5000)]
        (doseq [size [16 65536 (* 256 1024)]]
          (let [buf (byte-array size (byte 7))
                out (byte-array [9 9 1 2 3 9])]
            (is (= 3 (.send c out 2 5 0 5000)))
            (is (= 3 (.receive a buf 4 size 0 5000)))
            (is (= [7 7 7 7 1 2 3 7 7] (vec (take 9 buf))))
            (is (every? #(= 7 %) (drop 7 buf)))))))))
