(ns sockets.cli
  "The command line: a netcat built only on the public API (sockets.core): listen (also on
  sockets passed by socket activation), connect, relay, lookup, reverse, options. `help-text`
  is what --help prints. `lein run` reaches it through `sockets.tour`. Exit status: 0 done,
  1 a network error (or -z: nothing listening), 2 bad arguments (a one-line message)."
  (:require [clojure.pprint :as pp]
            [clojure.string :as str]
            [sockets.platform :as platform]
            [sockets.core :as s]
            [sockets.impl.cli-pump :as pump])
  (:gen-class))

(set! *warn-on-reflection* true)

(def help-text
  "What `sockets --help` prints: every command and option."
  "usage: sockets COMMAND [OPTIONS] ARGS
       sockets COMMAND --help        one command's usage

commands:
  listen  [-k] [-u] [-U] [-4|-6] [-v] [-w SECS] [--echo] [--progress] [HOST] PORT | PATH
          accept a connection (127.0.0.1 or ::1 unless HOST is given; 0.0.0.0 for every
          interface); stdin goes to it and what arrives goes to stdout, at the same time
  listen  --inherit [-k] [-v] [-w SECS] [--echo] [--progress] [NAME]
          the same on a socket passed by socket activation (systemd's LISTEN_FDS), not
          bound here: the first one, or the one named NAME (LISTEN_FDNAMES)
  connect [-u] [-U] [-4|-6] [-v] [-w SECS] [-z] [--progress] HOST PORT | PATH
          connect; stdin goes to the socket and what arrives goes to stdout, at the same time
  relay   [-k] [-v] [-w SECS] [--progress] LISTEN TARGET
          accept on LISTEN, connect to TARGET for each connection, copy both ways (socat-style);
          endpoints: tcp:PORT  tcp:HOST:PORT  tcp:[IPV6]:PORT  unix:PATH  unix:@NAME
  lookup  [-4|-6] NAME [SERVICE]      address-information as a table
  reverse ADDRESS[:PORT] | NAME       name-information (a NAME is looked up first)
  options [--family inet|inet6|unix] [--type stream|dgram]
                                      a fresh socket's option map

options:
  -k, --keep      listen/relay: accept again after a connection ends (UDP: answer every
                  peer, not only the first)
  -u, --udp       datagrams; listen replies to the last peer that sent one
  -U, --unix      the address is a unix socket PATH (@NAME: a Linux abstract name)
  -4, --ipv4      IPv4 only
  -6, --ipv6      IPv6 only (listen: ::1 by default)
  -v, --verbose   say on stderr who connected, from where, and when a connection ends
  -w, --wait SECS connect timeout, and idle timeout: a connection (or a UDP listener) with
                  no traffic either way for SECS ends (listen still waits for ever for the
                  first connection, as nc does)
  -z, --zero      connect only: is something listening? exit 0 if so, 1 if not; sends nothing
  --echo          listen: send back what arrives (stdin is not read)
  --progress      bytes in and out and the rate, on one stderr line updated in place
  --inherit       listen: serve on the socket a service manager passed (socket activation)
  --family, --type   options: the socket to show
  -h, --help      this text

A stream connection ends when both directions are done: stdin's end is passed on as a
half-close (shutdown of the write side) and what the peer still sends is read until its EOF.
`listen` prints \"listening on ADDRESS\" on stderr once it is ready.
Exit status: 0 done, 1 a network error (or -z: nothing listening), 2 bad arguments.
The tour of the library: `lein run` with no arguments (from the uberjar:
java -cp sockets.jar clojure.main -m sockets.tour).")

(def ^:private usages
  {"listen" "listen [-k] [-u] [-U] [-4|-6] [-v] [-w SECS] [--echo] [--progress] [HOST] PORT | PATH\n       sockets listen --inherit [-k] [-v] [-w SECS] [--echo] [--progress] [NAME]"
   "connect" "connect [-u] [-U] [-4|-6] [-v] [-w SECS] [-z] [--progress] HOST PORT | PATH"
   "relay" "relay [-k] [-v] [-w SECS] [--progress] LISTEN TARGET   (tcp:[HOST:]PORT, unix:PATH, unix:@NAME)"
   "lookup" "lookup [-4|-6] NAME [SERVICE]"
   "reverse" "reverse ADDRESS[:PORT] | NAME[:PORT]"
   "options" "options [--family inet|inet6|unix] [--type stream|dgram]"})

(defn- usage! [msg] (throw (ex-info msg {::usage true})))
(defn- network! [msg] (throw (ex-info msg {::network true})))

;; ------------------------------------------------------------------ arguments

(def ^:private aliases
  {"-k" :keep "--keep" :keep "-u" :udp "--udp" :udp "-U" :unix "--unix" :unix
   "-4" :ipv4 "--ipv4" :ipv4 "-6" :ipv6 "--ipv6" :ipv6 "-v" :verbose "--verbose" :verbose
   "-z" :zero "--zero" :zero "--echo" :echo "--progress" :progress "--inherit" :inherit
   "-w" :wait "--wait" :wait "--family" :family "--type" :type})

(def ^:private valued #{:wait :family :type})

(defn- expand-short
  "\"-kv\" -> [\"-k\" \"-v\"] when every letter is a known flag; other args unchanged."
  [a]
  (if (and (re-matches #"-[a-zA-Z0-9]{2,}" a)
           (every? #(contains? aliases (str "-" %)) (rest a)))
    (map #(str "-" %) (rest a))
    [a]))

(defn- parse-args
  "{:flags #{kw} :opts {kw v} :args [...] :help bool} from args; an option `cmd` does not
  take (allowed, a set of keywords) is a usage error."
  [cmd args allowed]
  (loop [[a & more :as all] (mapcat expand-short args), r {:flags #{} :opts {} :args []}]
    (cond
      (empty? all) r
      (#{"-h" "--help"} a) (assoc r :help true)
      (= "--" a) (update r :args into more)
      (and (str/starts-with? a "-") (> (count a) 1))
      (let [k (aliases a)]
        (cond (not (contains? allowed k)) (usage! (str cmd ": unknown option " a))
              (valued k) (if (seq more)
                           (recur (rest more) (assoc-in r [:opts k] (first more)))
                           (usage! (str cmd ": " a " needs a value")))
              :else (recur more (update r :flags conj k))))
      :else (recur more (update r :args conj a)))))

(defn- parse-port [p]
  (if (and p (re-matches #"[0-9]{1,5}" p) (<= (Long/parseLong p) 65535))
    (Long/parseLong p)
    (usage! (str "bad port " (pr-str p)))))

(defn- parse-wait [w]
  (when w
    (if (and (re-matches #"[0-9]{1,6}" w) (pos? (Long/parseLong w)))
      (pump/wait-ms (Long/parseLong w))
      (usage! (str "bad -w " (pr-str w) " (whole seconds, at least 1)")))))

(defn- family-of [{:keys [flags]}]
  (cond (and (flags :ipv4) (flags :ipv6)) (usage! "-4 and -6 exclude each other")
        (flags :ipv4) :af/inet
        (flags :ipv6) :af/inet6))

(defn- sock-type [{:keys [flags]}] (if (flags :udp) :sock/dgram :sock/stream))

(defn- addr-str [a] (s/sockaddr->string a))

;; ------------------------------------------------------------------ addresses

(defn- lookup!
  "address-information for host/port, or a network error naming host when there is none."
  [host port type family passive?]
  (let [ais (s/address-information host port :type type :family family
                                   :flags (if passive? #{:ai/passive} #{}))]
    (when (empty? ais) (network! (str "no address for " host (when family (str " (" (name family) ")")))))
    ais))

(defn- unix-ai [path type]
  {:family :af/unix :socktype type :protocol 0 :address (s/unix-address path) :canonname nil :flags #{}})

(defn- unix-arg
  "With -U, the addrinfo of the one PATH argument; nil without -U."
  [cmd {:keys [flags args] :as p}]
  (when (flags :unix)
    (when-not (= 1 (count args)) (usage! (str cmd " -U takes one PATH")))
    (unix-ai (first args) (sock-type p))))

(defn- target-ais
  "The addrinfos `connect` tries, from its arguments."
  [{:keys [args] :as p}]
  (if-let [ai (unix-arg "connect" p)]
    [ai]
    (let [[host port & more] args]
      (when (or (nil? port) (seq more)) (usage! "connect needs HOST PORT"))
      (lookup! host (parse-port port) (sock-type p) (family-of p) false))))

(defn- listen-ai
  "The addrinfo `listen` binds, from its arguments ([HOST] PORT or PATH)."
  [{:keys [args] :as p}]
  (or (unix-arg "listen" p)
      (let [[host port] (case (count args)
                          1 [nil (first args)]
                          2 args
                          (usage! "listen needs [HOST] PORT"))
            family (family-of p)
            host (or host (if (= :af/inet6 family) "::1" "127.0.0.1"))]
        (first (lookup! host (parse-port port) (sock-type p) family true)))))

(defn- endpoint
  "A relay endpoint string (tcp:PORT, tcp:HOST:PORT, tcp:[V6]:PORT, unix:PATH, unix:@NAME) as
  [host-or-nil port-or-path kind]."
  [^String e]
  (let [[_ scheme rest] (re-matches #"(tcp|tcp4|tcp6|unix):(.+)" e)]
    (case scheme
      "unix" [nil rest :unix]
      (nil) (usage! (str "relay: bad endpoint " (pr-str e) " (tcp:[HOST:]PORT or unix:PATH)"))
      (let [[_ h p] (or (re-matches #"\[([^\]]+)\]:([0-9]+)" rest)
                        (re-matches #"([^:]+):([0-9]+)" rest)
                        (re-matches #"()([0-9]+)" rest)
                        (usage! (str "relay: bad endpoint " (pr-str e))))]
        [(when (seq h) h) (parse-port p) (keyword scheme)]))))

(defn- endpoint-family [kind] ({:tcp4 :af/inet :tcp6 :af/inet6} kind))

;; ------------------------------------------------------------------ sockets

(defn- listener
  "A bound, listening stream socket (or a bound datagram socket) for addrinfo ai."
  ^sockets.Socket [ai]
  (let [addr (:address ai)
        so (s/socket (:family ai) (:socktype ai))]
    (try
      (when-not (= :af/unix (:family ai)) (s/set-so-reuse-address! so true))
      (s/socket-bind so addr)
      (when (= :sock/stream (:socktype ai)) (s/socket-listen so 16))
      so
      (catch Throwable t (s/socket-close so) (throw t)))))

(defn- remove-unix-path!
  "Deletes the socket file a listener on ai made (nothing for abstract names and inet)."
  [ai]
  (let [path (:path (:address ai))]
    (when (and path (not (str/starts-with? path "@")))
      (.delete (java.io.File. ^String path)))))

(defn- connect-ais
  "Connects to the first of ais that answers (a unix datagram client binds an abstract name
  first, so the listener can answer it)."
  ^sockets.Socket [ais]
  (let [ai (first ais)]
    (if (and (= :af/unix (:family ai)) (= :sock/dgram (:socktype ai)))
      (let [so (s/socket :af/unix :sock/dgram)]
        (try
          (s/socket-bind so (s/unix-address (str "@sockets-cli-" (.pid (java.lang.ProcessHandle/current))
                                                 "-" (System/nanoTime))))
          (s/socket-connect so (:address ai))
          so
          (catch Throwable t (s/socket-close so) (throw t))))
      (s/socket-connect-ai ais))))

(defn- stream-session
  "Moves stdin to the connected stream socket c and c to stdout until both directions have
  ended (or the idle timeout); with echo? sends back what arrives instead of reading stdin."
  [c stdin {:keys [flags]} idle-ms ctr]
  (pump/with-progress (flags :progress) ctr
    (fn []
      (if (flags :echo)
        (pump/socket->stdout c {:echo? true :idle-ms idle-ms :ctr ctr})
        (pump/both-ways #(pump/socket->stdout c {:idle-ms idle-ms :ctr ctr})
                        #(pump/stdin->socket c stdin {:ctr ctr :half-close? true}))))))

;; ------------------------------------------------------------------ commands

(defn- inherited
  "The socket `listen --inherit [NAME]` serves on: the first socket passed by socket
  activation, or the one named NAME; a network error (exit 1) when there is none."
  ^sockets.Socket [{:keys [flags args]}]
  (when-let [f (some {:udp "-u" :unix "-U" :ipv4 "-4" :ipv6 "-6"} flags)]
    (usage! (str "listen --inherit takes the passed socket as it is (no " f ")")))
  (when (> (count args) 1) (usage! "listen --inherit takes at most one NAME"))
  (let [nm (first args)
        all (platform/activation-sockets)
        e (if nm (first (filter #(= nm (:name %)) all)) (first (filter :socket all)))]
    (cond (empty? all) (network! "listen --inherit: no socket was passed to this process (LISTEN_PID/LISTEN_FDS do not name it: start it by socket activation, e.g. a systemd .socket unit)")
          (nil? e) (network! (str "listen --inherit: no passed socket is named " (pr-str nm) " (names: "
                                  (str/join ", " (map #(pr-str (:name %)) all)) ")"))
          (nil? (:socket e)) (network! (str "listen --inherit: fd " (:fd e) ": " (:error e)))
          :else (:socket e))))

(defn- cmd-listen [{:keys [flags] :as p} idle-ms]
  (let [ai (when-not (flags :inherit) (listen-ai p))
        passed (when-not ai (inherited p))
        verbose? (flags :verbose)
        stdin (when-not (flags :echo) (pump/stdin-source))]
    (with-open [l (or passed (listener ai))]
      (try
        (pump/say "listening on" (addr-str (s/socket-name l)))
        (if (= :sock/dgram (s/socket-type l))
          (let [ctr (pump/counters)
                first-peer (promise)
                last-peer (atom nil)
                peer (reify clojure.lang.IDeref (deref [_] @first-peer @last-peer))
                buf (byte-array 65536)]
            (pump/with-progress (flags :progress) ctr
              #(pump/both-ways
                (fn []
                  (loop []
                    (let [r (binding [s/*socket-receive-timeout* (when @last-peer idle-ms)] ; -w: after the first datagram
                              (try (s/socket-receive-from! l buf)
                                   (catch sockets.SocketException e
                                     (if (= :timeout (:kind (ex-data e))) ::idle (throw e)))))]
                      (if (= ::idle r)
                        :idle
                        (let [[n from] r]
                          (if (or (flags :keep) (nil? @last-peer) (= from @last-peer))
                            (do (when (and verbose? (not= from @last-peer)) (pump/say "datagram from" (addr-str from)))
                                (reset! last-peer from)
                                (deliver first-peer true)
                                (.write System/out ^bytes buf 0 (int n))
                                (.flush System/out)
                                (pump/count! ctr :in n)
                                (when (flags :echo) (s/socket-send-to l buf from 0 n)))
                            (when verbose? (pump/say "ignored a datagram from" (addr-str from) "(-k answers every peer)")))
                          (recur))))))
                (fn [] (if stdin (pump/stdin->socket l stdin {:ctr ctr :peer peer}) :done)))))
          (loop []
            (with-open [c (s/socket-accept l)]
              (when verbose? (pump/say "connection from" (addr-str (s/socket-peer-name c))))
              (let [r (stream-session c stdin p idle-ms (pump/counters))]
                (when verbose? (pump/say (if (= :idle r) "idle: connection closed" "connection closed")))))
            (when (flags :keep) (recur))))
        (finally (when ai (remove-unix-path! ai)))))
    0))

(defn- cmd-connect [{:keys [flags] :as p} idle-ms]
  (let [ais (target-ais p)
        verbose? (flags :verbose)]
    (cond
      (flags :zero)
      (do (when (flags :udp) (usage! "connect: -z tests a stream port; it cannot with -u"))
          (try
            (with-open [c (s/socket-connect-ai ais)]
              (when verbose? (pump/say "connection to" (addr-str (s/socket-peer-name c)) "succeeded")))
            0
            (catch java.io.IOException e
              (when verbose? (pump/say "connection to" (addr-str (:address (first ais))) "failed:" (.getMessage e)))
              1)))

      (flags :udp)
      (with-open [c (connect-ais ais)]
        (when verbose? (pump/say "connected to" (addr-str (s/socket-peer-name c)) "(udp)"))
        (let [ctr (pump/counters)
              stdin (pump/stdin-source)]
          (pump/with-progress (flags :progress) ctr
            (fn []
              (let [reader (future (pump/socket->stdout c {:idle-ms (or idle-ms 0x7fffffff) :ctr ctr}))]
                (try
                  (pump/stdin->socket c stdin {:ctr ctr})
                  ;; a datagram has no EOF: with -w, answers are read until SECS of silence
                  (when idle-ms
                    (try @reader (catch java.util.concurrent.ExecutionException e (throw (or (.getCause e) e)))))
                  (finally (future-cancel reader)))))))
        0)

      :else
      (with-open [c (connect-ais ais)]
        (when verbose? (pump/say "connected to" (addr-str (s/socket-peer-name c))))
        (let [r (stream-session c (pump/stdin-source) p idle-ms (pump/counters))]
          (when verbose? (pump/say (if (= :idle r) "idle: connection closed" "connection closed"))))
        0))))

(defn- relay-ais [e passive?]
  (let [[host port kind] (endpoint e)]
    (if (= :unix kind)
      [(unix-ai port :sock/stream)]
      (lookup! (or host (if (= :tcp6 kind) "::1" "127.0.0.1")) port :sock/stream (endpoint-family kind) passive?))))

(defn- cmd-relay [{:keys [flags args]} idle-ms]
  (when-not (= 2 (count args)) (usage! "relay needs LISTEN TARGET"))
  (let [[from to] args
        lai (first (relay-ais from true))
        tais (relay-ais to false)
        verbose? (flags :verbose)
        serve (fn [^sockets.Socket c]
                (with-open [c c
                            t (s/socket-connect-ai tais)]
                  (when verbose? (pump/say "relaying" (addr-str (s/socket-peer-name c)) "to" (addr-str (s/socket-peer-name t))))
                  (let [ctr (pump/counters)]
                    (pump/with-progress (flags :progress) ctr #(pump/relay-pair c t ctr idle-ms)))
                  (when verbose? (pump/say "relay closed"))))]
    (with-open [l (listener lai)]
      (try
        (pump/say "listening on" (addr-str (s/socket-name l)))
        (if (flags :keep)
          (loop []
            (let [c (s/socket-accept l)]
              (future (try (serve c)
                           (catch java.io.IOException e (pump/say "sockets: relay:" (.getMessage e))))))
            (recur))
          (serve (s/socket-accept l)))
        (finally (remove-unix-path! lai))))
    0))

(defn- kw-name [k] (if (keyword? k) (name k) (str k)))

(defn- cmd-lookup [{:keys [args] :as p} _]
  (let [[node service & more] args]
    (when (or (nil? node) (seq more)) (usage! "lookup needs NAME [SERVICE]"))
    (let [ais (s/address-information node service :type nil :family (family-of p))]
      (when (empty? ais) (network! (str "no address for " node)))
      (println (format "%-30s %-7s %-7s %s" "address" "family" "type" "protocol"))
      (doseq [ai ais]
        (println (format "%-30s %-7s %-7s %s" (addr-str (:address ai)) (kw-name (:family ai))
                         (kw-name (:socktype ai)) (kw-name (:protocol ai)))))))
  0)

(defn- ip-literal? [h]
  (boolean (or (re-matches #"[0-9.]+" h) (str/includes? h ":"))))

(defn- cmd-reverse [{:keys [args] :as p} _]
  (let [[a & more] args]
    (when (or (nil? a) (seq more)) (usage! "reverse needs ADDRESS or NAME"))
    (let [[_ name-part port] (or (re-matches #"([^:\[\]]+):([0-9]{1,5})" a) [nil a nil])]
      (if (or (str/starts-with? a "[") (ip-literal? name-part))
        (let [[h sv] (s/name-information (s/string->sockaddr a))]
          (println h sv))
        ;; a name: look it up, then name each address it has
        (let [ais (lookup! name-part (some-> port parse-port) :sock/stream (family-of p) false)]
          (doseq [addr (distinct (map :address ais))]
            (let [[h sv] (s/name-information addr)]
              (println (addr-str addr) h sv)))))))
  0)

(defn- cmd-options [{:keys [opts args]} _]
  (when (seq args) (usage! "options takes no arguments"))
  (let [family (keyword "af" (opts :family "inet"))
        type (keyword "sock" (opts :type "stream"))]
    (when-not (#{:af/inet :af/inet6 :af/unix} family) (usage! (str "bad family " (opts :family))))
    (when-not (#{:sock/stream :sock/dgram} type) (usage! (str "bad type " (opts :type))))
    (with-open [so (s/socket family type)]
      (pp/pprint (into (sorted-map) (map (fn [[k v]] [k (if (bytes? v) (vec v) v)])) (s/socket-options so)))))
  0)

(def ^:private commands
  {"listen" [cmd-listen #{:keep :udp :unix :ipv4 :ipv6 :verbose :wait :echo :progress :inherit}]
   "connect" [cmd-connect #{:udp :unix :ipv4 :ipv6 :verbose :wait :zero :progress}]
   "relay" [cmd-relay #{:keep :verbose :wait :progress}]
   "lookup" [cmd-lookup #{:ipv4 :ipv6}]
   "reverse" [cmd-reverse #{:ipv4 :ipv6}]
   "options" [cmd-options #{:family :type}]})

(defn run
  "Runs the command line with `args`; returns the exit code (0 ok, 1 network error or -z
  found nothing, 2 bad arguments). Blocks while a connection lasts."
  [args]
  (try
    (let [[cmd & more] args]
      (cond
        (or (nil? cmd) (#{"-h" "--help" "help"} cmd)) (do (println help-text) 0)
        :else
        (if-let [[f allowed] (commands cmd)]
          (let [p (parse-args cmd more allowed)]
            (if (:help p)
              (do (println (str "usage: sockets " (usages cmd) "\n(sockets --help: every option)")) 0)
              (let [w (parse-wait (get-in p [:opts :wait]))]
                (binding [s/*socket-connect-timeout* w
                          s/*socket-accept-timeout* nil
                          s/*socket-receive-timeout* nil
                          s/*socket-send-timeout* nil]
                  (f p w)))))
          (usage! (str "unknown command " (pr-str cmd))))))
    (catch clojure.lang.ExceptionInfo e
      (cond (::usage (ex-data e)) (do (pump/say (str "sockets: " (.getMessage e) " (try --help)")) 2)
            (::network (ex-data e)) (do (pump/say (str "sockets: " (.getMessage e))) 1)
            :else (throw e)))
    (catch java.io.IOException e
      (pump/say (str "sockets: " (.getMessage e)))
      (if (= :invalid (:kind (ex-data e))) 2 1))))

(defn -main
  "Entry point of the uberjar (`java -jar`) and of `lein run` with arguments (through
  `sockets.tour/-main`): exits with `run`'s code. With no arguments it prints the usage."
  [& args]
  (let [code (run args)]
    (flush)
    (shutdown-agents)
    (System/exit code)))
