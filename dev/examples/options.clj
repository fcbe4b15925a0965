(ns examples.options
  "Socket options as keyword maps.
  Run: lein run -m examples.options"
  (:require [sockets.core :as s]))

(defn run
  "Creates a socket with options, changes some, returns what it reads back."
  []
  (with-open [so (s/socket :af/inet :sock/stream {:so/reuseaddr true :tcp/nodelay true})]
    (s/set-socket-options! so {:so/keepalive true :so/linger {:on? true :seconds 3}})
    (assoc (s/socket-options so [:so/reuseaddr :tcp/nodelay :so/keepalive :so/linger])
           :so-type (s/so-type so))))

(defn -main
  "Prints what (run) returns: `lein run -m examples.options`."
  [& _]
  (prn (run))
  (shutdown-agents))
