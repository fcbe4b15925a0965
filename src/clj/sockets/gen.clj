(ns sockets.gen
  "test.check generators for property-testing network code: addresses, addrinfo maps,
  constants and payloads. Built on clojure.spec.gen.alpha, so test.check is loaded only when a
  generator is used (add org.clojure/test.check to your test dependencies)."
  (:require [clojure.spec.gen.alpha :as gen]
            [clojure.string :as str]
            [sockets.address :as addr])
  (:import (sockets SockAddr)
           (sockets.impl Native SockAddrCodec)))

(set! *warn-on-reflection* true)

(defn ipv4-address
  "Generator of IPv4 address strings in dotted-quad form. With `prefix` (a vector of leading
  octets, e.g. [127]) the address starts with those octets."
  ([] (ipv4-address []))
  ([prefix]
   (gen/fmap (fn [octets] (str/join "." (concat prefix octets)))
             (gen/vector (gen/choose 0 255) (- 4 (count prefix))))))

(def ^:private v6-group
  ;; zeros are frequent so that "::" compression and its edge cases come up
  (gen/frequency [[3 (gen/return 0)] [1 (gen/return 0xffff)] [4 (gen/choose 0 0xffff)]]))

(defn- canonical-v6 [groups]
  (let [bs (byte-array (mapcat (fn [g] [(unchecked-byte (bit-shift-right g 8)) (unchecked-byte g)]) groups))]
    (.host (SockAddr/inet6 bs 0 0 0))))

(defn ipv6-address
  "Generator of IPv6 address strings in canonical (inet_ntop) form: random groups with many
  zero runs, v4-mapped (::ffff:a.b.c.d), loopback, unspecified and link-local forms."
  []
  (gen/one-of
   [(gen/fmap canonical-v6 (gen/vector v6-group 8))
    (gen/fmap (fn [v4] (str "::ffff:" v4)) (ipv4-address))
    (gen/fmap (fn [gs] (canonical-v6 (concat [0xfe80 0 0 0] gs))) (gen/vector v6-group 4))
    (gen/elements ["::1" "::" "2001:db8::1"])]))

(def ^:private port (gen/one-of [(gen/return 0) (gen/choose 1 65535)]))

(defn inet-sockaddr
  "Generator of internet sockaddr maps, IPv4 and IPv6 (with scope ids: 0, the loopback
  interface's index, or a number with no interface)."
  []
  (gen/one-of
   [(gen/fmap (fn [[a p]] {:family :af/inet :address a :port p}) (gen/tuple (ipv4-address) port))
    (gen/fmap (fn [[a p scope]]
                (cond-> {:family :af/inet6 :address a :port p}
                  (pos? scope) (assoc :scope-id scope)))
              (gen/tuple (ipv6-address) port
                         (gen/frequency [[4 (gen/return 0)] [1 (gen/return 1)] [1 (gen/choose 1000 100000)]])))]))

(def ^:private path-char
  (gen/elements (vec "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")))

(defn unix-sockaddr
  "Generator of unix sockaddr maps: absolute and relative paths within the platform's length
  limit, and on Linux abstract names (\"@name\")."
  []
  (let [limit (dec (SockAddrCodec/unixPathCapacity))
        name-gen (gen/fmap str/join (gen/vector path-char 1 40))]
    (gen/one-of
     (cond-> [(gen/fmap (fn [parts] {:family :af/unix :path (subs (str "/tmp/" (str/join "/" parts)) 0 (min limit (count (str "/tmp/" (str/join "/" parts)))))})
                        (gen/vector name-gen 1 3))
              (gen/fmap (fn [n] {:family :af/unix :path (str "s-" n ".sock")}) name-gen)]
       Native/LINUX (conj (gen/fmap (fn [n] {:family :af/unix :path (str "@" n)}) name-gen))))))

(defn sockaddr
  "Generator of any sockaddr map (inet, inet6, unix)."
  []
  (gen/one-of [(inet-sockaddr) (unix-sockaddr)]))

(defn family "Generator of address family keywords." [] (gen/elements [:af/inet :af/inet6 :af/unix]))
(defn socket-type "Generator of socket type keywords." [] (gen/elements [:sock/stream :sock/dgram]))

(defn payload
  "Generator of byte arrays up to `max-size` bytes (default 4096); shrinks toward small ones."
  ([] (payload 4096))
  ([max-size] (gen/fmap byte-array (gen/vector (gen/fmap unchecked-byte (gen/choose -128 127)) 0 max-size))))

(comment
  (gen/sample (sockaddr) 5)
  (addr/sockaddr->string (gen/generate (inet-sockaddr))))
