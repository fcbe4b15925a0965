(ns sockets.address-test
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as tgen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.gen :as sg]
            [sockets.test-util :as u])
  (:import (java.net InetAddress)
           (sockets SockAddr)
           (sockets.impl Scratch SockAddrCodec)))

(use-fixtures :once u/fd-fixture)

(defn- roundtrip-string [m] (s/string->sockaddr (s/sockaddr->string m)))

(defspec string-form-round-trips-inet 1000
  (prop/for-all [m (sg/inet-sockaddr)]
    (= m (roundtrip-string m))))

(defspec string-form-round-trips-unix 1000
  (prop/for-all [m (sg/unix-sockaddr)]
    (= m (roundtrip-string m))))

(defspec ipv6-text-agrees-with-java 1000
  (prop/for-all [a (sg/ipv6-address)]
    (let [m (s/inet-address a 0)]
      (and (= :af/inet6 (:family m))
           ;; java.net reads "::ffff:a.b.c.d" as the IPv4 address a.b.c.d: compare its 4 bytes there
           (= (seq (.getAddress (InetAddress/getByName a)))
              (let [bs (seq (.addressBytes (sockets.address/->native m)))]
                (if (= (take 12 bs) (concat (repeat 10 0) [-1 -1])) (drop 12 bs) bs)))))))

(def ^:private ipv4-ish
  ;; strings near the dotted-quad form: octets with leading zeros, too large, too many or too
  ;; few parts, stray characters
  (tgen/fmap (fn [parts] (apply str (interpose "." parts)))
             (tgen/vector (tgen/one-of [(tgen/fmap str (tgen/choose 0 300))
                                        (tgen/fmap #(str "0" %) (tgen/choose 0 99))
                                        (tgen/elements ["" "a" "1a" "-1" " 1" "0x1" "00" "255" "256" "1e2"])])
                          2 5)))

(defn- native-ipv4
  "inet_pton(AF_INET)'s 4 bytes for s, or nil."
  [^String s]
  (let [sc (Scratch/get)]
    (when (= 1 (.inet_pton sockets.impl.Native/LIBC sockets.impl.Native/AF_INET s (.opt sc)))
      (let [b (byte-array 4)] (.get (.opt sc) 0 b 0 4) (seq b)))))

(defspec ipv4-text-agrees-with-inet-pton 2000
  ;; SockAddr parses dotted quads in Java: it must accept exactly what inet_pton accepts
  (prop/for-all [a (tgen/one-of [ipv4-ish (tgen/fmap #(apply str (interpose "." %)) (tgen/vector (tgen/choose 0 255) 4))])]
    (let [ours (try (seq (.addressBytes (SockAddr/parseInet a 0))) (catch sockets.SocketException _ nil))]
      (and (= (native-ipv4 a) ours)
           (or (nil? ours) (= a (.host (SockAddr/parseInet a 0))))))))

(defspec native-codec-round-trips 1000
  (prop/for-all [m (sg/sockaddr)]
    (let [sa (sockets.address/->native m)
          p (.addr (Scratch/get))
          len (SockAddrCodec/encode sa p)]
      (= m (sockets.address/sockaddr->map (SockAddrCodec/decode p len))))))

(def ^:private bindable
  ;; addresses the kernel lets this process bind on loopback
  (tgen/one-of [(tgen/fmap (fn [a] {:family :af/inet :address a :port 0}) (sg/ipv4-address [127]))
                (tgen/elements [{:family :af/inet6 :address "::1" :port 0}
                                {:family :af/inet6 :address "::" :port 0}
                                {:family :af/inet :address "0.0.0.0" :port 0}])]))

(defspec bind-and-socket-name-round-trip-inet 1000
  (prop/for-all [m bindable]
    (with-open [so (s/socket (:family m) :sock/dgram)]
      (s/socket-bind so m)
      (let [n (s/socket-name so)]
        (and (= (dissoc m :port) (dissoc n :port)) (pos? (:port n)))))))

(defspec bind-and-socket-name-round-trip-unix 1000
  (let [dir (u/temp-dir)]
    (prop/for-all [n (tgen/not-empty (tgen/fmap #(apply str %) (tgen/vector (tgen/elements (vec "abcxyz019_-.")) 1 30)))
                   abstract? tgen/boolean]
      (let [path (if abstract? (str "@sockets-test-" (System/nanoTime) "-" n) (str (.getPath dir) "/" n "-" (System/nanoTime)))
            m (s/unix-address path)]
        (with-open [so (s/socket :af/unix :sock/dgram)]
          (s/socket-bind so m)
          (try (= m (s/socket-name so))
               (finally (.delete (java.io.File. path)))))))))

(deftest string-forms
  (is (= "127.0.0.1" (s/sockaddr->string (s/inet-address "127.0.0.1" 0))))
  (is (= "127.0.0.1:80" (s/sockaddr->string (s/inet-address "127.0.0.1" 80))))
  (is (= "[::1]:80" (s/sockaddr->string (s/inet-address "::1" 80))))
  (is (= "::1" (s/sockaddr->string (s/inet-address "::1" nil))))
  (is (= "[fe80::1%lo]:80" (s/sockaddr->string (s/inet-address "fe80::1%lo" 80))))
  (is (= {:family :af/inet6 :address "fe80::1" :port 80 :scope-id 1} (s/inet-address "fe80::1%1" "80")))
  (is (= "fe80::1%lo" (s/sockaddr-address (s/inet-address "fe80::1%lo" 80))))
  (is (= "/tmp/x.sock" (s/sockaddr->string (s/unix-address "/tmp/x.sock"))))
  (is (= {:family :af/inet6 :address "::ffff:1.2.3.4" :port 9} (s/string->sockaddr "[::ffff:1.2.3.4]:9")))
  (is (= (s/unix-address "app.sock") (s/string->sockaddr "app.sock")))
  (is (= (s/unix-address "@abstract") (s/string->sockaddr "@abstract"))))

(deftest accessors
  (let [a (s/inet-address "10.1.2.3" 8080)]
    (is (s/sockaddr? a))
    (is (= :af/inet (s/sockaddr-family a)))
    (is (= "10.1.2.3" (s/sockaddr-address a)))
    (is (= 8080 (s/sockaddr-port a)))
    (is (= :invalid (u/kind-of #(s/sockaddr-path a)))))
  (let [u (s/unix-address "/tmp/a")]
    (is (= :af/unix (s/sockaddr-family u)))
    (is (= "/tmp/a" (s/sockaddr-path u) (s/sockaddr-address u)))
    (is (= :invalid (u/kind-of #(s/sockaddr-port u)))))
  (is (not (s/sockaddr? {:family :af/inet :address "1.2.3.256" :port 1})))
  (is (not (s/sockaddr? {:family :af/inet :address "1.2.3.4" :port 70000})))
  (is (not (s/sockaddr? "127.0.0.1")))
  (is (not (s/sockaddr? nil))))

(deftest inet-address-rules
  (testing "nil address is the unspecified address; nil port is 0"
    (is (contains? #{"0.0.0.0" "::"} (:address (s/inet-address nil 80))))
    (is (= 0 (:port (s/inet-address "127.0.0.1" nil)))))
  (testing "numeric string port"
    (is (= 443 (:port (s/inet-address "::1" "443")))))
  (testing "bad input is a clear :invalid error"
    (doseq [[a p] [[nil nil] ["1.2.3.256" 1] ["::g" 1] ["" 1] ["localhost" 80] ["1.2.3.4" -1]
                   ["1.2.3.4" 65536] ["1.2.3.4" "http"] ["1.2.3.4" 1.5] [42 1] ["1.2.3.4\u00005" 1]
                   ["fe80::1%nosuchif0" 1] [(apply str (repeat 10000 "1")) 1]]]
      (is (= :invalid (u/kind-of #(s/inet-address a p))) (pr-str [a p]))))
  (testing "unix paths are checked, never truncated"
    (is (= :invalid (u/kind-of #(s/unix-address (apply str (repeat 200 "a"))))))
    (is (= :invalid (u/kind-of #(s/unix-address "a\u0000b"))))
    (is (= :invalid (u/kind-of #(s/unix-address nil)))))
  (testing "string->sockaddr rejects malformed inet forms"
    (doseq [x ["" "1.2.3.256" "::g" "[::1" "[::1]:99999" "1.2.3.4:" nil 7]]
      (is (= :invalid (u/kind-of #(s/string->sockaddr x))) (pr-str x)))))

(deftest address-information-lookups
  (let [ais (s/address-information "localhost" 80)]
    (is (seq ais))
    (is (every? s/addrinfo? ais))
    (is (some #(= "127.0.0.1" (:address (s/addrinfo-address %))) ais))
    (is (every? #(= :sock/stream (s/addrinfo-socktype %)) ais))
    (is (every? #(= 80 (s/sockaddr-port (s/addrinfo-address %))) ais)))
  (testing "numerichost"
    (let [[ai & more] (s/address-information "127.0.0.1" 53 :type :sock/dgram :flags #{:ai/numerichost})]
      (is (nil? more))
      (is (= :af/inet (s/addrinfo-family ai)))
      (is (= :sock/dgram (s/addrinfo-socktype ai)))
      (is (= :ipproto/udp (s/addrinfo-protocol ai)))
      (is (= "127.0.0.1:53" (s/sockaddr->string (s/addrinfo-address ai))))
      (is (nil? (s/addrinfo-canonname ai)))
      (is (set? (s/addrinfo-flags ai))))
    (is (= [] (s/address-information "localhost" 80 {:flags #{:ai/numerichost}}))))
  (testing "nil node: loopback, or unspecified with passive"
    (let [loop-addrs (set (map (comp :address s/addrinfo-address) (s/address-information nil 80)))
          passive (set (map (comp :address s/addrinfo-address) (s/address-information nil 80 :flags #{:ai/passive})))]
      (is (some #{"127.0.0.1" "::1"} loop-addrs))
      (is (every? #{"127.0.0.1" "::1"} loop-addrs))
      (is (some #{"0.0.0.0" "::"} passive))
      (is (every? #{"0.0.0.0" "::"} passive))))
  (testing "service names and numbers; family restriction; flags as an int"
    (is (every? #(= 80 (:port (s/addrinfo-address %))) (s/address-information "127.0.0.1" "http")))
    (is (every? #(= 8080 (:port (s/addrinfo-address %))) (s/address-information "127.0.0.1" "8080")))
    (is (every? #(= :af/inet (s/addrinfo-family %)) (s/address-information "localhost" 80 :family :af/inet)))
    (is (= 1 (count (s/address-information "127.0.0.1" 1 :flags (s/address-family->integer :af/inet))))))
  (testing "canonname"
    (is (string? (s/addrinfo-canonname (first (s/address-information "localhost" 0 :flags #{:ai/canonname}))))))
  (testing "both nil gives no addresses; a name that does not exist gives []"
    (is (= [] (s/address-information nil nil)))
    (is (= [] (s/address-information "no-such-host.invalid" 80 :flags #{:ai/numerichost}))))
  (testing "bad input"
    (is (= :lookup (u/kind-of #(s/address-information "127.0.0.1" "no-such-service-xyz"))))
    (is (= :invalid (u/kind-of #(s/address-information 42 80))))
    (is (= :invalid (u/kind-of #(s/address-information "localhost" 80 :family :af/bogus))))
    (is (= :invalid (u/kind-of #(s/address-information "localhost" 80 :flags #{:ai/bogus}))))
    (is (= :invalid (u/kind-of #(s/address-information "a\u0000b" 80))))
    (is (= :invalid (u/kind-of #(s/address-information "localhost" 70000))))))

(deftest name-information-lookups
  (is (= ["127.0.0.1" 80] (s/name-information (s/inet-address "127.0.0.1" 80) #{:ni/numerichost :ni/numericserv})))
  (is (= ["::1" 80] (s/name-information (s/inet-address "::1" 80) #{:ni/numerichost :ni/numericserv})))
  (is (= ["::1" "http"] (s/name-information (s/inet-address "::1" 80) #{:ni/numerichost})))
  (is (= "localhost" (first (s/name-information (s/inet-address "127.0.0.1" 80)))))
  (is (= ["127.0.0.1" 0] (s/name-information "127.0.0.1" #{:ni/numerichost})))
  (testing "a service without a name is an integer"
    (is (= 1 (second (s/name-information (s/inet-address "127.0.0.1" 1) #{:ni/numerichost :ni/dgram})))))
  (testing "no name: numeric fallback, and :ni/namereqd raises"
    (is (= "127.0.0.2" (first (s/name-information (s/inet-address "127.0.0.2" 80)))))
    (is (= :lookup (u/kind-of #(s/name-information (s/inet-address "127.0.0.2" 80) #{:ni/namereqd})))))
  (is (= :invalid (u/kind-of #(s/name-information (s/unix-address "/tmp/x")))))
  (is (= :invalid (u/kind-of #(s/name-information "not an address")))))

;; ------------------------------------------------------------------ issue 17 defects

(deftest unencodable-unix-paths-are-refused
  ;; 17.3: a lone UTF-16 surrogate became '?', so "s\uD800" and "s\uDC00" named one socket
  (doseq [p ["/tmp/x/s\uD800" "/tmp/x/s\uDC00" "@abs\uD800"]]
    (is (= :invalid (u/kind-of #(s/unix-address p))) (pr-str p))
    (is (= :invalid (u/kind-of #(s/sockaddr->string {:family :af/unix :path p}))) (pr-str p)))
  (with-open [so (s/socket :af/unix :sock/dgram)]
    (is (= :invalid (u/kind-of #(s/socket-bind so {:family :af/unix :path "/tmp/x/s\uD800"}))))
    (is (nil? (s/socket-name so)) "nothing was bound"))
  (is (= "/tmp/x/s\uD83D\uDE00" (:path (s/unix-address "/tmp/x/s\uD83D\uDE00"))) "a surrogate pair is fine"))

(deftest scoped-ipv6-text-is-what-getnameinfo-prints
  ;; 17.7: NI_NUMERICHOST prints the scope as a number except on link-local addresses
  (is (= "2001:db8::1%1" (s/sockaddr-address (s/inet-address "2001:db8::1%1" 80))))
  (is (= "[2001:db8::1%1]:80" (s/sockaddr->string (s/inet-address "2001:db8::1%1" 80))))
  (is (= "2001:db8::1%7000" (s/sockaddr-address (s/inet-address "2001:db8::1%7000" 80))))
  (let [lo (SockAddr/scopeName 1)]
    (is (= (str "fe80::1%" lo) (s/sockaddr-address (s/inet-address "fe80::1%1" 80))) "link-local: the interface name")
    (is (= (str "ff02::1%" lo) (s/sockaddr-address (s/inet-address "ff02::1%1" 0))) "link-local multicast too"))
  (is (= "fe80::1" (s/sockaddr-address (s/inet-address "fe80::1" 80))) "no scope, no %"))
