(ns ^:no-doc sockets.impl.option-codec
  "The socket option table and the conversions between option values (Clojure data) and
  what getsockopt/setsockopt take (an int or raw bytes). Pure: nothing here calls the kernel
  (IPv6 text is parsed by libc's inet_pton, never looked up)."
  (:require [clojure.string :as str]
            [sockets.constants :as c])
  (:import (java.nio.charset StandardCharsets)
           (sockets SockAddr SocketException)
           (sockets.impl OptionValues)))

(set! *warn-on-reflection* true)

;; ---------------------------------------------------------------------------------------
;; The table

(def ^:private level-of-kind
  {"so" :sol/socket "tcp" :ipproto/tcp "ip" :ipproto/ip "ipv6" :ipproto/ipv6})

(def ^:private families-of-kind
  ;; nil: every family.
  {"so" nil "tcp" #{:af/inet :af/inet6} "ip" #{:af/inet} "ipv6" #{:af/inet6}})

(def ^:private types-of-kind
  {"tcp" #{:sock/stream}})

(def ^:private entries
  ;; [option {:type ... :read-only? :write-only? :doc}], in the order options are set and listed.
  ;; :type is one of
  ;;   :bool       int on the wire, true/false in Clojure (any non-zero is true)
  ;;   :int        int
  ;;   :sock-type  int on the wire, a :sock/... keyword (or the int when it has no name)
  ;;   :linger     struct linger        <-> nil | {:on? true :seconds n}
  ;;   :timeval    struct timeval       <-> nil (no timeout) | milliseconds
  ;;   :bytes      raw bytes (at most :max-len)
  ;;   :in-addr    struct in_addr       <-> "a.b.c.d"
  ;;   :ip-mreq    struct ip_mreq       <-  {:group "a.b.c.d" :interface "a.b.c.d"} (write-only)
  ;;   :uint       unsigned int         <-> 0..4294967295
  ;;   :name       NUL-terminated text  <-> a string of at most `max-name-bytes` UTF-8 bytes
  ;;   :ipv6-mreq  struct ipv6_mreq     <-  {:group "ff02::1:3" :interface index} (write-only)
  ;; :hints {errno-name text}: the likely fix, added to the kernel's refusal with that errno.
  [[:so/reuseaddr {:type :bool :doc "allow bind to reuse a local address (SO_REUSEADDR)"}]
   [:so/debug {:type :bool :doc "kernel debugging (SO_DEBUG; Linux: setting true needs CAP_NET_ADMIN)"}]
   [:so/acceptconn {:type :bool :read-only? true :doc "the socket is listening (SO_ACCEPTCONN)"}]
   [:so/keepalive {:type :bool :doc "send keep-alive probes (SO_KEEPALIVE)"}]
   [:so/dontroute {:type :bool :doc "bypass routing, send to directly connected hosts only (SO_DONTROUTE)"}]
   [:so/broadcast {:type :bool :doc "permit sending to broadcast addresses (SO_BROADCAST)"}]
   [:so/linger {:type :linger :doc "close blocks up to :seconds while unsent data remains (SO_LINGER); nil: off"}]
   [:so/oobinline {:type :bool :doc "out-of-band data is received inline (SO_OOBINLINE)"}]
   [:so/sndbuf {:type :int :doc "send buffer size in bytes (SO_SNDBUF; Linux stores 2x the value, clamped)"}]
   [:so/rcvbuf {:type :int :doc "receive buffer size in bytes (SO_RCVBUF; Linux stores 2x the value, clamped)"}]
   [:so/sndlowat {:type :int :doc "send low-water mark in bytes (SO_SNDLOWAT; read-only on Linux)"}]
   [:so/rcvlowat {:type :int :doc "receive low-water mark in bytes (SO_RCVLOWAT)"}]
   [:so/sndtimeo {:type :timeval :doc "kernel send timeout in ms, nil for none (SO_SNDTIMEO)"}]
   [:so/rcvtimeo {:type :timeval :doc "kernel receive timeout in ms, nil for none (SO_RCVTIMEO)"}]
   [:so/error {:type :int :read-only? true :doc "pending socket error (an errno), cleared by reading (SO_ERROR)"}]
   [:so/type {:type :sock-type :read-only? true :doc "the socket type, e.g. :sock/stream (SO_TYPE)"}]
   [:so/useloopback {:type :bool :doc "bypass hardware when possible (SO_USELOOPBACK; BSD)"}]
   [:so/reuseport {:type :bool :doc "allow several sockets to bind the same port (SO_REUSEPORT)"}]
   [:so/timestamp {:type :bool :doc "timestamp received datagrams (SO_TIMESTAMP)"}]
   [:so/exclusiveaddruse {:type :bool :doc "exclusive address use (SO_EXCLUSIVEADDRUSE; Windows only)"}]
   [:so/bindtodevice {:type :name
                      :hints {"ENODEV" "no network interface has that name (see /sys/class/net)"
                              "EPERM" "rebinding a bound socket needs CAP_NET_RAW"}
                      :doc "the network interface name the socket is bound to, \"\" for none (SO_BINDTODEVICE; Linux; rebinding a bound socket needs CAP_NET_RAW)"}]
   [:so/priority {:type :int :hints {"EPERM" "a priority above 6 needs CAP_NET_ADMIN"}
                  :doc "priority of sent packets for queueing, 0-6 unprivileged, higher needs CAP_NET_ADMIN (SO_PRIORITY; Linux)"}]
   [:so/mark {:type :uint :hints {"EPERM" "setting a mark needs CAP_NET_ADMIN"}
              :doc "the mark (fwmark) of sent packets for routing and filtering, 0-4294967295 (SO_MARK; Linux; needs CAP_NET_ADMIN)"}]

   [:tcp/nodelay {:type :bool :doc "disable Nagle's algorithm (TCP_NODELAY)"}]
   [:tcp/nopush {:type :bool :doc "do not send partial frames (TCP_NOPUSH; BSD, macOS)"}]
   [:tcp/noopt {:type :bool :doc "do not use TCP options (TCP_NOOPT; BSD, macOS)"}]
   [:tcp/keepalive {:type :int :doc "idle seconds before keep-alive probes (TCP_KEEPALIVE; TCP_KEEPIDLE on Linux)"}]
   [:tcp/keepidle {:type :int :doc "idle seconds before keep-alive probes, 1-32767 (TCP_KEEPIDLE; the same option as :tcp/keepalive)"}]
   [:tcp/maxseg {:type :int :doc "maximum segment size (TCP_MAXSEG)"}]
   [:tcp/keepintvl {:type :int :doc "seconds between keep-alive probes (TCP_KEEPINTVL)"}]
   [:tcp/keepcnt {:type :int :doc "keep-alive probes before the connection is dropped (TCP_KEEPCNT)"}]
   [:tcp/cork {:type :bool :doc "hold back partial frames (TCP_CORK; Linux)"}]
   [:tcp/user-timeout {:type :int :doc "ms transmitted data may stay unacknowledged, 0 for the system default (TCP_USER_TIMEOUT; Linux)"}]
   [:tcp/quickack {:type :bool :doc "acknowledge at once rather than delay ACKs; the kernel may turn it off again (TCP_QUICKACK; Linux)"}]
   [:tcp/fastopen {:type :int :doc "TCP Fast Open queue length of a listening socket, 0 for off; Linux caps it at net.core.somaxconn (TCP_FASTOPEN)"}]
   [:tcp/notsent-lowat {:type :int :doc "bytes of unsent data above which the socket does not poll writable (TCP_NOTSENT_LOWAT)"}]
   [:tcp/congestion {:type :name
                     :hints {"ENOENT" "no such congestion control algorithm; see /proc/sys/net/ipv4/tcp_available_congestion_control"
                             "EPERM" "only those in /proc/sys/net/ipv4/tcp_allowed_congestion_control are allowed without CAP_NET_ADMIN"}
                     :doc "the congestion control algorithm, e.g. \"cubic\" or \"reno\" (TCP_CONGESTION; Linux, FreeBSD)"}]

   [:ip/options {:type :bytes :max-len 40 :doc "IP options sent with every packet, raw bytes (IP_OPTIONS)"}]
   [:ip/hdrincl {:type :bool :doc "the application supplies the IP header (IP_HDRINCL; raw sockets)"}]
   [:ip/tos {:type :int :doc "type-of-service byte (IP_TOS; Linux keeps the ECN bits on stream sockets)"}]
   [:ip/ttl {:type :int :doc "time to live of unicast packets (IP_TTL)"}]
   [:ip/mtu {:type :int :read-only? true :doc "path MTU of a connected socket (IP_MTU; Linux)"}]
   [:ip/mtu-discover {:type :int :doc "path MTU discovery mode, IP_PMTUDISC_* (IP_MTU_DISCOVER; Linux)"}]
   [:ip/pktinfo {:type :bool :doc "receive IP_PKTINFO control messages (IP_PKTINFO)"}]
   [:ip/recverr {:type :bool :doc "queue extended errors (IP_RECVERR; Linux)"}]
   [:ip/recvtos {:type :bool :doc "receive the TOS byte as a control message (IP_RECVTOS)"}]
   [:ip/recvttl {:type :bool :doc "receive the TTL as a control message (IP_RECVTTL)"}]
   [:ip/recvopts {:type :bool :doc "receive incoming IP options (IP_RECVOPTS)"}]
   [:ip/retopts {:type :bool :doc "receive IP options as they would be returned (IP_RETOPTS)"}]
   [:ip/recvretopts {:type :bool :doc "alias of IP_RETOPTS on Linux (IP_RECVRETOPTS)"}]
   [:ip/recvdstaddr {:type :bool :doc "receive the destination address (IP_RECVDSTADDR; BSD, macOS)"}]
   [:ip/multicast-if {:type :in-addr :doc "local IPv4 address of the outgoing multicast interface (IP_MULTICAST_IF)"}]
   [:ip/multicast-ttl {:type :int :doc "time to live of multicast packets, 0-255 (IP_MULTICAST_TTL)"}]
   [:ip/multicast-loop {:type :bool :doc "loop sent multicast back to local members (IP_MULTICAST_LOOP)"}]
   [:ip/add-membership {:type :ip-mreq :write-only? true :doc "join {:group :interface} (IP_ADD_MEMBERSHIP)"}]
   [:ip/drop-membership {:type :ip-mreq :write-only? true :doc "leave {:group :interface} (IP_DROP_MEMBERSHIP)"}]
   [:ip/freebind {:type :bool :doc "bind to an address that is not (yet) local (IP_FREEBIND; Linux)"}]
   [:ip/transparent {:type :bool :hints {"EPERM" "true needs CAP_NET_ADMIN"}
                     :doc "transparent proxying: bind to and send from foreign addresses (IP_TRANSPARENT; Linux; true needs CAP_NET_ADMIN)"}]
   [:ip/bind-address-no-port {:type :bool :doc "bind with port 0 defers choosing the port to connect (IP_BIND_ADDRESS_NO_PORT; Linux)"}]

   [:ipv6/v6only {:type :bool :doc "an IPv6 socket accepts IPv6 only, no v4-mapped (IPV6_V6ONLY)"}]
   [:ipv6/unicast-hops {:type :int :doc "hop limit of unicast packets, 0-255, -1 for the route's default (IPV6_UNICAST_HOPS)"}]
   [:ipv6/multicast-hops {:type :int :doc "hop limit of multicast packets, 0-255, -1 for the default, 1 (IPV6_MULTICAST_HOPS)"}]
   [:ipv6/multicast-if {:type :int :doc "interface index for outgoing multicast, 0 for the default (IPV6_MULTICAST_IF)"}]
   [:ipv6/multicast-loop {:type :bool :doc "loop sent multicast back (IPV6_MULTICAST_LOOP)"}]
   [:ipv6/tclass {:type :int :doc "traffic class byte, 0-255 (IPV6_TCLASS)"}]
   [:ipv6/recvpktinfo {:type :bool :doc "receive IPV6_PKTINFO control messages (IPV6_RECVPKTINFO)"}]
   [:ipv6/recvtclass {:type :bool :doc "receive the traffic class as a control message (IPV6_RECVTCLASS)"}]
   [:ipv6/recvhoplimit {:type :bool :doc "receive the hop limit as a control message (IPV6_RECVHOPLIMIT)"}]
   [:ipv6/join-group {:type :ipv6-mreq :write-only? true :doc "join {:group :interface} (IPV6_JOIN_GROUP, also called IPV6_ADD_MEMBERSHIP)"}]
   [:ipv6/leave-group {:type :ipv6-mreq :write-only? true :doc "leave {:group :interface} (IPV6_LEAVE_GROUP, also called IPV6_DROP_MEMBERSHIP)"}]])

(def order
  "Every option keyword of the table, in table order (the order options are set in)."
  (mapv first entries))

(def table
  "{option-keyword {:level :type :read-only? :write-only? :families :types :doc}}: the one
  description of every option the data API knows. :families/:types (sets of keywords, nil for
  all) say for which sockets `socket-options` lists it; :level is the option's level keyword."
  (into {} (for [[k m] entries
                 :let [kind (namespace k)]]
             [k (cond-> (assoc m
                               :level (level-of-kind kind)
                               :kind (keyword kind)
                               :families (families-of-kind kind)
                               :read-only? (boolean (:read-only? m))
                               :write-only? (boolean (:write-only? m)))
                  (types-of-kind kind) (assoc :types (types-of-kind kind)))])))

;; ---------------------------------------------------------------------------------------
;; IPv4 text

(def ^:private ipv4-re #"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})")

(defn ipv4-bytes
  "The 4 network-order bytes of dotted-quad IPv4 text \"a.b.c.d\" (each 0-255, no leading
  zeros), or nil when `x` is anything else."
  ^bytes [x]
  (when (string? x)
    (when-let [[_ & parts] (re-matches ipv4-re x)]
      (let [ns (map #(Long/parseLong %) parts)]
        (when (every? #(<= 0 % 255) ns)
          (byte-array (map unchecked-byte ns)))))))

(defn ipv4?
  "True for dotted-quad IPv4 text."
  [x]
  (some? (ipv4-bytes x)))

(defn ipv4-multicast?
  "True for dotted-quad IPv4 text of a multicast group (224.0.0.0/4)."
  [x]
  (when-let [b (ipv4-bytes x)] (= 0xe0 (bit-and 0xf0 (aget b 0)))))

(defn ipv4-text
  "\"a.b.c.d\" of 4 network-order bytes."
  [^bytes b]
  (str/join "." (map #(bit-and 0xff (long %)) (take 4 b))))

;; ---------------------------------------------------------------------------------------
;; IPv6 text

(defn ipv6-bytes
  "The 16 network-order bytes of numeric IPv6 text (\"ff02::1:3\"; no \"%scope\", never a
  name lookup), or nil when `x` is anything else."
  ^bytes [x]
  (when (and (string? x) (<= 2 (count x) 45) (str/includes? x ":") (not (str/includes? x "%")))
    (let [sa (try (SockAddr/parseInet ^String x 0) (catch SocketException _ nil))
          b (some-> ^SockAddr sa .addressBytes)]
      (when (and b (= 16 (alength ^bytes b))) b))))

(defn ipv6-multicast?
  "True for numeric IPv6 text of a multicast group (ff00::/8)."
  [x]
  (when-let [b (ipv6-bytes x)] (= -1 (aget b 0))))

;; ---------------------------------------------------------------------------------------
;; Names (interface names, congestion control algorithms)

(def max-name-bytes
  "The most UTF-8 bytes of a :name value: IFNAMSIZ and TCP_CA_NAME_MAX are 16 with the NUL."
  15)

(defn name-text?
  "True for a string of at most `max-name-bytes` UTF-8 bytes with no NUL and no unpaired
  surrogate (text UTF-8 cannot encode)."
  [x]
  (and (string? x)
       (<= (count x) max-name-bytes)
       (not (str/includes? x "\u0000"))
       (.canEncode (.newEncoder StandardCharsets/UTF_8) ^CharSequence x)
       (<= (alength (.getBytes ^String x StandardCharsets/UTF_8)) max-name-bytes)))

(defn- name-bytes
  "The UTF-8 bytes of name `s` with a terminating NUL."
  ^bytes [^String s]
  (let [b (.getBytes s StandardCharsets/UTF_8)]
    (java.util.Arrays/copyOf b (inc (alength b)))))

(defn- name-string
  "The text before the first NUL of bytes `b` (all of them without one)."
  [^bytes b]
  (let [n (or (first (keep-indexed (fn [i x] (when (zero? (long x)) i)) b)) (alength b))]
    (String. b 0 (int n) StandardCharsets/UTF_8)))

;; ---------------------------------------------------------------------------------------
;; Values

(def max-ms
  "The largest timeout in ms a :timeval option takes (what a 32-bit tv_sec can hold)."
  (* 1000 (long Integer/MAX_VALUE)))

(defn get-len
  "The byte length to read option type `t` with, or nil when it is read as an int."
  [t]
  (case t
    :linger (OptionValues/lingerSize)
    :timeval (OptionValues/timevalSize)
    :bytes 40
    :in-addr 4
    :name (inc max-name-bytes)
    nil))

(defn encode
  "The int or byte array setsockopt takes for value `v` of type `t` (already validated)."
  [t v]
  (case t
    :bool (int (if v 1 0))
    :int (int v)
    :linger (if (and v (:on? v))
              (OptionValues/linger true (int (:seconds v 0)))
              (OptionValues/linger false (int (or (:seconds v) 0))))
    :timeval (OptionValues/timeval (* 1000 (long (or v 0))))
    :bytes v
    :in-addr (ipv4-bytes v)
    :ip-mreq (OptionValues/ipMreq (ipv4-bytes (:group v)) (ipv4-bytes (or (:interface v) "0.0.0.0")))
    :uint (unchecked-int (long v))
    :name (name-bytes v)
    :ipv6-mreq (OptionValues/ipv6Mreq (ipv6-bytes (:group v)) (int (or (:interface v) 0)))))

(defn decode
  "The value of type `t` from what getsockopt returned (an int, or bytes for a type with a
  `get-len`)."
  [t raw]
  (case t
    :bool (not (zero? (long raw)))
    :int (long raw)
    :sock-type (or (c/->kw :sock raw) (long raw))
    :linger (let [[on secs] (OptionValues/lingerValues raw)]
              (when-not (zero? on) {:on? true :seconds (long secs)}))
    ;; the kernel rounds up to its clock tick; a sub-millisecond remainder is dropped, but a
    ;; set timeout never reads back as nil (none)
    :timeval (let [us (OptionValues/timevalMicros raw)]
               (when (pos? us) (max 1 (quot us 1000))))
    :bytes raw
    :in-addr (ipv4-text raw)
    :uint (Integer/toUnsignedLong (int raw))
    :name (name-string raw)))
