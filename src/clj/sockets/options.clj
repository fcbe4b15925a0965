(ns sockets.options
  "Socket options: the egg's getters and setters, raw get/set, and options as keyword maps.

  Every function takes `s`, a `sockets.Socket` or an integer file descriptor.

  - Egg getters (`so-reuse-address?`, `so-send-buffer`, `tcp-no-delay?`, ...) return booleans
    for boolean options, integers for integer ones, and `so-type` a keyword (:sock/stream).
    Setters are named `set-` + the getter's name without `?` + `!` (`set-so-reuse-address!`);
    the read-only `so-accept-connections?`, `so-error` and `so-type` have none.
  - Beyond the egg, the Linux options people tune, each named after its keyword (`-` for `/`,
    `?` for a boolean): `tcp-keepidle`, `tcp-keepintvl`, `tcp-keepcnt`, `tcp-user-timeout`,
    `tcp-quickack?`, `tcp-fastopen`, `tcp-notsent-lowat`, `tcp-congestion` (a string),
    `so-bindtodevice` (a string), `so-mark`, `so-priority`, `ip-freebind?`, `ip-transparent?`,
    `ip-bind-address-no-port?`, `ipv6-unicast-hops`, `ipv6-multicast-if`,
    `ipv6-multicast-hops`, `ipv6-multicast-loop?`, `ipv6-recvpktinfo?`, each with its setter.
  - `get-socket-option` / `set-socket-option` take level and option as keywords or integers
    and values as the kernel sees them (an int, or raw bytes).
  - `socket-options` reads every option that applies to a socket into a map,
    `set-socket-options!` validates a whole map first (specs in `sockets.impl.option-specs`),
    then sets it. Structured values: :so/linger {:on? true :seconds 5} or nil, :so/rcvtimeo and
    :so/sndtimeo in ms (nil: none), :ip/add-membership {:group \"239.1.2.3\" :interface
    \"0.0.0.0\"}, :ipv6/join-group {:group \"ff02::1:3\" :interface 1} (an interface index, 0:
    the kernel's choice), :ip/multicast-if \"127.0.0.1\". `option-table` describes every option.

  Errors are `sockets.SocketException`s: :invalid for a bad argument (nothing was done),
  :unsupported for an option or level this platform or this socket lacks (at use, never at
  load), :closed for a closed socket, and the errno's kind when the kernel refuses. None of
  these functions block."
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [sockets.constants :as c]
            [sockets.impl.option-codec :as codec]
            [sockets.impl.option-specs]) ; registers the option value specs check-value uses
  (:import (java.nio ByteBuffer)
           (jnr.constants.platform Errno)
           (java.nio.charset StandardCharsets)
           (sockets Socket SocketException SocketException$Kind)
           (sockets.impl Fd Native OptionValues Scratch)))

(set! *warn-on-reflection* true)

(def option-table
  "The data that drives this namespace: {option-keyword {:level :type
  :read-only? :write-only? :families :types :doc :hints}} for every option the map API knows.
  :type is :bool :int :uint :name :sock-type :linger :timeval :bytes :in-addr :ip-mreq or
  :ipv6-mreq; :families and :types (nil: all) say which sockets `socket-options` lists the
  option for; :hints {errno-name text} the fix added to a refusal's message."
  codec/table)

;; ---------------------------------------------------------------------------------------
;; Resolution of levels, names and sockets

(def ^:private level-kinds {"sol" :sol "ipproto" :ipproto})
(def ^:private option-kinds {"so" :so "tcp" :tcp "ip" :ip "ipv6" :ipv6})
(def ^:private level-of-option-kind
  {:so :sol/socket :tcp :ipproto/tcp :ip :ipproto/ip :ipv6 :ipproto/ipv6})

(defn- level->int
  "The platform int of level `level` (a :sol/... or :ipproto/... keyword, or an int)."
  [op level]
  (if (keyword? level)
    (if-let [kind (level-kinds (namespace level))]
      (c/->int kind level op)
      (throw (c/invalid op (str "unknown socket level " level " (expected :sol/socket or an :ipproto/... keyword)"))))
    (c/->int :sol level op)))

(defn- name->int
  "The platform int of option `nm` (an :so/ :tcp/ :ip/ :ipv6/ keyword, or an int). A keyword
  given with a keyword `level` must belong to that level."
  [op level nm]
  (if (keyword? nm)
    (if-let [kind (option-kinds (namespace nm))]
      (let [want (level-of-option-kind kind)]
        (when (and (keyword? level) (not= level want))
          (throw (c/invalid op (str "option " nm " belongs to level " want ", not " level))))
        (c/->int kind nm op))
      (throw (c/invalid op (str "unknown socket option " nm (c/did-you-mean nm (keys codec/table))
                                " (expected an :so/ :tcp/ :ip/ or :ipv6/ keyword)"))))
    (c/->int :so nm op)))

(defn- fd-int? [x] (c/int-in? x 0 Integer/MAX_VALUE))

(defn- check-socket [op s]
  (when-not (or (instance? Socket s) (fd-int? s))
    (throw (c/invalid op (str "expected a sockets.Socket or an integer file descriptor, not "
                              (if (nil? s) "nil" (.getName (class s))))))))

(def ^:private eopnotsupp
  ;; Linux's EOPNOTSUPP and ENOTSUP are both 95 and jnr-constants names it ENOTSUP, which
  ;; SocketException.kindOf does not list: an option on a socket kind that has no such
  ;; level (TCP options on a unix socket) must still be :unsupported.
  (set (keep #(let [v (.intValue ^Errno %)] (when (pos? v) v)) [Errno/EOPNOTSUPP Errno/ENOTSUP])))

(defn- hint
  "The likely fix the option table gives for option `what` refused with errno `e`'s errno, or nil."
  [what ^SocketException e]
  (when (keyword? what)
    (when-let [errno (:errno (ex-data e))]
      (get-in codec/table [what :hints (name errno)]))))

(defn- rewrap
  "A kernel failure `e` from the Java option calls, re-labelled with `op` and option `what`."
  ^SocketException [^SocketException e op what]
  (if (zero? (.errno e))
    e
    (SocketException. (c/op-name op)
                      (if (eopnotsupp (.errno e)) SocketException$Kind/UNSUPPORTED (.kind e))
                      (.errno e) (.address e)
                      (str (if (= "get-socket-option" (.op e)) "unable to get" "unable to set")
                           " socket option " what " - " (Native/message (.errno e))
                           (when-let [h (hint what e)] (str " (" h ")")))
                      (when (keyword? what) {:option what}))))

(defn- with-fd*
  "Calls (f fd-number) with `s`'s fd held open (acquired from its owner for a Socket)."
  [op s f]
  (check-socket op s)
  (if (instance? Socket s)
    (let [^Fd fd (.fd ^Socket s)
          n (.acquire fd (c/op-name op))]
      (try (f n) (finally (.release fd))))
    (f (int s))))

(defn- native-get
  "getsockopt on fd number `n`: an int, or with `len` the bytes the kernel wrote."
  [op what n level nm len]
  (try
    (if len
      (OptionValues/getBytes (int n) (int level) (int nm) (int len))
      (Socket/getOptionInt (int n) (int level) (int nm)))
    (catch SocketException e (throw (rewrap e op what)))))

(defn- native-set
  "setsockopt on fd number `n` with an int or a byte array."
  [op what n level nm v]
  (try
    (if (bytes? v)
      (Socket/setOptionBytes (int n) (int level) (int nm) ^bytes v)
      (Socket/setOptionInt (int n) (int level) (int nm) (int v)))
    (catch SocketException e (throw (rewrap e op what)))))

;; [level-int name-int] -> option keyword, for the options this platform defines.
(def ^:private by-number
  (delay
    (reduce (fn [m k]
              (let [{:keys [level kind]} (codec/table k)
                    l (get-in c/tables [(level-kinds (namespace level)) level])
                    n (get-in c/tables [kind k])]
                (if (and l n (not (contains? m [l n]))) (assoc m [l n] k) m)))
            {} codec/order)))

;; ---------------------------------------------------------------------------------------
;; Table-driven reads and writes

(defn- entry [op k]
  (or (codec/table k)
      (throw (c/invalid op (str "unknown socket option " (pr-str k) (c/did-you-mean k (keys codec/table)))))))

(defn- resolve-option
  "[level-int name-int] of table option `k`; :unsupported when this platform lacks it."
  [op k]
  (let [{:keys [level kind]} (entry op k)]
    [(c/->int (level-kinds (namespace level)) level op) (c/->int kind k op)]))

(defn- check-value
  "nil when `v` is a valid value for option `k`, else a message saying why not."
  [k v]
  (let [{:keys [read-only?]} (codec/table k)]
    (cond
      (nil? (codec/table k)) (str "unknown socket option " (pr-str k) (c/did-you-mean k (keys codec/table)))
      read-only? (str "socket option " k " is read-only")
      (not (s/valid? k v))
      (str "invalid value for socket option " k ": "
           (str/trim (s/explain-str k v))))))

(defn- read-fd
  "The decoded value of option `k` (resolved to `level`/`nm`) on fd number `n`."
  [op k n level nm]
  (let [t (:type (codec/table k))]
    (codec/decode t (native-get op k n level nm (codec/get-len t)))))

(defn- read-option [op s k]
  (let [e (entry op k)]
    (when (:write-only? e)
      (throw (c/invalid op (str "socket option " k " is write-only"))))
    (let [[level nm] (resolve-option op k)]
      (with-fd* op s #(read-fd op k % level nm)))))

(defn- write-option [op s k v]
  (entry op k)
  (when-let [msg (check-value k v)] (throw (c/invalid op msg)))
  (check-socket op s)
  (let [[level nm] (resolve-option op k)
        raw (codec/encode (:type (codec/table k)) v)]
    (with-fd* op s #(native-set op k % level nm raw))
    nil))

;; ---------------------------------------------------------------------------------------
;; Raw API (the egg's get-socket-option / set-socket-option)

(defn- raw-value
  "An int or byte array from a set-socket-option value, or :invalid."
  [op v]
  (let [b (cond
            (boolean? v) nil
            (integer? v) nil
            (bytes? v) v
            (instance? ByteBuffer v) (let [bb (.duplicate ^ByteBuffer v)
                                           a (byte-array (.remaining bb))]
                                       (.get bb a)
                                       a)
            (string? v) (.getBytes ^String v StandardCharsets/UTF_8)
            :else (throw (c/invalid op (str "option value must be an int, boolean, byte array, ByteBuffer or string, not "
                                            (if (nil? v) "nil" (.getName (class v)))))))]
    (cond
      (boolean? v) (int (if v 1 0))
      (integer? v) (if (<= Integer/MIN_VALUE v Integer/MAX_VALUE)
                     (int v)
                     (throw (c/invalid op (str "option value " v " does not fit a C int"))))
      (> (alength ^bytes b) Scratch/OPT_SIZE)
      (throw (c/invalid op (str "option value must be at most " Scratch/OPT_SIZE " bytes, not " (alength ^bytes b))))
      :else b)))

(defn set-socket-option
  "Returns nil. Sets option `name` at level `level` of socket or fd `s` to `val` with
  setsockopt(2): `val` is an int, a boolean (1/0), or raw bytes (a byte array, a ByteBuffer's
  remaining bytes (its position is not changed), or a string's UTF-8 bytes) for options that
  take a struct. `level` is a keyword (:sol/socket, :ipproto/tcp, ...) or an int, `name` a
  keyword (:so/rcvbuf, :tcp/nodelay, ...) or an int.

  Throws :invalid for a bad argument or a read-only option (so/acceptconn, so/error,
  so/type, ...), :unsupported when this platform or socket lacks the level or option
  (ENOPROTOOPT), :closed for a closed socket."
  [s level name val]
  (let [op :set-socket-option
        l (level->int op level)
        n (name->int op level name)
        k (get @by-number [l n])
        v (raw-value op val)]
    (when (and k (:read-only? (codec/table k)))
      (throw (c/invalid op (str "socket option " k " is read-only"))))
    (with-fd* op s #(native-set op (or k (str name " at level " level)) % l n v))
    nil))

(defn get-socket-option
  "Returns the value of option `name` at level `level` of socket or fd `s` (getsockopt(2)):
  an int, or, given `len` (0-256), a byte array of what the kernel wrote into `len` bytes
  (e.g. 4 bytes for :tcp/nodelay). Booleans come back as ints (non-zero is true). `level` and
  `name` are keywords or ints as for `set-socket-option`.

  Throws :invalid for a bad argument, :unsupported when this platform or socket lacks the
  level or option (ENOPROTOOPT), :closed for a closed socket."
  [s level name & [len]]
  (let [op :get-socket-option
        l (level->int op level)
        n (name->int op level name)
        k (get @by-number [l n])]
    (when (and (some? len) (not (c/int-in? len 0 Scratch/OPT_SIZE)))
      (throw (c/invalid op (str "len must be an integer in 0-" Scratch/OPT_SIZE ", not " (pr-str len)))))
    (with-fd* op s #(native-get op (or k (str name " at level " level)) % l n len))))

;; ---------------------------------------------------------------------------------------
;; Egg getters and setters

(def ^:private exclusive-option
  ;; so-reuse-address? tries this option first where the platform defines it (the egg does
  ;; so on Windows, where SO_EXCLUSIVEADDRUSE has the UNIX meaning of SO_REUSEADDR), and falls
  ;; back to :so/reuseaddr when it is absent or the kernel refuses it as unsupported.
  :so/exclusiveaddruse)

(defn- exclusive-number
  "[level-int name-int] of `exclusive-option` when this platform defines it, else nil."
  []
  (let [k exclusive-option]
    (if (integer? k)
      [(c/->int :sol :sol/socket) (int k)]
      (when-let [n (get-in c/tables [:so k])] [(c/->int :sol :sol/socket) n]))))

(defn- with-reuse-fallback [op s f]
  (if-let [[l n] (exclusive-number)]
    (try (with-fd* op s #(f % l n))
         (catch SocketException e
           (if (= SocketException$Kind/UNSUPPORTED (.kind e))
             (let [[l n] (resolve-option op :so/reuseaddr)] (with-fd* op s #(f % l n)))
             (throw e))))
    (let [[l n] (resolve-option op :so/reuseaddr)] (with-fd* op s #(f % l n)))))

(defn so-reuse-address?
  "Returns true when SO_REUSEADDR is on for socket or fd `s` (where the platform has
  SO_EXCLUSIVEADDRUSE, that option is read first, as the egg does on Windows). Does not block."
  [s]
  (let [op :so-reuse-address?]
    (check-socket op s)
    (with-reuse-fallback op s (fn [fdn l n] (codec/decode :bool (native-get op :so/reuseaddr fdn l n nil))))))

(defn set-so-reuse-address!
  "Returns nil. Sets SO_REUSEADDR on socket or fd `s` to boolean `v` (SO_EXCLUSIVEADDRUSE
  first where the platform has it, as the egg does on Windows)."
  [s v]
  (let [op :set-so-reuse-address!]
    (when-let [msg (check-value :so/reuseaddr v)] (throw (c/invalid op msg)))
    (check-socket op s)
    (with-reuse-fallback op s (fn [fdn l n] (native-set op :so/reuseaddr fdn l n (codec/encode :bool v))))
    nil))

(defmacro ^:private defaccessors
  "Defines getter `g` (docstring `doc`) of option `k` and, when `setter` is a symbol, its setter."
  [g setter k doc]
  (let [t (:type (codec/table k))
        what (str/upper-case (str/replace (str (namespace k) "_" (name k)) "-" "_"))
        setter-doc (str "Returns nil. Sets " what " (" k ") on socket or fd `s` to `v`, "
                        (case t :bool "a boolean" :int "an int" :uint "an unsigned int" :name "a string" "a value")
                        " (checked against the spec of " k " first: :invalid, nothing changed).")]
    `(do
       (defn ~g ~doc [~'s] (read-option ~(keyword (name g)) ~'s ~k))
       ~(when setter
          `(defn ~setter ~setter-doc [~'s ~'v] (write-option ~(keyword (name setter)) ~'s ~k ~'v))))))

(defaccessors so-debug? set-so-debug! :so/debug
  "Returns true when SO_DEBUG is on for socket or fd `s` (Linux: setting it true needs CAP_NET_ADMIN).")
(defaccessors so-keep-alive? set-so-keep-alive! :so/keepalive
  "Returns true when SO_KEEPALIVE (keep-alive probes) is on for socket or fd `s`.")
(defaccessors so-dont-route? set-so-dont-route! :so/dontroute
  "Returns true when SO_DONTROUTE (no routing, direct hosts only) is on for socket or fd `s`.")
(defaccessors so-broadcast? set-so-broadcast! :so/broadcast
  "Returns true when SO_BROADCAST (sending to broadcast addresses) is on for socket or fd `s`.")
(defaccessors so-oob-inline? set-so-oob-inline! :so/oobinline
  "Returns true when SO_OOBINLINE (out-of-band data inline) is on for socket or fd `s`.")
(defaccessors so-accept-connections? nil :so/acceptconn
  "Returns true when socket or fd `s` is listening (SO_ACCEPTCONN, read-only).")
(defaccessors so-send-buffer set-so-send-buffer! :so/sndbuf
  "Returns the send buffer size in bytes of socket or fd `s` (SO_SNDBUF; Linux reports twice
  the value set, clamped to [its minimum, 2 * net.core.wmem_max]).")
(defaccessors so-receive-buffer set-so-receive-buffer! :so/rcvbuf
  "Returns the receive buffer size in bytes of socket or fd `s` (SO_RCVBUF; Linux reports twice
  the value set, clamped to [its minimum, 2 * net.core.rmem_max]).")
(defaccessors so-send-low-water set-so-send-low-water! :so/sndlowat
  "Returns the send low-water mark in bytes of socket or fd `s` (SO_SNDLOWAT; Linux always
  reports 1 and refuses to set it: :unsupported).")
(defaccessors so-receive-low-water set-so-receive-low-water! :so/rcvlowat
  "Returns the receive low-water mark in bytes of socket or fd `s` (SO_RCVLOWAT; Linux stores 0
  as 1 and caps TCP sockets at half the receive buffer).")
(defaccessors so-error nil :so/error
  "Returns and clears the pending error (an errno, 0 for none) of socket or fd `s` (SO_ERROR,
  read-only).")
(defaccessors so-type nil :so/type
  "Returns the type of socket or fd `s` as a keyword, :sock/stream, :sock/dgram, ... (SO_TYPE,
  read-only; the int when the type has no name).")
(defaccessors tcp-no-delay? set-tcp-no-delay! :tcp/nodelay
  "Returns true when TCP_NODELAY (Nagle's algorithm off) is on for socket or fd `s`.")
(defaccessors tcp-no-push? set-tcp-no-push! :tcp/nopush
  "Returns true when TCP_NOPUSH is on for socket or fd `s` (BSD, macOS; :unsupported on Linux,
  whose TCP_CORK is :tcp/cork in the map API).")
(defaccessors tcp-no-options? set-tcp-no-options! :tcp/noopt
  "Returns true when TCP_NOOPT (no TCP options) is on for socket or fd `s` (BSD, macOS;
  :unsupported on Linux).")
(defaccessors tcp-keep-alive set-tcp-keep-alive! :tcp/keepalive
  "Returns the idle seconds before keep-alive probes of socket or fd `s` (TCP_KEEPALIVE; on
  Linux the same option is TCP_KEEPIDLE).")
(defaccessors tcp-max-segment-size set-tcp-max-segment-size! :tcp/maxseg
  "Returns the maximum segment size of socket or fd `s` (TCP_MAXSEG; on an unconnected Linux
  socket the value set, else the one in use).")
(defaccessors ip-header-included? set-ip-header-included! :ip/hdrincl
  "Returns true when IP_HDRINCL (the application writes the IP header) is on for socket or fd
  `s` (Linux sets it only on raw sockets: :unsupported on others).")
(defaccessors ip-type-of-service set-ip-type-of-service! :ip/tos
  "Returns the type-of-service byte of socket or fd `s` (IP_TOS; on stream sockets Linux keeps
  the two ECN bits it manages).")
(defaccessors ip-time-to-live set-ip-time-to-live! :ip/ttl
  "Returns the time to live of unicast packets sent by socket or fd `s` (IP_TTL).")
(defaccessors ipv6-v6-only? set-ipv6-v6-only! :ipv6/v6only
  "Returns true when IPV6_V6ONLY is on for socket or fd `s` (an IPv6 socket then accepts no
  IPv4 peers; set it before bind).")

;; Beyond the egg: the Linux options people tune, each named after its keyword (:tcp/keepidle
;; -> tcp-keepidle, a `?` for a boolean), with `set-` ... `!` setters as the egg's.

(defaccessors so-bindtodevice set-so-bindtodevice! :so/bindtodevice
  "Returns the name of the network interface socket or fd `s` is bound to, \"\" when none
  (SO_BINDTODEVICE; Linux). Set \"\" to unbind; a name is at most 15 UTF-8 bytes (:invalid
  otherwise); rebinding a bound socket needs CAP_NET_RAW (:fatal, :errno :EPERM), and a name no
  interface has gives :errno :ENODEV.")
(defaccessors so-priority set-so-priority! :so/priority
  "Returns the priority of the packets socket or fd `s` sends (SO_PRIORITY; Linux): 0-6 may be
  set without privileges, higher needs CAP_NET_ADMIN (:errno :EPERM).")
(defaccessors so-mark set-so-mark! :so/mark
  "Returns the mark (fwmark, 0-4294967295) of the packets socket or fd `s` sends, for policy
  routing and filtering (SO_MARK; Linux; setting it needs CAP_NET_ADMIN: :errno :EPERM).")
(defaccessors tcp-keepidle set-tcp-keepidle! :tcp/keepidle
  "Returns the idle seconds (1-32767) before the first keep-alive probe of socket or fd `s`
  (TCP_KEEPIDLE; the same option as the egg's `tcp-keep-alive`; probes are sent only with
  SO_KEEPALIVE on).")
(defaccessors tcp-keepintvl set-tcp-keepintvl! :tcp/keepintvl
  "Returns the seconds (1-32767) between keep-alive probes of socket or fd `s` (TCP_KEEPINTVL).")
(defaccessors tcp-keepcnt set-tcp-keepcnt! :tcp/keepcnt
  "Returns how many unanswered keep-alive probes (1-127) drop the connection of socket or fd
  `s` (TCP_KEEPCNT).")
(defaccessors tcp-user-timeout set-tcp-user-timeout! :tcp/user-timeout
  "Returns the ms sent data of socket or fd `s` may stay unacknowledged before the kernel drops
  the connection, 0 for its default (TCP_USER_TIMEOUT; Linux).")
(defaccessors tcp-quickack? set-tcp-quickack! :tcp/quickack
  "Returns true when TCP_QUICKACK (acknowledge at once, no delayed ACKs) is on for socket or fd
  `s` (Linux; not permanent: the kernel may leave quick-ack mode again).")
(defaccessors tcp-fastopen set-tcp-fastopen! :tcp/fastopen
  "Returns the TCP Fast Open queue length of socket or fd `s`, 0 when off (TCP_FASTOPEN; set it
  on a socket before or after listen; Linux caps it at net.core.somaxconn and enables server
  Fast Open only when net.ipv4.tcp_fastopen has bit 2 set).")
(defaccessors tcp-notsent-lowat set-tcp-notsent-lowat! :tcp/notsent-lowat
  "Returns the bytes of unsent data above which socket or fd `s` stops polling writable, 0 for
  the system default (TCP_NOTSENT_LOWAT; Linux, macOS).")
(defaccessors tcp-congestion set-tcp-congestion! :tcp/congestion
  "Returns the name of the congestion control algorithm of socket or fd `s`, e.g. \"cubic\"
  (TCP_CONGESTION; Linux, FreeBSD). Setting a name the kernel lacks gives :errno :ENOENT (see
  /proc/sys/net/ipv4/tcp_available_congestion_control), one not in
  tcp_allowed_congestion_control without CAP_NET_ADMIN :errno :EPERM; a name longer than 15
  UTF-8 bytes or with a NUL is :invalid.")
(defaccessors ip-freebind? set-ip-freebind! :ip/freebind
  "Returns true when IP_FREEBIND (bind to an address not, or not yet, local) is on for socket or
  fd `s` (Linux).")
(defaccessors ip-transparent? set-ip-transparent! :ip/transparent
  "Returns true when IP_TRANSPARENT (transparent proxying) is on for socket or fd `s` (Linux;
  setting it true needs CAP_NET_ADMIN: :errno :EPERM).")
(defaccessors ip-bind-address-no-port? set-ip-bind-address-no-port! :ip/bind-address-no-port
  "Returns true when IP_BIND_ADDRESS_NO_PORT is on for socket or fd `s`: a bind with port 0 then
  leaves the port to connect, which can share it among connections to different peers (Linux).")
(defaccessors ipv6-unicast-hops set-ipv6-unicast-hops! :ipv6/unicast-hops
  "Returns the hop limit of unicast packets socket or fd `s` sends (IPV6_UNICAST_HOPS); set
  0-255, or -1 for the route's default, which is what then reads back.")
(defaccessors ipv6-multicast-if set-ipv6-multicast-if! :ipv6/multicast-if
  "Returns the interface index multicast from socket or fd `s` leaves by, 0 for the kernel's
  choice (IPV6_MULTICAST_IF).")
(defaccessors ipv6-multicast-hops set-ipv6-multicast-hops! :ipv6/multicast-hops
  "Returns the hop limit of multicast packets socket or fd `s` sends (IPV6_MULTICAST_HOPS); set
  0-255, or -1 for the default, 1.")
(defaccessors ipv6-multicast-loop? set-ipv6-multicast-loop! :ipv6/multicast-loop
  "Returns true when multicast sent by socket or fd `s` loops back to local members
  (IPV6_MULTICAST_LOOP).")
(defaccessors ipv6-recvpktinfo? set-ipv6-recvpktinfo! :ipv6/recvpktinfo
  "Returns true when socket or fd `s` receives each datagram's destination address and interface
  as an :ipv6/pktinfo control message of `sockets.messages/socket-receive-message`
  (IPV6_RECVPKTINFO).")

;; ---------------------------------------------------------------------------------------
;; Data API

(defn- family-and-type
  "[family-kw-or-nil type-kw-or-nil] of `s`."
  [op s]
  (if (instance? Socket s)
    [(c/->kw :af (.family ^Socket s)) (c/->kw :sock (.type ^Socket s))]
    (with-fd* op s
      (fn [n]
        (let [sol (c/->int :sol :sol/socket op)
              t (native-get op :so/type n sol (c/->int :so :so/type op) nil)
              dom (get-in c/tables [:so :so/domain])
              f (when dom (try (native-get op :so/domain n sol dom nil) (catch SocketException _ nil)))]
          [(some->> f (c/->kw :af)) (c/->kw :sock t)])))))

(defn- applies? [fam typ k]
  (let [{:keys [families types write-only?]} (codec/table k)]
    (and (not write-only?)
         (or (nil? families) (nil? fam) (contains? families fam))
         (or (nil? types) (nil? typ) (contains? types typ)))))

(defn- skippable?
  "True for a read failure that means \"not available on this socket\": unsupported, or
  ENOTCONN (:ip/mtu before connect)."
  [^SocketException e]
  (or (= SocketException$Kind/UNSUPPORTED (.kind e))
      (and (pos? (.errno e)) (= (.errno e) (Native/ENOTCONN)))))

(defn socket-options
  "Returns a map {option-keyword value} of socket or fd `s`'s options: with no `ks`, every
  readable option of `option-table` that applies to its family and type and that this
  platform and socket support (others are left out); with `ks`, a collection of option
  keywords, exactly those (an unsupported one throws :unsupported, a write-only or unknown one
  :invalid). Values are as the setters take them: booleans, ints, :so/type a keyword,
  :so/linger nil or {:on? true :seconds n}, timeouts in ms or nil, :ip/multicast-if text.
  Does not block; throws :closed for a closed socket."
  ([s]
   (let [op :socket-options
         _ (check-socket op s)
         [fam typ] (family-and-type op s)
         ks (filter #(and (applies? fam typ %)
                          (get-in c/tables [(:kind (codec/table %)) %]))
                    codec/order)]
     (with-fd* op s
       (fn [n]
         (reduce (fn [m k]
                   (let [[l nm] (resolve-option op k)]
                     (try (assoc m k (read-fd op k n l nm))
                          (catch SocketException e
                            (if (skippable? e) m (throw e))))))
                 {} ks)))))
  ([s ks]
   (let [op :socket-options]
     (when-not (and (coll? ks) (not (map? ks)))
       (throw (c/invalid op (str "expected a collection of option keywords, not " (pr-str ks)))))
     (check-socket op s)
     (let [resolved (mapv (fn [k]
                            (when (:write-only? (entry op k))
                              (throw (c/invalid op (str "socket option " k " is write-only"))))
                            [k (resolve-option op k)])
                          ks)]
       (with-fd* op s
         (fn [n]
           (reduce (fn [m [k [l nm]]] (assoc m k (read-fd op k n l nm))) {} resolved)))))))

(defn check-options
  "Returns `opts` when it is a valid options map (nil, or {writable-option-keyword value} with
  every value conforming to its spec), else throws :invalid (nothing done) naming every bad
  entry, with ex-data :problems {option message}. `op` names the operation in the error."
  ([opts] (check-options :set-socket-options! opts))
  ([op opts]
   (when-not (or (nil? opts) (map? opts))
     (throw (c/invalid op (str "options must be a map, not " (pr-str opts)))))
   (let [problems (into {}
                        (keep (fn [[k v]] (when-let [msg (check-value k v)] [k msg])))
                        opts)]
     (when (seq problems)
       (throw (SocketException. (c/op-name op) SocketException$Kind/INVALID 0 nil
                                (str "invalid socket options: " (str/join "; " (sort (vals problems))))
                                {:problems problems})))
     opts)))

(def ^:private table-index (zipmap codec/order (range)))

(defn- set-options* [op s opts]
  (check-options op opts)
  (check-socket op s)
  (when (seq opts)
    (let [plan (->> (keys opts)
                    (sort-by table-index)
                    (mapv (fn [k] [k (resolve-option op k) (codec/encode (:type (codec/table k)) (get opts k))])))]
      (with-fd* op s
        (fn [n]
          (reduce (fn [applied [k [l nm] raw]]
                    (try (native-set op k n l nm raw)
                         (catch SocketException e
                           (throw (SocketException. (c/op-name op) (.kind e) (.errno e) (.address e)
                                                    (str (.getMessage e)
                                                         (if (seq applied)
                                                           (str " (already set: " (str/join ", " applied) ")")
                                                           " (nothing was set)"))
                                                    {:option k :applied applied}))))
                    (conj applied k))
                  [] plan)))))
  s)

(defn set-socket-options!
  "Returns `s`. Sets every option of map `opts` ({option-keyword value}, see `option-table`)
  on socket or fd `s`, in `option-table` order. Every value is checked against its spec
  before anything is set (:invalid, nothing changed, ex-data :problems). If the kernel refuses
  one, throws a SocketException of the errno's kind whose ex-data has :option (the one refused)
  and :applied (a vector of those already set, which stay set). Does not block."
  [s opts]
  (set-options* :set-socket-options! s opts))

(defn apply-options!
  "Returns `s` after setting options map `opts` on it, for `socket`'s options argument: as
  `set-socket-options!` but errors name :socket as their op. Closes nothing: the caller
  closes the socket when this throws. Call `check-options` before opening the socket to
  refuse an invalid map without opening anything."
  [s opts]
  (set-options* :socket s opts))
