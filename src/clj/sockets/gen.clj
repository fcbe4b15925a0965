(ns sockets.gen
  "test.check generators for property-testing network code: addresses, addrinfo maps,
  constants and payloads. Built on clojure.spec.gen.alpha, so test.check is loaded only when a
  generator is used (add org.clojure/test.check to your test dependencies)."
  (:require [clojure.spec.alpha :as spec]
            [clojure.spec.gen.alpha :as gen]
            [clojure.string :as str]
            [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.core :as core]
            [sockets.datagram-proxy :as dproxy]
            [sockets.impl.args :as args]
            [sockets.options :as o]
            [sockets.proxy :as proxy])
  (:import (sockets SockAddr)
           (sockets.impl Native SockAddrCodec)))

(set! *warn-on-reflection* true)

(defn- bound
  "A generator builder's integer bound `x` (lo..hi), or :invalid naming the builder."
  [op what x lo hi]
  (args/int-in op what x lo hi))

(defn- opts-map
  "A generator builder's options map, or :invalid."
  [op x]
  (args/options op x))

(defn ipv4-address
  "Generator of IPv4 address strings in dotted-quad form. With `prefix` (a vector of leading
  octets, e.g. [127]) the address starts with those octets."
  ([] (ipv4-address []))
  ([prefix]
   (when-not (and (sequential? prefix) (<= (count prefix) 4) (every? #(c/int-in? % 0 255) prefix))
     (throw (args/fail :ipv4-address "the prefix" "a sequence of at most 4 octets (0-255)" prefix)))
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
  ([max-size]
   (bound :payload "max-size" max-size 0 c/max-receive-length)
   (gen/fmap byte-array (gen/vector (gen/fmap unchecked-byte (gen/choose -128 127)) 0 max-size))))

(comment
  (gen/sample (sockaddr) 5)
  (addr/sockaddr->string (gen/generate (inet-sockaddr))))

;; ------------------------------------------------------------------ schedules

(defn chunking
  "Generator of a chunking: a vector of positive chunk sizes (each 1 to `max-chunk`, default
  1500) in which a payload is cut, cycling when the payload is longer. Shrinks toward few,
  small chunks."
  ([] (chunking 1500))
  ([max-chunk] (gen/vector (gen/choose 1 (bound :chunking "max-chunk" max-chunk 1 c/max-receive-length)) 1 8)))

(defn fault-schedule
  "Generator of fault-proxy schedules:
    {:chunks [3 1 700] :delays-ms [0 5 0] :fault {:at-byte 1200 :kind :reset :direction :down}}
  :fault is absent in about half of them. Options: :max-chunk (1500), :max-delay-ms (20),
  :max-at-byte (65536), :kinds (#{:reset :close :half-close :stall}), :fault? (true: always a
  fault; false: never). Shrinks toward few small chunks, no delays and no fault."
  ([] (fault-schedule {}))
  ([opts]
   (let [{:keys [max-chunk max-delay-ms max-at-byte kinds fault?]
          :or {max-chunk 1500 max-delay-ms 20 max-at-byte 65536 kinds #{:reset :close :half-close :stall}}}
         (opts-map :fault-schedule opts)
         max-delay-ms (bound :fault-schedule ":max-delay-ms" max-delay-ms 0 Integer/MAX_VALUE)
         max-at-byte (bound :fault-schedule ":max-at-byte" max-at-byte 0 Long/MAX_VALUE)
         _ (when-not (and (coll? kinds) (seq kinds) (every? #{:reset :close :half-close :stall} kinds))
             (throw (args/fail :fault-schedule ":kinds" "a non-empty set of :reset :close :half-close :stall" kinds)))
         fault-gen (gen/hash-map :at-byte (gen/choose 0 max-at-byte)
                                 :kind (gen/elements (sort kinds))
                                 :direction (gen/elements [:down :up]))
         base (gen/hash-map :chunks (chunking max-chunk)
                            :delays-ms (gen/vector (gen/frequency [[3 (gen/return 0)] [1 (gen/choose 0 max-delay-ms)]]) 0 8))]
     (case fault?
       true (gen/fmap (fn [[b f]] (assoc b :fault f)) (gen/tuple base fault-gen))
       false base
       (gen/one-of [base (gen/fmap (fn [[b f]] (assoc b :fault f)) (gen/tuple base fault-gen))])))))

(defn fault-proxy
  "Starts a fault-injecting TCP proxy on loopback: see `sockets.proxy/fault-proxy`."
  [opts]
  (proxy/fault-proxy opts))

(defmacro with-fault-proxy
  "(with-fault-proxy [p {:target addr :schedule sched}] body...): see `sockets.proxy`."
  [binding & body]
  `(sockets.proxy/with-fault-proxy ~binding ~@body))

;; ------------------------------------------------------------------ addrinfo, constants, options

(defn flags
  "Generator of flag sets of `kind` (:ai, :ni, :msg): sets of the keywords this platform defines."
  [kind]
  (let [defined (sort (for [[k v] (get c/tables kind) :when v] k))]
    (when (empty? defined)
      (throw (args/fail :flags "the kind" (str "one of " (sort (keys c/tables))) kind)))
    (gen/fmap set (gen/vector (gen/elements defined) 0 3))))

(defn addrinfo
  "Generator of addrinfo maps like `address-information` returns (inet addresses, stream/TCP or
  datagram/UDP, an optional canonical name, :ai/ flags)."
  []
  (gen/fmap (fn [[sa stream? canon fl]]
              {:family (:family sa)
               :socktype (if stream? :sock/stream :sock/dgram)
               :protocol (if stream? :ipproto/tcp :ipproto/udp)
               :address sa
               :canonname canon
               :flags fl})
            (gen/tuple (inet-sockaddr) (gen/boolean)
                       (gen/one-of [(gen/return nil) (gen/fmap #(str % ".example") (gen/fmap str/join (gen/vector path-char 1 12)))])
                       (flags :ai))))

(defn- settable-options
  "The options of `sockets.options/option-table` a fresh socket of `family` and `type` accepts
  writing here (probed on a fresh socket), except read-only and write-only ones."
  [family type]
  (let [table o/option-table
        get-opts o/socket-options
        set-opts! o/set-socket-options!]
    (with-open [^java.io.Closeable so (core/socket family type)]
      (let [current (get-opts so)]
        (vec (sort (for [[k {:keys [read-only? write-only?]}] table
                         :when (and (not read-only?) (not write-only?) (contains? current k)
                                    ;; the current value written back, and for a boolean its opposite too
                                    (every? #(try (set-opts! so {k %}) true
                                                  (catch java.io.IOException _ false))
                                            (if (boolean? (current k)) [(not (current k)) (current k)] [(current k)])))]
                     k)))))))

(def ^:private settable (memoize settable-options))

(def ^:private kernel-valid
  ;; values the spec allows but the kernel only takes from a narrower set
  {:ip/multicast-if (gen/elements ["0.0.0.0" "127.0.0.1"])
   :ipv6/multicast-if (gen/elements [0 1])                            ; no interface, or lo
   :ip/options (gen/fmap #(byte-array % (byte 1)) (gen/elements [0 4 8 40]))})  ; IPOPT_NOPs

(defn socket-option-map
  "Generator of option maps for a socket of `family` and `type` (default :af/inet
  :sock/stream): only options such a socket accepts here, each with a valid value generated
  from its spec (sockets.options registers one per option keyword)."
  ([] (socket-option-map :af/inet :sock/stream))
  ([family type]
   (let [ks (settable family type)
         _ (when (empty? ks) (throw (args/fail :socket-option-map "the family and type" "a pair with settable options" [family type])))
         spec-gen spec/gen]
     (gen/bind (gen/fmap set (gen/vector (gen/elements ks) 1 (min 6 (count ks))))
               (fn [chosen]
                 (apply gen/hash-map (mapcat (fn [k] [k (or (kernel-valid k) (spec-gen k))]) (sort chosen))))))))

(defn invalid-option-map
  "Generator of option maps with at least one value its option's spec rejects (a wrong type,
  an out-of-range number, a bogus keyword), for negative testing: `set-socket-options!` must
  refuse them before setting anything."
  ([] (invalid-option-map :af/inet :sock/stream))
  ([family type]
   (let [valid? spec/valid?
         ks (settable family type)
         _ (when (empty? ks) (throw (args/fail :invalid-option-map "the family and type" "a pair with settable options" [family type])))
         bad (gen/elements ["x" -1 -1000000 1.5 :bogus [] {} 4294967296 nil])]
     (gen/fmap (fn [[good [k v]]] (assoc good k v))
               (gen/tuple (gen/one-of [(gen/return {}) (socket-option-map family type)])
                          (gen/such-that (fn [[k v]] (not (valid? k v)))
                                         (gen/tuple (gen/elements ks) bad) 100))))))

;; ------------------------------------------------------------------ datagram schedules and proxy

(defn datagram-event
  "Generator of one datagram-proxy event (see `sockets.datagram-proxy`): :pass most often,
  else one of `actions` (default all: #{:drop :duplicate :delay :reorder :corrupt :truncate})
  with a parameter within the options' bounds (:max-copies 3, :max-delay-ms 50, :max-reorder 3,
  :max-offset 64, :max-truncate 64). Shrinks toward :pass, then toward small parameters."
  ([] (datagram-event {}))
  ([{:keys [actions max-copies max-delay-ms max-reorder max-offset max-truncate]
     :or {actions #{:drop :duplicate :delay :reorder :corrupt :truncate}
          max-copies 3 max-delay-ms 50 max-reorder 3 max-offset 64 max-truncate 64}}]
   (let [impairments {:drop (gen/return :drop)
                      :duplicate (gen/fmap (fn [n] {:action :duplicate :copies n}) (gen/choose 2 (max 2 max-copies)))
                      :delay (gen/fmap (fn [n] {:action :delay :ms n}) (gen/choose 0 max-delay-ms))
                      :reorder (gen/fmap (fn [k] {:action :reorder :after k}) (gen/choose 1 (max 1 max-reorder)))
                      :corrupt (gen/fmap (fn [os] {:action :corrupt :offsets (vec (sort (distinct os)))})
                                         (gen/vector (gen/choose 0 max-offset) 1 3))
                      :truncate (gen/fmap (fn [n] {:action :truncate :to n}) (gen/choose 0 max-truncate))}
         chosen (for [a [:drop :duplicate :delay :reorder :corrupt :truncate] :when (contains? (set actions) a)]
                  (impairments a))]
     (gen/frequency (into [[(* 2 (max 1 (count chosen))) (gen/return :pass)]]
                          (map (fn [g] [1 g]) chosen))))))

(defn datagram-schedule
  "Generator of datagram-proxy schedules {:up [events] :down [events]}: per direction a vector
  of up to `:max-events` (default 8) events from `datagram-event` (which takes the same
  options), the i-th for the i-th datagram, :pass beyond. `:directions` (default #{:up :down})
  limits which directions get events. Shrinks toward passing everything: events are removed,
  turned into :pass, and their parameters made small. Pure data; nothing blocks."
  ([] (datagram-schedule {}))
  ([{:keys [max-events directions] :or {max-events 8 directions #{:up :down}} :as opts}]
   (let [events (gen/vector (datagram-event opts) 0 max-events)]
     (gen/hash-map :up (if (contains? directions :up) events (gen/return []))
                   :down (if (contains? directions :down) events (gen/return []))))))

(defn datagram-proxy
  "Starts a datagram (UDP) impairment proxy on loopback; returns it (Closeable, with :address
  and :log) without blocking: see `sockets.datagram-proxy/datagram-proxy`."
  [opts]
  (dproxy/datagram-proxy opts))

(defmacro with-datagram-proxy
  "(with-datagram-proxy [p {:target addr :schedule sched}] body...): runs body with `p` bound to
  a started datagram proxy and returns body's value; closes the proxy (its sockets, its
  threads) when body exits: see `sockets.datagram-proxy`."
  [binding & body]
  `(sockets.datagram-proxy/with-datagram-proxy ~binding ~@body))

;; ------------------------------------------------------------------ TCP shaping

(defn shaping
  "Generator of TCP fault-proxy shaping maps (see `sockets.proxy`), to merge into one
  direction's schedule or a whole one: some of :latency-ms (0 to :max-latency-ms, default
  100), :bytes-per-sec and :read-bytes-per-sec (:min-rate 10000 to :max-rate 10000000).
  Shrinks toward {} (no shaping), then toward small latencies and high rates."
  ([] (shaping {}))
  ([opts]
   (let [{:keys [max-latency-ms min-rate max-rate] :or {max-latency-ms 100 min-rate 10000 max-rate 10000000}}
         (opts-map :shaping opts)
         max-latency-ms (bound :shaping ":max-latency-ms" max-latency-ms 0 Integer/MAX_VALUE)
         max-rate (bound :shaping ":max-rate" max-rate 1 Integer/MAX_VALUE)
         min-rate (bound :shaping ":min-rate" min-rate 1 max-rate)
         rate (gen/fmap #(- (long max-rate) (long %)) (gen/choose 0 (- (long max-rate) (long min-rate))))]
     (gen/fmap (fn [[l? l b? b r? r]]
                 (cond-> {} l? (assoc :latency-ms l) b? (assoc :bytes-per-sec b) r? (assoc :read-bytes-per-sec r)))
               (gen/tuple (gen/boolean) (gen/choose 0 max-latency-ms)
                          (gen/boolean) rate
                          (gen/boolean) rate)))))

(defn shaped-schedule
  "Generator of per-direction TCP fault-proxy schedules {:up sched :down sched}, each a
  `fault-schedule` without a fault merged with a `shaping` (both take their options from
  `opts`). Shrinks toward plain re-chunking without shaping."
  ([] (shaped-schedule {}))
  ([opts]
   (let [opts (opts-map :shaped-schedule opts)
         one (gen/fmap (fn [[sched shape]] (merge sched shape))
                       (gen/tuple (fault-schedule (assoc opts :fault? false)) (shaping opts)))]
     (gen/hash-map :up one :down one))))
