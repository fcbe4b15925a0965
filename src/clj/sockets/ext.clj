(ns sockets.ext
  "Beyond the egg: what BSD sockets can do that the egg does not name.

  Building blocks:
    pairs and fds     socketpair fd->socket
    credentials       socket-peer-credentials process-credentials
    messages          socket-send-message socket-receive-message (sendmsg/recvmsg with vectored
                      data and ancillary data as maps)
    control codec     encode-control-data decode-control-data (multimethods on [level type])
                      register-control-type! control-types
    platform data     platform
    datafy            (clojure.datafy/datafy socket), nav into addresses gives name-information
    happy eyeballs    connect-ai-happy (RFC 8305 staggered connects)
    many datagrams    socket-receive-many! socket-receive-many socket-send-many (recvmmsg/sendmmsg
                      on Linux: up to 1024 datagrams per call)

  Every socket made here is non-blocking and close-on-exec; every fd received is close-on-exec.
  Errors are `sockets.SocketException`s as everywhere else. Blocking calls wait as the core's do:
  up to a `:timeout` option in ms, else sockets.core's *socket-receive-timeout* /
  *socket-send-timeout* / *socket-connect-timeout*; a close from another thread wakes them
  with :closed."
  (:require [clojure.core.protocols :as p]
            [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.impl.cmsg :as cmsg]
            [sockets.options :as o])
  (:import (java.nio ByteBuffer)
           (java.nio.charset StandardCharsets)
           (java.util ArrayList List)
           (java.util.concurrent LinkedBlockingQueue TimeUnit)
           (sockets Datagrams Messages Messages$Control Messages$Message Socket SockAddr SocketException
                    SocketException$Kind AddrInfo)
           (sockets.impl Fd MsgLib Native)))

(set! *warn-on-reflection* true)

(defn- sock ^Socket [op s]
  (if (instance? Socket s) s (throw (c/invalid op (str "not a socket: " (pr-str s))))))

(defn- param
  "The value of dynamic var sockets.core/<nm> (nil when sockets.core is not loaded)."
  [nm]
  (some-> (requiring-resolve (symbol "sockets.core" (str nm))) deref))

(defn- timeout-ms ^long [op opts k default-var]
  (let [v (if (contains? opts k) (get opts k) (param default-var))]
    (cond (nil? v) -1
          (c/int-in? v 0 Integer/MAX_VALUE) (long v)
          :else (throw (c/invalid op (str "timeout must be nil or a non-negative integer of milliseconds, not " (pr-str v)))))))

;; ------------------------------------------------------------------ pairs and fds

(defn socketpair
  "Returns [a b], two connected sockets from socketpair(2) of `family` (:af/unix; Linux has no
  other) and `type` (:sock/stream, :sock/dgram, :sock/seqpacket), protocol 0 unless given. Both
  are non-blocking and close-on-exec (atomically where the platform can, else by fcntl; if that
  fails both are closed). Does not block."
  ([family type] (socketpair family type 0))
  ([family type protocol]
   (let [op :socketpair
         ^objects r (Messages/socketPair (c/->int :af family op) (c/->int :sock type op)
                                         (c/->int :ipproto (or protocol 0) op))]
     [(aget r 0) (aget r 1)])))

(defn fd->socket
  "Returns a `sockets.Socket` owning open socket fd `fd` (an integer), with its family, type
  and protocol read from the kernel (SO_DOMAIN or getsockname, SO_TYPE, SO_PROTOCOL where the
  platform has it), made non-blocking and close-on-exec. Closing the socket closes the fd.
  Throws :invalid when `fd` is not a socket (the fd is then left open and still yours)."
  ^Socket [fd]
  (when-not (c/int-in? fd 0 Integer/MAX_VALUE)
    (throw (c/invalid :fd->socket (str "expected a file descriptor number, not " (pr-str fd)))))
  (Messages/adopt (int fd)))

;; ------------------------------------------------------------------ credentials

(defn socket-peer-credentials
  "Returns {:pid :uid :gid} of the process at the other end of connected unix socket `s`, as
  the kernel recorded them at connect (or socketpair) time: SO_PEERCRED on Linux, getpeereid
  elsewhere (:pid nil there). Does not block. Throws :unsupported where neither exists."
  [s]
  (let [^ints r (Messages/peerCredentials (sock :socket-peer-credentials s))]
    {:pid (when (>= (aget r 0) 0) (aget r 0))
     :uid (Integer/toUnsignedLong (aget r 1))
     :gid (Integer/toUnsignedLong (aget r 2))}))

(defn process-credentials
  "Returns {:pid :uid :gid} of this process."
  []
  (let [^ints r (Messages/processCredentials)]
    {:pid (aget r 0) :uid (Integer/toUnsignedLong (aget r 1)) :gid (Integer/toUnsignedLong (aget r 2))}))

;; ------------------------------------------------------------------ messages

(defn- ->buffer ^ByteBuffer [op x]
  (cond (bytes? x) (ByteBuffer/wrap x)
        (instance? ByteBuffer x) x
        (string? x) (ByteBuffer/wrap (.getBytes ^String x StandardCharsets/UTF_8))
        :else (throw (c/invalid op (str "data must be byte arrays, ByteBuffers or strings, not " (pr-str x))))))

(defn- ->buffers ^"[Ljava.nio.ByteBuffer;" [op data]
  (into-array ByteBuffer (if (sequential? data) (map #(->buffer op %) data) [(->buffer op data)])))

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
                                                 n (.acquire fd (name op))]
                                             (.add held fd)
                                             n)
                                           x))
                                       (:fds m)))
                   m))
               controls))
      (finally (doseq [^Fd fd held] (.release fd))))))

(defn socket-send-message
  "Sends one message with sendmsg(2) on socket `s`; returns the number of bytes sent. `data`
  is a byte array, ByteBuffer (its remaining bytes, position unchanged) or string, or a
  sequence of them sent as one message (gathered, in order). Options:
    :address  a sockaddr map to send to (unconnected datagram sockets)
    :flags    :msg/ keywords or an int (MSG_NOSIGNAL is always added: no SIGPIPE)
    :control  a seq of control-message maps, e.g.
              {:level :sol/socket :type :scm/rights :fds [file-fd socket]}  (ints or Sockets)
              {:level :sol/socket :type :scm/credentials :pid p :uid u :gid g}  (Linux)
              {:level :ipproto/ip :type :ip/pktinfo :ifindex 0 :local \"127.0.0.1\"}
              {:level n :type m :data bytes}  (any other, raw)
    :timeout  ms to wait for room (default sockets.core/*socket-send-timeout*; nil: forever)
  Blocks this thread only while the socket's send buffer is full."
  ([s data] (socket-send-message s data {}))
  ([s data opts]
   (let [op :socket-send-message
         so (sock op s)
         bufs (->buffers op data)
         to (some-> (:address opts) (addr/->native op))
         flags (c/flags->int :msg (:flags opts) op)
         t (timeout-ms op opts :timeout '*socket-send-timeout*)
         controls (:control opts)]
     (when-not (or (nil? controls) (sequential? controls))
       (throw (c/invalid op (str ":control must be a sequence of maps, not " (pr-str controls)))))
     (with-fds op controls
       (fn [cs]
         (let [jcs (ArrayList.)]
           (doseq [m cs]
             (let [[l t d] (cmsg/encode op m)]
               (.add jcs (Messages$Control. (int l) (int t) d))))
           (Messages/send so bufs to jcs (int flags) t)))))))

(defn- adopt-fd [n]
  (if (Messages/isSocket (int n))
    (try (Messages/adopt (int n)) (catch SocketException _ n))
    n))

(def ^:private default-control-size 1024)

(defn socket-receive-message
  "Receives one message with recvmsg(2) on socket `s`, waiting up to :timeout ms (default
  sockets.core/*socket-receive-timeout*; nil: forever). `into` is an integer (a new buffer of
  that many bytes), or a byte array / ByteBuffer / sequence of them filled in order (from each
  position; positions unchanged). Returns
    {:count n            bytes received (0: end of stream)
     :data bytes         the bytes received (only when `into` is an integer)
     :address sockaddr   the sender, or nil
     :flags #{...}       msg_flags as :msg/ keywords
     :truncated? bool    the datagram was longer than the buffers (MSG_TRUNC)
     :ctrunc? bool       control data was cut (MSG_CTRUNC); fds that arrived were closed
     :closed-fds [n ..]  those fds' numbers (only when some were closed)
     :control [maps]}    ancillary data, one map per control message, decoded by
                         sockets.impl.cmsg; unknown [level type] give {:level :type :data bytes}.
  Received :scm/rights fds are close-on-exec and become Sockets (fd->socket) when they are
  sockets, else stay integers: close them. Options: :flags (:msg/peek ...), :control-size
  (bytes for ancillary data, default 1024), :timeout, :adopt-fds? (default true; false leaves
  every received fd an integer)."
  ([s into] (socket-receive-message s into {}))
  ([s into opts]
   (let [op :socket-receive-message
         so (sock op s)
         new? (integer? into)
         _ (when (and new? (not (<= 0 into Integer/MAX_VALUE)))
             (throw (c/invalid op (str "size must be a non-negative int, not " into))))
         arr (when new? (byte-array into))
         bufs (->buffers op (if new? arr into))
         _ (when (some #(string? %) (if (sequential? into) into [into]))
             (throw (c/invalid op "cannot receive into a string")))
         flags (c/flags->int :msg (:flags opts) op)
         csize (get opts :control-size default-control-size)
         _ (when-not (c/int-in? csize 0 (bit-shift-left 1 20))
             (throw (c/invalid op (str ":control-size must be an integer in 0-1048576, not " (pr-str csize)))))
         t (timeout-ms op opts :timeout '*socket-receive-timeout*)
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
  The same MultiFn as sockets.impl.cmsg/encode-data."
  cmsg/encode-data)

(def decode-control-data
  "The multimethod turning a received control message's data bytes into a map of fields,
  dispatching on the keyword pair [level type]; the default gives {:data bytes}. The same
  MultiFn as sockets.impl.cmsg/decode-data."
  cmsg/decode-data)

(defn register-control-type!
  "Names control-message type [level-kw type-kw] as platform numbers [level-int type-int]
  (both needed: maps with the keywords then encode, received messages with the numbers
  decode, through the pair's `encode-control-data` / `decode-control-data` methods). Returns
  the pair."
  [pair numbers]
  (cmsg/register-type! pair numbers))

(defn control-types
  "Returns {[level-kw type-kw] [level-int type-int]} of the control-message types the codec
  names on this platform (built in: :scm/rights :scm/credentials :so/timestamp
  :so/timestampns :ip/pktinfo :ip/ttl :ip/tos :ipv6/pktinfo, plus registered ones)."
  []
  (into (sorted-map) (filter (fn [[_ [l t]]] (and l t)) @cmsg/types)))

;; ------------------------------------------------------------------ platform

(def ^:private probe-families [:af/inet :af/inet6 :af/unix])
(def ^:private probe-types [:sock/stream :sock/dgram :sock/seqpacket])

(defn- probe-options
  "{[family type] #{option-keywords}} read by getsockopt on fresh sockets, or :unsupported."
  []
  (into (sorted-map)
        (for [f probe-families t probe-types
              :when (and (get-in c/tables [:af f]) (get-in c/tables [:sock t]))]
          [[f t]
           (try
             (with-open [s (Socket/open (c/->int :af f) (c/->int :sock t) 0)]
               (into (sorted-set) (keys (o/socket-options s))))
             (catch SocketException e
               (if (= SocketException$Kind/UNSUPPORTED (.kind e)) :unsupported
                   {:error (.getMessage e)})))])))

(defn platform
  "Returns data about this platform (reads the kernel; opens and closes a few sockets):
    :os :arch            from the JVM
    :constants           {kind {keyword number}} for every constant this platform has
    :missing             {kind #{keyword ...}} for the named ones it lacks
    :control-messages    {[level type] [level-number type-number]} the ancillary codec knows here
    :options             {[family type] #{option ...}} options readable on a fresh socket of each
                         family and type (:unsupported where the socket cannot be made)
    :event-loop          :epoll or :poll (what sockets.EventLoop uses)
    :features            {:atomic-socket-flags? :msg-nosignal? :msg-cmsg-cloexec? :peer-credentials}"
  []
  {:os (System/getProperty "os.name")
   :arch (System/getProperty "os.arch")
   :constants (into (sorted-map) (for [[k m] c/tables] [k (into (sorted-map) (filter val m))]))
   :missing (into (sorted-map) (for [[k m] c/tables
                                     :let [ks (into (sorted-set) (keep (fn [[kw v]] (when (nil? v) kw)) m))]
                                     :when (seq ks)]
                                 [k ks]))
   :control-messages (control-types)
   :options (probe-options)
   :event-loop (if Native/LINUX :epoll :poll)
   :features {:atomic-socket-flags? (pos? Native/SOCK_ATOMIC_FLAGS)
              :msg-nosignal? (pos? Native/MSG_NOSIGNAL)
              :msg-cmsg-cloexec? (pos? MsgLib/MSG_CMSG_CLOEXEC)
              :peer-credentials (if Native/LINUX :so-peercred :getpeereid)}})

;; ------------------------------------------------------------------ datafy

(defn- kw-or-int [kind n] (or (c/->kw kind n) n))

(defn- tcp-info [^Socket s]
  (when (and Native/LINUX (= (.type s) (c/->int :sock :sock/stream))
             (#{(c/->int :af :af/inet) (c/->int :af :af/inet6)} (.family s)))
    (try (let [^longs v (Messages/tcpInfo s)]
           (zipmap [:state :ca-state :retransmits :probes :backoff :rto-us :ato-us :snd-mss :rcv-mss
                    :unacked :lost :retrans :pmtu :rtt-us :rttvar-us :snd-cwnd :advmss]
                   (vec v)))
         (catch SocketException _ nil))))

(defn- nav-address [_ k v]
  (if (and (#{:local-address :peer-address} k) (map? v) (#{:af/inet :af/inet6} (:family v)))
    (let [[host service] (addr/name-information v)]
      {:address v :host host :service service})
    v))

(defn- datafy-socket [^Socket s]
  (with-meta
    (if (.isClosed s)
      {:fd (.fileno s) :closed? true
       :family (kw-or-int :af (.family s)) :type (kw-or-int :sock (.type s))
       :protocol (kw-or-int :ipproto (.protocol s))}
      (let [local (try (addr/sockaddr->map (.localAddress s)) (catch SocketException _ nil))
            peer (try (addr/sockaddr->map (.peerAddress s)) (catch SocketException _ nil))
            info (tcp-info s)]
        (cond-> {:fd (.fileno s) :closed? false
                 :family (kw-or-int :af (.family s)) :type (kw-or-int :sock (.type s))
                 :protocol (kw-or-int :ipproto (.protocol s))
                 :local-address local :peer-address peer
                 :options (try (o/socket-options s) (catch SocketException e {:error (.getMessage e)}))}
          info (assoc :tcp-info info))))
    {`p/nav nav-address}))

(extend-protocol p/Datafiable
  Socket
  (datafy [s] (datafy-socket s)))

;; ------------------------------------------------------------------ happy eyeballs

(defn- interleave-families
  "RFC 8305 section 4: alternate address families, starting with the first one's."
  [ais]
  (let [groups (group-by #(.family ^AddrInfo %) ais)
        order (distinct (map #(.family ^AddrInfo %) ais))
        qs (map groups order)]
    (loop [qs qs out []]
      (if (every? empty? qs)
        out
        (recur (map rest qs) (into out (keep first qs)))))))

(defn- attempt-error [e] (if (instance? SocketException e) (.getMessage ^Throwable e) (str e)))

(defn connect-ai-happy
  "Connects to one of `ais` (addrinfo maps or `sockets.AddrInfo`s) the RFC 8305 way and
  returns [socket attempts]: attempts start in family-interleaved order, each
  :attempt-delay ms (default 250) after the previous one or at once when the previous one
  fails; the first connection wins and every other attempt is abandoned and its socket closed.
  `attempts` is a vector of {:address sockaddr :error message-or-nil :ms elapsed :won? bool}
  (abandoned attempts have :error \"abandoned\"). Options: :attempt-delay ms, :timeout ms for
  each attempt (default sockets.core/*socket-connect-timeout*; nil: the system's). Blocks
  this thread; the attempts run on their own threads. When every attempt fails, throws the
  last error with the attempt log as ex-data :attempts (and the other ex-data of that error)."
  ([ais] (connect-ai-happy ais {}))
  ([ais opts]
   (let [op :connect-ai-happy]
     (when (or (not (sequential? ais)) (empty? ais))
       (throw (c/invalid op "no addresses to connect to")))
     (let [delay-ms (get opts :attempt-delay 250)
           _ (when-not (c/int-in? delay-ms 10 60000)
               (throw (c/invalid op (str ":attempt-delay must be 10-60000 ms, not " (pr-str delay-ms)))))
           t (timeout-ms op opts :timeout '*socket-connect-timeout*)
           ais (interleave-families (mapv addr/->addrinfo ais))
           start (System/nanoTime)
           ms #(quot (- (System/nanoTime) start) 1000000)
           results (LinkedBlockingQueue.)
           winner (atom nil)
           sockets (atom {})                ; index -> Socket of attempts in flight
           launch (fn [i]
                    (let [^AddrInfo ai (nth ais i)
                          th (Thread.
                              (fn []
                                (try
                                  (let [s (Socket/open (.family ai) (.socktype ai) 0)]
                                    (swap! sockets assoc i s)
                                    (try
                                      ;; a winner chosen before this socket was registered: give up
                                      (when @winner (.closeQuietly s))
                                      (.connect s (.address ai) t)
                                      (if (compare-and-set! winner nil s)
                                        (.put results [i :ok s (ms)])
                                        (do (.closeQuietly s) (.put results [i :abandoned nil (ms)])))
                                      (catch Throwable e
                                        (.closeQuietly s)
                                        (.put results [i (if @winner :abandoned :error) e (ms)]))))
                                  (catch Throwable e (.put results [i :error e (ms)]))))
                              (str "happy-eyeballs-" i))]
                      (.setDaemon th true)
                      (.start th)))
           n (count ais)]
       (launch 0)
       (loop [started 1 finished 0 next-at (+ (ms) delay-ms) log {} last-err nil]
         (let [wait (max 0 (- next-at (ms)))
               r (if (< started n)
                   (.poll results wait TimeUnit/MILLISECONDS)
                   (.take results))]
           (cond
             (nil? r)                    ; the delay passed: start the next attempt
             (do (launch started) (recur (inc started) finished (+ (ms) delay-ms) log last-err))

             (= :ok (second r))
             (let [[i _ s t-ms] r]
               ;; abandon the rest: closing wakes a blocked connect within Socket/WAKE_MS (it
               ;; fails :closed and closes its fd); wait for each so no loser outlives this call
               (doseq [[j ^Socket o] @sockets :when (not= j i)] (.closeQuietly o))
               (let [log (assoc log i {:address (addr/sockaddr->map (.address ^AddrInfo (nth ais i)))
                                       :error nil :ms t-ms :won? true})
                     log (loop [log log]
                           (if (>= (count log) started)
                             log
                             (if-let [[j _ _ j-ms] (.poll results 5000 TimeUnit/MILLISECONDS)]
                               (recur (assoc log j {:address (addr/sockaddr->map (.address ^AddrInfo (nth ais j)))
                                                    :error "abandoned" :ms j-ms :won? false}))
                               log)))]
                 [s (mapv log (sort (keys log)))]))

             :else
             (let [[i _ e t-ms] r
                   log (assoc log i {:address (addr/sockaddr->map (.address ^AddrInfo (nth ais i)))
                                     :error (attempt-error e) :ms t-ms :won? false})
                   finished (inc finished)
                   ;; RFC 8305 moves on after any failure; only a bad argument stops everything
                   fatal? (and (instance? SocketException e)
                               (= SocketException$Kind/INVALID (.kind ^SocketException e)))]
               (cond
                 (or fatal? (and (= finished n) (= started n)))
                 (do (doseq [[_ ^Socket o] @sockets] (.closeQuietly o))
                     (let [attempts (mapv log (sort (keys log)))
                           ^Throwable e e]
                       (throw (if (instance? SocketException e)
                                (let [^SocketException se e]
                                  (doto (SocketException. (.op se) (.kind se) (.errno se) (.address se) (.getMessage se)
                                                          {:attempts attempts})
                                    (.initCause se)))
                                (doto (SocketException. (name op) SocketException$Kind/FATAL 0 nil (str e) {:attempts attempts})
                                  (.initCause e))))))

                 (< started n)           ; a failure starts the next attempt at once
                 (do (launch started) (recur (inc started) finished (+ (ms) delay-ms) log e))

                 :else (recur started finished next-at log e))))))))))

;; ------------------------------------------------------------------ many datagrams per call

(def ^:private ^:const max-datagrams Datagrams/MAX)

(defn- datagram-socket ^Socket [op s]
  (let [so (sock op s)]
    (when-not (= (.type so) (c/->int :sock :sock/dgram))
      (throw (c/invalid op (str (name op) " needs a datagram socket (:sock/dgram)"))))
    so))

(defn- receive-buffers ^"[Ljava.nio.ByteBuffer;" [op bufs]
  (when-not (and (sequential? bufs) (<= 1 (count bufs) max-datagrams))
    (throw (c/invalid op (str "expected a sequence of 1 to " max-datagrams " buffers, not " (pr-str (if (sequential? bufs) (count bufs) bufs))))))
  (let [a (make-array ByteBuffer (count bufs))]
    (loop [i 0 bs (seq bufs)]
      (when bs
        (let [x (first bs)]
          (aset ^"[Ljava.nio.ByteBuffer;" a i
                (cond (bytes? x) (ByteBuffer/wrap ^bytes x)
                      (instance? ByteBuffer x) (if (.isReadOnly ^ByteBuffer x)
                                                 (throw (c/invalid op "cannot receive into a read-only buffer"))
                                                 x)
                      :else (throw (c/invalid op (str "buffers must be byte arrays or ByteBuffers, not " (pr-str x))))))
          (recur (inc i) (next bs)))))
    a))

(def ^:private trunc-bit (long (or (get-in c/tables [:msg :msg/trunc]) 0)))

(defn- truncated? [^long mflags] (not= 0 (bit-and mflags (long trunc-bit))))

(defn socket-receive-many!
  "Returns a vector with one map per datagram received, in arrival order: datagram i went into
  buffer i of `bufs` (a sequence of 1-1024 byte arrays or ByteBuffers; a ByteBuffer is filled
  from its position, which is not changed) and is described by
    {:count n             bytes stored (with :flags #{:msg/trunc}: the datagram's real length)
     :address sockaddr    the sender, or nil (an unbound unix socket)
     :truncated? bool}    the datagram was longer than its buffer and the rest is lost
  Blocks this thread until the first datagram arrives, up to :timeout ms (default
  sockets.core/*socket-receive-timeout*; nil: forever), then takes the ones already queued
  without waiting, so the vector has 1 to (count bufs) entries. One recvmmsg(2) per call on
  Linux, one recvmsg(2) per datagram elsewhere. `s` must be a :sock/dgram socket (UDP or
  unix). Options: :timeout, :flags (:msg/trunc, :msg/dontwait), :address? (default true;
  false leaves :address out and skips decoding it). A close from another thread wakes the
  call with :closed; bad arguments raise :invalid before anything is received."
  ([s bufs] (socket-receive-many! s bufs {}))
  ([s bufs opts]
   (let [op :socket-receive-many!
         so (datagram-socket op s)
         a (receive-buffers op bufs)
         n (alength a)
         flags (c/flags->int :msg (:flags opts) op)
         t (timeout-ms op opts :timeout '*socket-receive-timeout*)
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
  `socket-receive-many!` does (same blocking, timeout and options), into new arrays."
  ([s n size] (socket-receive-many s n size {}))
  ([s n size opts]
   (let [op :socket-receive-many]
     (when-not (c/int-in? n 1 max-datagrams)
       (throw (c/invalid op (str "n must be an integer in 1-" max-datagrams ", not " (pr-str n)))))
     (when-not (c/int-in? size 0 c/max-receive-length)
       (throw (c/invalid op (str "size must be an integer in 0-" c/max-receive-length ", not " (pr-str size)))))
     (let [arrs (vec (repeatedly n #(byte-array size)))
           rs (socket-receive-many! s arrs opts)]
       (into [] (map-indexed (fn [i r]
                               (-> r
                                   (dissoc :count)
                                   (assoc :data (java.util.Arrays/copyOf ^bytes (arrs i) (int (min size (:count r))))))))
             rs)))))

(defn- send-buffer ^ByteBuffer [op x]
  (cond (bytes? x) (ByteBuffer/wrap ^bytes x)
        (instance? ByteBuffer x) x
        (string? x) (ByteBuffer/wrap (.getBytes ^String x StandardCharsets/UTF_8))
        :else (throw (c/invalid op (str "datagrams must be byte arrays, ByteBuffers, strings or {:data .. :address ..} maps, not " (pr-str x))))))

(defn socket-send-many
  "Returns the number of datagrams sent from `datagrams`, a sequence of up to 1024 payloads
  (byte arrays, ByteBuffers (their remaining bytes; position not changed), strings as UTF-8)
  or maps {:data payload :address sockaddr}, sent in order, each as one datagram. A datagram
  goes to its :address, else to the :address option, else to the connected peer. Blocks this
  thread until the first can be sent, up to :timeout ms (default
  sockets.core/*socket-send-timeout*; nil: forever), then sends what fits without waiting: the
  count may be less than given (the send buffer filled, or a later datagram failed and the
  next call reports it); send the rest again. One sendmmsg(2) per call on Linux, one
  sendmsg(2) per datagram elsewhere; never raises SIGPIPE. `s` must be a :sock/dgram socket.
  Options: :address, :flags (:msg/dontwait, :msg/dontroute, :msg/confirm), :timeout. Bad
  arguments raise :invalid before anything is sent."
  ([s datagrams] (socket-send-many s datagrams {}))
  ([s datagrams opts]
   (let [op :socket-send-many
         so (datagram-socket op s)
         _ (when-not (and (sequential? datagrams) (<= (count datagrams) max-datagrams))
             (throw (c/invalid op (str "expected a sequence of at most " max-datagrams " datagrams, not "
                                       (pr-str (if (sequential? datagrams) (count datagrams) datagrams))))))
         n (count datagrams)
         default-to (some-> (:address opts) (addr/->native op))
         bufs (make-array ByteBuffer n)
         tos (make-array SockAddr n)
         any-to? (loop [i 0 ds (seq datagrams) any? (some? default-to)]
                   (if ds
                     (let [d (first ds)
                           [data to] (if (map? d)
                                       (do (when-not (contains? d :data)
                                             (throw (c/invalid op (str "a datagram map needs :data, not " (pr-str d)))))
                                           [(:data d) (some-> (:address d) (addr/->native op))])
                                       [d nil])
                           to (or to default-to)]
                       (aset ^"[Ljava.nio.ByteBuffer;" bufs i (send-buffer op data))
                       (aset ^"[Lsockets.SockAddr;" tos i ^SockAddr to)
                       (recur (inc i) (next ds) (or any? (some? to))))
                     any?))
         flags (c/flags->int :msg (:flags opts) op)
         t (timeout-ms op opts :timeout '*socket-send-timeout*)]
     (Datagrams/sendMany so bufs (when any-to? tos) (int flags) t))))
