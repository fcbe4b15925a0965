(ns sockets.messages
  "Messages with ancillary data, mirroring `sockets.Messages` (Java): sendmsg/recvmsg with
  vectored data and control messages as maps, the control-data codec, fd passing and
  credentials. Beyond the egg.

  Building blocks:
    messages          socket-send-message socket-receive-message
    control codec     encode-control-data decode-control-data (multimethods on [level type])
                      register-control-type! control-types
    credentials       socket-peer-credentials process-credentials

  Socket pairs and adopting fds (`socketpair`, `fd->socket`) are in `sockets.core`, beside
  `socket`. Every fd received is close-on-exec. Errors are `sockets.SocketException`s; bad
  arguments are :invalid before anything is sent or received. Blocking calls wait up to the
  `:timeout-ms` option (default 60000, the default of sockets.core's *socket-send-timeout* and
  *socket-receive-timeout*; nil: forever); a close from another thread wakes them with :closed."
  (:require [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.impl.args :as args]
            [sockets.impl.cmsg :as cmsg])
  (:import (java.util ArrayList)
           (jnr.constants.platform Errno)
           (sockets Messages Messages$Control Messages$Message Socket SocketException)
           (sockets.impl Fd)))

(set! *warn-on-reflection* true)

(def default-timeout-ms
  "The wait of a send or receive here when the options have no :timeout-ms: 60000 ms."
  60000)

(def max-buffers
  "The most buffers one message is gathered from or scattered into: 1024 (IOV_MAX on Linux)."
  1024)

(defn- timeout [op opts]
  (args/timeout-ms op ":timeout-ms" (get opts :timeout-ms default-timeout-ms)))

;; ------------------------------------------------------------------ credentials

(defn socket-peer-credentials
  "Returns {:pid :uid :gid} of the process at the other end of connected unix socket `s`, as
  the kernel recorded them at connect (or socketpair) time: SO_PEERCRED on Linux, getpeereid
  elsewhere (:pid nil there). Does not block. Throws :unsupported where neither exists."
  [s]
  (let [^ints r (Messages/peerCredentials (args/socket :socket-peer-credentials s))]
    {:pid (when (>= (aget r 0) 0) (aget r 0))
     :uid (Integer/toUnsignedLong (aget r 1))
     :gid (Integer/toUnsignedLong (aget r 2))}))

(defn process-credentials
  "Returns {:pid :uid :gid} of this process. Does not block."
  []
  (let [^ints r (Messages/processCredentials)]
    {:pid (aget r 0) :uid (Integer/toUnsignedLong (aget r 1)) :gid (Integer/toUnsignedLong (aget r 2))}))

;; ------------------------------------------------------------------ messages

(defn- with-fds
  "Calls (f controls) with every Socket in :scm/rights :fds replaced by its fd number, each
  acquired for the duration (so a concurrent close cannot free the number mid-send)."
  [op controls f]
  (let [held (ArrayList.)]
    (try
      (f (mapv (fn [m]
                 (if (and (map? m) (sequential? (:fds m)))
                   (assoc m :fds (mapv (fn [x]
                                         (if (instance? Socket x)
                                           (let [^Fd fd (.fd ^Socket x)
                                                 n (.acquire fd (c/op-name op))]
                                             (.add held fd)
                                             n)
                                           x))
                                       (:fds m)))
                   m))
               controls))
      (finally (doseq [^Fd fd held] (.release fd))))))

(def ^:private ebadf (.intValue Errno/EBADF))

(defn socket-send-message
  "Sends one message with sendmsg(2) on socket `s`; returns the number of bytes sent. `data`
  is a byte array, ByteBuffer (its remaining bytes, position unchanged) or string (UTF-8), or
  a sequence of 1 to 1024 of them sent as one message (gathered, in order). Options:
    :address     a sockaddr map to send to (unconnected datagram sockets)
    :flags       :msg/ keywords or an int (MSG_NOSIGNAL is always added: no SIGPIPE)
    :control     a seq of control-message maps, e.g.
                 {:level :sol/socket :type :scm/rights :fds [file-fd socket]}  (ints or Sockets)
                 {:level :sol/socket :type :scm/credentials :pid p :uid u :gid g}  (Linux)
                 {:level :ipproto/ip :type :ip/pktinfo :ifindex 0 :local \"127.0.0.1\"}
                 {:level n :type m :data bytes}  (any other, raw)
    :timeout-ms  ms to wait for room (default 60000; nil: forever)
  Blocks this thread only while the socket's send buffer is full. An :scm/rights fd number
  that is not open is :invalid (the kernel's EBADF about the payload), not :closed."
  ([s data] (socket-send-message s data {}))
  ([s data opts]
   (let [op :socket-send-message
         so (args/socket op s)
         opts (args/options op opts args/renamed-keys)
         bufs (args/buffers op "data" data true max-buffers)
         to (some-> (:address opts) (addr/->native op))
         flags (args/flags op :msg (:flags opts))
         t (timeout op opts)
         controls (:control opts)]
     (when-not (or (nil? controls) (sequential? controls))
       (throw (args/fail op ":control" "a sequence of maps" controls)))
     (with-fds op controls
       (fn [cs]
         (let [jcs (ArrayList.)]
           (doseq [m cs]
             (let [[l t d] (cmsg/encode op m)]
               (.add jcs (Messages$Control. (int l) (int t) d))))
           (try
             (Messages/send so bufs to jcs (int flags) t)
             (catch SocketException e
               ;; EBADF with the socket still open: an fd in the payload is not open
               (if (and (= ebadf (.errno e)) (seq cs) (not (.isClosed so)))
                 (throw (doto (c/invalid op (str (c/op-name op) ": an :scm/rights fd is not open (EBADF), in "
                                                 (args/show (vec (mapcat :fds cs)))))
                          (.initCause e)))
                 (throw e))))))))))

(defn- adopt-fd [n]
  (if (Messages/isSocket (int n))
    (try (Messages/adopt (int n)) (catch SocketException _ n))
    n))

(def ^:private default-control-size 1024)

(defn socket-receive-message
  "Receives one message with recvmsg(2) on socket `s`, waiting up to :timeout-ms (default
  60000; nil: forever). `into` is an integer (a new buffer of that many bytes, at most
  `sockets.constants/max-receive-length`, 64 MiB), or a byte array / ByteBuffer / sequence of
  1 to 1024 of them filled in order (from each position; positions unchanged). Returns
    {:count n            bytes received (0: end of stream); with :flags #{:msg/trunc} on a
                         datagram socket, the datagram's real length
     :data bytes         the bytes received, at most the buffer's size (only when `into` is an
                         integer)
     :address sockaddr   the sender, or nil
     :flags #{...}       msg_flags as :msg/ keywords
     :truncated? bool    the datagram was longer than the buffers (MSG_TRUNC)
     :ctrunc? bool       control data was cut (MSG_CTRUNC); fds that arrived were closed
     :closed-fds [n ..]  those fds' numbers (only when some were closed)
     :control [maps]}    ancillary data, one map per control message, decoded by
                         sockets.impl.cmsg; unknown [level type] give {:level :type :data bytes}.
  Received :scm/rights fds are close-on-exec and become Sockets (fd->socket) when they are
  sockets, else stay integers: close them. Options: :flags (:msg/peek ...), :control-size
  (bytes for ancillary data, 0-1048576, default 1024), :timeout-ms, :adopt-fds? (default true;
  false leaves every received fd an integer)."
  ([s into] (socket-receive-message s into {}))
  ([s into opts]
   (let [op :socket-receive-message
         so (args/socket op s)
         opts (args/options op opts args/renamed-keys)
         new? (integer? into)
         arr (when new? (byte-array (args/size op "the size" into c/max-receive-length)))
         bufs (args/buffers op "the buffer" (if new? arr into) false max-buffers)
         flags (args/flags op :msg (:flags opts))
         csize (args/size op ":control-size" (get opts :control-size default-control-size) (bit-shift-left 1 20))
         t (timeout op opts)
         ^Messages$Message m (Messages/receive so bufs (int csize) (int flags) t)
         mflags (.flags m)
         trunc (get-in c/tables [:msg :msg/trunc])
         ctrunc (get-in c/tables [:msg :msg/ctrunc])
         controls (mapv (fn [^Messages$Control ctl]
                          (let [cm (cmsg/decode (.level ctl) (.type ctl) (.data ctl))]
                            (if (and (= :scm/rights (:type cm)) (:fds cm) (get opts :adopt-fds? true))
                              (update cm :fds #(mapv adopt-fd %))
                              cm)))
                        (.controls m))
         n (.count m)]
     (cond-> {:count n
              :address (addr/sockaddr->map (.from m))
              :flags (c/int->flags :msg mflags)
              :truncated? (boolean (and trunc (pos? (bit-and mflags trunc))))
              :ctrunc? (boolean (and ctrunc (pos? (bit-and mflags ctrunc))))
              :control controls}
       new? (assoc :data (java.util.Arrays/copyOf ^bytes arr (int (min n (alength ^bytes arr)))))
       (pos? (alength (.closedFds m))) (assoc :closed-fds (vec (.closedFds m)))))))

;; ------------------------------------------------------------------ the codec, open to users

(def encode-control-data
  "The multimethod turning a control-message map into its data bytes, dispatching on
  [(:level m) (:type m)] (keywords). Add a method for a new type (and name its numbers with
  `register-control-type!`): (defmethod encode-control-data [:ipproto/ip :my/type] [m] bytes).
  The same MultiFn as sockets.impl.cmsg/encode-data. A non-map is :invalid."
  cmsg/encode-data)

(def decode-control-data
  "The multimethod turning a received control message's data bytes into a map of fields,
  dispatching on the keyword pair [level type]; the default gives {:data bytes}. The same
  MultiFn as sockets.impl.cmsg/decode-data. Data that is not a byte array is :invalid."
  cmsg/decode-data)

(defn register-control-type!
  "Names control-message type [level-kw type-kw] as platform numbers [level-int type-int]
  (both needed: maps with the keywords then encode, received messages with the numbers
  decode, through the pair's `encode-control-data` / `decode-control-data` methods). The entry
  is checked whole first (two keywords, two ints): a malformed one is :invalid and changes
  nothing. Returns the pair."
  [pair numbers]
  (cmsg/register-type! pair numbers))

(defn control-types
  "Returns {[level-kw type-kw] [level-int type-int]} of the control-message types the codec
  names on this platform (built in: :scm/rights :scm/credentials :so/timestamp
  :so/timestampns :ip/pktinfo :ip/ttl :ip/tos :ipv6/pktinfo, plus registered ones)."
  []
  (into (sorted-map) (filter (fn [[_ [l t]]] (and l t)) @cmsg/types)))
