(ns sockets.constants
  "Keyword <-> platform integer tables for every constant the library names.

  Every number comes from jnr-constants at load time (`jnr.constants.platform.*`), except
  the two option numbers it lacks (one commented table, per OS); a keyword whose constant this platform lacks maps to nil, and using it raises
  `:kind :unsupported` (never at load). Integers are accepted wherever a keyword is.

  Kinds (the keyword namespaces): :af :sock :ipproto :sol :so :tcp :ip :ipv6 :shut
  :msg :ai :ni."
  (:require [clojure.string :as str])
  (:import (jnr.constants Constant)
           (jnr.constants.platform AddressFamily Sock IPProto SocketLevel SocketOption TCP IP IPv6
                                   Shutdown SocketMessage AddressInfo NameInfo)
           (jnr.ffi Platform Platform$OS)
           (sockets SocketException SocketException$Kind)
           (sockets.impl Os)))

(set! *warn-on-reflection* true)

(defn- const
  "The platform value of constant `cname` in jnr-constants enum class `cls`, or nil."
  [^Class cls cname]
  (let [c (try (Enum/valueOf cls cname) (catch IllegalArgumentException _ nil))]
    (when (and c (.defined ^Constant c)) (.intValue ^Constant c))))

(defn- table
  "{keyword value} for keyword names in `kns`, each looked up as PREFIX_NAME in `cls`."
  [kns ^Class cls prefix names]
  (into {} (for [n names]
             [(keyword kns n)
              (const cls (str prefix (str/upper-case (str/replace n "-" "_"))))])))

(def ^:private tcp-keepalive
  ;; tcp/keepalive: TCP_KEEPALIVE (macOS: idle seconds before probes); Linux calls the same
  ;; option TCP_KEEPIDLE, which jnr-constants has, so it stands in where TCP_KEEPALIVE is absent.
  (or (const TCP "TCP_KEEPALIVE") (const TCP "TCP_KEEPIDLE")))

(def ^:private tcp-keepidle
  ;; tcp/keepidle: Linux's TCP_KEEPIDLE; macOS has the same option as TCP_KEEPALIVE only.
  (or (const TCP "TCP_KEEPIDLE") (const TCP "TCP_KEEPALIVE")))

(def ^:private darwin? (= Platform$OS/DARWIN (.getOS (Platform/getNativePlatform))))

(def ^:private not-in-jnr-constants
  ;; The option numbers jnr-constants 0.11.4 lacks; nil where the platform has no such option.
  ;;   option                    Linux               macOS                  FreeBSD/OpenBSD
  ;;   TCP_NOTSENT_LOWAT         25 (linux/tcp.h)    0x201 (netinet/tcp.h)  absent
  ;;   IP_BIND_ADDRESS_NO_PORT   24 (linux/in.h)     absent                 absent
  {:tcp/notsent-lowat (cond Os/LINUX 25 darwin? 0x201)
   :ip/bind-address-no-port (when Os/LINUX 24)})

(def tables
  "{kind {keyword platform-int-or-nil}}: every constant by kind."
  {:af (merge (table "af" AddressFamily "AF_" ["inet" "inet6" "unix" "unspec"]))
   :sock (table "sock" Sock "SOCK_" ["stream" "dgram" "raw" "seqpacket"])
   :ipproto (table "ipproto" IPProto "IPPROTO_" ["tcp" "udp" "ip" "ipv6" "icmp" "icmpv6" "raw"])
   :sol {:sol/socket (const SocketLevel "SOL_SOCKET")}
   :so (table "so" SocketOption "SO_"
              ["reuseaddr" "debug" "acceptconn" "keepalive" "dontroute" "broadcast" "linger"
               "oobinline" "sndbuf" "rcvbuf" "sndlowat" "rcvlowat" "sndtimeo" "rcvtimeo" "error"
               "type" "useloopback" "reuseport" "timestamp" "exclusiveaddruse"
               "peercred" "passcred" "timestampns" "protocol" "domain" "bindtodevice" "priority" "mark"])
   :tcp (assoc (table "tcp" TCP "TCP_" ["nodelay" "nopush" "noopt" "maxseg" "cork" "keepidle"
                                         "keepintvl" "keepcnt" "info" "quickack" "user-timeout"
                                         "fastopen" "congestion" "defer-accept"])
               :tcp/keepalive tcp-keepalive
               :tcp/keepidle tcp-keepidle
               :tcp/notsent-lowat (:tcp/notsent-lowat not-in-jnr-constants))
   :ip (assoc (table "ip" IP "IP_" ["options" "hdrincl" "tos" "ttl" "mtu" "mtu-discover" "pktinfo" "recverr"
                             "recvtos" "recvttl" "router-alert" "recvopts" "recvretopts" "retopts"
                             "recvdstaddr" "multicast-if" "multicast-ttl" "multicast-loop"
                             "add-membership" "drop-membership" "freebind" "transparent" "minttl"])
              :ip/bind-address-no-port (:ip/bind-address-no-port not-in-jnr-constants))
   :ipv6 (table "ipv6" IPv6 "IPV6_" ["v6only" "unicast-hops" "multicast-if" "multicast-hops"
                                     "multicast-loop" "join-group" "leave-group" "recvpktinfo"
                                     "pktinfo" "tclass" "recvtclass" "recvhoplimit"])
   :shut (table "shut" Shutdown "SHUT_" ["rd" "wr" "rdwr"])
   :msg (table "msg" SocketMessage "MSG_" ["peek" "oob" "waitall" "dontwait" "dontroute" "eor"
                                           "trunc" "ctrunc" "nosignal" "more" "errqueue" "confirm"])
   :ai (table "ai" AddressInfo "AI_" ["numerichost" "passive" "canonname" "numericserv" "all"
                                      "v4mapped" "addrconfig"])
   :ni (table "ni" NameInfo "NI_" ["numerichost" "numericserv" "dgram" "namereqd" "nofqdn"])})

(def ^:private reverse-tables
  ;; {kind {int keyword}}; where two names share a number the first listed wins.
  (into {} (for [[k m] tables]
             [k (reduce (fn [acc [kw v]] (if (and v (not (contains? acc v))) (assoc acc v kw) acc))
                        {} (sort-by (comp str key) m))])))

(def ^:private kind-names
  {:af "address family" :sock "socket type" :ipproto "protocol" :sol "socket level"
   :so "socket option" :tcp "TCP option" :ip "IP option" :ipv6 "IPv6 option"
   :shut "shutdown direction" :msg "message flag" :ai "address-information flag"
   :ni "name-information flag"})

(defn op-name
  "The name of operation `op` (a keyword; anything else as its string)."
  ^String [op]
  (if (instance? clojure.lang.Named op) (name op) (str op)))

(defn invalid
  "A SocketException of kind :invalid (nothing was done) for operation `op` (a keyword)."
  ^SocketException [op msg]
  (SocketException. (op-name op) SocketException$Kind/INVALID 0 nil (str msg) nil))

(defn unsupported
  "A SocketException of kind :unsupported for operation `op` (a keyword)."
  ^SocketException [op msg]
  (SocketException. (op-name op) SocketException$Kind/UNSUPPORTED 0 nil (str msg) nil))

(defn int-in?
  "True when `x` is an integer (of any integer class) with lo <= x <= hi (integers; false
  for anything else). A Long, the usual case, is compared without boxed arithmetic: every
  send and receive checks several values."
  [x lo hi]
  (if (and (instance? Long x) (instance? Long lo) (instance? Long hi))
    (let [v (.longValue ^Long x)] (and (<= (.longValue ^Long lo) v) (<= v (.longValue ^Long hi))))
    (and (integer? x) (integer? lo) (integer? hi) (<= lo x) (<= x hi))))

(def max-receive-length
  "The most bytes a receive that allocates its own array (`socket-receive`'s len,
  `socket-receive-many`'s size) accepts: 64 MiB."
  (* 64 1024 1024))

(defn- edit-distance
  "Levenshtein distance between strings a and b."
  ^long [^String a ^String b]
  (let [n (count b)]
    (loop [i 0 prev (vec (range (inc n)))]
      (if (= i (count a))
        (long (peek prev))
        (recur (inc i)
               (reduce (fn [row j]
                         (conj row (min (inc (peek row))
                                        (inc (nth prev (inc j)))
                                        (+ (nth prev j) (if (= (.charAt a i) (.charAt b j)) 0 1)))))
                       [(inc i)] (range n)))))))

(defn- did-you-mean* ^String [k candidates]
  (let [s (subs (str k) 1)
        scored (for [c (take 4096 candidates)
                     :when (and (keyword? c) (<= (count s) 64) (<= (count (str c)) 65))
                     :let [d (edit-distance s (subs (str c) 1))]
                     :when (or (<= d 2) (= (name c) (name k)))]
                 [d (str c)])]
    (if-let [[_ best] (first (sort scored))]
      (str " (did you mean " best "?)")
      "")))

(defn did-you-mean
  "\" (did you mean :x/y?)\" naming the keyword of `candidates` closest to keyword `k` (at most
  2 edits away, or sharing its name), or \"\" when none is close (or `k` is not a keyword, or
  `candidates` not a collection). Never throws."
  ^String [k candidates]
  (if-not (and (keyword? k) (seqable? candidates) (not (string? candidates)))
    ""
    (did-you-mean* k candidates)))

(defn ->int
  "The platform integer for constant `x` of `kind` (a keyword like :af/inet, or an integer,
  returned as is when it fits an int). Throws :invalid for an unknown keyword or a value of
  the wrong type, :unsupported for a constant this platform lacks."
  ([kind x] (->int kind x :constant))
  ([kind x op]
   (cond
     (keyword? x)
     (let [m (tables kind)]
       (if (contains? m x)
         (or (m x) (throw (unsupported op (str (kind-names kind) " " x " is not supported on this platform"))))
         (throw (invalid op (str "unknown " (kind-names kind) " " x (did-you-mean x (keys m)))))))
     (int-in? x Integer/MIN_VALUE Integer/MAX_VALUE) (int x)
     :else (throw (invalid op (str (kind-names kind) " must be a keyword or an int, not " (pr-str x)))))))

(defn ->kw
  "The keyword for platform integer `n` of `kind`, or nil when it has none."
  [kind n]
  (when (int-in? n Integer/MIN_VALUE Integer/MAX_VALUE) (get (get reverse-tables kind) (int n))))

(defn flags->int
  "An int from flags of `kind`: nil (0), an integer, or a collection of keywords/ints OR-ed."
  ([kind flags] (flags->int kind flags :flags))
  ([kind flags op]
   (cond
     (nil? flags) 0
     (integer? flags) (->int kind flags op)
     (keyword? flags) (->int kind flags op)
     (coll? flags) (reduce (fn [acc f] (bit-or acc (->int kind f op))) 0 flags)
     :else (throw (invalid op (str "flags must be a set of " (kind-names kind) "s or an int, not " (pr-str flags)))))))

(defn int->flags
  "The set of keywords of `kind` whose bits are all in `n` (bits without a name are dropped).
  Throws :invalid when `n` is not an integer in the range of a long."
  [kind n]
  (when-not (int-in? n Long/MIN_VALUE Long/MAX_VALUE)
    (throw (invalid :int->flags (str "int->flags: flags must be an integer, not " (pr-str n)))))
  (let [n (long n)]
    (into #{} (for [[kw v] (tables kind) :when (and v (pos? v) (= v (bit-and n v)))] kw))))
