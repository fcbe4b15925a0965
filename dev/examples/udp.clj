(ns examples.udp
  "UDP: a request/response exchange with socket-send-to and socket-receive-from, IPv4 and IPv6.
  Run: lein run -m examples.udp"
  (:require [sockets.core :as s]))

(defn run
  "Sends \"ping\" from a client to a server that answers \"pong\"; returns [what-the-server-got
  reply reply-source] for `host` (\"127.0.0.1\" or \"::1\")."
  [host]
  (with-open [server (s/socket (s/sockaddr-family (s/inet-address host 0)) :sock/dgram)
              client (s/socket (s/sockaddr-family (s/inet-address host 0)) :sock/dgram)]
    (s/socket-bind server (s/inet-address host 0))
    (s/socket-send-to client "ping" (s/socket-name server))
    (let [[req from] (s/socket-receive-from server 1500)]
      (s/socket-send-to server "pong" from)
      (let [[reply src] (s/socket-receive-from client 1500)]
        [(String. ^bytes req "UTF-8") (String. ^bytes reply "UTF-8") src]))))

(defn -main
  "Prints what [(run \"127.0.0.1\") (run \"::1\")] returns: `lein run -m examples.udp`."
  [& _]
  (prn [(run "127.0.0.1") (run "::1")])
  (shutdown-agents))
