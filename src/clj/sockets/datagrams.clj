(ns sockets.datagrams
  "Many datagrams per call, mirroring `sockets.Datagrams` (Java): recvmmsg/sendmmsg on Linux
  (up to 1024 datagrams per system call), one recvmsg/sendmsg per datagram elsewhere, with
  the same results. Beyond the egg.

  Building blocks: socket-receive-many! (into your buffers), socket-receive-many (into new
  arrays), socket-send-many.

  `sockets.core` has the same three functions taking their default timeouts from the egg's
  parameters (*socket-receive-timeout*, *socket-send-timeout*); here the default is the
  parameters' default, 60000 ms, unless the options give :timeout-ms (nil: forever). Bad
  arguments are :invalid before anything is sent or received; a close from another thread
  wakes a blocked call with :closed."
  (:require [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.impl.args :as args])
  (:import (java.nio ByteBuffer)
           (sockets Datagrams Socket SockAddr)))

(set! *warn-on-reflection* true)

(def ^:private ^:const max-datagrams Datagrams/MAX)

(def default-timeout-ms
  "The wait of a call here when the options have no :timeout-ms: 60000 ms."
  60000)

(def max-receive-total
  "The most bytes `socket-receive-many` allocates in one call (n * size): 64 MiB, as
  `sockets.constants/max-receive-length`."
  c/max-receive-length)

(defn- timeout [op opts]
  (args/timeout-ms op ":timeout-ms" (get opts :timeout-ms default-timeout-ms)))

(defn- datagram-socket ^Socket [op s]
  (let [so (args/socket op s)]
    (when-not (= (.type so) (c/->int :sock :sock/dgram))
      (throw (args/fail op "the socket" "a datagram socket (:sock/dgram)" so)))
    so))

(def ^:private trunc-bit (long (or (get-in c/tables [:msg :msg/trunc]) 0)))

(defn- truncated? [^long mflags] (not= 0 (bit-and mflags (long trunc-bit))))

(defn socket-receive-many!
  "Returns a vector with one map per datagram received, in arrival order: datagram i went into
  buffer i of `bufs` (a sequence of 1-1024 byte arrays or ByteBuffers; a ByteBuffer is filled
  from its position, which is not changed) and is described by
    {:count n             bytes stored (with :flags #{:msg/trunc}: the datagram's real length)
     :address sockaddr    the sender, or nil (an unbound unix socket)
     :truncated? bool}    the datagram was longer than its buffer and the rest is lost
  Blocks this thread until the first datagram arrives, up to :timeout-ms (default 60000; nil:
  forever), then takes the ones already queued without waiting, so the vector has 1 to
  (count bufs) entries. One recvmmsg(2) per call on Linux, one recvmsg(2) per datagram
  elsewhere. `s` must be a :sock/dgram socket (UDP or unix). Options: :timeout-ms, :flags
  (:msg/trunc, :msg/dontwait), :address? (default true; false leaves :address out and skips
  decoding it). A close from another thread wakes the call with :closed; bad arguments raise
  :invalid before anything is received."
  ([s bufs] (socket-receive-many! s bufs {}))
  ([s bufs opts]
   (let [op :socket-receive-many!
         so (datagram-socket op s)
         opts (args/options op opts args/renamed-keys)
         _ (when-not (sequential? bufs) (throw (args/fail op "the buffers" (str "a sequence of 1 to " max-datagrams " buffers") bufs)))
         a (args/buffers op "the buffers" bufs false max-datagrams)
         n (alength a)
         flags (args/flags op :msg (:flags opts))
         t (timeout op opts)
         addrs? (get opts :address? true)
         counts (int-array n)
         mflags (int-array n)
         froms (when addrs? (make-array SockAddr n))
         k (Datagrams/receiveMany so a counts froms mflags (int flags) t)]
     ;; consecutive datagrams from one sender share a SockAddr (Datagrams says so): one map for the run
     (loop [i 0 out (transient []) prev nil prev-map nil]
       (if (< i k)
         (let [from (when addrs? (aget ^"[Lsockets.SockAddr;" froms i))
               m (if (identical? from prev) prev-map (addr/sockaddr->map from))]
           (recur (inc i)
                  (conj! out (cond-> {:count (aget counts i) :truncated? (truncated? (aget mflags i))}
                               addrs? (assoc :address m)))
                  from m))
         (persistent! out))))))

(defn socket-receive-many
  "Returns a vector with one map per datagram received, in arrival order:
  {:data bytes :address sockaddr :truncated? bool}, each datagram's bytes (at most `size`; a
  longer datagram is cut, :truncated? true). Receives up to `n` (1-1024) datagrams as
  `socket-receive-many!` does (same blocking, timeout and options), into new arrays; `n` times
  `size` is at most `max-receive-total` (64 MiB), checked before anything is allocated."
  ([s n size] (socket-receive-many s n size {}))
  ([s n size opts]
   (let [op :socket-receive-many
         n (args/int-in op "n" n 1 max-datagrams)
         size (args/size op "size" size c/max-receive-length)]
     (when (> (* n size) max-receive-total)
       (throw (args/fail op "n * size" (str "at most " max-receive-total " bytes") (* n size))))
     (datagram-socket op s)
     (args/options op opts args/renamed-keys)
     (let [arrs (vec (repeatedly n #(byte-array size)))
           rs (socket-receive-many! s arrs opts)]
       (into [] (map-indexed (fn [i r]
                               (-> r
                                   (dissoc :count)
                                   (assoc :data (java.util.Arrays/copyOf ^bytes (arrs i) (int (min size (:count r))))))))
             rs)))))

(defn socket-send-many
  "Returns the number of datagrams sent from `datagrams`, a sequence of up to 1024 payloads
  (byte arrays, ByteBuffers (their remaining bytes; position not changed), strings as UTF-8)
  or maps {:data payload :address sockaddr}, sent in order, each as one datagram. A datagram
  goes to its :address, else to the :address option, else to the connected peer. Blocks this
  thread until the first can be sent, up to :timeout-ms (default 60000; nil: forever), then
  sends what fits without waiting: the count may be less than given (the send buffer filled,
  or a later datagram failed and the next call reports it); send the rest again. One
  sendmmsg(2) per call on Linux, one sendmsg(2) per datagram elsewhere; never raises SIGPIPE.
  `s` must be a :sock/dgram socket. Options: :address, :flags (:msg/dontwait, :msg/dontroute,
  :msg/confirm), :timeout-ms. Bad arguments raise :invalid before anything is sent."
  ([s datagrams] (socket-send-many s datagrams {}))
  ([s datagrams opts]
   (let [op :socket-send-many
         so (datagram-socket op s)
         opts (args/options op opts args/renamed-keys)
         _ (when-not (and (sequential? datagrams) (<= (bounded-count (inc max-datagrams) datagrams) max-datagrams))
             (throw (args/fail op "the datagrams" (str "a sequence of at most " max-datagrams " datagrams")
                               (if (sequential? datagrams) (str (bounded-count (inc max-datagrams) datagrams) "+ datagrams") datagrams))))
         n (count datagrams)
         default-to (some-> (:address opts) (addr/->native op))
         bufs (make-array ByteBuffer n)
         tos (make-array SockAddr n)
         any-to? (loop [i 0 ds (seq datagrams) any? (some? default-to)]
                   (if ds
                     (let [d (first ds)
                           [data to] (if (map? d)
                                       (do (when-not (contains? d :data)
                                             (throw (args/fail op "a datagram map" "a map with :data" d)))
                                           [(:data d) (some-> (:address d) (addr/->native op))])
                                       [d nil])
                           to (or to default-to)]
                       (aset ^"[Ljava.nio.ByteBuffer;" bufs i (args/send-buffer op "a datagram" data))
                       (aset ^"[Lsockets.SockAddr;" tos i ^SockAddr to)
                       (recur (inc i) (next ds) (or any? (some? to))))
                     any?))
         flags (args/flags op :msg (:flags opts))
         t (timeout op opts)]
     (Datagrams/sendMany so bufs (when any-to? tos) (int flags) t))))
