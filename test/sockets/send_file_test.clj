(ns sockets.send-file-test
  "socket-send-file (Socket.sendFile, impl/FileSend): files of several MiB over TCP loopback and
  a unix stream socket, byte-exact at the receiver, through sendfile(2) and through the
  read+send way (forced, and chosen because sendfile refuses a FIFO); offsets and counts
  around the file's end; a FileChannel source; the send timeout; a close from another thread;
  no SIGPIPE; bad input."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.core :as s]
            [sockets.test-util :as u])
  (:import (java.io ByteArrayOutputStream File)
           (java.nio ByteBuffer)
           (java.nio.channels FileChannel)
           (java.nio.file OpenOption StandardOpenOption)
           (java.util Arrays Random)
           (java.util.concurrent TimeUnit)
           (sockets.impl FileSend)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(def ^:private five-mib (* 5 1024 1024))

(defn- random-bytes ^bytes [n seed]
  (let [b (byte-array n)] (.nextBytes (Random. seed) b) b))

(defn- write-file ^File [^File dir name ^bytes data]
  (let [f (io/file dir name)] (io/copy data f) f))

(defn- range-of ^bytes [^bytes data from to]
  (Arrays/copyOfRange data (int (min from (alength data))) (int (min to (alength data)))))

(defn- transfer
  "Sends with (send! writer-socket) over a fresh connected pair on `addr`; returns
  [what send! returned, the bytes the peer received until the writer's shutdown]."
  [addr send!]
  (with-open [l (u/listener addr)]
    (let [[^sockets.Socket a ^sockets.Socket b] (u/connected-pair l)]
      (with-open [a a b b]
        (let [got (future (u/receive-all b))
              r (send! a)]
          (s/socket-shutdown a :shut/wr)
          [r (deref got 60000 :receiver-timed-out)])))))

(defmacro ^:private with-sendfile
  "Runs body with FileSend using sendfile(2) (on? true, where the platform has it) or not."
  [on? & body]
  `(do (FileSend/useSendfile ~on?)
       (try ~@body (finally (FileSend/useSendfile true)))))

(defn- addresses [^File dir]
  {:tcp (s/inet-address "127.0.0.1" 0)
   :unix (s/unix-address (str (io/file dir "sock")))})

;; ------------------------------------------------------------------ whole files

(deftest multi-mib-file-byte-exact
  (u/with-temp-dir [dir]
    (let [data (random-bytes five-mib 19)
          f (write-file dir "data" data)]
      (doseq [[net addr] (addresses dir), way [:sendfile :read+send], src [:string :file :path]]
        (testing (str net " " way " " src)
          (io/delete-file (io/file dir "sock") true)
          (with-sendfile (= way :sendfile)
            (let [file (case src :string (str f) :file f :path (.toPath f))
                  [n got] (transfer addr #(s/socket-send-file % file))]
              (is (= five-mib n))
              (is (instance? Long n))
              (is (Arrays/equals ^bytes data ^bytes got) (str "received " (when (bytes? got) (alength ^bytes got)) " bytes")))))))))

(deftest offsets-and-counts
  (u/with-temp-dir [dir]
    (let [data (random-bytes (+ five-mib 12345) 7)
          size (alength data)
          f (str (write-file dir "data" data))]
      (doseq [way [:sendfile :read+send]
              [label offset count expected]
              [["offset and count" 1000003 (* 2 1024 1024) [1000003 (+ 1000003 (* 2 1024 1024))]]
               ["offset only, to the end" (- size 77777) nil [(- size 77777) size]]
               ["count past the end" 4096 (* 10 1024 1024) [4096 size]]
               ["offset at the end" size 10 [size size]]
               ["offset beyond the end" (+ size 1000) nil [size size]]
               ["count 0" 5 0 [5 5]]]]
        (testing (str way ": " label)
          (with-sendfile (= way :sendfile)
            (let [[n got] (transfer (s/inet-address "127.0.0.1" 0) #(s/socket-send-file % f offset count))
                  want (range-of data (first expected) (second expected))]
              (is (= (alength want) n))
              (is (Arrays/equals want ^bytes got)))))))))

(deftest file-channel-source
  (u/with-temp-dir [dir]
    (let [data (random-bytes (* 3 1024 1024) 3)
          f (write-file dir "data" data)]
      (with-open [ch (FileChannel/open (.toPath f) (into-array OpenOption [StandardOpenOption/READ]))]
        (.position ch 1234)
        (testing "all of it: the position is not used or changed, the channel stays open"
          (let [[n got] (transfer (s/inet-address "127.0.0.1" 0) #(s/socket-send-file % ch))]
            (is (= (alength data) n))
            (is (Arrays/equals data ^bytes got))
            (is (= 1234 (.position ch)))
            (is (.isOpen ch))))
        (testing "an offset and a count, over a unix socket"
          (io/delete-file (io/file dir "sock") true)
          (let [[n got] (transfer (:unix (addresses dir)) #(s/socket-send-file % ch 100 (* 2 1024 1024)))]
            (is (= (* 2 1024 1024) n))
            (is (Arrays/equals (range-of data 100 (+ 100 (* 2 1024 1024))) ^bytes got))
            (is (= 1234 (.position ch)))
            (is (.isOpen ch))))))))

(deftest fifo-sendfile-refuses
  ;; sendfile(2) refuses a FIFO as its source (EINVAL): the read+send way takes over, and the
  ;; offset is skipped by reading (a FIFO cannot seek)
  (u/with-temp-dir [dir]
    (let [data (random-bytes (* 2 1024 1024) 5)
          fifo (io/file dir "fifo")]
      (if-not (zero? (:exit (sh/sh "mkfifo" (str fifo))))
        (println "SKIP fifo-sendfile-refuses: mkfifo failed")
        (let [writer (future (with-open [o (io/output-stream fifo)] (.write o data)))
              [n got] (transfer (s/inet-address "127.0.0.1" 0) #(s/socket-send-file % (str fifo) 1000 nil))]
          @writer
          (is (= (- (alength data) 1000) n))
          (is (Arrays/equals (range-of data 1000 (alength data)) ^bytes got)))))))

;; ------------------------------------------------------------------ waiting

(defn- stalled-pair
  "[writer peer l] with small buffers, the peer never reading."
  []
  (let [l (u/listener)
        [a b] (u/connected-pair l)]
    (try (s/set-socket-options! a {:so/sndbuf 4096})
         (s/set-socket-options! b {:so/rcvbuf 4096})
         [a b l]
         (catch Throwable t (run! s/socket-close* [a b l]) (throw t)))))

(deftest send-timeout
  (u/with-temp-dir [dir]
    (let [f (str (write-file dir "data" (byte-array (* 16 1024 1024))))]
      (doseq [way [:sendfile :read+send], blocking? [false true]]
        (testing (str way (when blocking? ", blocking mode") ": a peer that never reads")
          (with-sendfile (= way :sendfile)
            (let [[a b l] (stalled-pair)]
              (try
                (s/set-socket-blocking! a blocking?)
                (let [t0 (System/nanoTime)
                      r (future (binding [s/*socket-send-timeout* 300]
                                  (try (s/socket-send-file a f) :no-error
                                       (catch sockets.SocketException e (ex-data e)))))
                      e (deref r 30000 :still-blocked)
                      ms (/ (- (System/nanoTime) t0) 1e6)]
                  (is (= :timeout (:kind e)) (pr-str e))
                  (is (= :socket-send-file (:op e)) (pr-str e))
                  (is (>= ms 300)))
                (finally (run! s/socket-close* [a b l]))))))))))

(deftest close-wakes-a-blocked-send-file
  (u/with-temp-dir [dir]
    (let [f (str (write-file dir "data" (byte-array (* 16 1024 1024))))]
      (doseq [way [:sendfile :read+send]]
        (testing (str way)
          (with-sendfile (= way :sendfile)
            (let [[a b l] (stalled-pair)]
              (try
                (let [r (future (binding [s/*socket-send-timeout* nil]
                                  (u/kind-of #(s/socket-send-file a f))))]
                  ;; the send has begun once the peer has data queued (looked for up to 10 s)
                  (let [deadline (+ (System/nanoTime) 10000000000)]
                    (while (and (not (s/socket-receive-ready? b)) (< (System/nanoTime) deadline))))
                  (s/socket-close a)
                  (is (= :closed (deref r 10000 :still-blocked))))
                (finally (run! s/socket-close* [a b l]))))))))))

(deftest peer-gone
  (u/with-temp-dir [dir]
    (let [f (str (write-file dir "data" (byte-array (* 1024 1024))))]
      (doseq [way [:sendfile :read+send]]
        (testing (str way)
          (with-sendfile (= way :sendfile)
            (with-open [l (u/listener)]
              (let [[^sockets.Socket a ^sockets.Socket b] (u/connected-pair l)]
                (with-open [a a]
                  (s/socket-close b)
                  (let [e (try (dotimes [_ 100] (s/socket-send-file a f)) nil
                               (catch sockets.SocketException e (ex-data e)))]
                    (is (#{:EPIPE :ECONNRESET} (:errno e)) (pr-str e))))))))))))

(deftest no-sigpipe
  ;; a child JVM with SIGPIPE at SIG_DFL: a sendfile(2) that raised it would kill the child (141)
  (let [r (u/run-child nil nil "send_file_sigpipe.clj")
        {:keys [sigpipe-ignored results]} (some-> (last (remove str/blank? (str/split-lines (:out r)))) read-string)]
    (is (= 0 (:exit r)) (pr-str r))
    (is (false? sigpipe-ignored))
    (is (= 6 (count results)) (pr-str r))
    (doseq [[k v] results]
      (is (contains? #{{:kind :fatal :errno :EPIPE} {:kind :fatal :errno :ECONNRESET}} v) (str k " -> " v)))))

;; ------------------------------------------------------------------ bad input

(deftest closed-socket
  (u/with-temp-dir [dir]
    (let [f (str (write-file dir "data" (byte-array 100)))
          so (s/socket :af/inet :sock/stream)]
      (s/socket-close so)
      (is (= :closed (u/kind-of #(s/socket-send-file so f)))))))

(deftest bad-input
  (u/with-temp-dir [dir]
    (let [f (write-file dir "data" (byte-array 100))
          wo (FileChannel/open (.toPath f) (into-array OpenOption [StandardOpenOption/WRITE]))
          closed-ch (doto (FileChannel/open (.toPath f) (into-array OpenOption [StandardOpenOption/READ])) (.close))]
      (try
        (with-open [l (u/listener)
                    u (s/socket :af/inet :sock/dgram)]
          (let [[^sockets.Socket a ^sockets.Socket b] (u/connected-pair l)]
            (with-open [a a b b]
              (doseq [[label thunk] {"negative offset" #(s/socket-send-file a (str f) -1 10)
                                     "negative count" #(s/socket-send-file a (str f) 0 -1)
                                     "offset not an integer" #(s/socket-send-file a (str f) 1.5 10)
                                     "count not an integer" #(s/socket-send-file a (str f) 0 "10")
                                     "a missing file" #(s/socket-send-file a (str (io/file dir "missing")))
                                     "a directory" #(s/socket-send-file a (str dir))
                                     "a directory as a File" #(s/socket-send-file a dir)
                                     "not a file" #(s/socket-send-file a 42)
                                     "nil file" #(s/socket-send-file a nil)
                                     "a NUL in the path" #(s/socket-send-file a "a\u0000b")
                                     "a closed FileChannel" #(s/socket-send-file a closed-ch)
                                     "a write-only FileChannel" #(s/socket-send-file a wo)
                                     "not a socket" #(s/socket-send-file "socket" (str f))
                                     "a datagram socket" #(s/socket-send-file u (str f))
                                     "a bad timeout" #(binding [s/*socket-send-timeout* -1] (s/socket-send-file a (str f)))}]
                (testing label
                  (let [e (try (thunk) nil (catch sockets.SocketException e (ex-data e)))]
                    (is (= :invalid (:kind e)) (pr-str e))
                    (is (= :socket-send-file (:op e)) (pr-str e)))))
              (testing "nothing was sent"
                (is (not (s/socket-receive-ready? b)))))))
        (finally (.close wo))))))

(deftest java-api
  (u/with-temp-dir [dir]
    (let [data (random-bytes 100000 11)
          f (write-file dir "data" data)]
      (with-open [l (u/listener)]
        (let [[^sockets.Socket a ^sockets.Socket b] (u/connected-pair l)]
          (with-open [a a b b]
            (is (= 60000 (.sendFile a (.toPath f) 40000 -1 5000)))
            (let [^bytes got (binding [s/*socket-receive-timeout* 5000]
                               (let [out (ByteArrayOutputStream.)]
                                 (while (< (.size out) 60000)
                                   (.write out ^bytes (s/socket-receive b 65536)))
                                 (.toByteArray out)))]
              (is (Arrays/equals (range-of data 40000 100000) got)))
            (is (= :invalid (u/kind-of #(.sendFile a (.toPath f) -1 10 5000))))
            (is (= :invalid (u/kind-of #(.sendFile a ^java.nio.file.Path (identity nil) 0 10 5000))))))))))
