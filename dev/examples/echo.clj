(ns examples.echo
  "A TCP echo server and client on loopback with the blocking API.
  Run: lein run -m examples.echo"
  (:require [sockets.core :as s]))

(defn serve
  "Accepts connections on `listener` until it is closed, echoing each on its own thread."
  [listener]
  (future
    (try
      (loop []
        (let [c (s/socket-accept listener)]
          (future (with-open [c c]
                    (loop []
                      (let [b (s/socket-receive c 4096)]
                        (when (pos? (alength ^bytes b))
                          (s/socket-send-all c b)
                          (recur))))))
          (recur)))
      (catch java.io.IOException _ :stopped))))

(defn run
  "Starts a server, sends `messages` through one client connection, returns the replies."
  [messages]
  (with-open [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 16)
    (let [server (serve l)]
      (try
        (with-open [c (s/socket-connect-ai (s/address-information "127.0.0.1" (s/sockaddr-port (s/socket-name l))))]
          (vec (for [^String m messages]
                 (do (s/socket-send-all c m)
                     (String. ^bytes (s/socket-receive c 4096) "UTF-8")))))
        (finally (s/socket-close l) (deref server 5000 nil))))))

(defn -main
  "Prints what (run [\"hello\" \"world\"]) returns: `lein run -m examples.echo`."
  [& _]
  (prn (run ["hello" "world"]))
  (shutdown-agents))
