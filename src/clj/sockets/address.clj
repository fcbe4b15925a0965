(ns sockets.address
  "Socket addresses and addrinfo results as plain maps.

  A sockaddr is one of
    {:family :af/inet  :address \"127.0.0.1\" :port 80}
    {:family :af/inet6 :address \"fe80::1\" :port 80 :scope-id 1}   ; :scope-id, :flowinfo only when non-zero
    {:family :af/unix  :path \"/run/app.sock\"}                     ; \"@name\": Linux abstract name, \"\": unnamed
  and an addrinfo is
    {:family :af/inet :socktype :sock/stream :protocol :ipproto/tcp
     :address <sockaddr> :canonname nil :flags #{...}}

  Both convert to the Java values (`sockets.SockAddr`, `sockets.AddrInfo`) at the native
  boundary; every conversion validates first, so nothing malformed reaches libc."
  (:require [clojure.string :as str]
            [sockets.constants :as c]
            [sockets.impl.args :as args])
  (:import (sockets SockAddr AddrInfo SocketException)))

(set! *warn-on-reflection* true)

(defn sockaddr->map
  "The map form of a `sockets.SockAddr` (nil stays nil; anything else is :invalid)."
  [sa]
  (when (and (some? sa) (not (instance? SockAddr sa)))
    (throw (args/fail :sockaddr->map "the address" "a sockets.SockAddr or nil" sa)))
  (when-let [^SockAddr sa sa]
    (let [f (.family sa)]
      (cond
        (.isUnix sa) {:family :af/unix :path (.path sa)}
        (.isInet sa) (cond-> {:family (c/->kw :af f) :address (.host sa) :port (.port sa)}
                       (not (zero? (.scopeId sa))) (assoc :scope-id (Integer/toUnsignedLong (.scopeId sa)))
                       (not (zero? (.flowinfo sa))) (assoc :flowinfo (Integer/toUnsignedLong (.flowinfo sa))))
        :else {:family (or (c/->kw :af f) f)}))))

(defn- u32 [op k v]
  (unchecked-int (long (args/int-in op k v 0 0xffffffff))))

(defn- check-port [op port]
  (int (args/int-in op "port" port 0 65535)))

(defn- unix-path
  "The unix SockAddr of path string `p`, refused (:invalid) when it is not a string, does
  not fit or cannot be encoded (a lone UTF-16 surrogate would become '?')."
  ^SockAddr [op p]
  (args/utf8 op "the path" p)
  (if (= "" p) (SockAddr/unix "") (SockAddr/unixChecked p)))

(defn ->native
  "The `sockets.SockAddr` for a sockaddr map (or a SockAddr, returned as is). Throws
  :invalid for anything that is not a valid socket address; never resolves names."
  (^SockAddr [x] (->native x :sockaddr))
  (^SockAddr [x op]
   (cond
     (instance? SockAddr x) x
     (map? x)
     (case (:family x)
       (:af/inet :af/inet6)
       (let [{:keys [address port scope-id flowinfo]} x
             _ (when-not (string? address) (throw (args/fail op ":address" "a string" address)))
             sa (SockAddr/parseInet ^String address (check-port op port))]
         (when (not= (:family x) (c/->kw :af (.family sa)))
           (throw (c/invalid op (str "address " (pr-str address) " is not of family " (:family x)))))
         (if (and (= :af/inet6 (:family x)) (or scope-id flowinfo))
           (SockAddr/inet6 (.addressBytes sa) (.port sa)
                           (if flowinfo (u32 op :flowinfo flowinfo) 0)
                           (if scope-id (u32 op :scope-id scope-id) (.scopeId sa)))
           sa))
       :af/unix
       (unix-path op (:path x))
       (throw (args/fail op "the address" "a sockaddr map of family :af/inet, :af/inet6 or :af/unix" x)))
     (string? x) (throw (args/refuse op (str "the address must be a sockaddr map, not " (args/show x)
                                             "; (string->sockaddr " (pr-str x) ") reads that text")))
     :else (throw (args/fail op "the address" "a sockaddr map" x)))))

(defn sockaddr?
  "True when `x` is a valid sockaddr map (or a `sockets.SockAddr`)."
  [x]
  (boolean (or (instance? SockAddr x)
               (and (map? x) (try (->native x) true (catch SocketException _ false))))))

(defn- check-sockaddr [op sa]
  (when-not (map? sa) (->native sa op))
  (if (instance? SockAddr sa) (sockaddr->map sa) sa))

(defn sockaddr-family
  "The address family keyword of a sockaddr (:af/inet, :af/inet6, :af/unix)."
  [sa]
  (:family (check-sockaddr :sockaddr-family sa)))

(defn- link-local-scope?
  "True for the IPv6 addresses whose scope getnameinfo prints as an interface name:
  link-local unicast (fe80::/10) and link-local multicast (ffx2::/16)."
  [^bytes a]
  (and (= 16 (alength a))
       (or (and (= 0xfe (bit-and 0xff (aget a 0))) (= 0x80 (bit-and 0xc0 (aget a 1))))
           (and (= 0xff (bit-and 0xff (aget a 0))) (= 0x02 (bit-and 0x0f (aget a 1)))))))

(defn- address-text
  "The numeric address text as getnameinfo(NI_NUMERICHOST) prints it: a scoped IPv6 address
  gets \"%<interface name>\" when link-local (\"%<index>\" when the index names no
  interface), else \"%<index>\"; unix addresses give the path."
  [^SockAddr sa]
  (if (and (.isInet sa) (not (zero? (.scopeId sa))))
    (str (.host sa) "%" (if (link-local-scope? (.addressBytes sa))
                          (SockAddr/scopeName (.scopeId sa))
                          (Integer/toUnsignedString (.scopeId sa))))
    (.address sa)))

(defn sockaddr-address
  "The address as a string: the numeric IP address (with \"%scope\" for scoped IPv6
  addresses, as getnameinfo with NI_NUMERICHOST prints it: the interface name for link-local
  addresses, the number for others, \"2001:db8::1%1\") or, for unix addresses, the path."
  [sa]
  (address-text (->native sa :sockaddr-address)))

(defn sockaddr-port
  "The port of an internet sockaddr; an error for any other family."
  [sa]
  (let [m (check-sockaddr :sockaddr-port sa)]
    (if (#{:af/inet :af/inet6} (:family m))
      (:port m)
      (throw (c/invalid :sockaddr-port (str "unable to obtain port for socket address " (pr-str m)))))))

(defn sockaddr-path
  "The path of a unix sockaddr; an error for any other family."
  [sa]
  (let [m (check-sockaddr :sockaddr-path sa)]
    (if (= :af/unix (:family m))
      (:path m)
      (throw (c/invalid :sockaddr-path (str "unable to obtain path for socket address " (pr-str m)))))))

(defn sockaddr->string
  "The compact string form: \"address\" when the port is 0, \"a.b.c.d:port\",
  \"[v6%scope]:port\" (scope as in `sockaddr-address`), or the unix path. `string->sockaddr`
  parses it back."
  [sa]
  (let [n (->native sa :sockaddr->string)
        a (address-text n)]
    (cond (not (.isInet n)) (str n)
          (zero? (.port n)) a
          (= :af/inet6 (c/->kw :af (.family n))) (str "[" a "]:" (.port n))
          :else (str a ":" (.port n)))))

(defn inet-address
  "A sockaddr from a numeric IP address string and a port (an integer or a numeric string).
  A nil address is the unspecified address (the system's first passive answer, \"0.0.0.0\"
  or \"::\"); a nil port is 0; both nil is an error. Never resolves names."
  [addr port]
  (when (and (nil? addr) (nil? port))
    (throw (c/invalid :inet-address "address and port cannot both be unspecified")))
  (when-not (or (nil? addr) (string? addr))
    (throw (c/invalid :inet-address (str "address must be a string or nil, not " (pr-str addr)))))
  (let [p (cond (nil? port) 0
                (integer? port) port
                (and (string? port) (re-matches #"[0-9]{1,5}" port)) (Long/parseLong port)
                :else (throw (c/invalid :inet-address (str "port must be a numeric value or nil, not " (pr-str port)))))]
    (sockaddr->map (SockAddr/parseInet ^String addr (check-port :inet-address p)))))

(defn unix-address
  "A sockaddr for the unix socket path `path` (\"@name\" is a Linux abstract name). Throws
  when the path does not fit the platform's limit (it is never truncated) or contains NUL."
  [path]
  (sockaddr->map (unix-path :unix-address path)))

(defn- parse-host-port
  "[host port-string-or-nil] of an inet string form, or nil when it is not inet-shaped."
  [^String s]
  (cond
    (str/starts-with? s "[")
    (if-let [[_ h p] (re-matches #"\[([^\]]*)\](?::([0-9]{1,5}))?" s)]
      [h p]
      (throw (c/invalid :string->sockaddr (str "invalid socket address " (pr-str s)))))
    (str/includes? s ":")
    (if-let [[_ h p] (re-matches #"([^:]+):([0-9]{1,5})" s)]
      [h p]
      [s nil])
    (re-matches #"[0-9.]+" s) [s nil]
    :else nil))

(defn string->sockaddr
  "Parses the string form made by `sockaddr->string`: \"1.2.3.4\", \"1.2.3.4:80\", \"::1\",
  \"[::1]:80\", \"[fe80::1%lo]:80\"; a string with \"/\" or starting with \"@\", or one that does
  not look like an IP address, is a unix path. Throws :invalid for a malformed inet form."
  [s]
  (when-not (string? s) (throw (c/invalid :string->sockaddr (str "not a string: " (pr-str s)))))
  (when (= "" s) (throw (c/invalid :string->sockaddr "empty socket address string")))
  (if (or (str/includes? s "/") (str/starts-with? s "@"))
    (unix-address s)
    (if-let [[h p] (parse-host-port s)]
      (inet-address h (or p 0))
      (unix-address s))))

;; ------------------------------------------------------------------ addrinfo

(defn addrinfo->map
  "The map form of a `sockets.AddrInfo` (anything else is :invalid)."
  [ai]
  (when-not (instance? AddrInfo ai)
    (throw (args/fail :addrinfo->map "the addrinfo" "a sockets.AddrInfo" ai)))
  (let [^AddrInfo ai ai]
  {:family (or (c/->kw :af (.family ai)) (.family ai))
   :socktype (or (c/->kw :sock (.socktype ai)) (.socktype ai))
   :protocol (or (c/->kw :ipproto (.protocol ai)) (.protocol ai))
   :address (sockaddr->map (.address ai))
   :canonname (.canonname ai)
   :flags (c/int->flags :ai (.flags ai))}))

(defn ->addrinfo
  "The `sockets.AddrInfo` for an addrinfo map (or an AddrInfo, returned as is)."
  ^AddrInfo [x]
  (if (instance? AddrInfo x)
    x
    (do (when-not (map? x) (throw (c/invalid :addrinfo (str "not an addrinfo: " (pr-str x)))))
        (AddrInfo. (c/flags->int :ai (:flags x) :addrinfo)
                   (c/->int :af (:family x) :addrinfo)
                   (c/->int :sock (:socktype x) :addrinfo)
                   (c/->int :ipproto (or (:protocol x) 0) :addrinfo)
                   (->native (:address x) :addrinfo)
                   (:canonname x)))))

(defn addrinfo?
  "True when `x` is an addrinfo map (or a `sockets.AddrInfo`)."
  [x]
  (boolean (or (instance? AddrInfo x)
               (and (map? x) (contains? x :socktype) (contains? x :address)
                    (try (->addrinfo x) true (catch SocketException _ false))))))

(defn- ai-field [k ai]
  (when-not (addrinfo? ai) (throw (c/invalid (keyword (str "addrinfo-" (name k))) (str "not an addrinfo: " (pr-str ai)))))
  (get (if (map? ai) ai (addrinfo->map ai)) k))

(defn addrinfo-family "The address family keyword of an addrinfo." [ai] (ai-field :family ai))
(defn addrinfo-socktype "The socket type keyword of an addrinfo." [ai] (ai-field :socktype ai))
(defn addrinfo-protocol "The protocol keyword of an addrinfo." [ai] (ai-field :protocol ai))
(defn addrinfo-address "The sockaddr map of an addrinfo." [ai] (ai-field :address ai))
(defn addrinfo-canonname "The canonical name of an addrinfo (only with :ai/canonname), or nil." [ai] (ai-field :canonname ai))
(defn addrinfo-flags "The :ai/ flags of an addrinfo, as a set of keywords." [ai] (ai-field :flags ai))

(defn- hint [kind v op]
  (if (nil? v) 0 (c/->int kind v op)))

(defn address-information
  "Looks up `node` (a name, an IP address string, or nil) and `service` (a name, a numeric
  string, an integer, or nil) with getaddrinfo; returns a vector of addrinfo maps.
  Options (a trailing map or keyword args): :family (:af/inet, :af/inet6, nil for both),
  :type (default :sock/stream; nil for any), :protocol, :flags (a set of :ai/ keywords or an
  int: :ai/numerichost, :ai/passive, :ai/canonname, ...). A nil node is the loopback
  address, or the unspecified one with :ai/passive. A name that does not exist gives [] (its
  metadata {:node :service} says what was looked up, for the connect's message);
  other failures raise :kind :lookup with getaddrinfo's message."
  [node service & opts]
  (let [opts (cond (and (= 1 (count opts)) (map? (first opts))) (first opts)
                   (even? (count opts)) (apply hash-map opts)
                   :else (throw (c/invalid :address-information (str "options must be a map or keyword/value pairs, not " (pr-str opts)))))
        {:keys [family protocol flags] :or {}} opts
        type (if (contains? opts :type) (:type opts) :sock/stream)
        op :address-information]
    (when-not (or (nil? node) (string? node))
      (throw (c/invalid op (str "node must be a string or nil, not " (pr-str node)))))
    (let [service (cond (nil? service) nil
                        (integer? service) (str (check-port op service))
                        (string? service) service
                        :else (throw (c/invalid op (str "service must be a string, an integer or nil, not " (pr-str service)))))]
      (with-meta
        (mapv addrinfo->map
              (AddrInfo/lookup ^String node ^String service (hint :af family op) (hint :sock type op)
                               (hint :ipproto protocol op) (c/flags->int :ai flags op)))
        ;; what was looked up, so that a connect to no address can say which name found none
        {:node node :service service}))))

(defn name-information
  "Reverse-looks up a sockaddr (or an IP address string, read with `(inet-address s nil)`):
  returns [host service]. Where the host has no name the numeric address is returned, and a
  service without a name is an integer. `flags` is a set of :ni/ keywords or an int
  (:ni/numerichost, :ni/numericserv, :ni/namereqd, :ni/nofqdn, :ni/dgram); with
  :ni/namereqd a nameless host raises :kind :lookup."
  ([saddr] (name-information saddr 0))
  ([saddr flags]
   (let [sa (if (string? saddr) (inet-address saddr nil) saddr)
         [h s] (AddrInfo/nameInfo (->native sa :name-information) (c/flags->int :ni flags :name-information))]
     [h (if (re-matches #"[0-9]+" s) (Long/parseLong s) s)])))
