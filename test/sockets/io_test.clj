(ns sockets.io-test
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.constants :as c]
            [sockets.core :as s]
            [sockets.io :as sio]
            [sockets.test-util :as u])
  (:import (java.io File IOException InputStream OutputStream)
           (java.security MessageDigest)
           (java.util Arrays Random)
           (sockets SockAddr Socket SocketException SocketPorts SocketPorts$Config
                    SocketPorts$Input SocketPorts$Output SocketPorts$PortReader)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ fixtures and helpers

(use-fixtures :once u/fd-fixture)

(def ^:private AF_INET (c/->int :af :af/inet))
(def ^:private AF_UNIX (c/->int :af :af/unix))
(def ^:private STREAM (c/->int :sock :sock/stream))
(def ^:private DGRAM (c/->int :sock :sock/dgram))
(def ^:private T 5000) ; ms: the bound on every wait in these tests

(defn- stream-pair
  "[client server]: a connected stream pair, :inet over 127.0.0.1 port 0 or :unix in `dir`."
  [family ^File dir]
  (let [[fam ^SockAddr addr] (case family
                               :inet [AF_INET (SockAddr/parseInet "127.0.0.1" 0)]
                               :unix [AF_UNIX (SockAddr/unix (str (File. dir "s.sock")))])]
    (with-open [listener (Socket/open fam STREAM 0)]
      (.bind listener addr)
      (.listen listener 1)
      (let [bound (if (= family :inet) (.localAddress listener) addr)
            client (Socket/open fam STREAM 0)]
        (.connect client bound T)
        [client (.accept listener T)]))))

(defn- dgram-pair
  "[a b]: two UDP sockets on 127.0.0.1, each connected to the other."
  []
  (let [a (Socket/open AF_INET DGRAM 0)
        b (Socket/open AF_INET DGRAM 0)]
    (.bind a (SockAddr/parseInet "127.0.0.1" 0))
    (.bind b (SockAddr/parseInet "127.0.0.1" 0))
    (.connect a (.localAddress b) T)
    (.connect b (.localAddress a) T)
    [a b]))

(defmacro ^:private with-sockets
  "Binds `bindings` like let (each value a vector of sockets) and closes every socket after."
  [bindings & body]
  `(let ~bindings
     (try ~@body
          (finally
            (doseq [^Socket s# (flatten ~(vec (take-nth 2 bindings)))]
              (.closeQuietly s#))))))

(defn- bytes-of ^bytes [^String s] (.getBytes s "UTF-8"))

(defn- receive-all
  "Bytes received on `s` until end of stream (at most `limit`)."
  ^bytes [^Socket s limit]
  (let [buf (byte-array limit)]
    (loop [n 0]
      (let [got (.receive s buf (int n) (int limit) 0 T)]
        (if (zero? got) (Arrays/copyOf buf n) (recur (+ n got)))))))

(defn- datagram-sizes
  "The sizes of the datagrams waiting on `s`, in order, until none is ready."
  [^Socket s]
  (let [buf (byte-array 65536)]
    (loop [sizes []]
      (if (and (.receiveReady s) (< (count sizes) 1000))
        (recur (conj sizes (.receive s buf 0 65536 0 T)))
        sizes))))

(defn- ex-kind [f]
  (try (f) nil (catch SocketException e (:kind (ex-data e)))))

;; ------------------------------------------------------------------ line protocol

(defn- upcase-server
  "Serves one connection on `s` with io/reader and io/writer only: answers each line with its
  upper case, and \"COUNT n\" at end of input; returns the number of lines served."
  [^Socket s]
  (with-open [r (io/reader s) w (io/writer s)]
    (let [n (reduce (fn [n line]
                      (.write w (str (str/upper-case line) "\n"))
                      (.flush w)
                      (inc n))
                    0 (line-seq r))]
      (.write w (str "COUNT " n "\n"))
      n)))

(defn- each-stream-family
  "Calls (f client server) under (testing family) for a connected stream pair of each family:
  :inet, and :unix in a temp dir deleted after; closes both sockets after."
  [f]
  (doseq [family [:inet :unix]]
    (testing (name family)
      (u/with-temp-dir [dir]
        (with-sockets [[client server] (stream-pair family dir)]
          (f client server))))))

(deftest line-protocol-over-streams
  (each-stream-family
   (fn [^Socket client ^Socket server]
    (let [served (future (upcase-server server))
          requests (concat (for [i (range 200)] (str "request " i))
                           ["héllo wörld ☃ 𝄞" ""])]
      (with-open [^java.io.BufferedReader r (io/reader client) w (io/writer client)]
        (is (instance? SocketPorts$PortReader r) "io/reader gives a BufferedReader over the port")
        (is (identical? client (sio/socket-io-port->socket r)))
        (is (identical? client (sio/socket-io-port->socket w)))
        (doseq [q requests]
          (.write w (str q "\n"))
          (.flush w)
          (is (= (str/upper-case q) (.readLine r))))
        ;; closing the writer shuts down our write side: the server's line-seq ends,
        ;; it reports the count and closes; the reader still gets the count, then EOF
        (.close w)
        (is (not (.isClosed client)) "open until the reader is closed too")
        (is (= (str "COUNT " (count requests)) (.readLine r)))
        (is (nil? (.readLine r)) "EOF once the server closed"))
      (is (= (count requests) (deref served T :timeout)))
      (is (.isClosed client) "closing reader and writer closed the socket")
      (is (.isClosed server))))))

(deftest writer-adds-no-buffering-and-keeps-surrogates
  (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
    (binding [sio/*port-config* (constantly {:receive-buffer-size 4096})]
      (let [w (io/writer a)
            clef "𝄞"] ; one code point, two chars, four UTF-8 bytes
        (.write w "abc")
        (is (= [3] (datagram-sizes b)) "an unbuffered port sends each write call at once")
        (.write w (int (.charAt clef 0)))
        (is (= [] (datagram-sizes b)) "a lone high surrogate waits for its pair")
        (.write w (int (.charAt clef 1)))
        (let [buf (byte-array 16)
              n (.receive b buf 0 16 0 T)]
          (is (= (seq (bytes-of clef)) (take n buf)) "the pair is encoded as one code point"))
        (.close w)))))

;; ------------------------------------------------------------------ buffering rules

(deftest buffered-output-sends-whole-blocks-only
  ;; The reference's example: a 512-byte buffer holding 500 bytes; writing 526 more makes
  ;; 1026 unsent; 1024 (two blocks) go out in ONE socket-send-all, 2 stay in the buffer.
  ;; A datagram peer sees every send(2) as one datagram, so it sees the rule exactly.
  (doseq [[send-size expected] [[nil [1024]]        ; no chunking: one send of 1024
                                [256 [256 256 256 256]]]] ; chunked by send-size
    (testing (str "send-size " send-size)
      (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
        (let [[in ^OutputStream out] (sio/io-ports a {:send-buffer-size 512 :send-size send-size})
              data (byte-array 1026)
              _ (.nextBytes (Random. 1) data)]
          (.write out data 0 500)
          (is (= [] (datagram-sizes b)) "500 < 512: nothing sent")
          (is (= 500 (.buffered ^SocketPorts$Output out)))
          (.write out data 500 526)
          (is (= expected (datagram-sizes b)) "1024 sent")
          (is (= 2 (.buffered ^SocketPorts$Output out)) "2 kept")
          (.flush out)
          (is (= [2] (datagram-sizes b)) "flush sends the 2 kept bytes")
          (.write out data 0 512)
          (is (= (if send-size [256 256] [512]) (datagram-sizes b)) "exactly one block is sent at once")
          (.close ^InputStream in)
          (.close out))))))

(deftest buffered-output-bytes-arrive-in-order
  (with-sockets [[^Socket a ^Socket b] (stream-pair :inet nil)]
    (let [[in ^OutputStream out] (sio/io-ports a {:send-buffer-size 512 :send-size 100})
          data (byte-array 5000)
          _ (.nextBytes (Random. 2) data)]
      (loop [off 0 sizes (cycle [1 500 526 0 511 512 513 1337])]
        (when (< off 5000)
          (let [n (long (min (long (first sizes)) (- 5000 off)))]
            (.write out data off n)
            (recur (+ off n) (rest sizes)))))
      (.close ^InputStream in)
      (.close out)
      (is (Arrays/equals data (receive-all b 6000))))))

(deftest datagram-ports
  ;; The reference's datagram example: receive-buffer-size 4096, send-buffer-size 128,
  ;; send-size 512. Derivation for ONE write of 1,000 bytes then flush:
  ;;   buffer empty, 0 + 1000 >= 128, so the whole multiple of 128 is sent:
  ;;   1000 - (1000 mod 128) = 1000 - 104 = 896 bytes in one socket-send-all;
  ;;   send-all cuts 896 into chunks of 512: datagrams 512 and 384; 104 bytes stay buffered;
  ;;   flush sends the 104 (one chunk): datagram 104.        => [512 384 104]
  ;; For 1,000 writes of ONE byte: each time the buffer reaches 128 bytes exactly one block
  ;; is sent (128 < 512, one chunk): 7 datagrams of 128 (896), then flush sends 104.
  ;;                                                        => [128 128 128 128 128 128 128 104]
  (let [params {:receive-buffer-size 4096 :send-buffer-size 128 :send-size 512}
        data (byte-array 1000)
        _ (.nextBytes (Random. 3) data)]
    (testing "one write of 1,000 bytes"
      (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
        (let [[_ ^OutputStream out] (sio/io-ports a params)]
          (.write out data)
          (is (= [512 384] (datagram-sizes b)))
          (.flush out)
          (is (= [104] (datagram-sizes b))))))
    (testing "1,000 writes of one byte"
      (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
        (let [[_ ^OutputStream out] (sio/io-ports a params)]
          (doseq [x data] (.write out (int x)))
          (.flush out)
          (is (= [128 128 128 128 128 128 128 104] (datagram-sizes b))))))
    (testing "the peer's input port: one datagram per fill, bytes in order"
      (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
        (let [[_ ^OutputStream out] (sio/io-ports a params)
              [^InputStream in] (sio/io-ports b params)
              got (byte-array 1000)]
          (.write out data)
          (.flush out)
          (is (= 100 (.read in got 0 100)))
          (is (= 412 (.available in)) "the buffer holds the rest of the first datagram only")
          (is (= 412 (.read in got 100 900)) "a read returns what the buffer holds, no more")
          (is (= 384 (.read in got 512 488)) "the next read takes the next datagram")
          (is (= 104 (.read in got 896 104)))
          (is (Arrays/equals data got)))))
    (testing "a datagram larger than the input buffer is truncated"
      (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
        (let [[^InputStream in] (sio/io-ports b {:receive-buffer-size 100})
              got (byte-array 1000)]
          (.send a data 0 512 0 T)
          (.send a data 512 1000 0 T)
          (is (= 100 (.read in got 0 1000)) "only the first 100 bytes of the 512")
          (is (= 100 (.read in got 100 900)) "the rest of it is lost; next datagram")
          (is (Arrays/equals (Arrays/copyOfRange data 512 612) (Arrays/copyOfRange got 100 200))))))
    (testing "zero-length datagrams are skipped, not end of stream"
      (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
        (let [[^InputStream in] (sio/io-ports b {:receive-timeout-ms T})]
          (.send a (byte-array 0) 0 0 0 T)
          (.send a (byte-array 0) 0 0 0 T)
          (.send a (bytes-of "xyz") 0 3 0 T)
          (is (= (int \x) (.read in)))
          (is (= 2 (.available in))))))))

;; ------------------------------------------------------------------ closing

(deftest half-close-through-streams
  (each-stream-family
   (fn [^Socket client ^Socket server]
    (let [[^InputStream in ^OutputStream out] (sio/io-ports client)
          [^InputStream sin ^OutputStream sout] (sio/io-ports server)]
      (.write out (bytes-of "request"))
      (.close out)
      (is (= "request" (String. (.readAllBytes sin) "UTF-8")) "the peer reads the request, then EOF")
      (is (= -1 (.read sin)) "EOF again")
      (.write sout (bytes-of "reply"))
      (.close sout)
      (is (not (.isClosed client)))
      (is (= "reply" (String. (.readAllBytes in) "UTF-8")) "our input still reads the reply")
      (is (= :closed (ex-kind #(.write out 1))) "the closed output port refuses writes")
      (.close in)
      (is (.isClosed client) "closed once both ports are closed")
      (is (= :closed (ex-kind #(.read in))))
      (.close in) (.close out) ; closing again does nothing
      (.close sin)
      (is (.isClosed server))))))

(deftest abandoned-ports-leave-the-connection-open
  (testing "output: closing an abandoned port sends no FIN; the write side stays usable"
    (with-sockets [[^Socket client ^Socket server] (stream-pair :inet nil)]
      (let [[_ ^OutputStream out] (sio/io-ports client)]
        (sio/socket-abandon-port out)
        (is (.isAbandoned ^SocketPorts$Output out))
        (.write out (bytes-of "one"))
        (.close out)
        ;; after SHUT_WR this send would fail (EPIPE)
        (.sendAll client "two" (int 0) (int 0) (long T))
        (let [buf (byte-array 16)]
          (is (= "onetwo" (loop [n 0]
                            (if (< n 6)
                              (let [got (long (.receive server buf (int n) 16 0 T))]
                                (if (zero? got) (String. buf 0 (int n) "UTF-8") (recur (+ n got))))
                              (String. buf 0 (int n) "UTF-8"))))
              "the peer got the data and no EOF in between"))
        (is (not (.isClosed client))))))
  (testing "input: closing an abandoned port does not shut down the read side"
    (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
      (let [[^InputStream in] (sio/io-ports client)]
        (sio/socket-abandon-port in)
        (.close in)
        ;; after SHUT_RD a receive on an empty queue returns 0 at once; here it waits
        (is (= :timeout (ex-kind #(.receive client (byte-array 4) 0 4 0 200))))))
    (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
      (let [[^InputStream in] (sio/io-ports client)]
        (.close in)
        (is (zero? (.receive client (byte-array 4) 0 4 0 T)) "contrast: not abandoned, read side shut down"))))
  (testing "both abandoned: the socket is still closed once both are closed"
    (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
      (let [[^InputStream in ^OutputStream out] (sio/io-ports client)]
        (run! sio/socket-abandon-port [in out])
        (.close in)
        (.close out)
        (is (.isClosed client))))))

;; A thread is blocked in a receive once its stack shows the wait inside sockets.Socket.
(defn- await-blocked [^Thread t]
  (let [deadline (+ (System/nanoTime) (* T 1000000))]
    (loop []
      (cond
        (some #(and (= "sockets.impl.Waiting" (.getClassName ^StackTraceElement %))
                    (= "await" (.getMethodName ^StackTraceElement %)))
              (.getStackTrace t)) true
        (> (System/nanoTime) deadline) false
        :else (do (Thread/yield) (recur))))))

(defn- reader-thread
  "Starts a thread calling `f`; returns [thread promise-of-result-or-exception]."
  [f]
  (let [p (promise)
        t (Thread. ^Runnable (fn [] (deliver p (try (f) (catch Throwable e e)))))]
    (.start t)
    [t p]))

(deftest closing-input-wakes-a-blocked-reader
  (testing "input stream, no receive timeout"
    (with-sockets [[^Socket client ^Socket server] (stream-pair :inet nil)]
      (let [[^InputStream in ^OutputStream out] (sio/io-ports client {:receive-timeout-ms nil})
            [t result] (reader-thread #(.read in))]
        (is (await-blocked t))
        (.close in)
        (is (= -1 (deref result T :still-blocked)) "the blocked read sees end of stream")
        (.close out))))
  (testing "io/reader: closing the reader does not wait for the reader's lock"
    (u/with-temp-dir [dir]
        (with-sockets [[^Socket client ^Socket server] (stream-pair :unix dir)]
          (binding [sio/*port-config* (constantly {:receive-timeout-ms nil})]
            (let [^java.io.BufferedReader r (io/reader client)
                  [t result] (reader-thread #(.readLine r))]
              (is (await-blocked t))
              (.close r)
              (is (nil? (deref result T :still-blocked))))))))
  (testing "datagram input: closing it leaves the read side alone"
    ;; After SHUT_RD a Linux datagram socket polls readable while recv(2) says EAGAIN, so any
    ;; receive waiting on it would spin until its timeout. Not shut down, it is not readable.
    (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
      (let [[^InputStream in] (sio/io-ports b)
            buf (byte-array 8)]
        (.close in)
        (is (not (.receiveReady b)) "nothing queued, nothing ready")
        (.send a (bytes-of "dgram") 0 5 0 T)
        (is (= 5 (.receive b buf 0 8 0 T)) "the socket still receives")))))

;; ------------------------------------------------------------------ volume and timeouts

(defn- sha256-hex [^MessageDigest md]
  (apply str (map #(format "%02x" %) (.digest md))))

(deftest quarter-gibibyte-arrives-byte-exact
  (let [total (* 256 1024 1024)]
    (with-sockets [[^Socket client ^Socket server] (stream-pair :inet nil)]
      (let [;; writer: buffered output, odd write sizes, chunked sends
            [_ ^OutputStream out] (sio/io-ports client {:send-buffer-size 1024 :send-size 16384})
            ;; reader: the egg's default 4096-byte input buffer
            [^InputStream in] (sio/io-ports server {:receive-buffer-size 4096})
            t0 (System/nanoTime)
            reader (future
                     (let [md (MessageDigest/getInstance "SHA-256")
                           buf (byte-array 65536)]
                       (loop [n 0]
                         (let [got (.read in buf)]
                           (if (neg? got)
                             [n (sha256-hex md)]
                             (do (.update md buf 0 got) (recur (+ n got))))))))
            md (MessageDigest/getInstance "SHA-256")
            rnd (Random. 4)
            block (byte-array 70001)]
        (loop [left total]
          (when (pos? left)
            (let [n (min left (inc (.nextInt rnd 70001)))]
              (.nextBytes rnd block)
              (.update md block 0 n)
              (.write out block 0 n)
              (recur (- left n)))))
        (.close out)
        (let [[n digest :as r] (deref reader 120000 nil)
              secs (/ (- (System/nanoTime) t0) 1e9)]
          (is (some? r) "the reader finished within 2 minutes")
          (is (= total n))
          (is (= (sha256-hex md) digest))
          (println (format "256 MiB through socket ports: %.1f s, %.0f MB/s" secs (/ total 1e6 secs))))
        (.close in)))))

(deftest timeouts-raise-socket-exception
  (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
    (let [[^InputStream in] (sio/io-ports client {:receive-timeout-ms 200})
          e (try (.read in) nil (catch IOException e e))]
      (is (instance? SocketException e))
      (is (= :timeout (:kind (ex-data e))))))
  (testing "through io/reader, parameters from *port-config*"
    (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
      (binding [sio/*port-config* (constantly (assoc sio/default-config :receive-timeout-ms 200))]
        (let [r (io/reader client)]
          (is (= :timeout (ex-kind #(.readLine ^java.io.BufferedReader r))))))))
  (testing "send timeout: a peer that does not read"
    (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
      (let [[_ ^OutputStream out] (sio/io-ports client {:send-timeout-ms 200})
            block (byte-array (* 1024 1024))]
        (is (= :timeout (ex-kind #(dotimes [_ 256] (.write out block)))))))))

;; ------------------------------------------------------------------ the API's edges

(deftest api-edges
  (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
    (let [[in out] (sio/io-ports client)]
      (is (identical? client (sio/socket-io-port->socket in)))
      (is (identical? client (sio/socket-io-port->socket out)))
      (is (identical? in (io/input-stream in)) "io/input-stream on a port is the port")
      (is (identical? client (sio/socket-io-port->socket (io/writer out))))
      (is (= :invalid (:kind (ex-data (try (sio/socket-io-port->socket "x") (catch Exception e e))))))
      (is (= :invalid (:kind (ex-data (try (sio/socket-abandon-port 42) (catch Exception e e))))))))
  (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
    (doseq [bad [{:receive-buffer-size nil} {:receive-buffer-size 0} {:send-buffer-size -1}
                 {:send-size 1.5} {:receive-timeout -5} {:bogus 1} [1 2]]]
      (is (= :invalid (:kind (ex-data (try (sio/io-ports client bad) (catch Exception e e)))))
          (pr-str bad)))
    (is (not (.isClosed client)) "bad parameters change nothing")
    (let [[in out] (sio/io-ports client {:send-buffer-size nil :send-size nil :receive-timeout-ms nil})
          cfg (.config (.ports ^SocketPorts$Input in))]
      (is (= [4096 0 0 -1 60000] [(.receiveBufferSize cfg) (.sendBufferSize cfg) (.sendSize cfg)
                                  (.receiveTimeoutMs cfg) (.sendTimeoutMs cfg)]))
      (is (identical? (.ports ^SocketPorts$Input in) (.ports ^SocketPorts$Output out)))))
  (testing "io/ on one socket shares one pair; it is made once"
    (with-sockets [[^Socket client ^Socket _] (stream-pair :inet nil)]
      (let [^SocketPorts$Input in (io/input-stream client)
            ^SocketPorts$Output out (io/output-stream client :send-buffer-size 64)]
        (is (identical? (.ports in) (.ports out)))
        (is (zero? (.sendBufferSize (.config (.ports out)))) "parameters are taken when the pair is made")
        (.close in)
        (.close out)
        (is (.isClosed client))
        (is (= :closed (ex-kind #(io/input-stream client))) "a closed socket has no ports"))))
  (testing "Java: SocketPorts/open with a Config"
    (with-sockets [[^Socket a ^Socket b] (dgram-pair)]
      (let [p (SocketPorts/open a (-> SocketPorts$Config/DEFAULTS (.withSendBufferSize 4) (.withSendSize 2)))]
        (.write (.output p) (bytes-of "abcdefghij"))
        (is (= [2 2 2 2] (datagram-sizes b)))
        (.close (.output p))
        (is (= [2] (datagram-sizes b)) "close flushes")
        (is (= :invalid (ex-kind #(.withReceiveBufferSize SocketPorts$Config/DEFAULTS 0))))))))

(deftest large-reads-on-a-stream-skip-the-buffer
  ;; a read of more than the buffer into an empty buffer receives all it asked for in one call
  ;; (the bytes are the same; a datagram is still cut to the buffer, see datagram-ports)
  (with-sockets [[^Socket client ^Socket server] (stream-pair :inet nil)]
    (let [[^InputStream in] (sio/io-ports server {:receive-buffer-size 4096})
          data (byte-array 65536)
          _ (.nextBytes (Random. 9) data)
          _ (.sendAll client data 0 65536 0 0 T)
          dst (byte-array 65536)
          got (loop [off 0 reads 0]
                (if (or (= off 65536) (>= reads 1000))
                  [off reads]
                  (let [k (.read in dst off (- 65536 off))]
                    (if (neg? k) [off reads] (recur (+ off k) (inc reads))))))]
      (is (= 65536 (first got)))
      (is (Arrays/equals data dst))
      (is (< (second got) 16) (str (second got) " reads of at most 4096 bytes each would take 16")))))

;; ------------------------------------------------------------------ issue 17: one name per meaning

(deftest port-timeouts-are-named-ms
  (with-open [so (s/socket :af/inet :sock/stream)]
    (doseq [[old new] [[:receive-timeout :receive-timeout-ms] [:send-timeout :send-timeout-ms]]]
      (let [e (try (sio/io-ports so {old 100}) nil (catch SocketException e e))]
        (is (= :invalid (:kind (ex-data e))))
        (is (re-find (re-pattern (str old " is now " new)) (ex-message e)))))
    (is (= :invalid (u/kind-of #(sio/io-ports so "params"))) "a non-map")
    (is (= :invalid (u/kind-of #(sio/io-ports so {:receive-timeout-ms 100000000000000000000N}))) "a bigint")))
