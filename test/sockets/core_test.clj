(ns sockets.core-test
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as tgen]
            [clojure.test.check.properties :as prop]
            [sockets.constants :as c]
            [sockets.core :as s]
            [sockets.test-util :as u])
  )

(use-fixtures :once u/fd-fixture)

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
    (is (= 3 (s/socket-send-many a ["one" "two" "three"] {:address (s/socket-name b) :timeout 2000})))
    (let [got (loop [acc [] i 0] ; loopback may queue them one by one: bounded
                (if (or (>= (count acc) 3) (>= i 10))
                  acc
                  (recur (into acc (s/socket-receive-many b 8 100 {:timeout 2000})) (inc i))))]
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
