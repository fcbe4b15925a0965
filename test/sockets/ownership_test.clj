(ns sockets.ownership-test
  "Ownership hand-offs (issue 19 item 3): `socket-dup` (a new socket on a dup'ed, close-on-exec
  fd) and `socket-detach` (the socket gives up its fd, which stays open: calls inside are woken
  with :closed and the number is handed over only after they left, event-loop flows end first)."
  (:require [clojure.core.async :as a]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.async :as sa]
            [sockets.core :as s]
            [sockets.test-util :as u])
  (:import (java.util.concurrent TimeUnit)
           (sockets EventLoop Socket SocketException)
           (sockets.impl Fd Native)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(defn- text [^bytes b] (String. b "UTF-8"))

(defn- receive-text
  "Receives exactly `n` bytes from `so` (in as many receives as it takes) as a string."
  [so n]
  (binding [s/*socket-receive-timeout* 5000]
    (loop [acc ""]
      (if (>= (count acc) n)
        acc
        (let [b (s/socket-receive so (- n (count acc)))]
          (if (zero? (alength ^bytes b)) acc (recur (str acc (text b)))))))))

(defn- send-text [so ^String t] (s/socket-send-all so t))

(defn- fd-open?
  "True when fd `n` is open in this process (fcntl F_GETFD succeeds)."
  [n]
  (>= (.fcntl Native/LIBC (int n) Native/F_GETFD 0) 0))

(defn- in-call?
  "True when thread `t` is inside a sockets.Socket call (its stack shows sockets.Socket)."
  [^Thread t]
  (boolean (some #(= "sockets.Socket" (.getClassName ^StackTraceElement %)) (.getStackTrace t))))

(defmacro ^:private with-pair
  "Binds [c srv] to a connected loopback TCP pair (closed afterwards, with the listener)."
  [[c srv] & body]
  `(with-open [l# (u/listener)]
     (let [[~c ~srv] (u/connected-pair l#)]
       (try ~@body (finally (s/socket-close* ~c) (s/socket-close* ~srv))))))

;; ------------------------------------------------------------------ dup

(deftest dup-gives-a-second-working-socket
  (u/with-fd-check
    (testing "the dup is a new fd on the same connection, with the same family, type and protocol"
      (with-pair [c srv]
        (with-open [d (s/socket-dup c)]
          (is (s/socket? d))
          (is (not= (s/socket-fileno c) (s/socket-fileno d)))
          (is (= [(s/socket-family c) (s/socket-type c) (s/socket-protocol c)]
                 [(s/socket-family d) (s/socket-type d) (s/socket-protocol d)]))
          (is (= (s/socket-name c) (s/socket-name d)))
          (send-text d "via the dup")
          (is (= "via the dup" (receive-text srv 11)) "sent on the dup, received by the original's peer")
          (send-text srv "to the original")
          (is (= "to the original" (receive-text c 15)) "the original receives what the peer sends")
          (s/socket-close d)
          (send-text c "after closing the dup")
          (is (= "after closing the dup" (receive-text srv 21)) "closing the dup leaves the original working"))))
    (testing "closing the original leaves the dup working; the connection ends with the last one"
      (with-pair [c srv]
        (let [d (s/socket-dup c)]
          (try
            (s/socket-close c)
            (send-text d "still here")
            (is (= "still here" (receive-text srv 10)))
            (send-text srv "back")
            (is (= "back" (receive-text d 4)))
            (is (= :closed (u/kind-of #(s/socket-send c "x"))) "the closed original raises :closed")
            (s/socket-close d)
            (let [^bytes eof (binding [s/*socket-receive-timeout* 5000] (s/socket-receive srv 16))]
              (is (= 0 (alength eof)) "the peer sees the end of the stream once both are closed"))
            (finally (s/socket-close* d))))))))

(deftest dup-is-close-on-exec-and-non-blocking
  (u/with-fd-check
    (with-pair [c srv]
      (with-open [d (s/socket-dup c)]
        (is (u/cloexec? (s/socket-fileno d)) "FD_CLOEXEC from fcntl(F_GETFD)")
        (is (u/nonblocking? (s/socket-fileno d)))
        (is (false? (s/socket-blocking? d)))))
    (testing "a blocking socket's dup: both share one O_NONBLOCK, so both are non-blocking for good"
      (with-pair [c srv]
        (is (true? (s/set-socket-blocking! c true)) "this platform has blocking mode")
        (is (not (u/nonblocking? (s/socket-fileno c))))
        (with-open [d (s/socket-dup c)]
          (is (u/cloexec? (s/socket-fileno d)))
          (is (false? (s/socket-blocking? c)))
          (is (false? (s/socket-blocking? d)))
          (is (u/nonblocking? (s/socket-fileno c)))
          (is (false? (s/set-socket-blocking! d true)) "the dup stays non-blocking")
          (is (false? (s/set-socket-blocking! c true)) "the original stays non-blocking")
          (is (u/nonblocking? (s/socket-fileno d)))
          (send-text d "ok")
          (is (= "ok" (receive-text srv 2))))))))

(deftest dup-and-detach-errors
  (u/with-fd-check
    (let [closed (doto (s/socket :af/inet :sock/stream) s/socket-close)
          detached (s/socket :af/inet :sock/stream)
          fdn (s/socket-detach detached)]
      (try
        (doseq [[nm f] {"socket-dup" s/socket-dup "socket-detach" s/socket-detach}]
          (testing nm
            (is (= :closed (u/kind-of #(f closed))) "on a closed socket")
            (is (= :closed (u/kind-of #(f detached))) "on a detached socket")
            (doseq [bad [nil 3 "socket" {}]]
              (is (= :invalid (u/kind-of #(f bad))) (pr-str bad)))))
        (finally (.close (u/posix) (int fdn)))))))

(deftest dup-at-emfile-raises
  ;; a child JVM under RLIMIT_NOFILE 256 dups one socket until the table is full
  (let [prefix (if (zero? (:exit (sh/sh "sh" "-c" "command -v prlimit")))
                 ["prlimit" "--nofile=256:256"]
                 ["bash" "-c" "ulimit -n 256 && exec \"$0\" \"$@\""])
        r (u/run-child prefix [] "dup_emfile.clj")
        d (some-> (last (remove str/blank? (str/split-lines (:out r)))) read-string)]
    (is (= 0 (:exit r)) (pr-str r))
    (is (< 100 (:dups d) 256) (pr-str d))
    (is (= {:kind :fatal :errno :EMFILE :op :socket-dup} (select-keys (:full d) [:kind :errno :op])) (pr-str d))
    (is (str/includes? (str (:message (:full d))) "no free fd number") (pr-str d))
    (is (= :no-error (:recovered d)) "a dup works again once fds are freed")
    (is (= (:base d) (:after d)) "no fd leaked")))

;; ------------------------------------------------------------------ detach

(deftest detach-hands-over-the-open-fd
  (u/with-fd-check
    (with-pair [c srv]
      (let [n (s/socket-fileno c)
            got (s/socket-detach c)]
        (try
          (is (= n got) "the number returned is the socket's")
          (is (fd-open? got) "the fd is still open")
          (is (.isClosed ^Socket c))
          (let [e (try (s/socket-send c "x") nil (catch SocketException e e))]
            (is (= :closed (:kind (ex-data e))))
            (is (str/includes? (str (ex-message e)) "detached") (ex-message e)))
          (is (= :closed (u/kind-of #(s/socket-receive c 1))))
          (is (= :closed (u/kind-of #(s/socket-detach c))) "a second detach: :closed")
          (s/socket-close c)
          (s/socket-close* c)
          (is (fd-open? got) "closing the detached socket does not close the fd")
          (with-open [adopted (s/fd->socket got)]
            (is (= n (s/socket-fileno adopted)))
            (send-text adopted "new owner")
            (is (= "new owner" (receive-text srv 9)))
            (send-text srv "hello")
            (is (= "hello" (receive-text adopted 5))))
          (is (not (fd-open? got)) "the new owner's close closed it")
          (finally (when (fd-open? got) (.close (u/posix) (int got)))))))))

(deftest detach-waits-for-the-calls-inside
  ;; the Fd lifecycle alone: a call holding the fd keeps the number from being handed over
  (u/with-fd-check
    (let [[a b] (s/socketpair)
          fd (.fd ^Socket a)
          n (.acquire fd "test")
          detached (future (.detach fd "socket-detach" false))]
      (try
        (is (u/wait-until 5000 #(.isClosed fd)) "detach marks the fd closed at once")
        (is (= :closed (u/kind-of #(.acquire fd "test"))) "new calls are refused")
        (is (= ::waiting (deref detached 200 ::waiting)) "not handed over while a call is inside")
        (.release fd)
        (is (= n (deref detached 5000 ::still-waiting)) "handed over once the call left")
        (is (fd-open? n) "and not closed")
        (finally
          (when (= ::waiting (deref detached 0 ::waiting)) (.release fd))
          (let [r (deref detached 5000 nil)]
            (when (integer? r) (.close (u/posix) (int r))))
          (s/socket-close b))))))

(deftest detach-refuses-to-wait-where-it-must-not
  (u/with-fd-check
    (let [[a b] (s/socketpair)
          fd (.fd ^Socket a)]
      (try
        (.acquire fd "test")
        (is (= :invalid (u/kind-of #(.detach fd "socket-detach" true))))
        (is (not (.isClosed fd)) "nothing changed")
        (.release fd)
        (send-text a "x")
        (is (= "x" (receive-text b 1)))
        (finally (s/socket-close a) (s/socket-close b))))))

(defn- blocked-receiver
  "Starts a thread receiving on `so` (30 s timeout); returns [thread promise-of-result], once
  the thread is inside the call."
  [so]
  (let [result (promise)
        t (Thread. ^Runnable (fn []
                               (deliver result
                                        (try (binding [s/*socket-receive-timeout* 30000]
                                               (s/socket-receive so 16))
                                             (catch Throwable e e)))))]
    (.setDaemon t true)
    (.start t)
    (is (u/wait-until 5000 #(in-call? t)) "the receiver is inside socket-receive")
    [t result]))

(deftest detach-wakes-a-blocked-receive
  (doseq [blocking? [false true]]
    (testing (if blocking? "blocking mode (waits in the kernel, in slices)" "non-blocking mode (waits in poll)")
      (u/with-fd-check
        (with-pair [c srv]
          (is (= blocking? (s/set-socket-blocking! c blocking?)))
          (let [[^Thread t result] (blocked-receiver c)
                got (deref (future (s/socket-detach c)) 5000 ::detach-hung)]
            (try
              (is (integer? got) "detach returned (the blocked call woke)")
              (let [r (deref result 5000 ::receiver-hung)]
                (is (instance? SocketException r) (pr-str r))
                (is (= :closed (:kind (ex-data r)))))
              (.join t 5000)
              (is (not (.isAlive t)) "the receiver's thread ended")
              (when (integer? got)
                (is (fd-open? got))
                (with-open [adopted (s/fd->socket got)]
                  (when blocking?
                    (is (every? zero? (.getOption adopted Native/SOL_SOCKET Native/SO_RCVTIMEO 16))
                        "the library's wait slice is not left in SO_RCVTIMEO"))
                  ;; no shutdown(2): nothing to read is not the end of the stream, and the
                  ;; kernel socket still reads what the peer sends
                  (is (= :would-block (u/kind-of #(s/socket-receive adopted 16 #{:msg/dontwait})))
                      "the read side was not shut down")
                  (send-text srv "after detach")
                  (is (= "after detach" (receive-text adopted 12)))
                  (send-text adopted "reply")
                  (is (= "reply" (receive-text srv 5)))))
              (finally
                (when (and (integer? got) (fd-open? got)) (.close (u/posix) (int got)))))))))))

(deftest detach-ends-an-async-receive-channel
  (u/with-fd-check
    (let [lp (EventLoop/create "ownership-test")]
      (try
        (with-pair [c srv]
          (let [ch (sa/receive-chan c {:loop lp})]
            (send-text srv "on the loop")
            (is (= "on the loop" (text (a/alt!! ch ([v] v) (a/timeout 5000) (byte-array 0)))))
            (is (= 1 (.registrations lp)))
            (let [got (s/socket-detach c)]
              (try
                (is (= 0 (.registrations lp)) "the loop let go (and left epoll) before the fd was handed over")
                (let [v (a/alt!! ch ([v] v) (a/timeout 5000) ::timeout)]
                  (is (sa/error? v) (pr-str v))
                  (is (= :closed (:kind (ex-data v)))))
                (is (nil? (a/alt!! ch ([v] v) (a/timeout 5000) ::timeout)) "then the channel closes")
                (is (fd-open? got))
                (with-open [adopted (s/fd->socket got)]
                  (send-text srv "for the new owner")
                  (is (= "for the new owner" (receive-text adopted 17)) "the loop no longer reads the fd"))
                (finally (when (fd-open? got) (.close (u/posix) (int got))))))))
        (finally (sa/stop-loop! lp))))))

(deftest detach-on-the-loop-thread-refuses-to-wait-for-itself
  (u/with-fd-check
    (let [lp (EventLoop/create "ownership-test-in-loop")]
      (try
        (with-pair [c srv]
          (let [ch (sa/receive-chan c {:loop lp})
                r (promise)]
            (is (u/wait-until 5000 #(= 1 (.registrations lp))))
            (.execute lp (fn [] (deliver r (u/kind-of #(s/socket-detach c)))))
            (is (= :invalid (deref r 5000 ::hung)))
            (is (not (.isClosed ^Socket c)) "nothing changed")
            (send-text srv "still read by the loop")
            (is (= "still read by the loop" (text (a/alt!! ch ([v] v) (a/timeout 5000) (byte-array 0)))))
            (a/close! ch)))
        (finally (sa/stop-loop! lp))))))
