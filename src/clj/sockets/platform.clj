(ns sockets.platform
  "What this platform has, as data, and `clojure.datafy` on sockets. Beyond the egg.

  Building blocks:
    platform data     platform (constants, missing ones, control-message types, options each
                      family/type supports, event-loop kind, features)
    interfaces        interfaces (getifaddrs: name, index, flags, addresses of each network
                      interface), interface-index (name -> index), interface-name (index -> name)
    activation        activation-sockets (the sockets systemd passed by socket activation)
    datafy            (clojure.datafy/datafy socket) gives a map of the socket (fd, family,
                      type, addresses, options, TCP_INFO on Linux); nav into :local-address or
                      :peer-address gives name-information. Loading this namespace (sockets.core
                      does) extends clojure.core.protocols/Datafiable to `sockets.Socket`."
  (:require [clojure.core.protocols :as p]
            [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.impl.activation :as activation]
            [sockets.impl.args :as args]
            [sockets.messages :as messages]
            [sockets.options :as o])
  (:import (sockets Messages NetInterface NetInterface$Address Socket SocketException SocketException$Kind)
           (sockets.impl MsgLib Native)))

(set! *warn-on-reflection* true)

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
   :control-messages (messages/control-types)
   :options (probe-options)
   :event-loop (if Native/LINUX :epoll :poll)
   :features {:atomic-socket-flags? (pos? Native/SOCK_ATOMIC_FLAGS)
              :msg-nosignal? (pos? Native/MSG_NOSIGNAL)
              :msg-cmsg-cloexec? (pos? MsgLib/MSG_CMSG_CLOEXEC)
              :peer-credentials (if Native/LINUX :so-peercred :getpeereid)}})

;; ------------------------------------------------------------------ network interfaces

(defn- address->map [p2p? ^NetInterface$Address a]
  (let [m {:address (addr/sockaddr->map (.address a)) :netmask (addr/sockaddr->map (.netmask a))}]
    (if p2p?
      (assoc m :destination (addr/sockaddr->map (.destination a)))
      (assoc m :broadcast (addr/sockaddr->map (.broadcast a))))))

(defn- interface->map [^NetInterface i]
  (let [flags (into #{} (map keyword) (.flags i))]
    {:name (.name i)
     :index (Integer/toUnsignedLong (.index i))
     :flags flags
     :addresses (mapv (partial address->map (contains? flags :point-to-point)) (.addresses i))}))

(defn interfaces
  "Returns a vector of this host's network interfaces (of this network namespace, on Linux),
  sorted by index:
    {:name \"lo\" :index 1 :flags #{:up :loopback :running ...}
     :addresses [{:address <sockaddr> :netmask <sockaddr or nil> :broadcast <sockaddr or nil>}]}
  read with getifaddrs(3) (always freed) and if_nametoindex(3); a snapshot, taken anew on each
  call. Does not block on the network and opens nothing that outlives the call.

  :flags holds the IFF_ flags jnr-constants names on this platform, lower case with '-'
  (:up :broadcast :debug :loopback :point-to-point :running :noarp :promisc :allmulti
  :multicast ...). :addresses holds the AF_INET and AF_INET6 addresses, in the kernel's
  order, as sockaddr maps with port 0 (a link-local IPv6 address carries its :scope-id, this
  interface's index); the netmask is a sockaddr of the same family. A point-to-point
  interface's addresses have :destination (the other end) instead of :broadcast. Link-layer
  entries (Linux's AF_PACKET, the BSDs' AF_LINK) are not addresses here, so an interface
  without an internet address has :addresses []. A Linux address label (\"eth0:1\") is an
  interface of its own name with its device's index. An interface that disappears while
  being read is left out.

  Use an :index as the :scope-id of an inet6 sockaddr, and an IPv4 :address's :address text
  as the :interface of :ip/add-membership or the value of :ip/multicast-if.
  Throws SocketException with getifaddrs' errno, or :unsupported where libc lacks it."
  []
  (into [] (map interface->map) (NetInterface/list)))

(def ^:private name-rule
  "a string of at most 15 bytes of UTF-8 without NUL")

(defn interface-index
  "Returns the index of the network interface named `name` (a string; if_nametoindex(3)),
  or nil when there is no such interface. Does not block on the network. A name that is not
  a string, has a NUL or is longer than 15 bytes of UTF-8 (IFNAMSIZ is 16) is :invalid and
  nothing is looked up. The index is what an inet6 sockaddr's :scope-id takes:
    (assoc (inet-address \"fe80::1\" 80) :scope-id (interface-index \"eth0\"))"
  [name]
  (when-not (string? name) (throw (args/fail :interface-index "the interface name" name-rule name)))
  (let [i (NetInterface/index ^String name)]
    (when-not (zero? i) (Integer/toUnsignedLong i))))

(defn interface-name
  "Returns the name of the network interface with index `index` (if_indextoname(3)), or nil
  when there is none (no interface has index 0). Does not block on the network. An index
  that is not an integer in 0-4294967295 is :invalid."
  [index]
  (NetInterface/name (unchecked-int (args/int-in :interface-name "the interface index" index 0 0xffffffff))))

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


;; ------------------------------------------------------------------ socket activation

(defn activation-sockets
  "Returns the sockets a service manager passed to this process by socket activation
  (systemd's protocol: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, fds from 3), as a vector in fd
  order of {:fd 3 :name \"web\" :socket <sockets.Socket>}; :name is nil where LISTEN_FDNAMES
  gives none, and an fd that is not a socket is {:fd :name :socket nil :error message} (left
  open, close-on-exec). Returns [] when the process was not activated (a variable missing or
  not a decimal number, LISTEN_PID not this pid, LISTEN_FDS 0, or one of the fds not open).

  Every fd is made close-on-exec and each socket non-blocking, as `sockets.core/fd->socket`
  makes them; closing a socket closes its fd. The fds are adopted once per process: later
  calls return the same vector (whose sockets may since have been closed). Options (a map,
  last): :unset-env? (default true) unsets the three variables in the native environment,
  activated or not, so child processes do not inherit them (`System/getenv`, the JVM's
  snapshot from its start, still shows them). Does not block. Throws :invalid for a bad
  options map."
  ([] (activation-sockets {}))
  ([opts] (activation/activation-sockets opts)))
