(ns user
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

(defmacro with-fd-check
  "Runs body and prints how many fds it left open."
  [& body]
  `(let [before# (fd-count) r# (do ~@body)]
     (println "fds leaked:" (- (fd-count) before#))
     r#))
