(ns sockets.core-test
  (:require [sockets.async :as sa]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as tgen]
            [clojure.test.check.properties :as prop]
            [sockets.constants :as c]
            [sockets.core :as s]
            [sockets.messages :as x]
            [sockets.options :as o]
            [sockets.test-util :as u]
            [sockets.test-util :as tu])
  (:import (java.nio.charset StandardCharsets)
           (jnr.constants.platform Fcntl OpenFlags)
           (jnr.posix POSIX POSIXFactory)
           (sockets Messages Socket SocketException)))

(use-fixtures :once u/fd-fixture
  ;; happy eyeballs runs on the shared event loop: stop it, so its own fds are not counted
  (fn [f] (try (f) (finally (sa/stop-loop!)))))

(deftest socket-objects
  (with-open [so (s/socket :af/inet :sock/stream)]
    (is (s/socket? so))
    (is (not (s/socket? 3)))
    (is (= :af/inet (s/socket-family so)))
    (is (= :sock/stream (s/socket-type so)))
    (is (= :ipproto/ip (s/socket-protocol so)))
    (is (pos? (s/socket-fileno so)))
    (is (u/cloexec? (s/socket-fileno so)) "sockets are close-on-exec")
    (is (= (str "#<socket fd:" (s/socket-fileno so) " :af/inet :sock/stream>") (pr-str so))))
  (with-open [so (s/socket :af/inet6 :sock/dgram :ipproto/udp)]
    (is (= :af/inet6 (s/socket-family so)))
    (is (= :sock/dgram (s/socket-type so)))
    (is (= :ipproto/udp (s/socket-protocol so))))
  (testing "integers are accepted wherever a keyword is"
    (with-open [so (s/socket (s/address-family->integer :af/unix) (s/socket-type->integer :sock/stream) 0)]
      (is (= :af/unix (s/socket-family so)))))
  (testing "a closed socket prints so"
    (let [so (s/socket :af/inet :sock/dgram)]
      (s/socket-close so)
      (is (str/ends-with? (pr-str so) "closed>"))
      (s/socket-close so) ; closing twice is harmless
      (is (= :closed (u/kind-of #(s/socket-bind so (s/inet-address "127.0.0.1" 0))))))))

(deftest constants
  (is (= :af/inet (s/integer->address-family (s/address-family->integer :af/inet))))
  (is (= :af/inet6 (s/integer->address-family (s/address-family->integer :af/inet6))))
  (is (= :af/unix (s/integer->address-family (s/address-family->integer :af/unix))))
  (is (= :af/unspec (s/integer->address-family (s/address-family->integer :af/unspec))))
  (doseq [t [:sock/stream :sock/dgram :sock/raw]]
    (is (= t (s/integer->socket-type (s/socket-type->integer t)))))
  (doseq [p [:ipproto/tcp :ipproto/udp]]
    (is (= p (s/integer->protocol-type (s/protocol-type->integer p)))))
  (is (= 6 (s/protocol-type->integer 6)))
  (testing "unknown integers and keywords get a clear error"
    (is (= :invalid (u/kind-of #(s/integer->address-family 9999))))
    (is (= :invalid (u/kind-of #(s/address-family->integer :af/bogus))))
    (is (= :invalid (u/kind-of #(s/integer->socket-type -1))))
    (is (= :invalid (u/kind-of #(s/socket-type->integer "stream"))))
    (is (= :invalid (u/kind-of #(s/integer->protocol-type 9999))))
    (is (= :invalid (u/kind-of #(s/protocol-type->integer :ipproto/bogus))))))

(deftest creation-errors
  (is (= :invalid (u/kind-of #(s/socket :af/bogus :sock/stream))))
  (is (= :invalid (u/kind-of #(s/socket :af/inet "stream"))))
  (is (= :unsupported (u/kind-of #(s/socket :af/inet :sock/stream :ipproto/udp))))
  (let [e (try (s/socket :af/inet :sock/stream :ipproto/udp) (catch Exception e e))]
    (is (instance? java.io.IOException e))
    (is (= :socket (:op (ex-data e))))
    (is (keyword? (:errno (ex-data e))))
    (is (integer? (:errno-code (ex-data e))))))

(deftest no-fd-leaks-creating-and-failing
  (let [before (u/fd-count)]
    (dotimes [_ 1000] (s/socket-close (s/socket :af/inet :sock/stream)))
    (is (<= (u/settled-fd-count before) before))
    (dotimes [_ 1000] (try (s/socket :af/inet :sock/stream :ipproto/udp) (catch java.io.IOException _)))
    (is (<= (u/settled-fd-count before) before))))

(deftest socket-with-options
  (with-open [so (s/socket :af/inet :sock/stream {:so/reuseaddr true :tcp/nodelay true})]
    (is (true? (s/so-reuse-address? so)))
    (is (true? (s/tcp-no-delay? so))))
  (with-open [so (s/socket :af/inet6 :sock/dgram 0 {:ipv6/v6only true})]
    (is (true? (s/ipv6-v6-only? so))))
  (let [before (u/fd-count)]
    (is (= :invalid (u/kind-of #(s/socket :af/inet :sock/stream {:so/rcvbuf "big"}))) "checked before the socket exists")
    (is (= :invalid (u/kind-of #(s/socket :af/inet :sock/stream {:so/type 1}))) "read-only")
    (is (= :unsupported (u/kind-of #(s/socket :af/inet :sock/stream {:so/sndlowat 1})))
        "Linux refuses SO_SNDLOWAT: the socket is closed again")
    (is (<= (u/settled-fd-count before) before))))

(deftest many-datagrams-through-sockets-core
  (with-open [a (s/socket :af/inet :sock/dgram) b (s/socket :af/inet :sock/dgram)]
    (s/socket-bind a (s/inet-address "127.0.0.1" 0))
    (s/socket-bind b (s/inet-address "127.0.0.1" 0))
    (is (= 3 (s/socket-send-many a ["one" "two" "three"] {:address (s/socket-name b) :timeout-ms 2000})))
    (let [got (loop [acc [] i 0] ; loopback may queue them one by one: bounded
                (if (or (>= (count acc) 3) (>= i 10))
                  acc
                  (recur (into acc (s/socket-receive-many b 8 100 {:timeout-ms 2000})) (inc i))))]
      (is (= ["one" "two" "three"] (mapv #(String. ^bytes (:data %) "UTF-8") got)))
      (is (every? #(= (s/socket-name a) (:address %)) got)))))

(defspec int-in?-is-integer-and-bounds 2000
  ;; the shared range check behind every integer argument: the same answer as the generic
  ;; (and (integer? x) (<= lo x hi)) for every integer class, and for non-integers
  (let [bound (tgen/one-of [(tgen/elements [0 1 255 65535 Integer/MIN_VALUE Integer/MAX_VALUE Long/MAX_VALUE Long/MIN_VALUE])
                            tgen/large-integer])
        value (tgen/one-of [tgen/large-integer
                            (tgen/fmap int (tgen/choose Integer/MIN_VALUE Integer/MAX_VALUE))
                            (tgen/fmap short (tgen/choose Short/MIN_VALUE Short/MAX_VALUE))
                            (tgen/fmap bigint tgen/large-integer)
                            (tgen/fmap #(+ (bigint Long/MAX_VALUE) %) tgen/nat)
                            (tgen/fmap #(java.math.BigInteger/valueOf %) tgen/large-integer)
                            (tgen/elements [nil 1.0 "1" :k 1/2])])]
    (prop/for-all [x value lo bound hi bound]
      (= (c/int-in? x lo hi) (boolean (and (integer? x) (<= lo x hi)))))))

;; ------------------------------------------------------------------ beyond the egg: socketpair, fd->socket, connect-ai-happy

(defn- skip [reason]
  (println "SKIP" (str (-> (ns-name *ns*) str) ":") reason))

(defn- px ^POSIX [] (tu/posix))

(def ^:private cloexec-nonblock? tu/cloexec-nonblock?)

(defn- utf8 ^String [^bytes b] (String. b StandardCharsets/UTF_8))


(deftest socketpair-types
  (doseq [t [:sock/stream :sock/dgram :sock/seqpacket]]
    (testing t
      (let [[a b] (s/socketpair :af/unix t)]
        (try
          (is (= [:af/unix t] [(s/socket-family a) (s/socket-type a)]))
          (is (cloexec-nonblock? a)) (is (cloexec-nonblock? b))
          (s/socket-send a (.getBytes "one"))
          (s/socket-send a (.getBytes "two"))
          (if (= t :sock/stream)
            (is (= "onetwo" (utf8 (:data (x/socket-receive-message b 6 {:timeout-ms 2000 :flags #{:msg/waitall}})))))
            ;; datagram and seqpacket keep message boundaries
            (do (is (= "one" (utf8 (:data (x/socket-receive-message b 100 {:timeout-ms 2000})))))
                (let [r (x/socket-receive-message b 2 {:timeout-ms 2000})]
                  (is (= "tw" (utf8 (:data r))))
                  (is (:truncated? r)))))
          (finally (s/socket-close a) (s/socket-close b)))))))

(deftest socketpair-defaults-to-a-unix-stream-pair
  ;; as CPython's socket.socketpair()
  (let [[a b] (s/socketpair)]
    (with-open [a a b b]
      (is (= [:af/unix :sock/stream] [(s/socket-family a) (s/socket-type a)]))
      (is (= [:af/unix :sock/stream] [(s/socket-family b) (s/socket-type b)])))))

(deftest socketpair-invalid
  (is (= :invalid (tu/kind-of #(s/socketpair :af/bogus :sock/stream))))
  (is (contains? #{:unsupported :fatal} (tu/kind-of #(s/socketpair :af/inet :sock/stream)))
      "Linux has no AF_INET socketpair"))

(deftest fd->socket-adopts
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      ;; dup(2) drops FD_CLOEXEC; O_NONBLOCK is cleared on the shared open file
      (let [d (.dup (px) (int (.fileno ^Socket a)))
            _ (.fcntlInt (px) d Fcntl/F_SETFL 0)
            _ (is (not (tu/cloexec? d)))
            so (s/fd->socket d)]
        (try
          (is (= d (s/socket-fileno so)))
          (is (= [:af/unix :sock/dgram] [(s/socket-family so) (s/socket-type so)]))
          (is (cloexec-nonblock? so) "adopted fds become non-blocking and close-on-exec")
          (s/socket-send so (.getBytes "via dup"))
          (is (= "via dup" (utf8 (:data (x/socket-receive-message b 16 {:timeout-ms 2000})))))
          (finally (s/socket-close so)))
        (is (not (Messages/isSocket d)) "closing the adopted socket closed the fd"))
      (finally (s/socket-close a) (s/socket-close b)))))

(deftest fd->socket-checks
  (do
    (let [n (.open (px) "/proc/self/status" (bit-or (.intValue OpenFlags/O_RDONLY) (.intValue OpenFlags/O_CLOEXEC)) 0)]
      (try
        (is (= :invalid (tu/kind-of #(s/fd->socket n))) "a file is not a socket")
        (is (tu/cloexec? n) "and it is still open")
        (finally (.close (px) n)))))
  (is (= :invalid (tu/kind-of #(s/fd->socket -1))))
  (is (= :invalid (tu/kind-of #(s/fd->socket "3")))))

;; ------------------------------------------------------------------ happy eyeballs

(defn- black-hole
  "[listener filler] where listener's accept queue (backlog 0) is full, so a further connect
  is never answered; nil when the kernel does not behave that way."
  []
  (let [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 0)
    (loop [i 0 fillers []]
      (let [c (s/socket :af/inet :sock/stream)
            r (binding [s/*socket-connect-timeout* 300]
                (try (s/socket-connect c (s/socket-name l)) :ok (catch SocketException e (:kind (ex-data e)))))]
        (cond (= r :timeout) [l fillers]          ; c was closed by its failed connect
              (and (= r :ok) (< i 8)) (recur (inc i) (conj fillers c))
              :else (do (run! s/socket-close* (conj fillers c l)) nil))))))

(defn- ai [addr] {:family :af/inet :socktype :sock/stream :protocol :ipproto/tcp :address addr :flags #{}})

(deftest happy-eyeballs-first-success-wins
  (if-let [[hole fillers] (black-hole)]
    (with-open [good (tu/listener)]
      (try
        (tu/with-fd-check
          (let [t0 (System/currentTimeMillis)
                [so attempts] (s/connect-ai-happy [(ai (s/socket-name hole)) (ai (s/socket-name good))]
                                                  {:attempt-delay-ms 100 :timeout-ms 10000})
                elapsed (- (System/currentTimeMillis) t0)]
            (try
              (is (< elapsed 5000) "well under the 10 s connect timeout")
              (is (= (s/socket-name good) (s/socket-peer-name so)))
              (is (= 2 (count attempts)))
              (is (= [false true] (map :won? attempts)))
              (is (= (s/socket-name hole) (:address (first attempts))))
              (is (string? (:error (first attempts))) "the loser was abandoned")
              (is (nil? (:error (second attempts))))
              (finally (s/socket-close so)
                       (binding [s/*socket-accept-timeout* 2000] (s/socket-close (s/socket-accept good)))))))
        (finally (run! s/socket-close* (conj fillers hole)))))
    (skip "a full-backlog listener answers connects here")))

(deftest happy-eyeballs-interleaves-families
  (let [refused (fn [fam host]
                  (let [so (s/socket fam :sock/stream)]
                    (try (s/socket-bind so (s/inet-address host 0))
                         (s/socket-name so)
                         (catch SocketException _ nil)
                         (finally (s/socket-close so)))))
        six (repeatedly 2 #(refused :af/inet6 "::1"))
        four (refused :af/inet "127.0.0.1")]
    (if (some nil? six)
      (skip "no IPv6 loopback here")
      (let [ai6 (fn [a] (assoc (ai a) :family :af/inet6))
            e (try (s/connect-ai-happy [(ai6 (first six)) (ai6 (second six)) (ai four)] {:attempt-delay-ms 50 :timeout-ms 5000}) nil
                   (catch SocketException e e))]
        (is (= [(first six) four (second six)] (map :address (:attempts (ex-data e))))
            "RFC 8305: the second attempt uses the other family")))))

(deftest happy-eyeballs-all-fail
  (let [refused (fn [] (let [so (s/socket :af/inet :sock/stream)]
                         (s/socket-bind so (s/inet-address "127.0.0.1" 0))
                         (let [a (s/socket-name so)] (s/socket-close so) a)))
        a1 (refused) a2 (refused)]
    (tu/with-fd-check
      (let [e (try (s/connect-ai-happy [(ai a1) (ai a2)] {:attempt-delay-ms 100 :timeout-ms 5000}) nil
                   (catch SocketException e e)
                   ;; the attempts ran on the shared event loop: its own fds are not a leak
                   (finally (sa/stop-loop!)))]
        (is (some? e))
        (is (= :transient (:kind (ex-data e))))
        (is (= #{a1 a2} (set (map :address (:attempts (ex-data e))))))
        (is (every? (comp string? :error) (:attempts (ex-data e))))))
    (is (= :invalid (tu/kind-of #(s/connect-ai-happy [] {}))))
    (is (= :invalid (tu/kind-of #(s/connect-ai-happy [(ai a1)] {:attempt-delay-ms 0}))))))


;; ------------------------------------------------------------------ issue 17 defects

(deftest negative-backlog-is-accepted
  ;; 17.6: listen(2) takes a negative backlog as 0 (POSIX, CPython and the egg pass it on)
  (with-open [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (is (nil? (s/socket-listen l -1)))
    (with-open [c (s/socket :af/inet :sock/stream)]
      (binding [s/*socket-connect-timeout* 5000] (s/socket-connect c (s/socket-name l)))
      (with-open [a (binding [s/*socket-accept-timeout* 5000] (s/socket-accept l))]
        (is (s/socket? a)))))
  (with-open [l (s/socket :af/inet :sock/stream)]
    (is (= :invalid (u/kind-of #(s/socket-listen l (inc Integer/MAX_VALUE)))))
    (is (= :invalid (u/kind-of #(s/socket-listen l "5"))))))

(deftest msg-trunc-never-pads
  ;; 17.2: with :msg/trunc the kernel reports a datagram's real length; the returned bytes are
  ;; only those received, never padded with zeros up to that length
  (with-open [a (s/socket :af/inet :sock/dgram)
              b (s/socket :af/inet :sock/dgram)]
    (s/socket-bind b (s/inet-address "127.0.0.1" 0))
    (let [payload (byte-array (map byte (range 1 101)))]
      (binding [s/*socket-receive-timeout* 5000]
        (s/socket-send-to a payload (s/socket-name b))
        (let [got (s/socket-receive b 10 #{:msg/trunc})]
          (is (= (seq (take 10 payload)) (seq got)) "the 10 bytes received, no more"))
        (s/socket-send-to a payload (s/socket-name b))
        (let [[got from :as r] (s/socket-receive-from b 10 #{:msg/trunc})]
          (is (= (seq (take 10 payload)) (seq got)))
          (is (= (:port (s/socket-name a)) (:port from)))
          (is (= {:length 100} (meta r)) "the real length, as metadata"))
        (s/socket-send-to a payload (s/socket-name b))
        (let [buf (byte-array 10)]
          (is (= 100 (s/socket-receive! b buf 0 10 #{:msg/trunc})) "socket-receive!'s count is the real length")
          (is (= (seq (take 10 payload)) (seq buf))))))))

;; ------------------------------------------------------------------ messages that name the fix (issue 18)

(defn- message-of [f] (try (f) nil (catch SocketException e (ex-message e))))

(deftest common-mistakes-name-the-fix
  (testing "a family typo"
    (is (re-find #"unknown address family :af/inet4 \(did you mean :af/inet\?\)"
                 (message-of #(s/socket :af/inet4 :sock/stream)))))
  (testing "an option typo, in a map and by name"
    (with-open [so (s/socket :af/inet :sock/stream)]
      (is (re-find #":so/reuseadr \(did you mean :so/reuseaddr\?\)"
                   (message-of #(o/set-socket-options! so {:so/reuseadr true}))))
      (is (re-find #"did you mean :so/reuseaddr\?" (message-of #(o/socket-options so [:so/reuseadr]))))))
  (testing "nothing close: no guess"
    (is (not (re-find #"did you mean" (message-of #(s/socket :af/zzzzzzzzzz :sock/stream))))))
  (testing "a host name that has no address"
    (let [ais (s/address-information "nosuchhost.invalid" 80)
          e (try (s/socket-connect-ai ais) nil (catch SocketException e e))]
      (is (= [] ais))
      (is (= :lookup (:kind (ex-data e))))
      (is (re-find #"no address for \"nosuchhost\.invalid\" \(service 80\); check the host name" (ex-message e)))))
  (testing "a name where inet-address wants a numeric address"
    (is (re-find #"look a name up with \(address-information \"localhost\" 80\)"
                 (message-of #(s/inet-address "localhost" 80)))))
  (testing "address text where a sockaddr map is wanted"
    (with-open [so (s/socket :af/inet :sock/stream)]
      (is (re-find #"\(string->sockaddr \"127\.0\.0\.1:0\"\) reads that text"
                   (message-of #(s/socket-connect so "127.0.0.1:0"))))))
  (testing "a send on a socket that was never connected"
    (with-open [so (s/socket :af/inet :sock/stream)]
      (is (re-find #"or the socket was never connected" (message-of #(s/socket-send so "hi"))))))
  (testing "a receive timeout names its duration and the parameter"
    (let [[a b] (s/socketpair :af/unix :sock/stream)]
      (with-open [a a b b]
        (binding [s/*socket-receive-timeout* 50]
          (is (re-find #"timed out after 50 ms.*\*socket-receive-timeout\*" (message-of #(s/socket-receive b 1)))))))))
