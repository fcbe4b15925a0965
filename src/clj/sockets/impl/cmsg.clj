(ns ^:no-doc sockets.impl.cmsg
  "The ancillary-data (control message) codec: maps <-> [level type bytes].

  A control message is a map {:level kw-or-int :type kw-or-int ...fields}. The pair
  [level type] selects a method of `encode-data` (map -> bytes) and `decode-data`
  (bytes -> fields); both are open multimethods, and `register-type!` names a new
  [level type] pair's numbers, so users can add their own. A pair with no method (or no
  name) is sent from and received as `:data` raw bytes: nothing is ever dropped.

  Layouts are the native ones (native byte order; time_t and suseconds_t are C longs)."
  (:require [clojure.spec.alpha :as spec]
            [sockets.constants :as c]
            [sockets.impl.args :as args])
  (:import (java.nio ByteBuffer ByteOrder)
           (sockets Messages SockAddr SocketException)
           (sockets.impl CmsgTypes)))

(set! *warn-on-reflection* true)

(defn- kv [kind k] (get-in c/tables [kind k]))

;; SCM_ types jnr-constants lacks (see sockets.impl.CmsgTypes); the SO_/IP_/IPV6_ ones come from
;; jnr-constants through sockets.constants. A cmsg of type SCM_TIMESTAMP(NS) has the number of
;; SO_TIMESTAMP(NS); IP_RECVTTL / IP_RECVTOS deliver types IP_TTL / IP_TOS.
(def ^:private builtin
  {[:sol/socket :scm/rights] [(kv :sol :sol/socket) CmsgTypes/SCM_RIGHTS]
   [:sol/socket :scm/credentials] [(kv :sol :sol/socket) (when (pos? CmsgTypes/SCM_CREDENTIALS) CmsgTypes/SCM_CREDENTIALS)]
   [:sol/socket :so/timestamp] [(kv :sol :sol/socket) (kv :so :so/timestamp)]
   [:sol/socket :so/timestampns] [(kv :sol :sol/socket) (kv :so :so/timestampns)]
   [:ipproto/ip :ip/pktinfo] [(kv :ipproto :ipproto/ip) (kv :ip :ip/pktinfo)]
   [:ipproto/ip :ip/ttl] [(kv :ipproto :ipproto/ip) (kv :ip :ip/ttl)]
   [:ipproto/ip :ip/tos] [(kv :ipproto :ipproto/ip) (kv :ip :ip/tos)]
   [:ipproto/ipv6 :ipv6/pktinfo] [(kv :ipproto :ipproto/ipv6) (kv :ipv6 :ipv6/pktinfo)]})

(defonce ^{:doc "{[level-kw type-kw] [level-int type-int]}: the named control-message types (nil numbers: not on this platform)."}
  types
  (atom builtin))

(defn- int32? [x] (c/int-in? x Integer/MIN_VALUE Integer/MAX_VALUE))

(spec/def ::pair (spec/tuple qualified-keyword? qualified-keyword?))
(spec/def ::numbers (spec/tuple int32? int32?))
(spec/def ::entry (spec/cat :pair ::pair :numbers ::numbers))

(defn register-type!
  "Names control-message type [level-kw type-kw] as platform numbers [level type], so maps
  with those keywords encode and received messages with those numbers decode through
  `encode-data` / `decode-data` methods for the pair. The entry is checked whole first (a
  vector of two qualified keywords, a vector of two ints): a malformed one is :invalid and
  changes nothing. Returns the pair."
  [pair numbers]
  (when-not (spec/valid? ::entry [pair numbers])
    (throw (args/fail :register-control-type! "the entry [pair numbers]"
                      "[[level-keyword type-keyword] [level-int type-int]] (qualified keywords, ints)"
                      [pair numbers])))
  (swap! types assoc (vec pair) (mapv int numbers))
  (vec pair))

(defn builtin-types
  "The [level type] keyword pairs this codec has methods for and this platform has numbers for."
  []
  (vec (for [[k [l t]] builtin :when (and l t)] k)))

(defn- level-kw [n]
  (or (some (fn [[[lk _] [l _]]] (when (= l n) lk)) @types) n))

(defn numbers->pair
  "The keyword pair for cmsg numbers, or [level-kw-or-int type-int] when the type is unnamed."
  [level type]
  (or (some (fn [[pair [l t]]] (when (and (= l level) (= t type)) pair)) @types)
      [(level-kw level) type]))

(defn pair->numbers
  "[level-int type-int] for a control map's :level and :type (keywords or ints)."
  [op level type]
  (let [lvl (cond (integer? level) (args/int-in op "control message :level" level Integer/MIN_VALUE Integer/MAX_VALUE)
                  (keyword? level) (or (some (fn [[[lk _] [l _]]] (when (and (= lk level) l) l)) @types)
                                       (get-in c/tables [(keyword (namespace level)) level])
                                       (throw (args/fail op "control message :level" "a known level keyword (or an int)" level)))
                  :else (throw (args/fail op "control message :level" "a keyword or an int" level)))
        typ (cond (integer? type) (args/int-in op "control message :type" type Integer/MIN_VALUE Integer/MAX_VALUE)
                  (keyword? type) (let [nums (get @types [level type] ::none)]
                                    (cond (= nums ::none) (throw (args/fail op "control message [:level :type]" "a known pair (see control-types) or ints" [level type]))
                                          (nil? (second nums)) (throw (c/unsupported op (str "control message type " [level type] " is not supported on this platform")))
                                          :else (second nums)))
                  :else (throw (args/fail op "control message :type" "a keyword or an int" type)))]
    [(int lvl) (int typ)]))

(defn- dispatch [m]
  (when-not (map? m) (throw (args/fail :encode-control-data "a control message" "a map" m)))
  [(:level m) (:type m)])

(defmulti encode-data
  "The data bytes of control-message map `m` (dispatch on [(:level m) (:type m)]). The
  default sends `(:data m)` (a byte array) as is."
  dispatch)

(defmulti decode-data
  "The fields (a map) of a received control message's data bytes, dispatch on the keyword
  pair [level type]. The default gives {:data bytes}. Data that is not a byte array is
  :invalid (checked before any method runs)."
  (fn [pair data]
    (when-not (bytes? data) (throw (args/fail :decode-control-data "the data" "a byte array" data)))
    pair))

(defmethod encode-data :default [m]
  (let [d (:data m)]
    (if (bytes? d) d (throw (args/fail :socket-send-message (str "control message " (args/show (dispatch m)) " :data") "a byte array" d)))))

(defmethod decode-data :default [_ data] {:data data})

(defn- buf ^ByteBuffer [n] (.order (ByteBuffer/allocate n) (ByteOrder/nativeOrder)))
(defn- wrap ^ByteBuffer [^bytes b] (.order (ByteBuffer/wrap b) (ByteOrder/nativeOrder)))

(defn- check [op pred v what rule]
  (if (pred v) v (throw (args/fail op what rule v))))

(defn- uint32? [x] (c/int-in? x 0 0xffffffff))

;; ---- SCM_RIGHTS: int fds[]
(defmethod encode-data [:sol/socket :scm/rights] [{:keys [fds]}]
  (when-not (and (sequential? fds) (every? #(c/int-in? % 0 Integer/MAX_VALUE) fds))
    (throw (args/fail :socket-send-message ":scm/rights :fds" "a vector of fd numbers" fds)))
  (let [b (buf (* 4 (count fds)))]
    (doseq [f fds] (.putInt b (int f)))
    (.array b)))

(defmethod decode-data [:sol/socket :scm/rights] [_ ^bytes data]
  (let [b (wrap data)]
    {:fds (vec (repeatedly (quot (alength data) 4) #(.getInt b)))}))

;; ---- SCM_CREDENTIALS: struct ucred {pid_t pid; uid_t uid; gid_t gid}
(defmethod encode-data [:sol/socket :scm/credentials] [{:keys [pid uid gid]}]
  (let [op :socket-send-message]
    (check op int32? pid ":pid" "an int")
    (check op uint32? uid ":uid" "a uint32")
    (check op uint32? gid ":gid" "a uint32")
    (let [b (buf 12)]
      (.putInt b (int pid)) (.putInt b (unchecked-int uid)) (.putInt b (unchecked-int gid))
      (.array b))))

(defmethod decode-data [:sol/socket :scm/credentials] [_ ^bytes data]
  (if (< (alength data) 12)
    {:data data}
    (let [b (wrap data)]
      {:pid (.getInt b) :uid (Integer/toUnsignedLong (.getInt b)) :gid (Integer/toUnsignedLong (.getInt b))})))

;; ---- timestamps: struct timeval {time_t; suseconds_t} / struct timespec {time_t; long}
(defn- put-long [^ByteBuffer b n] (if (= 8 (Messages/longSize)) (.putLong b (long n)) (.putInt b (int n))))
(defn- get-long [^ByteBuffer b] (if (= 8 (Messages/longSize)) (.getLong b) (long (.getInt b))))

(defn- encode-time [op m frac limit]
  (let [s (:seconds m) f (frac m)]
    (if (= 8 (Messages/longSize))
      (args/int-in op ":seconds" s Long/MIN_VALUE Long/MAX_VALUE)
      (args/int-in op ":seconds" s Integer/MIN_VALUE Integer/MAX_VALUE))
    (args/int-in op (str frac) f 0 (dec limit))
    (let [b (buf (* 2 (Messages/longSize)))]
      (put-long b s) (put-long b f)
      (.array b))))

(defn- decode-time [^bytes data frac]
  (if (< (alength data) (* 2 (Messages/longSize)))
    {:data data}
    (let [b (wrap data)] {:seconds (get-long b) frac (get-long b)})))

(defmethod encode-data [:sol/socket :so/timestamp] [m] (encode-time :socket-send-message m :microseconds 1000000))
(defmethod decode-data [:sol/socket :so/timestamp] [_ data] (decode-time data :microseconds))
(defmethod encode-data [:sol/socket :so/timestampns] [m] (encode-time :socket-send-message m :nanoseconds 1000000000))
(defmethod decode-data [:sol/socket :so/timestampns] [_ data] (decode-time data :nanoseconds))

;; ---- IP_TTL / IP_TOS: an int (the kernel delivers IP_TOS as one byte, takes either)
(defmethod encode-data [:ipproto/ip :ip/ttl] [{:keys [ttl]}]
  (args/int-in :socket-send-message ":ttl" ttl 0 255)
  (.array (.putInt (buf 4) (int ttl))))

(defmethod decode-data [:ipproto/ip :ip/ttl] [_ ^bytes data]
  (case (alength data) 4 {:ttl (.getInt (wrap data))} 1 {:ttl (bit-and 0xff (aget data 0))} {:data data}))

(defmethod encode-data [:ipproto/ip :ip/tos] [{:keys [tos]}]
  (args/int-in :socket-send-message ":tos" tos 0 255)
  (.array (.putInt (buf 4) (int tos))))

(defmethod decode-data [:ipproto/ip :ip/tos] [_ ^bytes data]
  (case (alength data) 4 {:tos (.getInt (wrap data))} 1 {:tos (bit-and 0xff (aget data 0))} {:data data}))

;; ---- IP_PKTINFO: struct in_pktinfo {int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr}
(defn- ip-bytes
  "The address bytes of numeric IP text `s` (4 or 16 bytes, `n`), parsed by inet_pton."
  ^bytes [op s n what]
  (let [sa (when (string? s) (try (SockAddr/parseInet ^String s 0) (catch SocketException _ nil)))
        b (some-> ^SockAddr sa .addressBytes)]
    (when-not (and b (= n (alength ^bytes b)) (zero? (.scopeId ^SockAddr sa)))
      (throw (args/fail op what (str "a numeric IPv" (if (= n 4) 4 6) " address") s)))
    b))

(defn- ip-string
  "The text of address bytes `b` as inet_ntop writes it (\"::1\", \"127.0.0.1\")."
  [^bytes b]
  (.host (if (= 16 (alength b)) (SockAddr/inet6 b 0 0 0) (SockAddr/inet4 b 0))))

(defn- slice ^bytes [^bytes data off n] (java.util.Arrays/copyOfRange data (int off) (int (+ off n))))

(defmethod encode-data [:ipproto/ip :ip/pktinfo] [{:keys [ifindex local destination] :or {ifindex 0 local "0.0.0.0" destination "0.0.0.0"}}]
  (let [op :socket-send-message
        b (buf 12)]
    (check op int32? ifindex ":ifindex" "an int")
    (.putInt b (int ifindex))
    (.put b (ip-bytes op local 4 ":local"))
    (.put b (ip-bytes op destination 4 ":destination"))
    (.array b)))

(defmethod decode-data [:ipproto/ip :ip/pktinfo] [_ ^bytes data]
  (if (< (alength data) 12)
    {:data data}
    {:ifindex (.getInt (wrap data))
     :local (ip-string (slice data 4 4))
     :destination (ip-string (slice data 8 4))}))

;; ---- IPV6_PKTINFO: struct in6_pktinfo {in6_addr ipi6_addr; unsigned ipi6_ifindex}
(defmethod encode-data [:ipproto/ipv6 :ipv6/pktinfo] [{:keys [ifindex destination] :or {ifindex 0 destination "::"}}]
  (let [op :socket-send-message
        b (buf 20)]
    (check op uint32? ifindex ":ifindex" "a uint32")
    (.put b (ip-bytes op destination 16 ":destination"))
    (.putInt b (unchecked-int ifindex))
    (.array b)))

(defmethod decode-data [:ipproto/ipv6 :ipv6/pktinfo] [_ ^bytes data]
  (if (< (alength data) 20)
    {:data data}
    {:destination (ip-string (slice data 0 16))
     :ifindex (Integer/toUnsignedLong (.getInt (wrap data) 16))}))

;; ---- whole messages

(defn encode
  "[level-int type-int data-bytes] for control map `m`."
  [op m]
  (when-not (map? m) (throw (args/fail op "a control message" "a map" m)))
  (let [[l t] (pair->numbers op (:level m) (:type m))]
    [l t (encode-data m)]))

(defn decode
  "The map of a received control message with numbers `level` `type` and data bytes."
  [level type data]
  (let [[lk tk :as pair] (numbers->pair level type)]
    (merge {:level lk :type tk} (decode-data pair data))))
