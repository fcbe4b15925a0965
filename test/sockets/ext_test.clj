(ns sockets.ext-test
  (:require [clojure.core.protocols :as p]
            [clojure.datafy :refer [datafy nav]]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.ext :as x]
            [sockets.impl.cmsg :as cmsg]
            [sockets.options :as o]
            [sockets.test-util :as tu])
  (:import (java.io File)
           (java.nio.charset StandardCharsets)
           (jnr.constants.platform Fcntl OpenFlags)
           (jnr.posix POSIX POSIXFactory)
           (sockets Messages Socket SocketException)))

(set! *warn-on-reflection* true)

(use-fixtures :once tu/fd-fixture)

(defn- skip [reason]
  (println "SKIP" (str (-> (ns-name *ns*) str) ":") reason))

(def ^:private ^POSIX posix (delay (POSIXFactory/getNativePOSIX)))

(defn- px ^POSIX [] @posix)

(defn- cloexec-nonblock? [^Socket so]
  (and (tu/cloexec? (.fileno so)) (tu/nonblocking? (.fileno so))))

(defn- utf8 ^String [^bytes b] (String. b StandardCharsets/UTF_8))

(defn- close-all [xs]
  (doseq [v xs] (cond (instance? Socket v) (.closeQuietly ^Socket v)
                      (integer? v) (.close (px) (int v)))))

;; ------------------------------------------------------------------ socketpair, fd->socket

(deftest socketpair-types
  (doseq [t [:sock/stream :sock/dgram :sock/seqpacket]]
    (testing t
      (let [[a b] (x/socketpair :af/unix t)]
        (try
          (is (= [:af/unix t] [(s/socket-family a) (s/socket-type a)]))
          (is (cloexec-nonblock? a)) (is (cloexec-nonblock? b))
          (s/socket-send a (.getBytes "one"))
          (s/socket-send a (.getBytes "two"))
          (if (= t :sock/stream)
            (is (= "onetwo" (utf8 (:data (x/socket-receive-message b 6 {:timeout 2000 :flags #{:msg/waitall}})))))
            ;; datagram and seqpacket keep message boundaries
            (do (is (= "one" (utf8 (:data (x/socket-receive-message b 100 {:timeout 2000})))))
                (let [r (x/socket-receive-message b 2 {:timeout 2000})]
                  (is (= "tw" (utf8 (:data r))))
                  (is (:truncated? r)))))
          (finally (s/socket-close a) (s/socket-close b)))))))

(deftest socketpair-invalid
  (is (= :invalid (tu/kind-of #(x/socketpair :af/bogus :sock/stream))))
  (is (contains? #{:unsupported :fatal} (tu/kind-of #(x/socketpair :af/inet :sock/stream)))
      "Linux has no AF_INET socketpair"))

(deftest fd->socket-adopts
  (let [[a b] (x/socketpair :af/unix :sock/dgram)]
    (try
      ;; dup(2) drops FD_CLOEXEC; O_NONBLOCK is cleared on the shared open file
      (let [d (.dup (px) (int (.fileno ^Socket a)))
            _ (.fcntlInt (px) d Fcntl/F_SETFL 0)
            _ (is (not (tu/cloexec? d)))
            so (x/fd->socket d)]
        (try
          (is (= d (s/socket-fileno so)))
          (is (= [:af/unix :sock/dgram] [(s/socket-family so) (s/socket-type so)]))
          (is (cloexec-nonblock? so) "adopted fds become non-blocking and close-on-exec")
          (s/socket-send so (.getBytes "via dup"))
          (is (= "via dup" (utf8 (:data (x/socket-receive-message b 16 {:timeout 2000})))))
          (finally (s/socket-close so)))
        (is (not (Messages/isSocket d)) "closing the adopted socket closed the fd"))
      (finally (s/socket-close a) (s/socket-close b)))))

(deftest fd->socket-checks
  (do
    (let [n (.open (px) "/proc/self/status" (bit-or (.intValue OpenFlags/O_RDONLY) (.intValue OpenFlags/O_CLOEXEC)) 0)]
      (try
        (is (= :invalid (tu/kind-of #(x/fd->socket n))) "a file is not a socket")
        (is (tu/cloexec? n) "and it is still open")
        (finally (.close (px) n)))))
  (is (= :invalid (tu/kind-of #(x/fd->socket -1))))
  (is (= :invalid (tu/kind-of #(x/fd->socket "3")))))

;; ------------------------------------------------------------------ fd passing

(deftest pass-file-and-listener
  (tu/with-temp-dir [dir]
    (let [file (File. dir "data.txt")
          _ (spit file "hello through a unix socket")
          [a b] (x/socketpair :af/unix :sock/stream)
          l (tu/listener)
          fd (.open (px) (str file) (bit-or (.intValue OpenFlags/O_RDONLY) (.intValue OpenFlags/O_CLOEXEC)) 0)]
      (try
        (tu/with-fd-check
          (is (= 4 (x/socket-send-message a "fds!" {:control [{:level :sol/socket :type :scm/rights :fds [fd l]}]})))
          (let [r (x/socket-receive-message b 16 {:timeout 5000})
                rights (first (filter #(= :scm/rights (:type %)) (:control r)))
                [rfd rsock] (:fds rights)]
            (try
              (is (= "fds!" (utf8 (:data r))))
              (is (false? (:ctrunc? r)))
              (is (integer? rfd) "a file fd stays an integer")
              (is (instance? Socket rsock) "a socket fd becomes a Socket")
              (is (not= fd rfd))
              (is (tu/cloexec? rfd) "received fds are close-on-exec")
              (is (cloexec-nonblock? rsock))
              (let [buf (byte-array 64)
                    n (.pread (px) (int rfd) buf 64 0)]
                (is (= "hello through a unix socket" (String. buf 0 (int n) StandardCharsets/UTF_8))))
              (is (= [:af/inet :sock/stream] [(s/socket-family rsock) (s/socket-type rsock)]))
              (is (= (s/socket-name l) (s/socket-name rsock)))
              (let [c (s/socket :af/inet :sock/stream)]
                (s/socket-connect c (s/socket-name l))
                (with-open [^Socket acc (binding [s/*socket-accept-timeout* 5000] (s/socket-accept rsock))]
                  (is (= (s/socket-name c) (s/socket-peer-name acc)) "accepted on the received listener"))
                (s/socket-close c))
              (finally (close-all [rfd rsock])))))
        (finally (.close (px) fd) (s/socket-close l) (s/socket-close a) (s/socket-close b))))))

(deftest too-small-control-buffer-closes-arrived-fds
  (let [[a b] (x/socketpair :af/unix :sock/stream)]
    (try
      (tu/with-fd-check
        (testing "room for two of three fds: the two that arrive are closed"
          (x/socket-send-message a "x" {:control [{:level :sol/socket :type :scm/rights :fds [a b a]}]})
          (let [before (tu/fd-count)
                r (x/socket-receive-message b 1 {:control-size (Messages/controlSpace 4) :timeout 2000})]
            (is (:ctrunc? r))
            (is (contains? (:flags r) :msg/ctrunc))
            (is (empty? (filter #(= :scm/rights (:type %)) (:control r))))
            (is (= 2 (count (:closed-fds r))) "CMSG_SPACE(4) holds two 4-byte fds")
            (is (<= (tu/settled-fd-count before) before))))
        (testing ":adopt-fds? false leaves socket fds as integers"
          (x/socket-send-message a "z" {:control [{:level :sol/socket :type :scm/rights :fds [a]}]})
          (let [r (x/socket-receive-message b 1 {:adopt-fds? false :timeout 2000})
                fds (:fds (first (:control r)))]
            (is (= 1 (count fds)))
            (is (every? integer? fds))
            (is (every? #(Messages/isSocket %) fds))
            (close-all fds)))
        (testing "room for no header at all"
          (x/socket-send-message a "y" {:control [{:level :sol/socket :type :scm/rights :fds [a b]}]})
          (let [before (tu/fd-count)
                r (x/socket-receive-message b 1 {:control-size 8 :timeout 2000})]
            (is (= "y" (utf8 (:data r))))
            (is (:ctrunc? r))
            (is (= [] (:control r)))
            (is (<= (tu/settled-fd-count before) before)))))
      (finally (s/socket-close a) (s/socket-close b)))))

;; ------------------------------------------------------------------ credentials

(deftest peer-credentials
  (let [me (x/process-credentials)]
    (is (= (.pid (java.lang.ProcessHandle/current)) (:pid me)))
    (testing "socketpair"
      (let [[a b] (x/socketpair :af/unix :sock/stream)]
        (try (is (= me (x/socket-peer-credentials a) (x/socket-peer-credentials b)))
             (finally (s/socket-close a) (s/socket-close b)))))
    (testing "connected path socket"
      (tu/with-temp-dir [dir]
        (let [addr (s/unix-address (str dir "/cred.sock"))
              l (tu/listener addr)
              [c acc] (tu/connected-pair l)]
          (try (is (= me (x/socket-peer-credentials c)))
               (is (= me (x/socket-peer-credentials acc)))
               (finally (run! s/socket-close [c acc l]))))))
    (is (= :invalid (tu/kind-of #(x/socket-peer-credentials 3))))))

(deftest scm-credentials
  (let [[a b] (x/socketpair :af/unix :sock/dgram)]
    (try
      (if-not (try (o/set-socket-option b :sol/socket :so/passcred 1) true (catch SocketException _ false))
        (skip "SO_PASSCRED is not supported here")
        (do (x/socket-send-message a "c" {:control [(merge {:level :sol/socket :type :scm/credentials} (x/process-credentials))]})
            (let [r (x/socket-receive-message b 4 {:timeout 2000})]
              (is (= [(merge {:level :sol/socket :type :scm/credentials} (x/process-credentials))]
                     (:control r))))))
      (finally (s/socket-close a) (s/socket-close b)))))

;; ------------------------------------------------------------------ datagram ancillary data

(defn- udp-receiver [opts]
  (let [u (s/socket :af/inet :sock/dgram opts)]
    (try (s/socket-bind u (s/inet-address "0.0.0.0" 0)) u
         (catch Throwable t (s/socket-close* u) (throw t)))))

(defn- control-of [r t] (first (filter #(= t (:type %)) (:control r))))

(defn- send-and-receive-message
  "Sends `text` from a fresh datagram socket of `family` to `host` at u's port and receives it
  on u with socket-receive-message; returns [the message, its `ctrl` control message], or nil
  (noted as a skip) where this system cannot send there."
  [^Socket u family host ^String text ctrl]
  (with-open [v (s/socket family :sock/dgram)]
    (let [sent (try (s/socket-send-to v (.getBytes text) (s/inet-address host (:port (s/socket-name u))))
                    (catch SocketException e e))]
      (if (instance? SocketException sent)
        (skip (str "cannot send to " host " here: " (.getMessage ^Exception sent)))
        (let [r (x/socket-receive-message u 16 {:timeout 5000})]
          [r (control-of r ctrl)])))))

(deftest pktinfo-destination
  (with-open [u ^Socket (udp-receiver {:ip/pktinfo true})]
    (when-let [[r pi] (send-and-receive-message u :af/inet "127.0.0.2" "to .2" :ip/pktinfo)]
      (is (= "to .2" (utf8 (:data r))))
      (is (= "127.0.0.1" (get-in r [:address :address])))
      (is pi (str "no IP_PKTINFO among " (:control r)))
      (is (= "127.0.0.2" (:destination pi)))
      (is (pos? (:ifindex pi))))))

(deftest ipv6-pktinfo-destination
  (let [u (try (doto (s/socket :af/inet6 :sock/dgram {:ipv6/recvpktinfo true})
                 (s/socket-bind (s/inet-address "::" 0)))
               (catch SocketException e (skip (str "no IPv6 UDP socket here: " (.getMessage e))) nil))]
    (when u
      (with-open [^Socket u u]
        (when-let [[r pi] (send-and-receive-message u :af/inet6 "::1" "six" :ipv6/pktinfo)]
          (is (= "six" (utf8 (:data r))))
          (is pi (str "no IPV6_PKTINFO among " (:control r)))
          (is (= "::1" (:destination pi)))
          (is (pos? (:ifindex pi))))))))

(deftest ttl-tos-timestamps
  (with-open [u ^Socket (udp-receiver {:ip/recvttl true :ip/recvtos true :so/timestamp true})
              v (s/socket :af/inet :sock/dgram)]
    (s/socket-send-to v (.getBytes "t") (s/inet-address "127.0.0.1" (:port (s/socket-name u))))
    (let [r (x/socket-receive-message u 4 {:timeout 5000})
          now (quot (System/currentTimeMillis) 1000)]
      (if-let [ttl (control-of r :ip/ttl)] (is (<= 1 (:ttl ttl) 255)) (skip (str "no IP_TTL delivered: " (:control r))))
      (if-let [tos (control-of r :ip/tos)] (is (<= 0 (:tos tos) 255)) (skip (str "no IP_TOS delivered: " (:control r))))
      (if-let [ts (control-of r :so/timestamp)]
        (do (is (<= (- now 60) (:seconds ts) (+ now 60)))
            (is (<= 0 (:microseconds ts) 999999)))
        (skip (str "no SO_TIMESTAMP delivered: " (:control r))))))
  (if-not (get-in sockets.constants/tables [:so :so/timestampns])
    (skip "SO_TIMESTAMPNS does not exist on this platform")
    (with-open [u ^Socket (udp-receiver {})
                v (s/socket :af/inet :sock/dgram)]
      (if-not (try (o/set-socket-option u :sol/socket :so/timestampns 1) true (catch SocketException _ false))
        (skip "SO_TIMESTAMPNS cannot be set here")
        (do (s/socket-send-to v (.getBytes "t") (s/inet-address "127.0.0.1" (:port (s/socket-name u))))
            (let [r (x/socket-receive-message u 4 {:timeout 5000})]
              (if-let [ts (control-of r :so/timestampns)]
                (is (<= 0 (:nanoseconds ts) 999999999))
                (skip (str "no SO_TIMESTAMPNS delivered: " (:control r))))))))))

;; ------------------------------------------------------------------ messages: vectors, addresses, blocking

(deftest vectored-send-and-receive
  (let [[a b] (x/socketpair :af/unix :sock/seqpacket)]
    (try
      (is (= 11 (x/socket-send-message a ["hello" (.getBytes " ") (java.nio.ByteBuffer/wrap (.getBytes "world"))])))
      (let [b1 (byte-array 4) b2 (byte-array 4) b3 (java.nio.ByteBuffer/allocate 8)
            r (x/socket-receive-message b [b1 b2 b3] {:timeout 2000})]
        (is (= 11 (:count r)))
        (is (nil? (:data r)))
        (is (= "hell" (utf8 b1)))
        (is (= "o wo" (utf8 b2)))
        (is (= "rld" (String. (.array b3) 0 3 StandardCharsets/UTF_8)))
        (is (zero? (.position b3)) "positions are not changed"))
      (finally (s/socket-close a) (s/socket-close b)))))

(deftest datagram-with-address
  (with-open [u ^Socket (udp-receiver {})
              v (s/socket :af/inet :sock/dgram)]
    (let [to (s/inet-address "127.0.0.1" (:port (s/socket-name u)))]
      (is (= 3 (x/socket-send-message v ["a" "bc"] {:address to})))
      (let [r (x/socket-receive-message u 8 {:timeout 2000})]
        (is (= "abc" (utf8 (:data r))))
        (is (= (:port (s/socket-name v)) (get-in r [:address :port])))
        (is (= "127.0.0.1" (get-in r [:address :address])))))))

(deftest blocking-timeout-close-and-invalid
  (let [[a b] (x/socketpair :af/unix :sock/stream)]
    (try
      (is (= :timeout (tu/kind-of #(x/socket-receive-message b 4 {:timeout 100}))))
      (is (= :timeout (tu/kind-of #(binding [s/*socket-receive-timeout* 100] (x/socket-receive-message b 4)))))
      (is (= :invalid (tu/kind-of #(x/socket-receive-message b -1))))
      (is (= :invalid (tu/kind-of #(x/socket-receive-message b 4 {:control-size -1}))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a [1 2]))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a "x" {:control [{:level :sol/socket :type :scm/rights :fds ["0"]}]}))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a "x" {:control [{:level :sol/socket :type :no/such}]}))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a "x" {:timeout -5}))))
      (testing "a close from another thread wakes a blocked receive"
        (let [f (future (tu/kind-of #(x/socket-receive-message b 4 {:timeout 10000})))]
          ;; the receive is blocked (or about to be); a close must end it either way
          (is (= :timeout (tu/kind-of #(x/socket-receive-message a 1 {:timeout 100}))))
          (s/socket-close b)
          (is (= :closed (deref f 5000 :still-blocked)))))
      (is (= :closed (tu/kind-of #(x/socket-send-message b "x"))))
      (finally (s/socket-close* a) (s/socket-close* b)))))

(deftest no-sigpipe
  (let [[a b] (x/socketpair :af/unix :sock/stream)]
    (s/socket-close b)
    (try (is (= :fatal (tu/kind-of #(x/socket-send-message a "x"))) "EPIPE is an error, not a signal")
         (finally (s/socket-close a)))))

;; ------------------------------------------------------------------ codec

(def ^:private gen-ipv4 (gen/fmap #(str/join "." %) (gen/vector (gen/choose 0 255) 4)))
(def ^:private gen-ipv6
  ;; canonical text (inet_ntop's), with runs of zero groups so "::" forms come up
  (gen/fmap (fn [ws] (.host (sockets.SockAddr/inet6
                             (byte-array (mapcat (fn [w] [(unchecked-byte (bit-shift-right w 8)) (unchecked-byte w)]) ws))
                             0 0 0)))
            (gen/vector (gen/one-of [(gen/return 0) (gen/choose 0 65535)]) 8)))
(def ^:private gen-u32 (gen/large-integer* {:min 0 :max 0xffffffff}))
(def ^:private gen-i32 (gen/large-integer* {:min Integer/MIN_VALUE :max Integer/MAX_VALUE}))
(def ^:private gen-secs (gen/large-integer* {:min 0 :max (if (= 8 (Messages/longSize)) Long/MAX_VALUE Integer/MAX_VALUE)}))

(def ^:private generators
  {[:sol/socket :scm/rights] (gen/hash-map :fds (gen/vector (gen/choose 0 Integer/MAX_VALUE) 0 8))
   [:sol/socket :scm/credentials] (gen/hash-map :pid gen-i32 :uid gen-u32 :gid gen-u32)
   [:sol/socket :so/timestamp] (gen/hash-map :seconds gen-secs :microseconds (gen/choose 0 999999))
   [:sol/socket :so/timestampns] (gen/hash-map :seconds gen-secs :nanoseconds (gen/choose 0 999999999))
   [:ipproto/ip :ip/pktinfo] (gen/hash-map :ifindex gen-i32 :local gen-ipv4 :destination gen-ipv4)
   [:ipproto/ip :ip/ttl] (gen/hash-map :ttl (gen/choose 0 255))
   [:ipproto/ip :ip/tos] (gen/hash-map :tos (gen/choose 0 255))
   [:ipproto/ipv6 :ipv6/pktinfo] (gen/hash-map :ifindex gen-u32 :destination gen-ipv6)})

(def ^:private gen-control
  (gen/bind (gen/elements (cmsg/builtin-types))
            (fn [[l t]] (gen/fmap #(assoc % :level l :type t) (generators [l t])))))

(defspec codec-round-trips 300
  (prop/for-all [m gen-control]
    (let [[l t data] (cmsg/encode :test m)]
      (= m (cmsg/decode l t data)))))

(deftest codec-covers-every-builtin-type
  (is (seq (cmsg/builtin-types)))
  (is (every? generators (cmsg/builtin-types)) "each supported type has a generator above"))

(deftest codec-unknown-types-are-raw
  (let [data (byte-array [1 2 3 4 5])
        sol (get-in sockets.constants/tables [:sol :sol/socket])
        r (cmsg/decode sol 4242 data)]
    (is (= [:sol/socket 4242] [(:level r) (:type r)]))
    (is (= [1 2 3 4 5] (vec (:data r)))))
  (let [r (cmsg/decode 777 3 (byte-array [9]))]
    (is (= [777 3 [9]] [(:level r) (:type r) (vec (:data r))])))
  (testing "a raw map encodes as given"
    (let [[l t d] (cmsg/encode :test {:level 777 :type 3 :data (byte-array [9])})]
      (is (= [777 3 [9]] [l t (vec d)]))))
  (testing "the codec is open: a new type with its own methods (through sockets.ext's names)"
    (try
      (x/register-control-type! [:ipproto/ip ::test-type] [(get-in sockets.constants/tables [:ipproto :ipproto/ip]) 4243])
      (defmethod x/encode-control-data [:ipproto/ip ::test-type] [m] (byte-array [(:v m)]))
      (defmethod x/decode-control-data [:ipproto/ip ::test-type] [_ ^bytes d] {:v (aget d 0)})
      (is (contains? (x/control-types) [:ipproto/ip ::test-type]))
      (let [[l t d] (cmsg/encode :test {:level :ipproto/ip :type ::test-type :v 7})]
        (is (= {:level :ipproto/ip :type ::test-type :v 7} (cmsg/decode l t d))))
      (finally
        (swap! cmsg/types dissoc [:ipproto/ip ::test-type])
        (remove-method cmsg/encode-data [:ipproto/ip ::test-type])
        (remove-method cmsg/decode-data [:ipproto/ip ::test-type])))))

;; ------------------------------------------------------------------ platform, datafy

(deftest platform-data
  (let [pf (x/platform)]
    (is (= (get-in sockets.constants/tables [:af :af/inet]) (get-in pf [:constants :af :af/inet])))
    (is (every? (comp integer? val) (mapcat val (:constants pf))))
    (is (contains? (get-in pf [:options [:af/inet :sock/stream]]) :tcp/nodelay))
    (is (not (contains? (get-in pf [:options [:af/unix :sock/stream]]) :tcp/nodelay)))
    (is (contains? #{:epoll :poll} (:event-loop pf)))
    (is (contains? (:control-messages pf) [:sol/socket :scm/rights]))))

(deftest datafy-connected-tcp
  (with-open [l (tu/listener)]
    (let [[c acc] (tu/connected-pair l)]
      (try
        (s/set-tcp-no-delay! c true)
        (let [d (datafy c)]
          (is (= (s/socket-name c) (:local-address d)))
          (is (= (s/socket-name l) (:peer-address d)))
          (is (= [:af/inet :sock/stream] [(:family d) (:type d)]))
          (is (= (s/socket-fileno c) (:fd d)))
          (is (true? (get-in d [:options :tcp/nodelay])))
          (if (:tcp-info d)
            (is (pos? (get-in d [:tcp-info :snd-mss])))
            (skip "no TCP_INFO on this platform"))
          (let [n (nav d :peer-address (:peer-address d))]
            (is (= (:peer-address d) (:address n)))
            (is (string? (:host n)))
            (is (= (:port (:peer-address d)) (:service n)))))
        (is (false? (get-in (datafy acc) [:options :tcp/nodelay])))
        (finally (s/socket-close c) (s/socket-close acc))))
    (let [closed (doto (s/socket :af/inet :sock/stream) s/socket-close)]
      (is (:closed? (datafy closed))))))

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
                [so attempts] (x/connect-ai-happy [(ai (s/socket-name hole)) (ai (s/socket-name good))]
                                                  {:attempt-delay 100 :timeout 10000})
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
            e (try (x/connect-ai-happy [(ai6 (first six)) (ai6 (second six)) (ai four)] {:attempt-delay 50 :timeout 5000}) nil
                   (catch SocketException e e))]
        (is (= [(first six) four (second six)] (map :address (:attempts (ex-data e))))
            "RFC 8305: the second attempt uses the other family")))))

(deftest happy-eyeballs-all-fail
  (let [refused (fn [] (let [so (s/socket :af/inet :sock/stream)]
                         (s/socket-bind so (s/inet-address "127.0.0.1" 0))
                         (let [a (s/socket-name so)] (s/socket-close so) a)))
        a1 (refused) a2 (refused)]
    (tu/with-fd-check
      (let [e (try (x/connect-ai-happy [(ai a1) (ai a2)] {:attempt-delay 100 :timeout 5000}) nil
                   (catch SocketException e e))]
        (is (some? e))
        (is (= :transient (:kind (ex-data e))))
        (is (= #{a1 a2} (set (map :address (:attempts (ex-data e))))))
        (is (every? (comp string? :error) (:attempts (ex-data e))))))
    (is (= :invalid (tu/kind-of #(x/connect-ai-happy [] {}))))
    (is (= :invalid (tu/kind-of #(x/connect-ai-happy [(ai a1)] {:attempt-delay 0}))))))

(deftest every-public-var-documented
  (doseq [ns '[sockets.ext sockets.impl.cmsg]
          [sym v] (ns-publics ns)]
    (is (string? (:doc (meta v))) (str ns "/" sym " has no docstring"))))
