(ns dev
  "REPL helpers: (echo-server) starts an echo server on a free loopback port, (connect addr)
  connects to it, (with-fd-check ...) shows fds a form leaked."
  (:require [sockets.core :as s]))

(defn echo-server
  "Starts a TCP echo server on 127.0.0.1 (a free port); returns {:address sockaddr :stop fn}."
  []
  (let [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 64)
    (future
      (try
        (loop []
          (let [c (s/socket-accept l)]
            (future (with-open [c c]
                      (binding [s/*socket-receive-timeout* nil]
                        (loop []
                          (let [b (s/socket-receive c 65536)]
                            (when (pos? (alength ^bytes b))
                              (s/socket-send-all c b)
                              (recur)))))))
            (recur)))
        (catch java.io.IOException _ nil)))
    {:address (s/socket-name l) :stop #(s/socket-close l)}))

(defn connect
  "A TCP socket connected to `addr` (a sockaddr map or its string form)."
  [addr]
  (let [sa (if (string? addr) (s/string->sockaddr addr) addr)
        so (s/socket (s/sockaddr-family sa) :sock/stream)]
    (s/socket-connect so sa)
    so))

(defn fd-count "Open fds of this process." [] (count (.list (java.io.File. "/proc/self/fd"))))

(defn- fd-targets
  "{fd target} of this process's open fds (a target is \"?\" when the fd closed meanwhile)."
  []
  (into {} (for [^String n (.list (java.io.File. "/proc/self/fd"))]
             [n (try (str (java.nio.file.Files/readSymbolicLink (.toPath (java.io.File. (str "/proc/self/fd/" n)))))
                     (catch java.io.IOException _ "?"))])))

(def ^:private warmed-up
  ;; What the first use of the library opens for good (the jnr/jffi native library and jar
  ;; fds, the resolver's socket) is opened here, before any count: without this the first
  ;; with-fd-check reported those as a leak.
  (delay (with-open [_ (s/socket :af/inet :sock/stream)])
         (s/address-information "localhost" 80)
         (fd-targets)))

(defn settled-leaks
  "The open fds that were not open (to the same target) in before, waiting up to 2 s for fds
  other threads are still closing; {fd target}. Fds that vanish while listed (the listing's
  own) are left out."
  [before]
  (loop [i 0]
    (let [new (into {} (remove (fn [[fd target]] (or (= "?" target) (= target (before fd))))) (fd-targets))]
      (if (or (empty? new) (>= i 40))
        new
        (do (Thread/sleep 50) (recur (inc i)))))))

(defmacro with-fd-check
  "Runs body and prints the fds it left open (none: \"fds leaked: 0\"); returns body's value.
  The library is warmed up first, so a first use does not count as a leak."
  [& body]
  `(let [_# @@#'warmed-up
         before# (fd-targets)
         r# (do ~@body)
         leaked# (settled-leaks before#)]
     (println "fds leaked:" (count leaked#) (if (seq leaked#) (pr-str leaked#) ""))
     r#))
