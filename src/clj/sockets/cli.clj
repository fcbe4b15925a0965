(ns sockets.cli
  "The command line: with no arguments, the tour; otherwise a small netcat-style tool.
    connect HOST PORT        stdin to the socket, the socket to stdout
    listen [--udp] PORT      accept one connection (or datagrams) and print what arrives
    lookup NAME [SERVICE]    address-information as a table
    reverse ADDRESS          name-information
  Bad arguments exit 2; network errors print the library's message and exit 1."
  (:require [clojure.string :as str]
            [sockets.core :as s]
            [sockets.tour :as tour])
  (:import (java.io InputStream OutputStream))
  (:gen-class))

(set! *warn-on-reflection* true)

(defn- usage-error [msg]
  (binding [*out* *err*] (println (str "sockets: " msg)) (println "usage: sockets [connect HOST PORT | listen [--udp] PORT | lookup NAME [SERVICE] | reverse ADDRESS]"))
  2)

(defn- pump-stdin [so]
  (let [^InputStream in System/in
        buf (byte-array 65536)]
    (loop []
      (let [n (.read in buf)]
        (when (pos? n)
          (s/socket-send-all so buf 0 n)
          (recur))))
    (s/socket-shutdown so :shut/wr)))

(defn- pump-stdout [so]
  (let [^OutputStream out System/out
        buf (byte-array 65536)]
    (binding [s/*socket-receive-timeout* nil]
      (loop []
        (let [n (s/socket-receive! so buf)]
          (when (pos? n)
            (.write out buf 0 n)
            (.flush out)
            (recur)))))))

(defn- parse-port [p]
  (when-not (re-matches #"[0-9]{1,5}" (str p)) (throw (ex-info (str "bad port " (pr-str p)) {::usage true})))
  (Long/parseLong p))

(defn- cmd-connect [[host port & more]]
  (when (or (nil? host) (nil? port) (seq more)) (throw (ex-info "connect needs HOST PORT" {::usage true})))
  (with-open [so (s/socket-connect-ai (s/address-information host (parse-port port)))]
    (let [reader (future (pump-stdout so))]
      (pump-stdin so)
      @reader))
  0)

(defn- cmd-listen [args]
  (let [udp? (some #{"--udp"} args)
        [port & more] (remove #{"--udp"} args)]
    (when (or (nil? port) (seq more)) (throw (ex-info "listen needs PORT" {::usage true})))
    (let [addr (s/inet-address "127.0.0.1" (parse-port port))]
      (if udp?
        (with-open [so (s/socket :af/inet :sock/dgram)]
          (s/socket-bind so addr)
          (binding [s/*socket-receive-timeout* nil]
            (loop []
              (let [[data from] (s/socket-receive-from so 65536)]
                (println (str (s/sockaddr->string from) ": " (String. ^bytes data "UTF-8")))
                (recur)))))
        (with-open [l (s/socket :af/inet :sock/stream)]
          (s/socket-bind l addr)
          (s/socket-listen l 1)
          (with-open [c (s/socket-accept l)]
            (pump-stdout c)))))
    0))

(defn- cmd-lookup [[node service & more]]
  (when (or (nil? node) (seq more)) (throw (ex-info "lookup needs NAME [SERVICE]" {::usage true})))
  (doseq [ai (s/address-information node service :type nil)]
    (println (format "%-28s %-10s %-12s %s" (s/sockaddr->string (:address ai)) (name (:family ai))
                     (if (keyword? (:socktype ai)) (name (:socktype ai)) (:socktype ai))
                     (if (keyword? (:protocol ai)) (name (:protocol ai)) (:protocol ai)))))
  0)

(defn- cmd-reverse [[address & more]]
  (when (or (nil? address) (seq more)) (throw (ex-info "reverse needs ADDRESS" {::usage true})))
  (let [[h sv] (s/name-information (s/string->sockaddr address))]
    (println h sv))
  0)

(defn run
  "Runs the command line with `args`; returns the exit code."
  [args]
  (try
    (case (first args)
      nil (do (tour/run) 0)
      "connect" (cmd-connect (rest args))
      "listen" (cmd-listen (rest args))
      "lookup" (cmd-lookup (rest args))
      "reverse" (cmd-reverse (rest args))
      ("-h" "--help" "help") (do (println (:doc (meta (find-ns 'sockets.cli)))) 0)
      (usage-error (str "unknown command " (pr-str (first args)))))
    (catch clojure.lang.ExceptionInfo e
      (if (::usage (ex-data e)) (usage-error (.getMessage e)) (throw e)))
    (catch java.io.IOException e
      (binding [*out* *err*] (println (str "sockets: " (.getMessage e))))
      (if (= :invalid (:kind (ex-data e))) 2 1))))

(defn -main
  "Entry point of `lein run` and the uberjar."
  [& args]
  (let [code (run args)]
    (flush)
    (shutdown-agents)
    (System/exit code)))
