(ns sockets.messages-test
  "sockets.messages: sendmsg/recvmsg, fd passing, credentials, the control-data codec."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.messages :as x]
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

(defn- px ^POSIX [] (tu/posix))

(def ^:private cloexec-nonblock? tu/cloexec-nonblock?)

(defn- utf8 ^String [^bytes b] (String. b StandardCharsets/UTF_8))

(defn- close-all [xs]
  (doseq [v xs] (cond (instance? Socket v) (.closeQuietly ^Socket v)
                      (integer? v) (.close (px) (int v)))))

;; ------------------------------------------------------------------ fd passing

(deftest pass-file-and-listener
  (tu/with-temp-dir [dir]
    (let [file (File. dir "data.txt")
          _ (spit file "hello through a unix socket")
          [a b] (s/socketpair :af/unix :sock/stream)
          l (tu/listener)
          fd (.open (px) (str file) (bit-or (.intValue OpenFlags/O_RDONLY) (.intValue OpenFlags/O_CLOEXEC)) 0)]
      (try
        (tu/with-fd-check
          (is (= 4 (x/socket-send-message a "fds!" {:control [{:level :sol/socket :type :scm/rights :fds [fd l]}]})))
          (let [r (x/socket-receive-message b 16 {:timeout-ms 5000})
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
  (let [[a b] (s/socketpair :af/unix :sock/stream)]
    (try
      (tu/with-fd-check
        (testing "room for two of three fds: the two that arrive are closed"
          (x/socket-send-message a "x" {:control [{:level :sol/socket :type :scm/rights :fds [a b a]}]})
          (let [before (tu/fd-count)
                r (x/socket-receive-message b 1 {:control-size (Messages/controlSpace 4) :timeout-ms 2000})]
            (is (:ctrunc? r))
            (is (contains? (:flags r) :msg/ctrunc))
            (is (empty? (filter #(= :scm/rights (:type %)) (:control r))))
            (is (= 2 (count (:closed-fds r))) "CMSG_SPACE(4) holds two 4-byte fds")
            (is (<= (tu/settled-fd-count before) before))))
        (testing ":adopt-fds? false leaves socket fds as integers"
          (x/socket-send-message a "z" {:control [{:level :sol/socket :type :scm/rights :fds [a]}]})
          (let [r (x/socket-receive-message b 1 {:adopt-fds? false :timeout-ms 2000})
                fds (:fds (first (:control r)))]
            (is (= 1 (count fds)))
            (is (every? integer? fds))
            (is (every? #(Messages/isSocket %) fds))
            (close-all fds)))
        (testing "room for no header at all"
          (x/socket-send-message a "y" {:control [{:level :sol/socket :type :scm/rights :fds [a b]}]})
          (let [before (tu/fd-count)
                r (x/socket-receive-message b 1 {:control-size 8 :timeout-ms 2000})]
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
      (let [[a b] (s/socketpair :af/unix :sock/stream)]
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
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (if-not (try (o/set-socket-option b :sol/socket :so/passcred 1) true (catch SocketException _ false))
        (skip "SO_PASSCRED is not supported here")
        (do (x/socket-send-message a "c" {:control [(merge {:level :sol/socket :type :scm/credentials} (x/process-credentials))]})
            (let [r (x/socket-receive-message b 4 {:timeout-ms 2000})]
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
        (let [r (x/socket-receive-message u 16 {:timeout-ms 5000})]
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
    (let [r (x/socket-receive-message u 4 {:timeout-ms 5000})
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
            (let [r (x/socket-receive-message u 4 {:timeout-ms 5000})]
              (if-let [ts (control-of r :so/timestampns)]
                (is (<= 0 (:nanoseconds ts) 999999999))
                (skip (str "no SO_TIMESTAMPNS delivered: " (:control r))))))))))

;; ------------------------------------------------------------------ messages: vectors, addresses, blocking

(deftest vectored-send-and-receive
  (let [[a b] (s/socketpair :af/unix :sock/seqpacket)]
    (try
      (is (= 11 (x/socket-send-message a ["hello" (.getBytes " ") (java.nio.ByteBuffer/wrap (.getBytes "world"))])))
      (let [b1 (byte-array 4) b2 (byte-array 4) b3 (java.nio.ByteBuffer/allocate 8)
            r (x/socket-receive-message b [b1 b2 b3] {:timeout-ms 2000})]
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
      (let [r (x/socket-receive-message u 8 {:timeout-ms 2000})]
        (is (= "abc" (utf8 (:data r))))
        (is (= (:port (s/socket-name v)) (get-in r [:address :port])))
        (is (= "127.0.0.1" (get-in r [:address :address])))))))

(deftest blocking-timeout-close-and-invalid
  (let [[a b] (s/socketpair :af/unix :sock/stream)]
    (try
      (is (= :timeout (tu/kind-of #(x/socket-receive-message b 4 {:timeout-ms 100}))))
      (is (= :timeout (tu/kind-of #(binding [s/*socket-receive-timeout* 100] (x/socket-receive-message b 4)))))
      (is (= :invalid (tu/kind-of #(x/socket-receive-message b -1))))
      (is (= :invalid (tu/kind-of #(x/socket-receive-message b 4 {:control-size -1}))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a [1 2]))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a "x" {:control [{:level :sol/socket :type :scm/rights :fds ["0"]}]}))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a "x" {:control [{:level :sol/socket :type :no/such}]}))))
      (is (= :invalid (tu/kind-of #(x/socket-send-message a "x" {:timeout-ms -5}))))
      (testing "a close from another thread wakes a blocked receive"
        (let [f (future (tu/kind-of #(x/socket-receive-message b 4 {:timeout-ms 10000})))]
          ;; the receive is blocked (or about to be); a close must end it either way
          (is (= :timeout (tu/kind-of #(x/socket-receive-message a 1 {:timeout-ms 100}))))
          (s/socket-close b)
          (is (= :closed (deref f 5000 :still-blocked)))))
      (is (= :closed (tu/kind-of #(x/socket-send-message b "x"))))
      (finally (s/socket-close* a) (s/socket-close* b)))))

(deftest no-sigpipe
  (let [[a b] (s/socketpair :af/unix :sock/stream)]
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
  (testing "the codec is open: a new type with its own methods (through sockets.messages' names)"
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

(deftest every-public-var-documented
  (doseq [ns '[sockets.messages sockets.impl.cmsg]
          [sym v] (ns-publics ns)]
    (is (string? (:doc (meta v))) (str ns "/" sym " has no docstring"))))

;; ------------------------------------------------------------------ issue 17 defects

(deftest register-control-type-checks-the-entry-whole
  ;; 17.4: a malformed entry used to be stored and broke control-types, platform and every
  ;; :scm/rights send for the rest of the JVM
  (let [before (x/control-types)
        before-types @cmsg/types]
    (doseq [[pair numbers] [[[:my/level :my/type] "x"] [[:my/level :my/type] [1]] [[:my/level :my/type] [1 "2"]]
                            [[:my/level :my/type] [1 (inc Integer/MAX_VALUE)]] [[:my/level] [1 2]]
                            ["pair" [1 2]] [[:my/level 5] [1 2]] [nil nil] [[:a :b] [1 2]]]]
      (is (= :invalid (tu/kind-of #(x/register-control-type! pair numbers))) (pr-str [pair numbers])))
    (is (= before-types @cmsg/types) "nothing registered")
    (is (= before (x/control-types)))
    (let [[a b] (s/socketpair :af/unix :sock/dgram)]
      (try
        (is (= 1 (x/socket-send-message a "x" {:control [{:level :sol/socket :type :scm/rights :fds [(s/socket-fileno a)]}]})))
        (let [r (x/socket-receive-message b 4 {:timeout-ms 2000})]
          (close-all (mapcat :fds (:control r))))
        (finally (s/socket-close a) (s/socket-close b))))))

(deftest only-socket-exceptions-escape
  ;; 17.5: out-of-range numbers, bigints and non-maps raised ArithmeticException,
  ;; IllegalArgumentException, ClassCastException or "contains? not supported"
  (let [[a b] (s/socketpair :af/unix :sock/dgram)]
    (try
      (doseq [[label f] {"level beyond an int" #(x/socket-send-message a "x" {:control [{:level (inc Integer/MAX_VALUE) :type 1 :data (byte-array 1)}]})
                         "type beyond an int" #(x/socket-send-message a "x" {:control [{:level 1 :type Long/MIN_VALUE :data (byte-array 1)}]})
                         "bigint type" #(x/socket-send-message a "x" {:control [{:level 1 :type 100000000000000000000N :data (byte-array 1)}]})
                         "huge timestamp" #(x/socket-send-message a "x" {:control [{:level :sol/socket :type :so/timestamp :seconds 100000000000000000000N :microseconds 0}]})
                         "non-map send options" #(x/socket-send-message a "x" [1 2])
                         "non-map receive options" #(x/socket-receive-message b 4 "opts")
                         "non-map control" #(x/socket-send-message a "x" {:control [5]})
                         "decode non-bytes" #(x/decode-control-data [:sol/socket :scm/rights] "abc")
                         "decode nil" #(x/decode-control-data [:sol/socket :scm/rights] nil)
                         "encode non-map" #(x/encode-control-data 5)
                         "old timeout key" #(x/socket-receive-message b 4 {:timeout 10})
                         "bigint timeout" #(x/socket-receive-message b 4 {:timeout-ms 100000000000000000000N})
                         "huge size" #(x/socket-receive-message b Integer/MAX_VALUE)
                         "unencodable data" #(x/socket-send-message a "x\uD800")}]
        (let [e (try (f) nil (catch Throwable t t))]
          (is (instance? SocketException e) (str label ": " (some-> e class str) " " (some-> e ex-message)))
          (is (= :invalid (:kind (ex-data e))) label)))
      (is (re-find #":timeout is now :timeout-ms" (ex-message (try (x/socket-receive-message b 4 {:timeout 10}) (catch SocketException e e)))))
      (finally (s/socket-close a) (s/socket-close b)))))

(deftest scm-rights-fd-not-open-is-invalid
  ;; 17.5: EBADF about an fd in the payload is bad input, not a closed socket
  (let [[a b] (s/socketpair :af/unix :sock/dgram)
        not-open (loop [n 900] (if (.exists (java.io.File. (str "/proc/self/fd/" n))) (recur (inc n)) n))]
    (try
      (let [e (try (x/socket-send-message a "x" {:control [{:level :sol/socket :type :scm/rights :fds [not-open]}]}) nil
                   (catch SocketException e e))]
        (is (= :invalid (:kind (ex-data e))) (str (ex-data e)))
        (is (not (s/socket-receive-ready? b)) "nothing was sent"))
      (is (= 1 (x/socket-send-message a "y")) "the socket is still usable")
      (finally (s/socket-close a) (s/socket-close b)))))
