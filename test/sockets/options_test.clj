(ns sockets.options-test
  "Socket options over real sockets. The kernel rules the round-trip properties compare with are
  Linux's (the suite reads /proc); each is written out below where it is not the identity."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.spec.alpha :as s]
            [clojure.spec.test.alpha :as stest]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [sockets.constants :as c]
            [sockets.core :as sc]
            [sockets.impl.option-codec :as codec]
            [sockets.impl.option-specs :as specs]
            [sockets.messages :as m]
            [sockets.options :as o]
            [sockets.test-util :as u])
  (:import (java.nio ByteBuffer ByteOrder)
           (jnr.constants.platform Errno)
           (jnr.ffi Pointer)
           (sockets Constants$Ipv6Option Constants$IpOption Constants$SocketOption Constants$TcpOption
                    SockAddr Socket SocketException)
           (sockets.impl Native OptionValues)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(def ^:private linux? Native/LINUX)

;; ---------------------------------------------------------------------------------------
;; Helpers

(defn- open ^Socket [[family type proto]]
  (Socket/open (c/->int :af family) (c/->int :sock type) (c/->int :ipproto (or proto 0))))

(defmacro ^:private with-socket
  "Binds `sym` to a socket of [family type protocol] `spec` for `body`, closing it after."
  [[sym spec] & body]
  `(let [~(with-meta sym {:tag `Socket}) (open ~spec)]
     (try ~@body (finally (.closeQuietly ~sym)))))

(defn- closed-socket ^Socket [spec] (doto (open spec) (.close)))

(defn- norm
  "Option values with byte arrays as vectors, so they compare by value."
  [x]
  (cond (bytes? x) (vec x)
        (map? x) (into {} (for [[k v] x] [k (norm v)]))
        :else x))

(defn- snapshot
  "Every option value of `s`, or with `k` (when readable) just that one."
  ([s] (norm (o/socket-options s)))
  ([s k] (if (or (:write-only? (o/option-table k))
                 (nil? (get-in c/tables [(:kind (o/option-table k)) k])))
           (snapshot s)
           (norm (o/socket-options s [k])))))

(defn- kind-of [f] (u/kind-of f))

(defn- data-of [f]
  (try (f) nil (catch SocketException e (ex-data e))))

(defn- raw-set
  "Sets option `k` to value `v` through the raw API: booleans as themselves, others encoded."
  [s k v]
  (let [{:keys [level type]} (o/option-table k)]
    (o/set-socket-option s level k (if (= type :bool) v (codec/encode type v)))))

(defn- raw-get
  "Reads option `k` through the raw API and decodes it."
  [s k]
  (let [{:keys [level type]} (o/option-table k)
        len (codec/get-len type)]
    (codec/decode type (if len (o/get-socket-option s level k len) (o/get-socket-option s level k)))))

(defn- slurp-long [path] (Long/parseLong (str/trim (slurp path))))

(def ^:private notes (atom #{}))
(defn- note!
  "Prints a skip or platform note once (a skipped check is never silent)."
  [msg]
  (when-not (contains? @notes msg)
    (swap! notes conj msg)
    (println (str "NOTE (sockets.options-test): " msg))))

;; ---------------------------------------------------------------------------------------
;; Kernel facts, measured rather than written down where possible

(def ^:private hz
  ;; The kernel's tick rate: a 1 ms SO_RCVTIMEO is rounded up to one tick, which reads back as
  ;; 1e6/HZ microseconds.
  (delay
    (with-socket [s [:af/inet :sock/dgram]]
      (o/set-socket-option s :sol/socket :so/rcvtimeo (OptionValues/timeval 1000))
      (let [us (OptionValues/timevalMicros (o/get-socket-option s :sol/socket :so/rcvtimeo 64))]
        (Math/round (/ 1e6 (double us)))))))

(defn- timeo-readback
  "Linux (net/core/sock.c sock_set_timeout / sock_get_timeout): a timeval becomes
  sec*HZ + ceil(usec / (1e6/HZ)) ticks and reads back as ticks/HZ s + (ticks%HZ)*1e6/HZ us;
  0 means none (nil)."
  [ms]
  (when (and ms (pos? ms))
    (let [hz (long @hz)
          us (* 1000 (long ms))
          upj (quot 1000000 hz)
          ticks (+ (* (quot us 1000000) hz) (quot (+ (rem us 1000000) (dec upj)) upj))
          rus (+ (* (quot ticks hz) 1000000) (quot (* (rem ticks hz) 1000000) hz))]
      (when (pos? rus) (max 1 (quot rus 1000))))))

(defn- min-buf
  "The kernel's floor for SO_SNDBUF/SO_RCVBUF (SOCK_MIN_SNDBUF/RCVBUF): what setting 0 gives."
  [k spec]
  (with-socket [s spec]
    (o/set-socket-options! s {k 0})
    (get (o/socket-options s [k]) k)))

(def ^:private buf-rules
  (delay {:so/sndbuf [(min-buf :so/sndbuf [:af/inet :sock/dgram]) (slurp-long "/proc/sys/net/core/wmem_max")]
          :so/rcvbuf [(min-buf :so/rcvbuf [:af/inet :sock/dgram]) (slurp-long "/proc/sys/net/core/rmem_max")]}))

(defn- buf-readback
  "Linux (sock_setsockopt SO_SNDBUF/SO_RCVBUF): the value is capped at net.core.[wr]mem_max,
  doubled (for bookkeeping overhead), and raised to the kernel's minimum."
  [k v]
  (let [[lo mx] (@buf-rules k)]
    (max lo (* 2 (min (long v) mx)))))

(def ^:private raw-socket-ok?
  (delay (try (.closeQuietly (open [:af/inet :sock/raw :ipproto/icmp])) true
              (catch SocketException _ false))))

(def ^:private debug-ok?
  ;; SO_DEBUG true needs CAP_NET_ADMIN on Linux.
  (delay (with-socket [s [:af/inet :sock/dgram]]
           (try (o/set-so-debug! s true) true (catch SocketException _ false)))))

(def ^:private lo-index (delay (.if_nametoindex Native/LIBC "lo")))

(def ^:private cap-net-admin?
  ;; SO_MARK (any value) needs CAP_NET_ADMIN on Linux; so do SO_PRIORITY above 6, IP_TRANSPARENT
  ;; true, a congestion control not in tcp_allowed_congestion_control, and (CAP_NET_RAW, which
  ;; goes with it here) rebinding SO_BINDTODEVICE.
  (delay (with-socket [s [:af/inet :sock/dgram]]
           (try (o/set-so-mark! s 1) true (catch SocketException _ false)))))

(defn- proc-words [path] (vec (remove str/blank? (str/split (str/trim (slurp path)) #"\s+"))))

(def ^:private congestion-controls
  ;; The algorithms this process may set: all available ones with CAP_NET_ADMIN, else the allowed.
  (delay (proc-words (if @cap-net-admin?
                       "/proc/sys/net/ipv4/tcp_available_congestion_control"
                       "/proc/sys/net/ipv4/tcp_allowed_congestion_control"))))

(def ^:private interface-names
  (delay (vec (sort (.list (io/file "/sys/class/net"))))))

;; ---------------------------------------------------------------------------------------
;; Per-option test contexts

(def ^:private accessors
  {:so/reuseaddr [o/so-reuse-address? o/set-so-reuse-address!]
   :so/debug [o/so-debug? o/set-so-debug!]
   :so/keepalive [o/so-keep-alive? o/set-so-keep-alive!]
   :so/dontroute [o/so-dont-route? o/set-so-dont-route!]
   :so/broadcast [o/so-broadcast? o/set-so-broadcast!]
   :so/oobinline [o/so-oob-inline? o/set-so-oob-inline!]
   :so/sndbuf [o/so-send-buffer o/set-so-send-buffer!]
   :so/rcvbuf [o/so-receive-buffer o/set-so-receive-buffer!]
   :so/sndlowat [o/so-send-low-water o/set-so-send-low-water!]
   :so/rcvlowat [o/so-receive-low-water o/set-so-receive-low-water!]
   :tcp/nodelay [o/tcp-no-delay? o/set-tcp-no-delay!]
   :tcp/nopush [o/tcp-no-push? o/set-tcp-no-push!]
   :tcp/noopt [o/tcp-no-options? o/set-tcp-no-options!]
   :tcp/keepalive [o/tcp-keep-alive o/set-tcp-keep-alive!]
   :tcp/maxseg [o/tcp-max-segment-size o/set-tcp-max-segment-size!]
   :ip/hdrincl [o/ip-header-included? o/set-ip-header-included!]
   :ip/tos [o/ip-type-of-service o/set-ip-type-of-service!]
   :ip/ttl [o/ip-time-to-live o/set-ip-time-to-live!]
   :ipv6/v6only [o/ipv6-v6-only? o/set-ipv6-v6-only!]
   ;; beyond the egg
   :so/bindtodevice [o/so-bindtodevice o/set-so-bindtodevice!]
   :so/priority [o/so-priority o/set-so-priority!]
   :so/mark [o/so-mark o/set-so-mark!]
   :tcp/keepidle [o/tcp-keepidle o/set-tcp-keepidle!]
   :tcp/keepintvl [o/tcp-keepintvl o/set-tcp-keepintvl!]
   :tcp/keepcnt [o/tcp-keepcnt o/set-tcp-keepcnt!]
   :tcp/user-timeout [o/tcp-user-timeout o/set-tcp-user-timeout!]
   :tcp/quickack [o/tcp-quickack? o/set-tcp-quickack!]
   :tcp/fastopen [o/tcp-fastopen o/set-tcp-fastopen!]
   :tcp/notsent-lowat [o/tcp-notsent-lowat o/set-tcp-notsent-lowat!]
   :tcp/congestion [o/tcp-congestion o/set-tcp-congestion!]
   :ip/freebind [o/ip-freebind? o/set-ip-freebind!]
   :ip/transparent [o/ip-transparent? o/set-ip-transparent!]
   :ip/bind-address-no-port [o/ip-bind-address-no-port? o/set-ip-bind-address-no-port!]
   :ipv6/unicast-hops [o/ipv6-unicast-hops o/set-ipv6-unicast-hops!]
   :ipv6/multicast-if [o/ipv6-multicast-if o/set-ipv6-multicast-if!]
   :ipv6/multicast-hops [o/ipv6-multicast-hops o/set-ipv6-multicast-hops!]
   :ipv6/multicast-loop [o/ipv6-multicast-loop? o/set-ipv6-multicast-loop!]
   :ipv6/recvpktinfo [o/ipv6-recvpktinfo? o/set-ipv6-recvpktinfo!]})

(def ^:private read-only-accessors
  {:so/acceptconn o/so-accept-connections? :so/error o/so-error :so/type o/so-type})

(defn- default-socket [k]
  (case (namespace k)
    "tcp" [:af/inet :sock/stream]
    "ipv6" [:af/inet6 :sock/dgram]
    [:af/inet :sock/dgram]))

(defn- context
  "{:socket :valid :expect :refused :note} for writable option `k`: the socket to test on, a
  generator of values the kernel accepts, the readback rule, and the kind every set raises
  instead when the platform refuses the option."
  [k]
  (let [absent? (nil? (get-in c/tables [(:kind (o/option-table k)) k]))
        base {:socket (default-socket k) :valid (s/gen k) :expect identity}]
    (cond
      absent? (assoc base :refused :unsupported :note (str k " is not defined on this platform: every set and get must raise :unsupported"))
      (not linux?) (assoc base :note (str k ": not Linux, round trip compared with identity"))
      :else
      (case k
        :so/debug (if @debug-ok?
                    base
                    (assoc base :valid (gen/return false)
                           :note "SO_DEBUG true needs CAP_NET_ADMIN, which this process lacks: only false is round-tripped"))
        (:so/sndbuf :so/rcvbuf) (assoc base :valid (gen/one-of [(gen/choose 0 10000000) (s/gen k)])
                                       :expect #(buf-readback k %))
        :so/sndlowat (assoc base :refused :unsupported
                            :note "Linux cannot change SO_SNDLOWAT (ENOPROTOOPT): every set must raise :unsupported")
        :so/rcvlowat (assoc base :expect #(max 1 (long %)))          ; datagram socket: 0 is stored as 1
        :so/linger (assoc base :expect #(when (:on? %) {:on? true :seconds (:seconds %)}))
        (:so/sndtimeo :so/rcvtimeo) (assoc base :valid (gen/one-of [(gen/return nil) (gen/choose 0 100000) (s/gen k)])
                                           :expect timeo-readback)
        :tcp/maxseg base                                              ; unconnected: user_mss reads back
        :ip/options (assoc base
                           ;; a run of IPOPT_NOOP (1) bytes; the kernel pads to 4 with IPOPT_END (0)
                           :valid (gen/fmap #(byte-array % (byte 1)) (gen/choose 0 40))
                           :expect #(let [n (alength ^bytes %)] (byte-array (* 4 (quot (+ n 3) 4)) (repeat n (byte 1)))))
        :ip/hdrincl (if @raw-socket-ok?
                      (assoc base :socket [:af/inet :sock/raw :ipproto/icmp])
                      (assoc base :refused :unsupported
                             :note "cannot open a raw socket (no CAP_NET_RAW): IP_HDRINCL is only checked to be refused (:unsupported) on a datagram socket"))
        :ip/multicast-if (assoc base :valid (gen/one-of [(gen/return "0.0.0.0")
                                                         (gen/fmap (fn [[a b c]] (str "127." a "." b "." c))
                                                                   (gen/tuple (gen/choose 0 255) (gen/choose 0 255) (gen/choose 1 254)))]))
        :ipv6/multicast-if (assoc base :valid (gen/elements [0 @lo-index]))
        ;; -1 asks for the default: the unicast one is net.ipv6.conf.all.hop_limit on an
        ;; unconnected socket, the multicast one IPV6_DEFAULT_MCASTHOPS, 1
        :ipv6/unicast-hops (assoc base :expect #(if (= -1 %) (slurp-long "/proc/sys/net/ipv6/conf/all/hop_limit") %))
        :ipv6/multicast-hops (assoc base :expect #(if (= -1 %) 1 %))
        ;; the queue length is capped at net.core.somaxconn (fastopen_queue_tune)
        :tcp/fastopen (assoc base :expect #(min (long %) (slurp-long "/proc/sys/net/core/somaxconn")))
        :tcp/congestion (assoc base :valid (gen/elements @congestion-controls))
        :so/bindtodevice (if @cap-net-admin?
                           (assoc base :valid (gen/elements (into [""] @interface-names)))
                           (assoc base :valid (gen/return "")
                                  :note "no CAP_NET_RAW: rebinding SO_BINDTODEVICE is refused, so only \"\" is round-tripped"))
        :so/priority (if @cap-net-admin?
                       (assoc base :valid (gen/one-of [(s/gen k) (gen/choose 0 Integer/MAX_VALUE)]))
                       (assoc base :note "no CAP_NET_ADMIN: SO_PRIORITY is round-tripped in 0-6 only"))
        :so/mark (if @cap-net-admin?
                   (assoc base :valid (gen/one-of [(gen/choose 0 0xffffffff) (gen/elements [0 1 0x7fffffff 0x80000000 0xffffffff])]))
                   (assoc base :refused :fatal
                          :note "no CAP_NET_ADMIN: every SO_MARK set must be refused (EPERM, :fatal)"))
        :ip/transparent (if @cap-net-admin?
                          base
                          (assoc base :valid (gen/return false)
                                 :note "no CAP_NET_ADMIN: IP_TRANSPARENT true is refused, only false is round-tripped"))
        base))))

(defn- invalid-gen
  "Values option `k`'s spec refuses."
  [k]
  (gen/such-that #(not (s/valid? k %))
                 (gen/resize 20 (gen/one-of [gen/large-integer gen/double gen/string-ascii gen/keyword gen/boolean
                              (gen/return nil) (gen/return -1) (gen/return 256) (gen/return 0)
                              (gen/return (inc (long Integer/MAX_VALUE))) (gen/return 1.0)
                              (gen/return {:on? true}) (gen/return {:group "10.0.0.1"})
                              (gen/return "256.1.1.1") (gen/return (byte-array 41))
                              (gen/return "") (gen/return -2) (gen/return "sixteen-bytes-xx") (gen/return "lo\u0000")
                              (gen/return "\ud800") (gen/return "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9")
                              (gen/return 0x100000000) (gen/return {:group "ff02::1" :interface -1})
                              (gen/return {:group "fe80::1"}) (gen/return {:group "ff02::1%lo"})
                              (gen/map gen/keyword gen/small-integer)]))
                 1000))

(defn roundtrip-prop
  "Property: a valid value set through the setter (if the egg has one), the raw API and the map
  API reads back as the kernel rule says; an invalid value is refused with :invalid by the setter
  and the map API, also on a closed socket (so before any native call), and changes nothing."
  [k]
  (let [ctx (context k)
        [getter setter] (accessors k)
        closed (closed-socket (:socket ctx))]
    (when-let [n (:note ctx)] (note! n))
    (prop/for-all [v (:valid ctx)
                   bad (invalid-gen k)]
      (with-socket [s (:socket ctx)]
        (let [paths (cond-> [[#(o/set-socket-options! s {k v}) #(get (o/socket-options s [k]) k)]
                             [#(raw-set s k v) #(raw-get s k)]]
                      setter (conj [#(setter s v) #(getter s)]))
              valid-ok
              (if-let [kind (:refused ctx)]
                (let [before (snapshot s k)]
                  (and (every? (fn [[set-f _]] (= kind (kind-of set-f))) paths)
                       (= before (snapshot s k))))
                (let [want (norm ((:expect ctx) v))]
                  (every? (fn [[set-f get-f]] (set-f) (= want (norm (get-f)))) paths)))
              before (snapshot s k)
              invalid-ok
              (and (= :invalid (kind-of #(o/set-socket-options! s {k bad})))
                   (= :invalid (kind-of #(o/set-socket-options! closed {k bad})))
                   (or (nil? setter)
                       (and (= :invalid (kind-of #(setter s bad)))
                            (= :invalid (kind-of #(setter closed bad)))))
                   (= before (snapshot s k)))]
          (and valid-ok invalid-ok))))))

(defmacro ^:private defroundtrips
  "One defspec of 200 cases per writable option (memberships have their own)."
  []
  `(do ~@(for [k specs/writable
               :when (not (#{:ip/add-membership :ip/drop-membership :ipv6/join-group :ipv6/leave-group} k))]
           `(defspec ~(symbol (str "roundtrip-" (namespace k) "-" (name k))) 200
              (roundtrip-prop ~k)))))

(defroundtrips)

(defspec memberships-join-and-leave 200
  ;; Write-only options cannot be read back: a join must succeed once and then be refused as a
  ;; duplicate (EADDRINUSE), a leave succeed once and then be refused (EADDRNOTAVAIL). One
  ;; cycle joins through the map API and leaves through the raw API, the other the reverse.
  (let [closed (closed-socket [:af/inet :sock/dgram])]
    (prop/for-all [group (s/gen ::specs/ipv4-multicast)
                   iface (gen/elements [nil "127.0.0.1" "0.0.0.0"])
                   bad (invalid-gen :ip/add-membership)]
      (with-socket [s [:af/inet :sock/dgram]]
        (let [m (cond-> {:group group} iface (assoc :interface iface))
              mreq (codec/encode :ip-mreq m)
              join-map #(o/set-socket-options! s {:ip/add-membership m})
              leave-map #(o/set-socket-options! s {:ip/drop-membership m})
              join-raw #(o/set-socket-option s :ipproto/ip :ip/add-membership mreq)
              leave-raw #(o/set-socket-option s :ipproto/ip :ip/drop-membership mreq)
              cycle-ok (fn [join leave]
                         (and (= :no-error (kind-of join))
                              (= :EADDRINUSE (:errno (data-of join)))
                              (= :no-error (kind-of leave))
                              (= :EADDRNOTAVAIL (:errno (data-of leave)))))]
          (and (cycle-ok join-map leave-raw)
               (cycle-ok join-raw leave-map)
               (= :invalid (kind-of #(o/set-socket-options! s {:ip/add-membership bad})))
               (= :invalid (kind-of #(o/set-socket-options! closed {:ip/drop-membership bad})))))))))

(defspec raw-api-refuses-values-it-cannot-pass 200
  (let [closed (closed-socket [:af/inet :sock/dgram])]
    (prop/for-all [bad (gen/one-of [(gen/fmap #(+ (inc (long Integer/MAX_VALUE)) %) gen/nat)
                                    (gen/fmap #(- (dec (long Integer/MIN_VALUE)) %) gen/nat)
                                    gen/double gen/keyword (gen/return nil) (gen/return 1.5M)
                                    (gen/vector gen/small-integer) (gen/return (byte-array 257))])]
      (with-socket [s [:af/inet :sock/dgram]]
        (let [before (snapshot s)]
          (and (= :invalid (kind-of #(o/set-socket-option s :sol/socket :so/rcvbuf bad)))
               (= :invalid (kind-of #(o/set-socket-option closed :sol/socket :so/rcvbuf bad)))
               (= before (snapshot s))))))))

;; ---------------------------------------------------------------------------------------
;; The egg's examples and read-only options

(deftest read-only-options
  (with-socket [st [:af/inet :sock/stream]]
    (with-socket [dg [:af/inet :sock/dgram]]
      (testing "so-type"
        (is (= :sock/stream (o/so-type st)))
        (is (= :sock/dgram (o/so-type dg)))
        (is (= :sock/dgram (o/so-type (.fileno dg))) "an integer fd works too")
        (is (= :sock/stream (:so/type (o/socket-options st)))))
      (testing "so-accept-connections? is false, then true after listen"
        (is (false? (o/so-accept-connections? st)))
        (.bind st (SockAddr/parseInet "127.0.0.1" 0))
        (.listen st 4)
        (is (true? (o/so-accept-connections? st)))
        (is (true? (o/so-accept-connections? (.fileno st)))))
      (testing "the read-only three cannot be set through the raw or map API"
        (doseq [[k getter] read-only-accessors]
          (let [before (getter dg)
                e1 (data-of #(o/set-socket-option dg :sol/socket k 1))
                e2 (data-of #(o/set-socket-options! dg {k 1}))]
            (is (= :invalid (:kind e1)) (str k))
            (is (= :invalid (:kind e2)) (str k))
            (is (= before (getter dg)))))
        (is (re-find #"read-only" (ex-message (try (o/set-socket-option dg :sol/socket :so/type 1)
                                                   (catch SocketException e e)))))
        (testing "also when given as integers"
          (is (= :invalid (kind-of #(o/set-socket-option dg (c/->int :sol :sol/socket) (c/->int :so :so/type) 1))))))
      (testing "no setter vars exist for them"
        (is (nil? (resolve 'sockets.options/set-so-type!)))
        (is (nil? (resolve 'sockets.options/set-so-error!)))
        (is (nil? (resolve 'sockets.options/set-so-accept-connections!)))))))

(defn- direct
  "Zeroed native memory of `n` bytes, freed by the GC."
  ^Pointer [n]
  (.allocateTemporary (.getMemoryManager Native/RUNTIME) (int n) true))

(defn- pollout!
  "Waits up to `ms` for fd `fd` to become writable (or fail), with poll(2)."
  [fd ms]
  (let [p (direct 8)]
    (.putInt p 0 (int fd))
    (.putShort p 4 Native/POLLOUT)
    (.poll Native/LIBC p 1 (int ms))))

(deftest so-error-after-a-refused-connect
  (let [port (with-socket [t [:af/inet :sock/stream]]
               ;; a port nobody listens on: bound, read back, then closed
               (.bind t (SockAddr/parseInet "127.0.0.1" 0))
               (.port (.localAddress t)))
        sa (SockAddr/parseInet "127.0.0.1" port)]
    (with-socket [s [:af/inet :sock/stream]]
      (let [buf (direct 128)
            len (.encode sa buf)
            rc (.connect Native/LIBC (.fileno s) buf len)
            errno (Native/errno)]
        (is (= -1 rc))
        (is (= Native/EINPROGRESS errno) "a non-blocking connect starts in the background")
        (is (= 1 (pollout! (.fileno s) 5000)) "the connect attempt ends within 5 s")
        (is (= (.intValue Errno/ECONNREFUSED) (o/so-error s)) "the pending error is ECONNREFUSED")
        (is (zero? (o/so-error s)) "reading SO_ERROR clears it")))))

(deftest tcp-max-segment-size-on-a-connected-socket
  (let [l (u/listener)]
    (try
      (let [[c a] (u/connected-pair l)
            lo-mtu (slurp-long "/sys/class/net/lo/mtu")]
        (try
          (doseq [x [c a]]
            (let [mss (o/tcp-max-segment-size x)]
              (is (< 536 mss (- lo-mtu 40 -1)) (str "MSS " mss " is the loopback path's, not the default 536"))))
          (is (= (min lo-mtu 65535) (:ip/mtu (o/socket-options c)))
              ":ip/mtu is listed once connected (lo's MTU, capped at the largest IP packet)")
          (is (not (contains? (o/socket-options l) :ip/mtu)) "... and left out while it is not")
          (finally (sc/socket-close* c) (sc/socket-close* a))))
      (finally (sc/socket-close* l)))))

(defn- v4-connects-to-v6-any?
  "Whether an IPv4 client reaches a listener on [::]:port with IPV6_V6ONLY `v6only`."
  [v6only]
  (with-socket [l [:af/inet6 :sock/stream]]
    (o/set-ipv6-v6-only! l v6only)
    (is (= v6only (o/ipv6-v6-only? l)))
    (.bind l (SockAddr/parseInet "::" 0))
    (.listen l 4)
    (let [port (.port (.localAddress l))
          c (open [:af/inet :sock/stream])]
      (try
        (.connect c (SockAddr/parseInet "127.0.0.1" port) 5000)
        (with-open [a (.accept l 5000)]
          (is (= "::ffff:127.0.0.1" (.host (.peerAddress a)))))
        true
        (catch SocketException e
          (is (= :transient (:kind (ex-data e))) "refused")
          false)
        (finally (.closeQuietly c))))))

(deftest ipv6-v6-only-decides-whether-ipv4-clients-reach-the-any-address
  (is (true? (v4-connects-to-v6-any? false)))
  (is (false? (v4-connects-to-v6-any? true))))

(deftest multicast-on-loopback
  (let [group "239.77.1.2"
        m {:group group :interface "127.0.0.1"}]
    (with-socket [r [:af/inet :sock/dgram]]
      (with-socket [w [:af/inet :sock/dgram]]
        (o/set-socket-options! r {:so/reuseaddr true})
        (.bind r (SockAddr/parseInet "0.0.0.0" 0))
        (let [to (SockAddr/parseInet group (.port (.localAddress r)))
              buf (byte-array 16)
              recv (fn [ms] (try (let [n (.receive r buf 0 16 0 ms)] (vec (take n buf)))
                                 (catch SocketException e (:kind (ex-data e)))))]
          (o/set-socket-options! w {:ip/multicast-if "127.0.0.1" :ip/multicast-loop true :ip/multicast-ttl 0})
          (is (= {:ip/multicast-if "127.0.0.1" :ip/multicast-loop true :ip/multicast-ttl 0}
                 (o/socket-options w [:ip/multicast-if :ip/multicast-loop :ip/multicast-ttl])))
          (testing "not joined: nothing arrives"
            (.sendTo w (byte-array [9]) 0 1 to 0 1000)
            (is (= :timeout (recv 300))))
          (testing "joined on 127.0.0.1 (lo): the datagram loops back"
            (o/set-socket-options! r {:ip/add-membership m})
            (.sendTo w (byte-array [1 2 3]) 0 3 to 0 1000)
            (let [got (recv 5000)]
              (if (= :timeout got)
                (do (note! "multicast on lo did not loop back (no multicast route on lo?): rest of the test skipped")
                    (is (= :timeout got) "recorded: this kernel does not deliver loopback multicast"))
                ;; (IP_MULTICAST_LOOP off changes nothing here: on lo the "wire" itself loops back.)
                (do (is (= [1 2 3] got))
                    (testing "left the group: nothing arrives"
                      (o/set-socket-options! r {:ip/drop-membership m})
                      (.sendTo w (byte-array [5 6]) 0 2 to 0 1000)
                      (is (= :timeout (recv 300)))))))))))))

(deftest raw-get-with-len-returns-the-bytes
  (with-socket [s [:af/inet :sock/stream]]
    (o/set-tcp-no-delay! s true)
    (let [n (o/get-socket-option s :ipproto/tcp :tcp/nodelay)
          b64 (o/get-socket-option s :ipproto/tcp :tcp/nodelay 64)
          b4 (o/get-socket-option s :ipproto/tcp :tcp/nodelay 4)
          native-int #(.getInt (.order (ByteBuffer/wrap %) (ByteOrder/nativeOrder)))]
      (is (not (zero? n)) "true is some non-zero int")
      (is (= 4 (alength ^bytes b64)) "resized to the 4 bytes the kernel wrote")
      (is (= (vec b64) (vec b4)))
      (is (= n (native-int b4)) "the bytes are the int in native order (the egg's #${08000000} on a BSD)")
      (is (= [] (vec (o/get-socket-option s :ipproto/tcp :tcp/nodelay 0))))
      (is (= :invalid (kind-of #(o/get-socket-option s :ipproto/tcp :tcp/nodelay 257)))))
    (testing "the reference's set examples: an int, a string's bytes, a u32 blob"
      (o/set-socket-option s :ipproto/tcp :tcp/nodelay 1)
      (is (true? (o/tcp-no-delay? s)))
      (o/set-socket-option s :ipproto/tcp :tcp/nodelay (String. (char-array 4 (char 0))))
      (is (false? (o/tcp-no-delay? s)))
      (let [bb (doto (ByteBuffer/allocate 8) (.order (ByteOrder/nativeOrder)) (.putInt 0x1234) (.putInt 0) (.flip) (.limit 4))]
        (o/set-socket-option s :sol/socket :so/rcvlowat bb)
        (is (= 0 (.position bb)) "the ByteBuffer's position is not changed")
        (is (= 0x1234 (o/so-receive-low-water s))))
      (o/set-socket-option (.fileno s) (c/->int :ipproto :ipproto/tcp) (c/->int :tcp :tcp/nodelay) true)
      (is (true? (o/tcp-no-delay? (.fileno s))) "integers for the fd, level and name"))))

(deftest unknown-and-unsupported-options
  (with-socket [s [:af/inet :sock/stream]]
    (testing "a level or option the kernel does not know: :unsupported (ENOPROTOOPT)"
      (is (= :unsupported (kind-of #(o/get-socket-option s 9999 1))))
      (is (= :unsupported (kind-of #(o/set-socket-option s 9999 1 1))))
      (is (= :unsupported (kind-of #(o/get-socket-option s :sol/socket 9999))))
      (is (= :ENOPROTOOPT (:errno (data-of #(o/get-socket-option s :sol/socket 9999))))))
    (testing "a constant this platform lacks: :unsupported at use"
      (doseq [k (filter #(nil? (get-in c/tables [(:kind (o/option-table %)) %])) codec/order)]
        (is (= :unsupported (kind-of #(o/socket-options s [k]))) (str k))
        (is (= :unsupported (kind-of #(o/get-socket-option s (:level (o/option-table k)) k))) (str k)))
      (when linux?
        (is (= :unsupported (kind-of #(o/tcp-no-push? s))))
        (is (= :unsupported (kind-of #(o/set-tcp-no-options! s true))))))
    (testing "an option of another socket kind: :unsupported from the kernel"
      (with-socket [un [:af/unix :sock/stream]]
        (is (= :unsupported (kind-of #(o/tcp-no-delay? un))))
        (is (= :unsupported (kind-of #(o/ip-time-to-live un))))))
    (testing "keywords nobody defines, or of the wrong level: :invalid, nothing called"
      (is (= :invalid (kind-of #(o/get-socket-option s :sol/socket :so/frobnicate))))
      (is (= :invalid (kind-of #(o/get-socket-option s :nope/socket :so/rcvbuf))))
      (is (= :invalid (kind-of #(o/get-socket-option s :sol/socket :tcp/nodelay))))
      (is (= :invalid (kind-of #(o/socket-options s [:so/frobnicate]))))
      (is (= :invalid (kind-of #(o/socket-options s [:ip/add-membership]))) "write-only")
      (is (= :invalid (kind-of #(o/so-type "3"))))
      (is (= :invalid (kind-of #(o/so-type -1)))))))

(deftest closed-sockets
  (let [s (closed-socket [:af/inet :sock/stream])]
    (doseq [f [o/so-type o/so-reuse-address? o/tcp-no-delay? o/so-receive-buffer o/socket-options]]
      (let [e (try (f s) nil (catch SocketException e e))]
        (is (= :closed (:kind (ex-data e))))
        (is (= "socket is closed" (ex-message e)))))
    (is (= :so-type (:op (data-of #(o/so-type s)))) "the error names the getter")
    (is (= :closed (kind-of #(o/set-tcp-no-delay! s true))))
    (is (= :closed (kind-of #(o/get-socket-option s :sol/socket :so/type))))
    (is (= :closed (kind-of #(o/set-socket-options! s {:so/rcvbuf 1000}))))))

;; ---------------------------------------------------------------------------------------
;; The Linux options people tune (issue 19 item 6)

(defn- refused
  "The ex-data of what `f` throws, with the message as :message, or nil."
  [f]
  (try (f) nil (catch SocketException e (assoc (ex-data e) :message (ex-message e)))))

(deftest tcp-congestion-reads-back-what-the-kernel-uses
  (if-not linux?
    (note! "TCP_CONGESTION checks read /proc: Linux only, skipped")
    (with-socket [s [:af/inet :sock/stream]]
      (is (= (str/trim (slurp "/proc/sys/net/ipv4/tcp_congestion_control")) (o/tcp-congestion s))
          "a fresh socket has the system default")
      (doseq [cc @congestion-controls]
        (o/set-tcp-congestion! s cc)
        (is (= cc (o/tcp-congestion s)))
        (is (= cc (:tcp/congestion (o/socket-options s))) "socket-options lists it"))
      (let [before (o/tcp-congestion s)
            closed (closed-socket [:af/inet :sock/stream])]
        (testing "a name the kernel lacks: its errno (ENOENT), with where to look in the message"
          (let [d (refused #(o/set-tcp-congestion! s "no-such-cc"))]
            (is (= [:fatal :ENOENT :tcp/congestion] [(:kind d) (:errno d) (:option d)]))
            (is (re-find #"tcp_available_congestion_control" (:message d))))
          (is (= :ENOENT (:errno (refused #(o/set-tcp-congestion! s "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9x"))))
              "15 UTF-8 bytes (8 characters) is a name the kernel is asked about"))
        (testing "names no kernel takes: :invalid before the native call, also on a closed socket"
          (doseq [bad ["" "sixteen-bytes-xx" "re\u0000no" "\ud800" (apply str (repeat 8 "\u00e9")) 'reno nil 1]]
            (is (= :invalid (kind-of #(o/set-tcp-congestion! s bad))) (pr-str bad))
            (is (= :invalid (kind-of #(o/set-tcp-congestion! closed bad))) (pr-str bad))
            (is (= :invalid (kind-of #(o/set-socket-options! s {:tcp/congestion bad}))) (pr-str bad))))
        (is (= before (o/tcp-congestion s)) "nothing changed")))))

(defn- connects?
  "Whether a client reaches a listener on 127.0.0.1 that is bound (SO_BINDTODEVICE) to `dev`."
  [dev]
  (with-socket [l [:af/inet :sock/stream]]
    (o/set-so-bindtodevice! l dev)
    (is (= dev (o/so-bindtodevice l)))
    (.bind l (SockAddr/parseInet "127.0.0.1" 0))
    (.listen l 4)
    (with-socket [c [:af/inet :sock/stream]]
      (try (.connect c (.localAddress l) 5000)
           (with-open [_a (.accept l 5000)] true)
           (catch SocketException e
             (is (= :transient (:kind (ex-data e))) "refused: the SYN came in on lo")
             false)))))

(deftest so-bindtodevice-decides-which-interface-a-socket-hears
  (if-not linux?
    (note! "SO_BINDTODEVICE is Linux's: skipped")
    (do
     (with-socket [s [:af/inet :sock/dgram]]
      (is (= "" (o/so-bindtodevice s)) "unbound: \"\"")
      (o/set-so-bindtodevice! s "lo")
      (is (= "lo" (o/so-bindtodevice s)))
      (is (= {:so/bindtodevice "lo"} (o/socket-options s [:so/bindtodevice])))
      (if @cap-net-admin?
        (do (o/set-socket-options! s {:so/bindtodevice ""})
            (is (= "" (o/so-bindtodevice s)) "\"\" unbinds"))
        (note! "no CAP_NET_RAW: unbinding a bound socket is not checked"))
      (testing "an interface nobody has: ENODEV, with the fix in the message"
        (let [d (refused #(o/set-so-bindtodevice! s "nosuchdev0"))]
          (is (= :ENODEV (:errno d)))
          (is (re-find #"/sys/class/net" (:message d)))))
      (testing "too long, NUL, not text: :invalid, nothing changed"
        (let [before (o/so-bindtodevice s)]
          (doseq [bad ["sixteen-bytes-xx" "l\u0000o" "\udc00" :lo nil]]
            (is (= :invalid (kind-of #(o/set-so-bindtodevice! s bad))) (pr-str bad)))
          (is (= before (o/so-bindtodevice s))))))
    (testing "a listener bound to lo hears a connect to 127.0.0.1; one bound to another interface does not"
      (is (true? (connects? "lo")))
      (is (true? (connects? "")))
      (if-let [other (first (remove #{"lo"} @interface-names))]
        (is (false? (connects? other)) (str "bound to " other))
        (note! "no interface but lo: SO_BINDTODEVICE to another interface is not checked"))))))

(deftest tcp-keepidle-is-the-eggs-tcp-keep-alive
  (with-socket [s [:af/inet :sock/stream]]
    (o/set-tcp-keepidle! s 42)
    (is (= 42 (o/tcp-keepidle s) (o/tcp-keep-alive s)))
    (o/set-socket-options! s {:so/keepalive true :tcp/keepidle 30 :tcp/keepintvl 5 :tcp/keepcnt 3 :tcp/user-timeout 20000})
    (is (= {:so/keepalive true :tcp/keepidle 30 :tcp/keepalive 30 :tcp/keepintvl 5 :tcp/keepcnt 3 :tcp/user-timeout 20000}
           (o/socket-options s [:so/keepalive :tcp/keepidle :tcp/keepalive :tcp/keepintvl :tcp/keepcnt :tcp/user-timeout])))
    (o/set-socket-options! s {:tcp/keepalive 31})
    (is (= 31 (o/tcp-keepidle s)) "one option under two names")
    (testing "ranges checked first: :invalid, nothing changed"
      (doseq [[f bad] [[o/set-tcp-keepidle! 0] [o/set-tcp-keepidle! 32768] [o/set-tcp-keepintvl! 0]
                       [o/set-tcp-keepcnt! 128] [o/set-tcp-user-timeout! -1] [o/set-tcp-fastopen! -1]
                       [o/set-tcp-notsent-lowat! -1] [o/set-tcp-quickack! 1]]]
        (is (= :invalid (kind-of #(f s bad))) (str f " " bad)))
      (is (= [31 5 3 20000] [(o/tcp-keepidle s) (o/tcp-keepintvl s) (o/tcp-keepcnt s) (o/tcp-user-timeout s)])))))

(deftest tcp-fastopen-on-a-listener
  (with-socket [l [:af/inet :sock/stream]]
    (is (zero? (o/tcp-fastopen l)))
    (o/set-tcp-fastopen! l 5)
    (.bind l (SockAddr/parseInet "127.0.0.1" 0))
    (.listen l 4)
    (is (= 5 (o/tcp-fastopen l)) "kept through listen")
    (o/set-tcp-fastopen! l 7)
    (is (= 7 (o/tcp-fastopen l)) "and settable on a listening socket")))

(deftest ip-freebind-and-bind-address-no-port-change-what-bind-does
  (if-not linux?
    (note! "IP_FREEBIND / IP_BIND_ADDRESS_NO_PORT are Linux's: skipped")
    (do
      (testing "IP_FREEBIND: bind to an address this host does not have"
        (with-socket [s [:af/inet :sock/dgram]]
          (is (= :EADDRNOTAVAIL (:errno (refused #(.bind s (SockAddr/parseInet "192.0.2.77" 0))))) "off: refused"))
        (with-socket [s [:af/inet :sock/dgram]]
          (o/set-ip-freebind! s true)
          (is (true? (o/ip-freebind? s)))
          (.bind s (SockAddr/parseInet "192.0.2.77" 0))
          (is (= "192.0.2.77" (.host (.localAddress s))) "on: bound")))
      (testing "IP_BIND_ADDRESS_NO_PORT: bind to port 0 leaves the port to connect"
        (with-socket [s [:af/inet :sock/stream]]
          (.bind s (SockAddr/parseInet "127.0.0.1" 0))
          (is (pos? (.port (.localAddress s))) "off: bind chooses a port"))
        (let [l (u/listener)]
          (try
            (with-socket [s [:af/inet :sock/stream]]
              (o/set-ip-bind-address-no-port! s true)
              (is (true? (o/ip-bind-address-no-port? s)))
              (.bind s (SockAddr/parseInet "127.0.0.1" 0))
              (is (zero? (.port (.localAddress s))) "on: no port yet")
              (.connect s (.localAddress l) 5000)
              (is (pos? (.port (.localAddress s))) "connect chose it"))
            (finally (sc/socket-close* l))))))))

(deftest ip-transparent-needs-cap-net-admin
  (with-socket [s [:af/inet :sock/stream]]
    (if @cap-net-admin?
      (do (o/set-ip-transparent! s true)
          (is (true? (o/ip-transparent? s))))
      (let [d (refused #(o/set-ip-transparent! s true))]
        (is (= :EPERM (:errno d)))
        (is (re-find #"CAP_NET_ADMIN" (:message d)))
        (is (false? (o/ip-transparent? s)))))))

(deftest so-mark-and-priority
  (with-socket [s [:af/inet :sock/dgram]]
    (o/set-so-priority! s 6)
    (is (= 6 (o/so-priority s)))
    (is (= :invalid (kind-of #(o/set-so-priority! s -1))))
    (if @cap-net-admin?
      (do (o/set-so-mark! s 0xfffffffe)
          (is (= 0xfffffffe (o/so-mark s)) "an unsigned 32-bit mark reads back unsigned")
          (is (= -2 (o/get-socket-option s :sol/socket :so/mark)) "(the raw API gives the C int)")
          (o/set-so-priority! s 7)
          (is (= 7 (o/so-priority s))))
      (let [d (refused #(o/set-so-mark! s 1))]
        (note! "no CAP_NET_ADMIN: SO_MARK and SO_PRIORITY above 6 are checked to be refused")
        (is (= :EPERM (:errno d)))
        (is (re-find #"CAP_NET_ADMIN" (:message d)))
        (is (= :EPERM (:errno (refused #(o/set-so-priority! s 7)))))))
    (is (= :invalid (kind-of #(o/set-so-mark! s 0x100000000))))
    (is (= :invalid (kind-of #(o/set-so-mark! s -1))))))

(deftest options-of-another-level-or-an-absent-constant-are-unsupported
  (with-socket [un [:af/unix :sock/stream]]
    (with-socket [v4 [:af/inet :sock/dgram]]
      (testing "the kernel refuses (ENOPROTOOPT, EOPNOTSUPP): :unsupported"
        (is (= :unsupported (kind-of #(o/tcp-congestion un))))
        (is (= :unsupported (kind-of #(o/set-tcp-keepidle! un 10))))
        (is (= :unsupported (kind-of #(o/ip-freebind? un))))
        (is (= :unsupported (kind-of #(o/set-ipv6-multicast-hops! v4 1))))
        (is (= :unsupported (kind-of #(o/set-socket-options! v4 {:ipv6/join-group {:group "ff02::1:3"}})))))
      (testing "a constant this platform lacks: :unsupported at use, before the native call"
        (with-redefs [c/tables (-> c/tables
                                   (assoc-in [:tcp :tcp/notsent-lowat] nil)
                                   (assoc-in [:ip :ip/bind-address-no-port] nil))]
          (with-socket [t [:af/inet :sock/stream]]
            (is (= :unsupported (kind-of #(o/tcp-notsent-lowat t))))
            (is (= :unsupported (kind-of #(o/set-tcp-notsent-lowat! t 1))))
            (is (= :unsupported (kind-of #(o/set-socket-options! t {:ip/bind-address-no-port true}))))
            (is (not (contains? (o/socket-options t) :tcp/notsent-lowat)) "and left out of socket-options")))))))

(defn- igmp6-groups
  "The IPv6 multicast groups joined on interface `ifname` (Linux /proc/net/igmp6), as 32 hex digits."
  [ifname]
  ;; (read without available(), which this proc file answers with EINVAL)
  (set (for [line (java.nio.file.Files/readAllLines (.toPath (io/file "/proc/net/igmp6")))
             :let [[_ dev group] (str/split (str/trim ^String line) #"\s+")]
             :when (= dev ifname)]
         group)))

(deftest ipv6-multicast-on-loopback
  (let [opened (try (open [:af/inet6 :sock/dgram]) (catch SocketException e e))]
    (if (instance? SocketException opened)
      (note! (str "no IPv6 here (" (ex-message opened) "): IPv6 multicast skipped"))
      (with-socket [r [:af/inet6 :sock/dgram]]
        (.closeQuietly ^Socket opened)
        (let [lo @lo-index
              group "ff12::5:1"
              hex "ff120000000000000000000000050001"
              m {:group group :interface lo}
              mreq (codec/encode :ipv6-mreq m)]
          (.bind r (SockAddr/parseInet "::" 0))
          (testing "join and leave, through the map API and the raw API"
            (o/set-socket-options! r {:ipv6/join-group m})
            (when linux? (is (contains? (igmp6-groups "lo") hex) "the kernel lists the group on lo"))
            (is (= :EADDRINUSE (:errno (data-of #(o/set-socket-option r :ipproto/ipv6 :ipv6/join-group mreq))))
                "joined already")
            (o/set-socket-option r :ipproto/ipv6 :ipv6/leave-group mreq)
            (when linux? (is (not (contains? (igmp6-groups "lo") hex)) "gone from lo"))
            (is (= :EADDRNOTAVAIL (:errno (data-of #(o/set-socket-options! r {:ipv6/leave-group m}))))
                "not a member any more"))
          (testing "bad maps: :invalid before the native call"
            (doseq [bad [{:group "fe80::1"} {:group "239.1.2.3"} {:group "ff02::1%lo"} {:group "ff02::1" :interface -1}
                         {:group "ff02::1" :interface "lo"} {:interface 1} "ff02::1"]]
              (is (= :invalid (kind-of #(o/set-socket-options! r {:ipv6/join-group bad}))) (pr-str bad))))
          (testing "a datagram sent to the group on lo reaches the member"
            (o/set-socket-options! r {:ipv6/join-group m})
            (with-socket [w [:af/inet6 :sock/dgram]]
              (o/set-ipv6-multicast-if! w lo)
              (o/set-ipv6-multicast-loop! w true)
              (o/set-ipv6-multicast-hops! w 1)
              (is (= [lo true 1] [(o/ipv6-multicast-if w) (o/ipv6-multicast-loop? w) (o/ipv6-multicast-hops w)]))
              (let [to (SockAddr/parseInet (str group "%" lo) (.port (.localAddress r)))
                    sent (try (.sendTo w (byte-array [1 2 3]) 0 3 to 0 1000) (catch SocketException e e))
                    buf (byte-array 8)]
                (if (instance? SocketException sent)
                  (note! (str "IPv6 multicast delivery on lo skipped: the kernel refuses to send to " group " on lo ("
                              (:errno (ex-data sent)) "; lo has no MULTICAST flag or no multicast route here; ipv6-multicast-delivery-in-a-network-namespace tests delivery)"))
                  (let [got (try (let [n (.receive r buf 0 8 0 5000)] (vec (take n buf)))
                                 (catch SocketException e (:kind (ex-data e))))]
                    (if (= :timeout got)
                      (note! "IPv6 multicast delivery on lo skipped: sent, but this kernel does not loop it back on lo")
                      (is (= [1 2 3] got)))))))))))))

(def ^:private netns-with-multicast
  ;; a fresh network namespace (unshare -rn: no privilege needed) with lo up and an ifb device
  ;; mc0 with MULTICAST on; then execs the command after it ($0 "$@")
  ["unshare" "-rn" "sh" "-c" (str "ip link set lo up && ip link add mc0 type ifb && ip link set mc0 multicast on"
                                  " && ip link set mc0 up && exec \"$0\" \"$@\"")])

(deftest ipv6-multicast-delivery-in-a-network-namespace
  (testing "a datagram sent to an IPv6 group reaches a member that joined with :ipv6/join-group,
            and stops once it left (in a namespace of its own, where an interface has MULTICAST)"
    (let [probe (try (apply sh/sh (concat netns-with-multicast ["true"])) (catch java.io.IOException e {:exit -1 :err (ex-message e)}))]
      (if-not (zero? (:exit probe))
        (note! (str "IPv6 multicast delivery skipped: cannot make a network namespace with a multicast device here ("
                    (str/trim (str (:err probe))) ")"))
        (let [r (u/run-child netns-with-multicast [] "ipv6_multicast.clj")
              report (try (read-string (:out r)) (catch Exception _ nil))]
          (is (= 0 (:exit r)) (:err r))
          (is (pos-int? (:index report)) (pr-str r))
          (is (= "to the group" (:got report)) (pr-str report))
          (is (= :timeout (:left report)) "nothing arrives after :ipv6/leave-group"))))))

(deftest ipv6-recvpktinfo-delivers-the-destination
  (let [opened (try (open [:af/inet6 :sock/dgram]) (catch SocketException e e))]
    (if (instance? SocketException opened)
      (note! (str "no IPv6 here (" (ex-message opened) "): IPV6_RECVPKTINFO skipped"))
      (with-socket [u [:af/inet6 :sock/dgram]]
        (.closeQuietly ^Socket opened)
        (.bind u (SockAddr/parseInet "::1" 0))
        (let [receive (fn []
                        (with-socket [v [:af/inet6 :sock/dgram]]
                          (.sendTo v (byte-array [7]) 0 1 (.localAddress u) 0 1000)
                          (m/socket-receive-message u 8 {:timeout-ms 5000})))
              pktinfo (fn [r] (first (filter #(= :ipv6/pktinfo (:type %)) (:control r))))]
          (is (false? (o/ipv6-recvpktinfo? u)))
          (is (nil? (pktinfo (receive))) "off: no :ipv6/pktinfo control message")
          (o/set-ipv6-recvpktinfo! u true)
          (is (true? (o/ipv6-recvpktinfo? u)))
          (let [r (receive)]
            (is (= [7] (vec (:data r))))
            (is (= {:destination "::1" :ifindex @lo-index} (select-keys (pktinfo r) [:destination :ifindex]))
                "on: the destination address and the interface (lo)")))))))

(deftest ipv6-hop-limits-of-minus-one-are-the-defaults
  (with-socket [u [:af/inet6 :sock/dgram]]
    (o/set-ipv6-unicast-hops! u 9)
    (o/set-ipv6-multicast-hops! u 9)
    (is (= [9 9] [(o/ipv6-unicast-hops u) (o/ipv6-multicast-hops u)]))
    (o/set-socket-options! u {:ipv6/unicast-hops -1 :ipv6/multicast-hops -1})
    (when linux?
      (is (= [(slurp-long "/proc/sys/net/ipv6/conf/all/hop_limit") 1]
             [(o/ipv6-unicast-hops u) (o/ipv6-multicast-hops u)])
          "the system's hop limit, and 1 for multicast"))
    (doseq [bad [-2 256]]
      (is (= :invalid (kind-of #(o/set-ipv6-unicast-hops! u bad))))
      (is (= :invalid (kind-of #(o/set-ipv6-multicast-hops! u bad)))))))

(deftest java-constants-name-the-same-numbers
  (doseq [[k v] {:so/bindtodevice Constants$SocketOption/BINDTODEVICE :so/mark Constants$SocketOption/MARK
                 :so/priority Constants$SocketOption/PRIORITY :tcp/user-timeout Constants$TcpOption/USER_TIMEOUT
                 :tcp/quickack Constants$TcpOption/QUICKACK :tcp/fastopen Constants$TcpOption/FASTOPEN
                 :tcp/congestion Constants$TcpOption/CONGESTION :ip/freebind Constants$IpOption/FREEBIND
                 :ip/transparent Constants$IpOption/TRANSPARENT :ipv6/multicast-if Constants$Ipv6Option/MULTICAST_IF
                 :ipv6/multicast-hops Constants$Ipv6Option/MULTICAST_HOPS
                 :ipv6/multicast-loop Constants$Ipv6Option/MULTICAST_LOOP
                 :ipv6/join-group Constants$Ipv6Option/JOIN_GROUP :ipv6/leave-group Constants$Ipv6Option/LEAVE_GROUP
                 :ipv6/recvpktinfo Constants$Ipv6Option/RECVPKTINFO}]
    (is (= (or (get-in c/tables [(keyword (namespace k)) k]) -1) v) (str k))))

(defn- run-unprivileged
  "Runs Clojure `code` in a child JVM (this JVM's java and classpath) started through setpriv
  without CAP_NET_ADMIN and CAP_NET_RAW; returns what it printed, read as EDN, or a string
  saying why it could not run. Waits at most 120 s."
  [code]
  (let [setpriv (first (filter #(.canExecute (io/file %)) ["/usr/bin/setpriv" "/bin/setpriv" "/usr/sbin/setpriv"]))
        java (str (io/file (System/getProperty "java.home") "bin" "java"))]
    (if-not setpriv
      "no setpriv on this system"
      (let [out (java.io.File/createTempFile "sockopts" ".out")
            ^java.util.List cmd [setpriv "--bounding-set" "-net_admin,-net_raw" "--"
                                 java "-cp" (System/getProperty "java.class.path") "clojure.main" "-e" code]
            p (-> (ProcessBuilder. cmd)
                  (.redirectOutput out) (.redirectError java.lang.ProcessBuilder$Redirect/DISCARD) (.start))]
        (try
          (if (and (.waitFor p 120 java.util.concurrent.TimeUnit/SECONDS) (zero? (.exitValue p)))
            (read-string (slurp out))
            (str "the child did not finish cleanly (exit " (if (.isAlive p) "timeout" (.exitValue p)) ")"))
          (finally (.destroyForcibly p) (.delete out)))))))

(deftest refusals-without-privileges-say-which-capability
  ;; Run as root here, so the refusals are seen in a child JVM without CAP_NET_ADMIN/CAP_NET_RAW.
  (if-not linux?
    (note! "capability checks are Linux's: skipped")
    (let [available (proc-words "/proc/sys/net/ipv4/tcp_available_congestion_control")
          allowed (set (proc-words "/proc/sys/net/ipv4/tcp_allowed_congestion_control"))
          restricted (first (remove allowed available))
          code (pr-str
                `(do (require '[sockets.core] '[sockets.options :as ~'o])
                     (let [~'r (fn [f#] (try (f#) :ok
                                             (catch sockets.SocketException e#
                                               [(:kind (ex-data e#)) (:errno (ex-data e#)) (ex-message e#)])))
                           ~'t (sockets.core/socket :af/inet :sock/stream)
                           ~'u (sockets.core/socket :af/inet :sock/dgram)]
                       ;; one call after the other (a map literal's order is not the evaluation order)
                       (prn (reduce (fn [m# [k# f#]] (assoc m# k# (f#))) {}
                                    [[:mark #(~'r (fn [] (o/set-so-mark! ~'u 1)))]
                                     [:priority-6 #(~'r (fn [] (o/set-so-priority! ~'u 6)))]
                                     [:priority-7 #(~'r (fn [] (o/set-so-priority! ~'u 7)))]
                                     [:transparent #(~'r (fn [] (o/set-ip-transparent! ~'u true)))]
                                     [:reno #(~'r (fn [] (o/set-tcp-congestion! ~'t "reno")))]
                                     [:restricted #(when ~restricted (~'r (fn [] (o/set-tcp-congestion! ~'t ~restricted))))]
                                     [:bind #(~'r (fn [] (o/set-so-bindtodevice! ~'u "lo")))]
                                     [:rebind #(~'r (fn [] (o/set-so-bindtodevice! ~'u "lo")))]
                                     [:after #(vector (o/so-mark ~'u) (o/so-priority ~'u) (o/ip-transparent? ~'u)
                                                      (o/so-bindtodevice ~'u))]]))
                       (sockets.core/socket-close ~'t)
                       (sockets.core/socket-close ~'u)
                       (shutdown-agents))))
          got (run-unprivileged code)
          eperm? (fn [x re] (and (vector? x) (= [:fatal :EPERM] (take 2 x)) (re-find re (nth x 2))))]
      (if (string? got)
        (note! (str "the unprivileged child could not run (" got "): capability refusals not checked"))
        (do
          (is (eperm? (:mark got) #"CAP_NET_ADMIN") (pr-str (:mark got)))
          (is (= :ok (:priority-6 got)) "0-6 needs no privilege")
          (is (eperm? (:priority-7 got) #"above 6 needs CAP_NET_ADMIN") (pr-str (:priority-7 got)))
          (is (eperm? (:transparent got) #"CAP_NET_ADMIN") (pr-str (:transparent got)))
          (is (= :ok (:reno got)) "reno is always allowed")
          (if restricted
            (is (eperm? (:restricted got) #"tcp_allowed_congestion_control") (pr-str (:restricted got)))
            (note! "every available congestion control is allowed here: the EPERM of a restricted one is not checked"))
          (is (= :ok (:bind got)) "binding an unbound socket needs no privilege (Linux 5.7+)")
          (is (eperm? (:rebind got) #"CAP_NET_RAW") (pr-str (:rebind got)))
          (is (= [0 6 false "lo"] (:after got)) "the refused ones changed nothing"))))))

;; ---------------------------------------------------------------------------------------
;; The map API

(deftest socket-options-per-family-and-type
  (with-socket [t4 [:af/inet :sock/stream]]
    (with-socket [u6 [:af/inet6 :sock/dgram]]
      (with-socket [un [:af/unix :sock/stream]]
        (let [m4 (o/socket-options t4)
              m6 (o/socket-options u6)
              mu (o/socket-options un)
              nss (fn [m] (set (map namespace (keys m))))]
          (is (= #{"so" "tcp" "ip"} (nss m4)))
          (is (= #{"so" "ipv6"} (nss m6)))
          (is (= #{"so"} (nss mu)))
          (is (= (norm m4) (norm (o/socket-options (.fileno t4)))) "an integer fd gives the same map")
          (is (every? #(s/valid? % (m4 %)) (keys m4)) "every value read conforms to its spec")
          (is (every? #(s/valid? % (m6 %)) (keys m6)))
          (is (= {:so/type :sock/stream :tcp/nodelay false} (o/socket-options t4 [:so/type :tcp/nodelay])))
          (is (not-any? #(:write-only? (o/option-table %)) (keys m4))))))))

(deftest set-socket-options-validates-everything-first
  (with-socket [s [:af/inet :sock/dgram]]
    (let [before (snapshot s)
          e (try (o/set-socket-options! s {:so/rcvbuf 100000 :ip/ttl 0 :so/linger {:on? true}
                                           :so/type :sock/dgram :no/such 1})
                 (catch SocketException e e))]
      (is (= :invalid (:kind (ex-data e))))
      (is (= #{:ip/ttl :so/linger :so/type :no/such} (set (keys (:problems (ex-data e))))))
      (is (= before (snapshot s)) "nothing was set, not even the valid :so/rcvbuf"))
    (is (= :invalid (kind-of #(o/set-socket-options! s [[:so/rcvbuf 1]]))))
    (is (identical? s (o/set-socket-options! s nil)))
    (is (identical? s (o/set-socket-options! s {})))))

(deftest set-socket-options-reports-what-was-applied
  (with-socket [s [:af/inet :sock/dgram]]
    (let [e (try (o/set-socket-options! s {:so/rcvbuf 100000 :ip/ttl 5
                                           ;; a non-local interface address: the kernel refuses (ENODEV)
                                           :ip/add-membership {:group "239.1.2.3" :interface "192.0.2.254"}
                                           :ipv6/v6only true})
                 (catch SocketException e e))
          d (ex-data e)]
      (is (not= :invalid (:kind d)))
      (is (some? (:errno d)))
      (is (= :ip/add-membership (:option d)))
      (is (= [:so/rcvbuf :ip/ttl] (:applied d)) "set in option-table order, up to the failure")
      (is (re-find #"already set: :so/rcvbuf, :ip/ttl" (ex-message e)))
      (is (= 5 (o/ip-time-to-live s)) "what was applied stays applied"))))

(deftest apply-options-for-the-socket-constructor
  (with-socket [s [:af/inet :sock/stream]]
    (is (identical? s (o/apply-options! s {:so/reuseaddr true :tcp/nodelay true :so/linger nil})))
    (is (= {:so/reuseaddr true :tcp/nodelay true :so/linger nil}
           (o/socket-options s [:so/reuseaddr :tcp/nodelay :so/linger])))
    (is (= :socket (:op (data-of #(o/apply-options! s {:so/rcvbuf -1})))))
    (is (= :socket (:op (data-of #(o/apply-options! s {:ipv6/v6only true}))))))
  (is (= {:so/rcvbuf 1} (o/check-options {:so/rcvbuf 1})))
  (is (= :invalid (kind-of #(o/check-options :socket {:so/rcvbuf "big"})))))

(deftest so-reuse-address-tries-exclusive-address-use-first
  (testing "where the platform lacks SO_EXCLUSIVEADDRUSE (Linux, macOS) SO_REUSEADDR is used"
    (is (nil? (get-in c/tables [:so :so/exclusiveaddruse])))
    (with-socket [s [:af/inet :sock/stream]]
      (o/set-so-reuse-address! s true)
      (is (true? (o/so-reuse-address? s)))
      (is (= 1 (o/get-socket-option s :sol/socket :so/reuseaddr)))))
  (testing "the first-attempt path: a stand-in option number is used when it exists ..."
    (with-redefs [sockets.options/exclusive-option (c/->int :so :so/keepalive)]
      (with-socket [s [:af/inet :sock/stream]]
        (o/set-so-reuse-address! s true)
        (is (true? (o/so-keep-alive? s)) "the stand-in (SO_KEEPALIVE) was set")
        (is (false? (:so/reuseaddr (o/socket-options s [:so/reuseaddr]))) "SO_REUSEADDR was not")
        (is (true? (o/so-reuse-address? s))))))
  (testing "... and falls back to SO_REUSEADDR when the kernel does not know it"
    (with-redefs [sockets.options/exclusive-option 9999]
      (with-socket [s [:af/inet :sock/stream]]
        (o/set-so-reuse-address! s true)
        (is (true? (o/so-reuse-address? s)))
        (is (= 1 (o/get-socket-option s :sol/socket :so/reuseaddr)))))))

(deftest kernel-rewrites-documented
  (when-not linux? (note! "kernel rewrite checks are Linux-only: skipped"))
  (when linux?
    (testing "IP_TOS on a stream socket keeps the two ECN bits (0 on a fresh socket)"
      (with-socket [s [:af/inet :sock/stream]]
        (o/set-ip-type-of-service! s 0xff)
        (is (= 0xfc (o/ip-type-of-service s)))))
    (testing "SO_RCVBUF doubles; the cap and floor are measured, not assumed"
      (with-socket [s [:af/inet :sock/dgram]]
        (o/set-so-receive-buffer! s 10000)
        (is (= 20000 (o/so-receive-buffer s)))
        (o/set-so-receive-buffer! s Integer/MAX_VALUE)
        (is (= (* 2 (slurp-long "/proc/sys/net/core/rmem_max")) (o/so-receive-buffer s)))))
    (testing "timeouts round up to the kernel's tick"
      (with-socket [s [:af/inet :sock/dgram]]
        (o/set-socket-options! s {:so/rcvtimeo 1})
        (is (= (quot 1000 @hz) (:so/rcvtimeo (o/socket-options s [:so/rcvtimeo]))))
        (is (<= 1 (quot 1000 @hz)) "a 1 ms timeout is one tick, never none")))))

(deftest spec-of-the-options-map-lists-every-writable-option
  (let [ks (->> (s/form :sockets.options/options) flatten (filter keyword?)
                (remove #{:opt}) set)]
    (is (= (set specs/writable) ks)))
  (is (s/valid? :sockets.options/options {:so/rcvbuf 1 :so/linger {:on? true :seconds 1}}))
  (is (not (s/valid? :sockets.options/options {:so/rcvbuf -1})))
  (doseq [k codec/order] (is (s/get-spec k) (str "a spec for " k))))

(deftest instrumented-functions-still-raise-the-librarys-errors
  ;; The lead's sockets.specs instruments everything: the loose :args must let the library's
  ;; own :invalid checks speak, and the :ret specs must hold.
  (let [syms (filter #(= "sockets.options" (namespace %)) (filter symbol? (keys (s/registry))))]
    (is (<= 28 (count syms)))
    (try
      (stest/instrument syms)
      (with-socket [s [:af/inet :sock/stream]]
        (is (= :invalid (kind-of #(o/set-tcp-no-delay! s 7))))
        (is (= :invalid (kind-of #(o/set-socket-options! s [[:so/rcvbuf 1]]))))
        (is (= :invalid (kind-of #(o/get-socket-option s :sol/socket :so/type 999))))
        (is (nil? (o/set-tcp-no-delay! s true)))
        (is (true? (o/tcp-no-delay? s))))
      (finally (stest/unstrument syms)))))
