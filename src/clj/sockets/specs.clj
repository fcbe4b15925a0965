(ns sockets.specs
  "clojure.spec specs for the library's data: sockaddr maps (one spec per family), addrinfo
  maps, constants and flags; fdefs for the address functions of `sockets.core`.
  `(instrument)` / `(unstrument)` switch argument checking on and off for those fdefs."
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [clojure.spec.gen.alpha :as gen]
            [clojure.spec.test.alpha :as stest]
            [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.core]
            [sockets.datagrams]
            [sockets.gen :as sg]
            [sockets.impl.option-specs]) ; option value specs, registered under each option's keyword
  (:import (sockets SockAddr SocketException)))

(defn- constant-spec [kind]
  (s/or :keyword (set (keys (c/tables kind))) :int int?))

(s/def ::family (constant-spec :af))
(s/def ::socket-type (constant-spec :sock))
(s/def ::protocol (constant-spec :ipproto))
(s/def ::level (s/or :keyword (into (set (keys (c/tables :sol))) (keys (c/tables :ipproto))) :int int?))
(s/def ::shutdown (constant-spec :shut))

(defn- flags-spec [kind]
  (s/or :set (s/coll-of (set (keys (c/tables kind))) :kind set?) :int int? :none nil?))

(s/def ::msg-flags (flags-spec :msg))
(s/def ::ai-flags (flags-spec :ai))
(s/def ::ni-flags (flags-spec :ni))

(s/def ::port (s/int-in 0 65536))
(s/def ::address string?)
(s/def ::scope-id (s/int-in 1 4294967296))
(s/def ::flowinfo (s/int-in 1 4294967296))
(s/def ::path string?)

(defn- valid-sockaddr? [m]
  (try (addr/->native m) true (catch SocketException _ false)))

(defmulti sockaddr-family-spec
  "The spec of a sockaddr map of one family (dispatch on :family), for ::sockaddr's multi-spec."
  :family)
(defmethod sockaddr-family-spec :af/inet [_]
  (s/keys :req-un [::family ::address ::port]))
(defmethod sockaddr-family-spec :af/inet6 [_]
  (s/keys :req-un [::family ::address ::port] :opt-un [::scope-id ::flowinfo]))
(defmethod sockaddr-family-spec :af/unix [_]
  (s/keys :req-un [::family ::path]))
(defmethod sockaddr-family-spec :default [_] (s/keys :req-un [::family]))

(s/def ::sockaddr
  (s/with-gen (s/and map? valid-sockaddr? (s/nonconforming (s/multi-spec sockaddr-family-spec :family)))
    sg/sockaddr))

(s/def :sockets.specs.addrinfo/socktype (s/nilable ::socket-type))
(s/def :sockets.specs.addrinfo/protocol (s/nilable ::protocol))
(s/def :sockets.specs.addrinfo/address ::sockaddr)
(s/def :sockets.specs.addrinfo/canonname (s/nilable string?))
(s/def :sockets.specs.addrinfo/flags (s/coll-of (set (keys (c/tables :ai))) :kind set?))
(s/def ::addrinfo
  (s/keys :req-un [::family :sockets.specs.addrinfo/socktype :sockets.specs.addrinfo/protocol
                   :sockets.specs.addrinfo/address :sockets.specs.addrinfo/canonname
                   :sockets.specs.addrinfo/flags]))

(s/def ::socket #(instance? sockets.Socket %))
(s/def ::timeout (s/nilable (s/int-in 0 Integer/MAX_VALUE)))


(s/fdef sockets.core/inet-address
  :args (s/cat :addr (s/nilable string?) :port (s/nilable (s/or :int ::port :string string?)))
  :ret ::sockaddr)
(s/fdef sockets.core/unix-address :args (s/cat :path string?) :ret ::sockaddr)
(s/fdef sockets.core/sockaddr->string :args (s/cat :sa ::sockaddr) :ret string?)
(s/fdef sockets.core/string->sockaddr :args (s/cat :s string?) :ret ::sockaddr)
(s/fdef sockets.core/name-information
  :args (s/cat :saddr (s/or :sockaddr ::sockaddr :string string?) :flags (s/? ::ni-flags))
  :ret (s/tuple string? (s/or :name string? :port int?)))
(s/fdef sockets.core/socket-connect :args (s/cat :so ::socket :saddr ::sockaddr))
(s/fdef sockets.core/socket-bind :args (s/cat :so ::socket :saddr ::sockaddr))
(s/fdef sockets.core/socket-shutdown :args (s/cat :so ::socket :how ::shutdown))
(s/fdef sockets.core/set-socket-blocking! :args (s/cat :so ::socket :on? any?) :ret boolean?)

(defn- library-fdefs
  "Every instrumentable symbol of the library's namespaces (sockets.core's and the option
  functions' fdefs, registered in sockets.impl.option-specs)."
  []
  (filter #(str/starts-with? (namespace %) "sockets.") (stest/instrumentable-syms)))

(defn instrument "Turns on argument checking for the library's fdefs; returns the instrumented symbols." [] (stest/instrument (library-fdefs)))
(defn unstrument "Turns off argument checking for the library's fdefs; returns the symbols." [] (stest/unstrument (library-fdefs)))

;; ------------------------------------------------------------------ many datagrams (sockets.datagrams, sockets.core)

(s/def ::datagram-buffer #(or (bytes? %) (instance? java.nio.ByteBuffer %)))
(s/def ::payload #(or (bytes? %) (instance? java.nio.ByteBuffer %) (string? %)))
(s/def :sockets.specs.datagram/data ::payload)
(s/def :sockets.specs.datagram/address ::sockaddr)
(s/def ::datagram (s/or :payload ::payload
                        :map (s/keys :req-un [:sockets.specs.datagram/data] :opt-un [:sockets.specs.datagram/address])))
(s/def :sockets.specs.many/flags ::msg-flags)
(s/def :sockets.specs.many/timeout-ms ::timeout)
(s/def :sockets.specs.many/address ::sockaddr)
(s/def :sockets.specs.many/address? boolean?)
(s/def ::receive-many-opts (s/keys :opt-un [:sockets.specs.many/flags :sockets.specs.many/timeout-ms :sockets.specs.many/address?]))
(s/def ::send-many-opts (s/keys :opt-un [:sockets.specs.many/flags :sockets.specs.many/timeout-ms :sockets.specs.many/address]))
(s/def :sockets.specs.received/count nat-int?)
(s/def :sockets.specs.received/address (s/nilable ::sockaddr))
(s/def :sockets.specs.received/truncated? boolean?)
(s/def :sockets.specs.received/data bytes?)

(s/def ::receive-many!-fspec (s/fspec
  :args (s/cat :so ::socket :bufs (s/coll-of ::datagram-buffer :kind sequential? :min-count 1 :max-count sockets.Datagrams/MAX)
               :opts (s/? ::receive-many-opts))
  :ret (s/coll-of (s/keys :req-un [:sockets.specs.received/count :sockets.specs.received/truncated?]
                          :opt-un [:sockets.specs.received/address])
                  :kind vector? :min-count 1 :max-count sockets.Datagrams/MAX)))
(s/def ::receive-many-fspec (s/fspec
  :args (s/cat :so ::socket :n (s/int-in 1 (inc sockets.Datagrams/MAX)) :size (s/int-in 0 (inc c/max-receive-length)) :opts (s/? ::receive-many-opts))
  :ret (s/coll-of (s/keys :req-un [:sockets.specs.received/data :sockets.specs.received/truncated?]
                          :opt-un [:sockets.specs.received/address])
                  :kind vector? :min-count 1 :max-count sockets.Datagrams/MAX)))
(s/def ::send-many-fspec (s/fspec
  :args (s/cat :so ::socket :datagrams (s/coll-of ::datagram :kind sequential? :max-count sockets.Datagrams/MAX)
               :opts (s/? ::send-many-opts))
  :ret (s/int-in 0 (inc sockets.Datagrams/MAX))))

(doseq [ns '[sockets.datagrams sockets.core]]
  (s/def-impl (symbol (str ns) "socket-receive-many!") ::receive-many!-fspec (s/get-spec ::receive-many!-fspec))
  (s/def-impl (symbol (str ns) "socket-receive-many") ::receive-many-fspec (s/get-spec ::receive-many-fspec))
  (s/def-impl (symbol (str ns) "socket-send-many") ::send-many-fspec (s/get-spec ::send-many-fspec)))

;; ------------------------------------------------------------------ proxy schedules (sockets.datagram-proxy, sockets.proxy)

(s/def :sockets.specs.datagram-event/action #{:pass :drop :duplicate :delay :reorder :corrupt :truncate})
(s/def :sockets.specs.datagram-event/copies (s/int-in 1 Integer/MAX_VALUE))
(s/def :sockets.specs.datagram-event/ms (s/int-in 0 Integer/MAX_VALUE))
(s/def :sockets.specs.datagram-event/after (s/int-in 1 Integer/MAX_VALUE))
(s/def :sockets.specs.datagram-event/offsets (s/coll-of (s/int-in 0 Integer/MAX_VALUE) :kind sequential?))
(s/def :sockets.specs.datagram-event/to (s/int-in 0 Integer/MAX_VALUE))

(defmulti datagram-event-spec
  "The spec of a datagram-proxy event map of one :action (dispatch on :action)."
  :action)
(defmethod datagram-event-spec :pass [_] (s/keys :req-un [:sockets.specs.datagram-event/action]))
(defmethod datagram-event-spec :drop [_] (s/keys :req-un [:sockets.specs.datagram-event/action]))
(defmethod datagram-event-spec :duplicate [_] (s/keys :req-un [:sockets.specs.datagram-event/action :sockets.specs.datagram-event/copies]))
(defmethod datagram-event-spec :delay [_] (s/keys :req-un [:sockets.specs.datagram-event/action :sockets.specs.datagram-event/ms]))
(defmethod datagram-event-spec :reorder [_] (s/keys :req-un [:sockets.specs.datagram-event/action :sockets.specs.datagram-event/after]))
(defmethod datagram-event-spec :corrupt [_] (s/keys :req-un [:sockets.specs.datagram-event/action :sockets.specs.datagram-event/offsets]))
(defmethod datagram-event-spec :truncate [_] (s/keys :req-un [:sockets.specs.datagram-event/action :sockets.specs.datagram-event/to]))

(s/def ::datagram-event
  (s/with-gen (s/or :keyword #{:pass :drop}
                    :map (s/and map? (s/multi-spec datagram-event-spec :action)))
    sg/datagram-event))
(s/def :sockets.specs.datagram-schedule/up (s/coll-of ::datagram-event :kind sequential?))
(s/def :sockets.specs.datagram-schedule/down (s/coll-of ::datagram-event :kind sequential?))
(s/def ::datagram-schedule
  (s/with-gen (s/and (s/keys :opt-un [:sockets.specs.datagram-schedule/up :sockets.specs.datagram-schedule/down])
                     #(empty? (dissoc % :up :down)))
    sg/datagram-schedule))

(s/def :sockets.specs.fault/at-byte (s/int-in 0 Long/MAX_VALUE))
(s/def :sockets.specs.fault/kind #{:reset :close :half-close :stall})
(s/def :sockets.specs.fault/direction #{:up :down})
(s/def :sockets.specs.tcp-schedule/fault (s/keys :req-un [:sockets.specs.fault/at-byte :sockets.specs.fault/kind]
                                                 :opt-un [:sockets.specs.fault/direction]))
(s/def :sockets.specs.tcp-schedule/chunks (s/coll-of (s/int-in 1 Integer/MAX_VALUE) :kind sequential?))
(s/def :sockets.specs.tcp-schedule/delays-ms (s/coll-of (s/int-in 0 Integer/MAX_VALUE) :kind sequential?))
(s/def :sockets.specs.tcp-schedule/fill-wait-ms (s/int-in 0 Integer/MAX_VALUE))
(s/def :sockets.specs.tcp-schedule/latency-ms (s/int-in 0 Integer/MAX_VALUE))
(s/def :sockets.specs.tcp-schedule/bytes-per-sec (s/int-in 1 Long/MAX_VALUE))
(s/def :sockets.specs.tcp-schedule/read-bytes-per-sec (s/int-in 1 Long/MAX_VALUE))
(s/def ::tcp-direction-schedule
  (s/keys :opt-un [:sockets.specs.tcp-schedule/chunks :sockets.specs.tcp-schedule/delays-ms
                   :sockets.specs.tcp-schedule/fill-wait-ms :sockets.specs.tcp-schedule/fault
                   :sockets.specs.tcp-schedule/latency-ms :sockets.specs.tcp-schedule/bytes-per-sec
                   :sockets.specs.tcp-schedule/read-bytes-per-sec]))
(s/def :sockets.specs.tcp-schedule/up ::tcp-direction-schedule)
(s/def :sockets.specs.tcp-schedule/down ::tcp-direction-schedule)
(s/def ::fault-schedule
  (s/with-gen (s/or :per-direction (s/and (s/keys :req-un [(or :sockets.specs.tcp-schedule/up :sockets.specs.tcp-schedule/down)])
                                          #(empty? (dissoc % :up :down)))
                    :both-ways (s/and ::tcp-direction-schedule #(not (or (contains? % :up) (contains? % :down)))))
    sg/fault-schedule))
