(ns sockets.cli
  "The command line: with no arguments, the tour; otherwise a small netcat-style tool built
  only on the public API (sockets.core).

    connect [--udp] [--unix PATH | HOST PORT]        stdin to the socket, the socket to stdout
    listen [--udp] [--echo] [--keep] [--unix PATH | PORT]
                                                    accept a connection (--keep: many) and print
                                                    what arrives (--echo: send it back)
    lookup NAME [SERVICE]                           address-information as a table
    reverse ADDRESS                                 name-information
    options [--family inet|inet6|unix] [--type stream|dgram]
                                                    a fresh socket's option map
  Common flags: --timeout MS (connect/accept/receive timeout), --ipv6 (listen on ::1, look up
  IPv6 only), --help (after a command: its usage).
  Bad arguments exit 2 with a one-line message; network errors print the library's message
  and exit 1."
  (:require [clojure.pprint :as pp]
            [clojure.string :as str]
            [sockets.core :as s]
            [sockets.tour :as tour])
  (:import (java.io InputStream OutputStream))
  (:gen-class))

(set! *warn-on-reflection* true)

(def ^:private usages
  {"connect" "connect [--udp] [--timeout MS] [--ipv6] [--unix PATH | HOST PORT]"
   "listen" "listen [--udp] [--echo] [--keep] [--timeout MS] [--ipv6] [--unix PATH | PORT]"
   "lookup" "lookup [--ipv6] NAME [SERVICE]"
   "reverse" "reverse ADDRESS"
   "options" "options [--family inet|inet6|unix] [--type stream|dgram]"})

(defn- usage! [msg] (throw (ex-info msg {::usage true})))

(defn- parse-args
  "{:flags #{...} :opts {k v} :args [...]} from `args`; unknown flags are usage errors."
  [cmd args {:keys [flags opts]}]
  (loop [[a & more :as all] args, r {:flags #{} :opts {} :args []}]
    (cond
      (empty? all) r
      (= "--help" a) (assoc r :help true)
      (contains? flags a) (recur more (update r :flags conj a))
      (contains? opts a) (if (seq more)
                           (recur (rest more) (assoc-in r [:opts a] (first more)))
                           (usage! (str cmd ": " a " needs a value")))
      (str/starts-with? a "--") (usage! (str cmd ": unknown option " a))
      :else (recur more (update r :args conj a)))))

(defn- parse-port [p]
  (if (and p (re-matches #"[0-9]{1,5}" p) (<= (Long/parseLong p) 65535))
    (Long/parseLong p)
    (usage! (str "bad port " (pr-str p)))))

(defn- parse-timeout [t]
  (when t
    (if (re-matches #"[0-9]{1,9}" t) (Long/parseLong t) (usage! (str "bad timeout " (pr-str t))))))

(defn- pump-stdin [so stream?]
  (let [^InputStream in System/in
        buf (byte-array 65536)]
    (loop []
      (let [n (.read in buf)]
        (when (pos? n)
          (s/socket-send-all so buf 0 n)
          (recur))))
    (when stream? (s/socket-shutdown so :shut/wr))))

(defn- pump-stdout
  "Copies what arrives on so to stdout until EOF (and back to so with echo?)."
  [so echo?]
  (let [^OutputStream out System/out
        buf (byte-array 65536)]
    (loop []
      (let [n (s/socket-receive! so buf)]
        (when (pos? n)
          (.write out buf 0 n)
          (.flush out)
          (when echo? (s/socket-send-all so buf 0 n))
          (recur))))))

(defn- target-addrinfos [{:keys [flags opts args]}]
  (if-let [path (opts "--unix")]
    (do (when (seq args) (usage! "connect: --unix PATH takes no HOST PORT"))
        [{:family :af/unix :socktype (if (flags "--udp") :sock/dgram :sock/stream) :protocol 0
          :address (s/unix-address path) :canonname nil :flags #{}}])
    (let [[host port & more] args]
      (when (or (nil? host) (nil? port) (seq more)) (usage! "connect needs HOST PORT"))
      (let [ais (s/address-information host (parse-port port)
                                       :type (if (flags "--udp") :sock/dgram :sock/stream)
                                       :family (when (flags "--ipv6") :af/inet6))]
        (when (empty? ais) (throw (ex-info (str "no address for " host) {::network true})))
        ais))))

(defn- cmd-connect [p]
  (let [ais (target-addrinfos p)
        udp? ((:flags p) "--udp")]
    (with-open [so (s/socket-connect-ai ais)]
      (let [reader (future (pump-stdout so false))]
        (pump-stdin so (not udp?))
        (if udp? (future-cancel reader) @reader))))
  0)

(defn- listen-address [{:keys [flags opts args]}]
  (if-let [path (opts "--unix")]
    (do (when (seq args) (usage! "listen: --unix PATH takes no PORT"))
        (s/unix-address path))
    (let [[port & more] args]
      (when (or (nil? port) (seq more)) (usage! "listen needs PORT"))
      (s/inet-address (if (flags "--ipv6") "::1" "127.0.0.1") (parse-port port)))))

(defn- cmd-listen [{:keys [flags] :as p}]
  (let [addr (listen-address p)
        echo? (flags "--echo")]
    (if (flags "--udp")
      (with-open [so (s/socket (s/sockaddr-family addr) :sock/dgram)]
        (s/socket-bind so addr)
        (binding [*out* *err*] (println "listening on" (s/sockaddr->string (s/socket-name so))))
        (loop []
          (let [[data from] (s/socket-receive-from so 65536)]
            (println (str (s/sockaddr->string from) ": " (String. ^bytes data "UTF-8")))
            (when echo? (s/socket-send-to so data from))
            (when (flags "--keep") (recur)))))
      (with-open [l (s/socket (s/sockaddr-family addr) :sock/stream)]
        (when-not (= :af/unix (s/sockaddr-family addr)) (s/set-so-reuse-address! l true))
        (s/socket-bind l addr)
        (s/socket-listen l 16)
        (binding [*out* *err*] (println "listening on" (s/sockaddr->string (s/socket-name l))))
        (loop []
          (with-open [c (s/socket-accept l)]
            (pump-stdout c echo?))
          (when (flags "--keep") (recur)))))
    0))

(defn- kw-name [k] (if (keyword? k) (name k) (str k)))

(defn- cmd-lookup [{:keys [flags args]}]
  (let [[node service & more] args]
    (when (or (nil? node) (seq more)) (usage! "lookup needs NAME [SERVICE]"))
    (let [ais (s/address-information node service :type nil :family (when (flags "--ipv6") :af/inet6))]
      (when (empty? ais) (throw (ex-info (str "no address for " node) {::network true})))
      (println (format "%-30s %-7s %-7s %s" "address" "family" "type" "protocol"))
      (doseq [ai ais]
        (println (format "%-30s %-7s %-7s %s" (s/sockaddr->string (:address ai)) (kw-name (:family ai))
                         (kw-name (:socktype ai)) (kw-name (:protocol ai)))))))
  0)

(defn- cmd-reverse [{:keys [args]}]
  (let [[address & more] args]
    (when (or (nil? address) (seq more)) (usage! "reverse needs ADDRESS"))
    (let [[h sv] (s/name-information (s/string->sockaddr address))]
      (println h sv)))
  0)

(defn- cmd-options [{:keys [opts args]}]
  (when (seq args) (usage! "options takes no arguments"))
  (let [family (keyword "af" (opts "--family" "inet"))
        type (keyword "sock" (opts "--type" "stream"))]
    (when-not (#{:af/inet :af/inet6 :af/unix} family) (usage! (str "bad family " (opts "--family"))))
    (when-not (#{:sock/stream :sock/dgram} type) (usage! (str "bad type " (opts "--type"))))
    (with-open [so (s/socket family type)]
      (pp/pprint (into (sorted-map) (map (fn [[k v]] [k (if (bytes? v) (vec v) v)])) (s/socket-options so)))))
  0)

(def ^:private commands
  {"connect" [cmd-connect {:flags #{"--udp" "--ipv6"} :opts #{"--unix" "--timeout"}}]
   "listen" [cmd-listen {:flags #{"--udp" "--echo" "--keep" "--ipv6"} :opts #{"--unix" "--timeout"}}]
   "lookup" [cmd-lookup {:flags #{"--ipv6"} :opts #{}}]
   "reverse" [cmd-reverse {:flags #{} :opts #{}}]
   "options" [cmd-options {:flags #{} :opts #{"--family" "--type"}}]})

(defn- err [& xs] (binding [*out* *err*] (apply println xs)))

(defn run
  "Runs the command line with `args`; returns the exit code (0 ok, 1 network error, 2 bad
  arguments)."
  [args]
  (try
    (let [[cmd & more] args]
      (cond
        (nil? cmd) (do (tour/run) 0)
        (#{"-h" "--help" "help"} cmd) (do (println (:doc (meta (find-ns 'sockets.cli)))) 0)
        :else
        (if-let [[f spec] (commands cmd)]
          (let [p (parse-args cmd more spec)
                t (parse-timeout (get-in p [:opts "--timeout"]))]
            (if (:help p)
              (do (println (str "usage: sockets " (usages cmd))) 0)
              (binding [s/*socket-connect-timeout* t
                        s/*socket-accept-timeout* t
                        s/*socket-receive-timeout* t]
                (f p))))
          (usage! (str "unknown command " (pr-str cmd))))))
    (catch clojure.lang.ExceptionInfo e
      (cond (::usage (ex-data e)) (do (err (str "sockets: " (.getMessage e) " (try --help)")) 2)
            (::network (ex-data e)) (do (err (str "sockets: " (.getMessage e))) 1)
            :else (throw e)))
    (catch java.io.IOException e
      (err (str "sockets: " (.getMessage e)))
      (if (= :invalid (:kind (ex-data e))) 2 1))))

(defn -main
  "Entry point of `lein run` and the uberjar: exits with `run`'s code."
  [& args]
  (let [code (run args)]
    (flush)
    (shutdown-agents)
    (System/exit code)))
