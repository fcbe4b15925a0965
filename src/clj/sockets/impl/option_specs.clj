(ns ^:no-doc sockets.impl.option-specs
  "clojure.spec specs for every socket option value, registered under the option keywords
  themselves (:so/rcvbuf, :tcp/nodelay, ...), so an options map is checked by
  `:sockets.options/options` (an `s/keys` of every writable option) and one value by
  `(s/valid? :so/rcvbuf v)`. Read-only options have specs too (for what getters return).

  The ranges are what Linux accepts (a value a spec accepts may still be refused by the kernel
  for reasons no spec can know, e.g. :ip/multicast-if of an address that is not local).
  Generators come from clojure.spec.gen.alpha, so test.check loads only when used."
  (:require [clojure.spec.alpha :as s]
            [clojure.spec.gen.alpha :as gen]
            [sockets.impl.option-codec :as codec]))

(set! *warn-on-reflection* true)

(def ^:private int-max (inc (long Integer/MAX_VALUE)))

;; --- shared value specs ----------------------------------------------------------------

(s/def ::bool boolean?)
(s/def ::int-size (s/int-in 0 int-max))
(s/def ::byte (s/int-in 0 256))
(s/def ::ipv4
  (s/with-gen codec/ipv4?
    #(gen/fmap (fn [[a b c d]] (str a "." b "." c "." d))
               (gen/tuple (gen/choose 0 255) (gen/choose 0 255) (gen/choose 0 255) (gen/choose 0 255)))))
(s/def ::ipv4-multicast
  (s/with-gen codec/ipv4-multicast?
    #(gen/fmap (fn [[a b c d]] (str a "." b "." c "." d))
               (gen/tuple (gen/choose 224 239) (gen/choose 0 255) (gen/choose 0 255) (gen/choose 0 255)))))
(s/def ::timeout-ms (s/nilable (s/int-in 0 (inc codec/max-ms))))

;; struct linger
(s/def ::on? boolean?)
(s/def ::seconds (s/int-in 0 int-max))
(s/def ::linger
  (s/with-gen
    (s/nilable (s/and (s/keys :req-un [::on?] :opt-un [::seconds])
                      #(or (not (:on? %)) (contains? % :seconds))))
    #(gen/one-of [(gen/return nil)
                  (gen/return {:on? false})
                  (gen/fmap (fn [n] {:on? true :seconds n}) (s/gen ::seconds))])))

;; struct ip_mreq
(s/def ::group ::ipv4-multicast)
(s/def ::interface ::ipv4)
(s/def ::membership (s/keys :req-un [::group] :opt-un [::interface]))

;; struct ipv6_mreq: the interface is an index (0: the kernel chooses by route)
(s/def ::ipv6-multicast
  (s/with-gen codec/ipv6-multicast?
    #(gen/fmap (fn [[scope a b]] (format "ff%02x::%x:%x" scope a b))
               (gen/tuple (gen/elements [1 2 5 8 14]) (gen/choose 0 0xffff) (gen/choose 1 0xffff)))))
(s/def :sockets.impl.option-specs.ipv6/group ::ipv6-multicast)
(s/def :sockets.impl.option-specs.ipv6/interface ::int-size)
(s/def ::ipv6-membership (s/keys :req-un [:sockets.impl.option-specs.ipv6/group]
                                 :opt-un [:sockets.impl.option-specs.ipv6/interface]))

;; names: at most 15 UTF-8 bytes (IFNAMSIZ, TCP_CA_NAME_MAX: 16 with the NUL)
(s/def ::ifname
  (s/with-gen codec/name-text?
    ;; "" (unbound) and lo, which every Linux has: generated maps must be settable here
    #(gen/elements ["" "lo"])))
(s/def ::ca-name
  (s/with-gen (s/and codec/name-text? #(pos? (count %)))
    ;; reno is built in and allowed without privileges
    #(gen/return "reno")))

(s/def ::hops (s/int-in -1 256))                ; -1: the default
(s/def ::priority
  (s/with-gen (s/int-in 0 int-max)
    #(gen/choose 0 6)))                           ; above 6 needs CAP_NET_ADMIN
(s/def ::uint (s/int-in 0 (inc 0xffffffff)))

(s/def ::ip-options
  (s/with-gen (s/and bytes? #(<= (alength ^bytes %) 40))
    #(gen/fmap byte-array (gen/vector (gen/fmap unchecked-byte (gen/choose 0 255)) 0 40))))

;; --- one spec per option ---------------------------------------------------------------

(s/def :so/reuseaddr ::bool)
(s/def :so/debug ::bool)
(s/def :so/acceptconn ::bool)
(s/def :so/keepalive ::bool)
(s/def :so/dontroute ::bool)
(s/def :so/broadcast ::bool)
(s/def :so/linger ::linger)
(s/def :so/oobinline ::bool)
(s/def :so/sndbuf ::int-size)
(s/def :so/rcvbuf ::int-size)
(s/def :so/sndlowat ::int-size)
(s/def :so/rcvlowat ::int-size)
(s/def :so/sndtimeo ::timeout-ms)
(s/def :so/rcvtimeo ::timeout-ms)
(s/def :so/error int?)
(s/def :so/type (s/or :keyword qualified-keyword? :int int?))
(s/def :so/useloopback ::bool)
(s/def :so/reuseport ::bool)
(s/def :so/timestamp ::bool)
(s/def :so/exclusiveaddruse ::bool)
(s/def :so/bindtodevice ::ifname)
(s/def :so/priority ::priority)
(s/def :so/mark ::uint)

(s/def :tcp/nodelay ::bool)
(s/def :tcp/nopush ::bool)
(s/def :tcp/noopt ::bool)
(s/def :tcp/keepalive (s/int-in 1 32768))       ; Linux MAX_TCP_KEEPIDLE 32767
(s/def :tcp/keepidle (s/int-in 1 32768))        ; the same option
(s/def :tcp/maxseg (s/int-in 88 32768))         ; Linux TCP_MIN_MSS 88 .. MAX_TCP_WINDOW 32767
(s/def :tcp/keepintvl (s/int-in 1 32768))       ; MAX_TCP_KEEPINTVL
(s/def :tcp/keepcnt (s/int-in 1 128))           ; MAX_TCP_KEEPCNT
(s/def :tcp/cork ::bool)
(s/def :tcp/user-timeout ::int-size)
(s/def :tcp/quickack ::bool)
(s/def :tcp/fastopen ::int-size)
(s/def :tcp/notsent-lowat ::int-size)
(s/def :tcp/congestion ::ca-name)

(s/def :ip/options ::ip-options)
(s/def :ip/hdrincl ::bool)
(s/def :ip/tos ::byte)
(s/def :ip/ttl (s/int-in 1 256))
(s/def :ip/mtu int?)
(s/def :ip/mtu-discover (s/int-in 0 6))         ; IP_PMTUDISC_DONT .. IP_PMTUDISC_OMIT
(s/def :ip/pktinfo ::bool)
(s/def :ip/recverr ::bool)
(s/def :ip/recvtos ::bool)
(s/def :ip/recvttl ::bool)
(s/def :ip/recvopts ::bool)
(s/def :ip/retopts ::bool)
(s/def :ip/recvretopts ::bool)
(s/def :ip/recvdstaddr ::bool)
(s/def :ip/multicast-if ::ipv4)
(s/def :ip/multicast-ttl ::byte)
(s/def :ip/multicast-loop ::bool)
(s/def :ip/add-membership ::membership)
(s/def :ip/drop-membership ::membership)
(s/def :ip/freebind ::bool)
(s/def :ip/transparent ::bool)
(s/def :ip/bind-address-no-port ::bool)

(s/def :ipv6/v6only ::bool)
(s/def :ipv6/unicast-hops ::hops)
(s/def :ipv6/multicast-hops ::hops)
(s/def :ipv6/multicast-if ::int-size)
(s/def :ipv6/multicast-loop ::bool)
(s/def :ipv6/tclass ::byte)
(s/def :ipv6/recvpktinfo ::bool)
(s/def :ipv6/recvtclass ::bool)
(s/def :ipv6/recvhoplimit ::bool)
(s/def :ipv6/join-group ::ipv6-membership)
(s/def :ipv6/leave-group ::ipv6-membership)

(def writable
  "Every option keyword that can be set, in table order."
  (vec (remove #(:read-only? (codec/table %)) codec/order)))

(def readable
  "Every option keyword that can be read, in table order."
  (vec (remove #(:write-only? (codec/table %)) codec/order)))

;; An options map as `set-socket-options!` (and `socket`'s options argument) takes it. The
;; key list is `writable` written out (s/keys needs a literal; a test checks they agree).
;; Unknown keys are refused by `sockets.options` itself (s/keys lets them through).
(s/def :sockets.options/options
  (s/nilable
   (s/keys :opt [:so/reuseaddr :so/debug :so/keepalive :so/dontroute :so/broadcast :so/linger
                 :so/oobinline :so/sndbuf :so/rcvbuf :so/sndlowat :so/rcvlowat :so/sndtimeo
                 :so/rcvtimeo :so/useloopback :so/reuseport :so/timestamp :so/exclusiveaddruse
                 :so/bindtodevice :so/priority :so/mark
                 :tcp/nodelay :tcp/nopush :tcp/noopt :tcp/keepalive :tcp/keepidle :tcp/maxseg
                 :tcp/keepintvl :tcp/keepcnt :tcp/cork :tcp/user-timeout :tcp/quickack :tcp/fastopen
                 :tcp/notsent-lowat :tcp/congestion
                 :ip/options :ip/hdrincl :ip/tos :ip/ttl :ip/mtu-discover :ip/pktinfo :ip/recverr
                 :ip/recvtos :ip/recvttl :ip/recvopts :ip/retopts :ip/recvretopts :ip/recvdstaddr
                 :ip/multicast-if :ip/multicast-ttl :ip/multicast-loop :ip/add-membership
                 :ip/drop-membership :ip/freebind :ip/transparent :ip/bind-address-no-port
                 :ipv6/v6only :ipv6/unicast-hops :ipv6/multicast-hops :ipv6/multicast-if
                 :ipv6/multicast-loop :ipv6/tclass :ipv6/recvpktinfo :ipv6/recvtclass
                 :ipv6/recvhoplimit :ipv6/join-group :ipv6/leave-group])))

;; --- function specs --------------------------------------------------------------------
;; Argument specs are deliberately loose (any value where the function itself validates):
;; under `instrument` a bad argument must still surface as the library's :invalid
;; SocketException, which the functions' own checks raise with a clear message.

(s/def ::socket-or-fd (s/or :socket #(instance? sockets.Socket %) :fd nat-int?))
(s/def ::level (s/or :keyword qualified-keyword? :int int?))
(s/def ::name (s/or :keyword qualified-keyword? :int int?))

(s/fdef sockets.options/get-socket-option
  :args (s/cat :s any? :level any? :name any? :len (s/? any?))
  :ret (s/or :int int? :bytes bytes?))
(s/fdef sockets.options/set-socket-option
  :args (s/cat :s any? :level any? :name any? :val any?)
  :ret nil?)
(s/fdef sockets.options/socket-options
  :args (s/cat :s any? :ks (s/? any?))
  :ret map?)
(s/fdef sockets.options/set-socket-options!
  :args (s/cat :s any? :opts any?)
  :ret ::socket-or-fd)
(s/fdef sockets.options/apply-options!
  :args (s/cat :s any? :opts any?)
  :ret ::socket-or-fd)
(s/fdef sockets.options/check-options
  :args (s/alt :opts (s/cat :opts any?) :op+opts (s/cat :op keyword? :opts any?))
  :ret :sockets.options/options)

(defmacro ^:private fdef-accessors
  "An fdef for each egg getter (returning option k's value) and setter (returning nil)."
  [& triples]
  `(do ~@(for [[g st k] (partition 3 triples)]
           `(do (s/fdef ~(symbol "sockets.options" (name g)) :args (s/cat :s any?) :ret ~k)
                ~@(when st
                    [`(s/fdef ~(symbol "sockets.options" (name st)) :args (s/cat :s any? :v any?) :ret nil?)])))))

(fdef-accessors
 so-reuse-address? set-so-reuse-address! :so/reuseaddr, so-debug? set-so-debug! :so/debug
 so-keep-alive? set-so-keep-alive! :so/keepalive, so-dont-route? set-so-dont-route! :so/dontroute
 so-broadcast? set-so-broadcast! :so/broadcast, so-oob-inline? set-so-oob-inline! :so/oobinline
 so-accept-connections? nil :so/acceptconn, so-send-buffer set-so-send-buffer! :so/sndbuf
 so-receive-buffer set-so-receive-buffer! :so/rcvbuf, so-send-low-water set-so-send-low-water! :so/sndlowat
 so-receive-low-water set-so-receive-low-water! :so/rcvlowat, so-error nil :so/error
 so-type nil :so/type, tcp-no-delay? set-tcp-no-delay! :tcp/nodelay
 tcp-no-push? set-tcp-no-push! :tcp/nopush, tcp-no-options? set-tcp-no-options! :tcp/noopt
 tcp-keep-alive set-tcp-keep-alive! :tcp/keepalive, tcp-max-segment-size set-tcp-max-segment-size! :tcp/maxseg
 ip-header-included? set-ip-header-included! :ip/hdrincl, ip-type-of-service set-ip-type-of-service! :ip/tos
 ip-time-to-live set-ip-time-to-live! :ip/ttl, ipv6-v6-only? set-ipv6-v6-only! :ipv6/v6only
 ;; beyond the egg: named after the keyword
 so-bindtodevice set-so-bindtodevice! :so/bindtodevice, so-priority set-so-priority! :so/priority
 so-mark set-so-mark! :so/mark, tcp-keepidle set-tcp-keepidle! :tcp/keepidle
 tcp-keepintvl set-tcp-keepintvl! :tcp/keepintvl, tcp-keepcnt set-tcp-keepcnt! :tcp/keepcnt
 tcp-user-timeout set-tcp-user-timeout! :tcp/user-timeout, tcp-quickack? set-tcp-quickack! :tcp/quickack
 tcp-fastopen set-tcp-fastopen! :tcp/fastopen, tcp-notsent-lowat set-tcp-notsent-lowat! :tcp/notsent-lowat
 tcp-congestion set-tcp-congestion! :tcp/congestion, ip-freebind? set-ip-freebind! :ip/freebind
 ip-transparent? set-ip-transparent! :ip/transparent
 ip-bind-address-no-port? set-ip-bind-address-no-port! :ip/bind-address-no-port
 ipv6-unicast-hops set-ipv6-unicast-hops! :ipv6/unicast-hops
 ipv6-multicast-if set-ipv6-multicast-if! :ipv6/multicast-if
 ipv6-multicast-hops set-ipv6-multicast-hops! :ipv6/multicast-hops
 ipv6-multicast-loop? set-ipv6-multicast-loop! :ipv6/multicast-loop
 ipv6-recvpktinfo? set-ipv6-recvpktinfo! :ipv6/recvpktinfo)
